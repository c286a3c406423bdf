import { createHash } from 'node:crypto';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fileSha256 } from '../common/hash';
import { COHERENT_ONLY, DEFAULT_RUN_UP, DEFAULT_SETTINGS, defaultLaterEpochs, defaultTemporalWeight, normaliseBlendWeights, styleLongSide, validateSettings, type InitMode, type StyleSettings } from '../engine/settings';
import { DEFAULT_CHUNK_OPTIONS, type ChunkOptions } from '../workflows/chunks';
import { deepestLayer, minimumSideFor } from '../engine/vgg19-architecture';
import { frameSizeFor } from '../engine/frame-size';
import { MediaInputError, probeVideo, readImage, type VideoInfo } from '../media';
import { DEFAULT_LIMITS, type RenderLimits, type RenderRequest } from '../workflows/contract';
import { UsageError } from '../cli-common/errors';

export const OUTPUT_EXTENSIONS = ['.mp4', '.mov', '.mkv'];

/** Flags as the command line hands them over: strings, unparsed. */
export interface RenderFlags {
  input?: string;
  /** One style image, or several (--style given more than once) to blend. */
  style?: string | string[];
  output?: string;
  workDir?: string;
  /** `copy`: frames pass through unstylized (part of the settings, so of the render id). */
  engine?: string;
  epochs?: string;
  stepsPerEpoch?: string;
  styleWeight?: string;
  contentWeight?: string;
  tvWeight?: string;
  learningRate?: string;
  size?: string;
  window?: string;
  framesPerRun?: string;
  frameAttempts?: string;
  heartbeatTimeout?: string;
  checkpointEvery?: string;
  degradeAfterOoms?: string;
  init?: string;
  temporalWeight?: string;
  laterEpochs?: string;
  runUp?: string;
  chunkFrames?: string;
  openChunks?: string;
  overlap?: string;
  keepFrames?: boolean;
  /** Comma-separated, one per --style. */
  styleBlendWeights?: string;
  styleScale?: string;
  originalColors?: boolean;
}

/** Every --style given, in order (commander collects a repeated --style into a list). */
export function styleFlags(flags: Pick<RenderFlags, 'style'>): string[] {
  if (flags.style === undefined) return [];
  return Array.isArray(flags.style) ? flags.style : [flags.style];
}

export function defaultWorkDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.STARRY_WORK_DIR ?? '.starry');
}

function parseNumber(value: string | undefined, flag: string, fallback: number, problems: string[]): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) {
    problems.push(`${flag} must be a number (got "${value}")`);
    return fallback;
  }
  return n;
}

function parseWhole(value: string | undefined, flag: string, fallback: number, min: number, problems: string[]): number {
  const n = parseNumber(value, flag, fallback, problems);
  if (!Number.isInteger(n) || n < min) problems.push(`${flag} must be a whole number of at least ${min} (got ${value})`);
  return n;
}

/**
 * The neural-style options, each present only when the user moved it off its default, so a render
 * without them keeps the id and fingerprints it had before they existed.
 */
function styleOptions(flags: RenderFlags, problems: string[]): Pick<StyleSettings, 'originalColors' | 'styleBlendWeights' | 'styleScale'> {
  const options: Pick<StyleSettings, 'originalColors' | 'styleBlendWeights' | 'styleScale'> = {};
  if (flags.originalColors) options.originalColors = true;
  if (flags.styleScale !== undefined) {
    const scale = parseNumber(flags.styleScale, '--style-scale', 1, problems);
    if (scale !== 1) options.styleScale = scale;
  }
  if (flags.styleBlendWeights !== undefined) {
    const parts = flags.styleBlendWeights.split(',').map((w) => w.trim());
    const weights = parts.map(Number);
    if (parts.some((w) => w === '') || !weights.every(Number.isFinite)) {
      problems.push(`--style-blend-weights must be comma-separated numbers above 0, one per --style, e.g. 3,7 (got "${flags.styleBlendWeights}")`);
    } else {
      options.styleBlendWeights = weights;
    }
  }
  return options;
}

/** Settings and limits from flags; every problem is reported at once, not just the first. */
function coherenceSettings(flags: RenderFlags, size: number, problems: string[]): Partial<StyleSettings> {
  if (flags.init === undefined || flags.init === 'content') {
    if (flags.temporalWeight !== undefined || flags.laterEpochs !== undefined || flags.runUp !== undefined) problems.push(COHERENT_ONLY);
    return {};
  }
  const epochs = parseNumber(flags.epochs, '--epochs', DEFAULT_SETTINGS.epochs, problems);
  const runUp = parseNumber(flags.runUp, '--run-up', DEFAULT_RUN_UP, problems);
  return {
    init: flags.init as InitMode,
    temporalWeight: parseNumber(flags.temporalWeight, '--temporal-weight', defaultTemporalWeight(size), problems),
    laterEpochs: parseNumber(flags.laterEpochs, '--later-epochs', defaultLaterEpochs(epochs), problems),
    // Absent at its default, so coherent renders of earlier releases keep their ids.
    ...(runUp !== DEFAULT_RUN_UP && { runUp }),
  };
}

export function parseSettings(flags: RenderFlags): { settings: StyleSettings; limits: RenderLimits; chunks: ChunkOptions } {
  const problems: string[] = [];
  const size = parseNumber(flags.size, '--size', DEFAULT_SETTINGS.size, problems);
  const settings: StyleSettings = {
    ...DEFAULT_SETTINGS,
    // Only a copy render carries the field: the ids and fingerprints of vgg19 renders stay as they were.
    ...(flags.engine !== undefined && flags.engine !== 'vgg19' ? { engine: flags.engine as StyleSettings['engine'] } : {}),
    epochs: parseNumber(flags.epochs, '--epochs', DEFAULT_SETTINGS.epochs, problems),
    stepsPerEpoch: parseNumber(flags.stepsPerEpoch, '--steps-per-epoch', DEFAULT_SETTINGS.stepsPerEpoch, problems),
    styleWeight: parseNumber(flags.styleWeight, '--style-weight', DEFAULT_SETTINGS.styleWeight, problems),
    contentWeight: parseNumber(flags.contentWeight, '--content-weight', DEFAULT_SETTINGS.contentWeight, problems),
    tvWeight: parseNumber(flags.tvWeight, '--tv-weight', DEFAULT_SETTINGS.tvWeight, problems),
    learningRate: parseNumber(flags.learningRate, '--learning-rate', DEFAULT_SETTINGS.learningRate, problems),
    size,
    contentLayers: [...DEFAULT_SETTINGS.contentLayers],
    styleLayers: [...DEFAULT_SETTINGS.styleLayers],
    // Set only for the coherent mode, so renders in the seed's mode keep their ids and fingerprints.
    ...coherenceSettings(flags, size, problems),
    ...styleOptions(flags, problems),
  };
  // Without any --style the files check says so; the weights are then checked against one style.
  if (problems.length === 0) problems.push(...validateSettings(settings, Math.max(1, styleFlags(flags).length)));
  // Normalised only once valid: equal weights (the default) then leave the field out.
  if (problems.length === 0 && settings.styleBlendWeights) {
    const weights = normaliseBlendWeights(settings.styleBlendWeights);
    if (weights) settings.styleBlendWeights = weights;
    else delete settings.styleBlendWeights;
  }
  const limits: RenderLimits = {
    window: parseWhole(flags.window, '--window', DEFAULT_LIMITS.window, 1, problems),
    framesPerRun: parseWhole(flags.framesPerRun, '--frames-per-run', DEFAULT_LIMITS.framesPerRun, 1, problems),
    frameAttempts: parseWhole(flags.frameAttempts, '--frame-attempts', DEFAULT_LIMITS.frameAttempts, 1, problems),
    heartbeatTimeoutSeconds: parseWhole(flags.heartbeatTimeout, '--heartbeat-timeout', DEFAULT_LIMITS.heartbeatTimeoutSeconds, 6, problems),
    checkpointEvery:
      flags.checkpointEvery === undefined ? undefined : parseWhole(flags.checkpointEvery, '--checkpoint-every', 1, 1, problems),
    degradeAfterOoms: parseWhole(flags.degradeAfterOoms, '--degrade-after-ooms', DEFAULT_LIMITS.degradeAfterOoms!, 1, problems),
  };
  if (limits.window > 2000) problems.push('--window must be at most 2000 (Temporal caps pending activities per run)');
  const chunks: ChunkOptions = {
    frames: parseWhole(flags.chunkFrames, '--chunk-frames', DEFAULT_CHUNK_OPTIONS.frames, 1, problems),
    // Coherent chunks wait for the next chunk's lead-in before they encode, so two must fit on disk.
    open: parseWhole(flags.openChunks, '--open-chunks', DEFAULT_CHUNK_OPTIONS.open, settings.init === 'prev-warped' ? 2 : 1, problems),
    overlap: parseWhole(flags.overlap, '--overlap', DEFAULT_CHUNK_OPTIONS.overlap, 0, problems),
    keepFrames: flags.keepFrames === true,
  };
  if (settings.init === 'prev-warped' && chunks.overlap >= chunks.frames) problems.push(`--overlap must be less than --chunk-frames (got ${chunks.overlap} and ${chunks.frames})`);
  if (problems.length) throw new UsageError(problems.join('\n'));
  return { settings, limits, chunks };
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
    if (err instanceof MediaInputError) throw new UsageError(err.message);
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
    settings,
    ...extra,
  });
  const hash = createHash('sha256').update(identity).digest('hex').slice(0, 10);
  return `${slug(basename(files.input, extname(files.input)))}-${hash}`;
}

/**
 * The workflow id: running the same command again gives the same id, which is how it resumes (and
 * how a finished render is reported instead of rendered again). The output is part of it; the
 * epochs are not, because set-epochs changes them while the render runs: the command line with the
 * old or the new value names the same render.
 */
export function renderIdFor(files: RenderFileSet & { output: string }, settings: StyleSettings): Promise<string> {
  const { epochs: _epochs, ...rest } = settings;
  return readableId(files, rest as StyleSettings, { output: files.output });
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
      const scale = settings.styleScale === undefined ? '' : ` × --style-scale ${settings.styleScale}`;
      throw new UsageError(
        `--style "${given[i] ?? style}" is ${width}×${height} at ${longSide} px on its long side (--size ${settings.size}${scale}), ` +
          `but VGG19 layers down to ${deepestLayer(settings.styleLayers)} need at least ${min} pixels on each side; raise --style-scale or --size, or crop it closer to square`,
      );
    }
  }
}

export async function buildRenderRequest(flags: RenderFlags): Promise<RenderRequest> {
  const { settings, limits, chunks } = parseSettings(flags);
  const { info, ...files } = await checkRenderFiles(flags);
  // The split checks this too (for any client); here it fails before a server or workflow exists.
  const { problem } = frameSizeFor(info.displayWidth, info.displayHeight, settings.size, [...settings.contentLayers, ...settings.styleLayers]);
  if (problem) throw new UsageError(problem);
  if (settings.engine !== 'copy') await checkStyleSizes(files.styles ?? [files.style], styleFlags(flags), settings);
  const renderId = await renderIdFor(files, settings);
  const workDir = flags.workDir ? resolve(flags.workDir) : defaultWorkDir();
  // The work directory is named by the render id, so what `status` and `list` show is what is on disk.
  return { renderId, ...files, renderDir: join(workDir, 'renders', renderId), settings, limits, chunks };
}
