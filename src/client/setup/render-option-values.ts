/**
 * What the option table (option-table.ts) becomes: commander options, a command line's parsed and
 * checked values, the canonical settings object and its identity order, README's table.
 */
import { Option, type Command } from 'commander';
import { DEFAULT_SETTINGS, type StyleSettings } from '../../engine/settings';
import type { ChunkOptions } from '../../workflows/chunks';
import type { RenderLimits } from '../../workflows/contract';
import { nameSettings } from '../../common/setting-names';
import { workerFlagOf } from '../../worker/flags';
import { RENDER_OPTIONS, type OptionValues, type RenderOption } from './option-table';

/** The flags that name a render's files, besides the table's options. */
const FILE_FLAGS: Record<string, string> = { input: '--input', style: '--style', output: '--output', workDir: '--work-dir' };

/** `--heartbeat-timeout <s>` → `--heartbeat-timeout`. */
export function longFlag(o: Pick<RenderOption, 'flag'>): string {
  return o.flag.split(/[ ,]+/).find((part) => part.startsWith('--'))!;
}

/** The property commander stores the flag's value under: `--heartbeat-timeout` → `heartbeatTimeout`. */
export function flagAttribute(o: Pick<RenderOption, 'flag'>): string {
  return longFlag(o)
    .slice(2)
    .replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** The flag a key stands for: a render option, a file, or one of the worker's own flags; undefined for any other key. */
export function flagNamed(key: string): string | undefined {
  const option = RENDER_OPTIONS.find((o) => o.key === key);
  if (option) return longFlag(option);
  return Object.hasOwn(FILE_FLAGS, key) ? FILE_FLAGS[key] : workerFlagOf(key);
}

/** The flag that sets a settings, limits or chunks field (or a file, or a worker setting): how messages name it. */
export function flagOf(key: string): string {
  const flag = flagNamed(key);
  if (!flag) throw new Error(`no flag sets "${key}"`);
  return flag;
}

/** A message from any layer as a person reads it: each setting it names by key (`{size}`) named by its flag. */
export function withFlags(text: string): string {
  return nameSettings(text, flagNamed);
}

/** A check's message with its flag in front and every `{key}` in it named by its flag. */
export function problemText(key: string, message: string): string {
  return `${flagOf(key)} ${message.replace(/\{(\w+)\}/g, (_, k: string) => flagOf(k))}`;
}

/** Each option with its flag as commander parsed it: strings (or true for a switch), unchecked. */
export type OptionFlags = Partial<Record<string, unknown>>;

const applies = (o: RenderOption, v: OptionValues) => !o.onlyWith || v[o.onlyWith.key] === o.onlyWith.value;

function parseValue(o: RenderOption, raw: unknown): { value: unknown } | { problem: string } {
  if (o.type === 'switch') return { value: raw === true };
  const text = String(raw);
  if (o.type === 'choice') return { value: text };
  if (o.type === 'numbers') {
    const parts = text.split(',').map((w) => w.trim());
    const weights = parts.map(Number);
    if (parts.some((w) => w === '') || !weights.every(Number.isFinite)) {
      return { problem: `must be comma-separated numbers above 0, one per {style}, e.g. 3,7 (got "${text}")` };
    }
    return { value: weights };
  }
  const n = Number(text);
  return text.trim() === '' || !Number.isFinite(n) ? { problem: `must be a number (got "${text}")` } : { value: n };
}

/** The options given where they do not apply: one message naming all such options of that mode. */
function notApplyingProblem(given: RenderOption[]): string[] {
  if (given.length === 0) return [];
  const { key, value } = given[0].onlyWith!;
  const all = RENDER_OPTIONS.filter((o) => o.onlyWith?.key === key && o.onlyWith.value === value).map(longFlag);
  const names = all.length > 1 ? `${all.slice(0, -1).join(', ')} and ${all[all.length - 1]}` : all[0];
  return [`${names} apply to ${flagOf(key)} ${String(value)} only; add ${flagOf(key)} ${String(value)} or leave them out`];
}

const defaultOf = (o: RenderOption, v: OptionValues) => (o.computeDefault ? o.computeDefault(v) : o.default);

/**
 * Every option's value from the flags: given, or its default; each one checked. Options that
 * apply only with another option's value are left out without it. Returns every problem at once.
 */
export function optionValues(flags: OptionFlags, styleCount: number): { values: OptionValues; problems: string[] } {
  const values: OptionValues = {};
  const problems: string[] = [];
  const unparsed = new Set<string>();
  const given = (o: RenderOption) => flags[flagAttribute(o)] !== undefined;
  // Options that depend on others (onlyWith, a computed default) come after those with a fixed default.
  const ordered = [...RENDER_OPTIONS].sort((a, b) => Number(Boolean(a.onlyWith || a.computeDefault)) - Number(Boolean(b.onlyWith || b.computeDefault)));
  const refused: RenderOption[] = [];
  for (const o of ordered) {
    if (!applies(o, values)) {
      if (given(o)) refused.push(o);
      continue;
    }
    const parsed = given(o) ? parseValue(o, flags[flagAttribute(o)]) : { value: defaultOf(o, values) };
    if ('problem' in parsed) {
      problems.push(problemText(o.key, parsed.problem));
      unparsed.add(o.key);
      values[o.key] = defaultOf(o, values);
    } else {
      values[o.key] = parsed.value;
    }
  }
  problems.push(...notApplyingProblem(refused));
  for (const o of RENDER_OPTIONS) {
    if (!(o.key in values) || unparsed.has(o.key) || values[o.key] === undefined) continue;
    const value = values[o.key];
    const problem =
      o.choices && !o.choices.includes(value as string) ? `must be one of ${o.choices.join(', ')} (got ${String(value)})` : o.check?.(value, values, { styleCount });
    if (problem) problems.push(problemText(o.key, problem));
  }
  return { values, problems };
}

/**
 * The settings fields whose place in the render id's JSON is fixed: ids of renders started before
 * the option table hashed the settings in this order (test/client/render-ids.test.ts). Any other
 * field follows them in sorted order, so the order of code never changes an id.
 */
const ID_ORDER = [
  'epochs', 'stepsPerEpoch', 'styleWeight', 'contentWeight', 'tvWeight', 'learningRate', 'beta1', 'beta2', 'epsilon', 'size',
  'contentLayers', 'styleLayers', 'engine', 'init', 'temporalWeight', 'laterEpochs', 'runUp', 'originalColors', 'styleScale', 'styleBlendWeights',
];

/** The settings with their fields in identity order (see ID_ORDER): what the render id and the workflow get. */
export function canonicalSettings(settings: StyleSettings): StyleSettings {
  const rank = (key: string) => (ID_ORDER.includes(key) ? ID_ORDER.indexOf(key) : ID_ORDER.length);
  const keys = Object.keys(settings).sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((k) => [k, settings[k as keyof StyleSettings]])) as unknown as StyleSettings;
}

/** The settings without the fields that may change while the render runs (set-epochs): what the render id hashes. */
export function withoutSteerable(settings: StyleSettings): StyleSettings {
  const steerable = new Set(RENDER_OPTIONS.filter((o) => o.identity === 'steerable').map((o) => o.key));
  return Object.fromEntries(Object.entries(settings).filter(([key]) => !steerable.has(key))) as unknown as StyleSettings;
}

const isDefault = (o: RenderOption, value: unknown, v: OptionValues) => JSON.stringify(value) === JSON.stringify(defaultOf(o, v));

/**
 * The settings, limits and chunk options of valid values. An `unless-default` setting is present
 * only off its default (after normalising), so options added later leave every earlier id as it was.
 */
export function requestParts(values: OptionValues): { settings: StyleSettings; limits: RenderLimits; chunks: ChunkOptions } {
  const parts: Record<RenderOption['into'], Record<string, unknown>> = {
    // The fields no flag sets (Adam's betas and epsilon, the VGG19 layers) keep the engine's defaults.
    settings: { ...DEFAULT_SETTINGS, contentLayers: [...DEFAULT_SETTINGS.contentLayers], styleLayers: [...DEFAULT_SETTINGS.styleLayers] },
    limits: {},
    chunks: {},
  };
  for (const o of RENDER_OPTIONS) {
    if (!(o.key in values)) continue;
    const value = o.normalise && values[o.key] !== undefined ? o.normalise(values[o.key]) : values[o.key];
    if (o.identity === 'unless-default' && (value === undefined || isDefault(o, value, values))) continue;
    parts[o.into][o.key] = value;
  }
  return {
    settings: canonicalSettings(parts.settings as unknown as StyleSettings),
    limits: parts.limits as unknown as RenderLimits,
    chunks: parts.chunks as unknown as ChunkOptions,
  };
}

/** The table's options on a command; `suffix` ends each help (the commands that only find a render say they ignore them). */
export function addRenderOptions(cmd: Command, suffix = ''): Command {
  for (const o of RENDER_OPTIONS) {
    const option = new Option(o.flag, `${o.help}${suffix}`);
    if (o.choices) option.choices([...o.choices]);
    if (o.showDefault) option.default(String(o.default));
    cmd.addOption(option);
  }
  return cmd;
}

function defaultText(o: RenderOption): string {
  if (o.computeDefault) return 'computed (see what it does)';
  if (o.default === undefined || o.default === false) return '—';
  return `\`${String(o.default)}\``;
}

const IDENTITY_TEXT: Record<NonNullable<RenderOption['identity']>, string> = {
  always: 'yes',
  'unless-default': 'when not the default',
  steerable: 'no (set-epochs changes it)',
};

/** README's table of render options, made from the table. */
export function optionsMarkdown(): string {
  const rows = RENDER_OPTIONS.map((o) => {
    const only = o.onlyWith ? ` (only with \`${flagOf(o.onlyWith.key)} ${String(o.onlyWith.value)}\`)` : '';
    const help = o.help.replace(/\|/g, '\\|');
    return `| \`${o.flag}\` | ${defaultText(o)} | ${help}${only} | ${o.readBy} | ${o.identity ? IDENTITY_TEXT[o.identity] : 'no'} |`;
  });
  return ['| flag | default | what it does | read by | in the render id |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}
