import { createHash } from 'node:crypto';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileSha256 } from '../../common/hash';
import { styleLongSide, type StyleSettings } from '../../engine/settings';
import type { ChunkOptions } from '../../workflows/chunks';
import { deepestLayer, minimumSideFor } from '../../engine/vgg19-architecture';
import { frameSizeFor } from '../../engine/frame-size';
import { MediaInputError, probeVideo, readImage, type VideoInfo } from '../../media';
import type { RenderLimits, RenderRequest } from '../../workflows/contract';
import { canonicalSettings, optionValues, problemText, requestParts, withFlags, withoutSteerable, type OptionFlags } from './render-option-values';
import { UsageError } from '../../cli-common/errors';

export const OUTPUT_EXTENSIONS = ['.mp4', '.mov', '.mkv'];

/** Flags as the command line hands them over: strings, unparsed; the table's options by their commander name. */
export interface RenderFlags extends OptionFlags {
  input?: string;
  /** One style image, or several (--style given more than once) to blend. */
  style?: string | string[];
  output?: string;
  workDir?: string;
}

/** Every --style given, in order (commander collects a repeated --style into a list). */
export function styleFlags(flags: Pick<RenderFlags, 'style'>): string[] {
  if (flags.style === undefined) return [];
  return Array.isArray(flags.style) ? flags.style : [flags.style];
}

export function defaultWorkDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.STARRY_WORK_DIR ?? '.starry');
}

/** Settings, limits and chunk options from the flags (option-table.ts); every problem is reported at once, not just the first. */
export function parseSettings(flags: RenderFlags): { settings: StyleSettings; limits: RenderLimits; chunks: ChunkOptions } {
  // Without any --style the files check says so; the weights are then checked against one style.
  const { values, problems } = optionValues(flags, Math.max(1, styleFlags(flags).length));
  if (problems.length) throw new UsageError(problems.join('\n'));
  return requestParts(values);
}

/**
 * A path the user typed, made absolute against the directory they ran the command from: `npm run`
 * changes into the package directory and leaves the caller's directory in INIT_CWD.
 */
export function fromUserDir(p: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.INIT_CWD || process.cwd(), p);
}

/** Checks the files before anything starts, so bad input never leaves a half-made render behind. */
export async function checkRenderFiles(
  flags: RenderFlags,
): Promise<{ input: string; style: string; styles?: string[]; output: string; info: VideoInfo }> {
  const givenStyles = styleFlags(flags);
  if (!flags.input) throw new UsageError('--input is required: the video to stylize');
  if (givenStyles.length === 0 || givenStyles.some((s) => !s)) {
    throw new UsageError('--style is required: the painting (JPEG or PNG) whose style to apply');
  }
  if (!flags.output) throw new UsageError('--output is required: where to write the stylized video (.mp4, .mov or .mkv)');
  const input = fromUserDir(flags.input);
  const styles = givenStyles.map((s) => fromUserDir(s));
  const output = fromUserDir(flags.output);
  // Name the path tried, so a relative path taken from the wrong directory is plain to see.
  const tried = (given: string, absolute: string) => (given === absolute ? '' : ` (looked for ${absolute})`);
  if (!existsSync(input)) throw new UsageError(`--input "${flags.input}" does not exist${tried(flags.input, input)}`);
  styles.forEach((style, i) => {
    if (!existsSync(style)) throw new UsageError(`--style "${givenStyles[i]}" does not exist${tried(givenStyles[i], style)}`);
  });
  if (!existsSync(dirname(output))) {
    throw new UsageError(`the directory of --output "${flags.output}" does not exist; create ${dirname(output)} first`);
  }
  if (existsSync(output) && realpathSync(output) === realpathSync(input)) {
    throw new UsageError('--output is the same file as --input; choose another output path so the source is kept');
  }
  if (!OUTPUT_EXTENSIONS.includes(extname(output).toLowerCase())) {
    throw new UsageError(`--output must end in ${OUTPUT_EXTENSIONS.join(', ')} (got "${basename(output)}")`);
  }
  try {
    const info = await probeVideo(input);
    for (const style of styles) await readImage(style, { longSide: 16 });
    return { input, style: styles[0], ...(styles.length > 1 ? { styles } : {}), output, info };
  } catch (err) {
    if (err instanceof MediaInputError) throw new UsageError(withFlags(err.message));
    throw err;
  }
}

function slug(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return s || 'video';
}

/** The files that name a render's frames: the video and every style image (`styles` only for a blend). */
type RenderFileSet = { input: string; style: string; styles?: string[] };

/** The input's name plus a short hash of `identity`: readable in the Web UI, stable across runs. */
async function readableId(files: RenderFileSet, settings: StyleSettings, extra: object): Promise<string> {
  const inputStat = statSync(files.input);
  const identity = JSON.stringify({
    input: [realpathSync(files.input), inputStat.size, inputStat.mtimeMs],
    style: await fileSha256(files.style),
    // Only a blend carries the list, so the id of a one-style render is what it always was.
    ...(files.styles ? { styles: await Promise.all(files.styles.map((s) => fileSha256(s))) } : {}),
    // In identity order, whatever order the code built it in (render-option-values.ts).
    settings: canonicalSettings(settings),
    ...extra,
  });
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 10);
  return `${slug(basename(files.input, extname(files.input)))}-${hash}`;
}

/**
 * The workflow id: running the same command again gives the same id, which is how it resumes (and
 * how a finished render is reported instead of rendered again). The output is part of it; the
 * steerable settings (the epochs) are not, because set-epochs changes them while the render runs:
 * the command line with the old or the new value names the same render.
 */
export function renderIdFor(files: RenderFileSet & { output: string }, settings: StyleSettings): Promise<string> {
  return readableId(files, withoutSteerable(settings), { output: files.output });
}

/**
 * Renders with this key — the same video, style and settings, whatever the output — can share their
 * stylized frames (shared-frames.ts). It was the work directory's name before that became the id.
 */
export function framesKey(files: RenderFileSet, settings: StyleSettings): Promise<string> {
  return readableId(files, settings, {});
}

/**
 * Every style image, read as the stylize activity reads it (long side `--size` × `--style-scale`),
 * must reach the deepest style layer: a long, thin painting would otherwise fail every frame.
 */
async function checkStyleSizes(styles: readonly string[], given: readonly string[], settings: StyleSettings): Promise<void> {
  const longSide = styleLongSide(settings, settings.size);
  const min = minimumSideFor(settings.styleLayers);
  for (const [i, style] of styles.entries()) {
    const { width, height } = await readImage(style, { longSide });
    if (Math.min(width, height) < min) {
      const scale = settings.styleScale === undefined ? '' : ` × {styleScale} ${settings.styleScale}`;
      const problem =
        `"${given[i] ?? style}" is ${width}×${height} at ${longSide} px on its long side ({size} ${settings.size}${scale}), ` +
        `but VGG19 layers down to ${deepestLayer(settings.styleLayers)} need at least ${min} pixels on each side; raise {styleScale} or {size}, or crop it closer to square`;
      throw new UsageError(problemText('style', problem));
    }
  }
}

export async function buildRenderRequest(flags: RenderFlags): Promise<RenderRequest> {
  const { settings, limits, chunks } = parseSettings(flags);
  const { info, ...files } = await checkRenderFiles(flags);
  // The split checks this too (for any client); here it fails before a server or workflow exists.
  const { problem } = frameSizeFor(info.displayWidth, info.displayHeight, settings.size, [...settings.contentLayers, ...settings.styleLayers]);
  if (problem) throw new UsageError(withFlags(problem.message));
  if (settings.engine !== 'copy') await checkStyleSizes(files.styles ?? [files.style], styleFlags(flags), settings);
  const renderId = await renderIdFor(files, settings);
  const workDir = flags.workDir ? resolve(flags.workDir) : defaultWorkDir();
  // The work directory is named by the render id, so what `status` and `list` show is what is on disk.
  return { renderId, ...files, renderDir: join(workDir, 'renders', renderId), settings, limits, chunks };
}
