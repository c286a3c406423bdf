/**
 * Every render option, defined once (after npm/cli's config definitions): its flag, how it is
 * parsed and checked, its default, its help, where its value goes (the settings the engine and the
 * activities read, or the limits and chunk options the workflow reads) and how it takes part in the
 * render's identity. The command line's flags and --help, README's option table, the parsing and
 * validation of a command line, and the canonical settings object are all made from this table
 * (render-option-values.ts); no other code defines an option, and messages that name one get its
 * flag from here (flagOf; withFlags for the layers below, whose messages name it by key: `{size}`).
 *
 * To add an option: add its entry here (identity 'unless-default', so every existing render keeps its
 * id), read it where it takes effect, test it, and run `npm run readme-options`.
 */
import {
  DEFAULT_RUN_UP,
  DEFAULT_SCENE_CUT,
  DEFAULT_SETTINGS,
  defaultLaterEpochs,
  DEFAULT_RELATIVE_TEMPORAL_WEIGHT,
  DEFAULT_STOP_TOLERANCE,
  DEFAULT_STOP_ON,
  DEFAULT_LATER_OPTIMIZER,
  STOP_ON,
  ENGINES,
  INIT_MODES,
  MAX_SIZE,
  MAX_STYLE_SCALE,
  MIN_SIZE,
  normaliseBlendWeights,
  OPTIMIZERS,
  STOP_WINDOW,
  styleLongSide,
} from '../../engine/settings';
import { deepestLayer, minimumSideFor } from '../../engine/vgg19-architecture';
import { DEFAULT_CHUNK_OPTIONS } from '../../workflows/chunks';
import { DEFAULT_LIMITS } from '../../workflows/contract';

/** Every option's value, by key, once parsed and defaulted. */
export type OptionValues = Record<string, unknown>;

/** What a check knows besides the values: how many style images were given. */
export interface CheckContext {
  styleCount: number;
}

export interface RenderOption {
  /** The field it sets: of the settings, the limits or the chunk options (`into`). */
  key: string;
  /** As commander takes it: `--epochs <n>`, `-s, --style <image>`, `--keep-frames`. */
  flag: string;
  help: string;
  /** How the text on the command line becomes a value; `switch` takes none (true when given). */
  type: 'number' | 'choice' | 'switch' | 'numbers';
  choices?: readonly string[];
  /**
   * The value when the flag is not given: fixed, or computed from the other options' values (only
   * from options whose default is fixed). Shown by --help when fixed and `showDefault`.
   */
  default?: unknown;
  computeDefault?: (v: OptionValues) => unknown;
  showDefault?: boolean;
  /** What the value must be, said after the flag ("must be …"); `{key}` names another option's flag. */
  check?: (value: any, v: OptionValues, ctx: CheckContext) => string | undefined;
  /** Taken only with this other option's value (the coherent mode's options); refused without it. */
  onlyWith?: { key: string; value: unknown };
  /** settings: StyleSettings (engine, activities); limits: RenderLimits and chunks: ChunkOptions (workflow). */
  into: 'settings' | 'limits' | 'chunks';
  /** The layer that acts on the value. */
  readBy: 'engine' | 'activities' | 'workflows';
  /**
   * settings only. `unless-default`: present in the settings (so in the id and fingerprints) only
   * when it differs from its default: adding such an option changes no existing id. `always`: present
   * whenever it applies, at its default too — only options older than this table, whose ids depend on
   * it (test/client/render-ids.test.ts). `steerable`: present, but not part of the render id, because
   * it may change while the render runs (set-epochs).
   */
  identity?: 'always' | 'unless-default' | 'steerable';
  /** Brings a valid value to its canonical form; undefined when that is the default. */
  normalise?: (value: any) => unknown;
}

const wholeAtLeast = (min: number) => (v: number) => (Number.isInteger(v) && v >= min ? undefined : `must be a whole number of at least ${min} (got ${v})`);
const atLeastZero = (v: number) => (Number.isFinite(v) && v >= 0 ? undefined : `must be a number of at least 0 (got ${v})`);

function blendWeightsProblem(weights: number[], v: OptionValues, ctx: CheckContext): string | undefined {
  if (!weights.every((w) => Number.isFinite(w) && w > 0)) return `must be numbers above 0, one per {style}, e.g. 3,7 (got ${String(weights)})`;
  if (weights.length === ctx.styleCount) return undefined;
  const s = ctx.styleCount;
  return `has ${weights.length} weight${weights.length === 1 ? '' : 's'} but ${s} style image${s === 1 ? ' was' : 's were'} given; give one weight per {style}`;
}

function styleScaleProblem(scale: number, v: OptionValues): string | undefined {
  if (!(Number.isFinite(scale) && scale > 0 && scale <= MAX_STYLE_SCALE)) return `must be a number above 0 and at most ${MAX_STYLE_SCALE} (got ${scale})`;
  const size = v.size as number;
  // An invalid --size has its own message.
  if (!Number.isInteger(size) || size < MIN_SIZE || size > MAX_SIZE) return undefined;
  const min = minimumSideFor(DEFAULT_SETTINGS.styleLayers);
  const side = styleLongSide({ styleScale: scale }, size);
  if (side >= min) return undefined;
  return `${scale} makes the style image ${side} px on its long side at {size} ${size}, but VGG19 layers down to ${deepestLayer(DEFAULT_SETTINGS.styleLayers)} need at least ${min}; raise {styleScale} or {size}`;
}

const COHERENT = { key: 'init', value: 'prev-warped' } as const;

/** In --help order. */
export const RENDER_OPTIONS: readonly RenderOption[] = [
  {
    key: 'engine',
    flag: '--engine <name>',
    help: 'vgg19 (style transfer), or copy: frames pass through NOT stylized, to check a long video or measure the orchestration',
    type: 'choice',
    choices: ENGINES,
    default: 'vgg19',
    showDefault: true,
    into: 'settings',
    readBy: 'activities',
    identity: 'unless-default',
  },
  {
    key: 'epochs',
    flag: '--epochs <n>',
    help: 'optimisation epochs per frame',
    type: 'number',
    default: DEFAULT_SETTINGS.epochs,
    showDefault: true,
    check: wholeAtLeast(1),
    into: 'settings',
    readBy: 'engine',
    identity: 'steerable',
  },
  {
    key: 'stepsPerEpoch',
    flag: '--steps-per-epoch <n>',
    help: 'Adam steps per epoch',
    type: 'number',
    default: DEFAULT_SETTINGS.stepsPerEpoch,
    showDefault: true,
    check: wholeAtLeast(1),
    into: 'settings',
    readBy: 'engine',
    identity: 'always',
  },
  {
    key: 'styleWeight',
    flag: '--style-weight <x>',
    help: 'weight of the style loss',
    type: 'number',
    default: DEFAULT_SETTINGS.styleWeight,
    showDefault: true,
    check: atLeastZero,
    into: 'settings',
    readBy: 'engine',
    identity: 'always',
  },
  {
    key: 'contentWeight',
    flag: '--content-weight <x>',
    help: 'weight of the content loss',
    type: 'number',
    default: DEFAULT_SETTINGS.contentWeight,
    showDefault: true,
    check: atLeastZero,
    into: 'settings',
    readBy: 'engine',
    identity: 'always',
  },
  {
    key: 'tvWeight',
    flag: '--tv-weight <x>',
    help: 'weight of the total variation loss',
    type: 'number',
    default: DEFAULT_SETTINGS.tvWeight,
    showDefault: true,
    check: atLeastZero,
    into: 'settings',
    readBy: 'engine',
    identity: 'always',
  },
  {
    key: 'learningRate',
    flag: '--learning-rate <x>',
    help: 'Adam learning rate',
    type: 'number',
    default: DEFAULT_SETTINGS.learningRate,
    showDefault: true,
    check: (v: number) => (Number.isFinite(v) && v > 0 ? undefined : `must be a number above 0 (got ${v})`),
    into: 'settings',
    readBy: 'engine',
    identity: 'always',
  },
  {
    key: 'optimizer',
    flag: '--optimizer <name>',
    help: "adam (the seed's Keras Adam) or lbfgs (L-BFGS as neural-style runs it, 10 curvature pairs; --learning-rate is Adam's; docs/lbfgs.md)",
    type: 'choice',
    choices: OPTIMIZERS,
    default: 'adam',
    showDefault: true,
    into: 'settings',
    readBy: 'engine',
    identity: 'unless-default',
  },
  {
    key: 'size',
    flag: '--size <px>',
    help: `long side of the frames, ${MIN_SIZE}–${MAX_SIZE}`,
    type: 'number',
    default: DEFAULT_SETTINGS.size,
    showDefault: true,
    check: (v: number) =>
      Number.isInteger(v) && v >= MIN_SIZE && v <= MAX_SIZE ? undefined : `must be a whole number of pixels from ${MIN_SIZE} to ${MAX_SIZE} (got ${v})`,
    into: 'settings',
    readBy: 'engine',
    identity: 'always',
  },
  {
    key: 'init',
    flag: '--init <mode>',
    help: "where each frame starts: content (the seed's method, frames independent) or prev-warped (the previous stylized frame warped along the optical flow: far less flicker, fewer steps)",
    type: 'choice',
    choices: INIT_MODES,
    default: 'content',
    into: 'settings',
    readBy: 'activities',
    identity: 'unless-default',
  },
  {
    key: 'temporalWeight',
    flag: '--temporal-weight <x>',
    help: `prev-warped: weight of the temporal loss relative to the chain's style + content loss, dimensionless (default ${DEFAULT_RELATIVE_TEMPORAL_WEIGHT})`,
    type: 'number',
    default: DEFAULT_RELATIVE_TEMPORAL_WEIGHT,
    check: atLeastZero,
    onlyWith: COHERENT,
    into: 'settings',
    readBy: 'engine',
    identity: 'always',
  },
  {
    key: 'laterEpochs',
    flag: '--later-epochs <n>',
    help: 'prev-warped: epochs of frames that start from the previous one (default: a third of --epochs, rounded up)',
    type: 'number',
    computeDefault: (v) => defaultLaterEpochs(v.epochs as number),
    check: wholeAtLeast(1),
    onlyWith: COHERENT,
    into: 'settings',
    readBy: 'activities',
    identity: 'always',
  },
  {
    key: 'laterOptimizer',
    flag: '--later-optimizer <name>',
    help: `prev-warped: what optimises frames that start from the previous one: lbfgs (a tiny first step, and a step that raises the loss is taken back) or adam (at a quarter of --learning-rate) (default ${DEFAULT_LATER_OPTIMIZER})`,
    type: 'choice',
    choices: OPTIMIZERS,
    default: DEFAULT_LATER_OPTIMIZER,
    onlyWith: COHERENT,
    into: 'settings',
    readBy: 'activities',
    // Present in every coherent render of this release, at its default too: coherent renders of
    // earlier releases (without it) ran their warm frames with --optimizer, and resume that way.
    identity: 'always',
  },
  {
    key: 'runUp',
    flag: '--run-up <n>',
    help: `prev-warped: frames a chain's first frame is reached from, rendered backwards so the chain starts settled (default ${DEFAULT_RUN_UP}; 0: from its own content)`,
    type: 'number',
    default: DEFAULT_RUN_UP,
    check: (v: number) => (Number.isInteger(v) && v >= 0 ? undefined : `must be a whole number of frames from 0 (got ${v})`),
    onlyWith: COHERENT,
    into: 'settings',
    readBy: 'activities',
    identity: 'unless-default',
  },
  {
    key: 'sceneCut',
    flag: '--scene-cut <share>',
    help: `prev-warped: a frame whose flow is trusted on less than this share of its pixels is a scene cut and starts a new chain from its content, as a chunk's first frame does (default ${DEFAULT_SCENE_CUT}; 0: never)`,
    type: 'number',
    default: DEFAULT_SCENE_CUT,
    check: (v: number) => (v >= 0 && v <= 1 ? undefined : `must be a share from 0 to 1 (got ${v})`),
    onlyWith: COHERENT,
    into: 'settings',
    readBy: 'activities',
    // Present in every coherent render of this release, at its default too: coherent renders of
    // earlier releases (without it) ran warm across a cut, and resume that way.
    identity: 'always',
  },
  {
    key: 'stopTolerance',
    flag: '--stop-tolerance <x>',
    help: `prev-warped: a warm frame is done once its loss is within this share of its chain's first frame's, or changes by less over ${STOP_WINDOW} steps (default ${DEFAULT_STOP_TOLERANCE})`,
    type: 'number',
    default: DEFAULT_STOP_TOLERANCE,
    check: atLeastZero,
    onlyWith: COHERENT,
    into: 'settings',
    readBy: 'activities',
    // Present in every coherent render of this release, at its default too: it marks the stop rule and
    // the relative --temporal-weight, so renders of earlier releases (without it) keep their meaning and ids.
    identity: 'always',
  },
  {
    key: 'stopOn',
    flag: '--stop-on <rule>',
    help: `prev-warped: what a warm frame's loss must be back at to stop: sum (its style + content loss, at its chain start's) or terms (each of the two: holds a long chain's content, at more steps) (default ${DEFAULT_STOP_ON})`,
    type: 'choice',
    choices: STOP_ON,
    default: DEFAULT_STOP_ON,
    onlyWith: COHERENT,
    into: 'settings',
    readBy: 'activities',
    // Absent at the sum, so every earlier coherent render keeps its id and computes as it did.
    identity: 'unless-default',
  },
  {
    key: 'frames',
    flag: '--chunk-frames <n>',
    help: 'frames per chunk: extracted, stylized, encoded and deleted together',
    type: 'number',
    default: DEFAULT_CHUNK_OPTIONS.frames,
    showDefault: true,
    check: wholeAtLeast(1),
    into: 'chunks',
    readBy: 'workflows',
  },
  {
    key: 'open',
    flag: '--open-chunks <n>',
    help: 'chunks on disk at once (bounds the disk; with prev-warped, the chunks rendered in parallel)',
    type: 'number',
    default: DEFAULT_CHUNK_OPTIONS.open,
    showDefault: true,
    // Coherent chunks wait for the next chunk's lead-in before they encode, so two must fit on disk.
    check: (n: number, v) => wholeAtLeast(v.init === 'prev-warped' ? 2 : 1)(n),
    into: 'chunks',
    readBy: 'workflows',
  },
  {
    key: 'overlap',
    flag: '--overlap <n>',
    help: 'prev-warped: frames each chunk renders ahead of its start to cross-fade the seam',
    type: 'number',
    default: DEFAULT_CHUNK_OPTIONS.overlap,
    showDefault: true,
    check: (n: number, v) =>
      wholeAtLeast(0)(n) ?? (v.init === 'prev-warped' && n >= (v.frames as number) ? `must be less than {frames} (got ${n} and ${v.frames as number})` : undefined),
    into: 'chunks',
    readBy: 'workflows',
  },
  {
    key: 'keepFrames',
    flag: '--keep-frames',
    help: "keep each chunk's frames (content and stylized PNGs) after its segment is encoded",
    type: 'switch',
    default: false,
    into: 'chunks',
    readBy: 'workflows',
  },
  {
    key: 'styleBlendWeights',
    flag: '--style-blend-weights <list>',
    help: 'with several --style: their weights, e.g. 3,7 (normalised to sum 1; default equal)',
    type: 'numbers',
    check: blendWeightsProblem,
    // 3,7 and 0.3,0.7 are the same render; equal weights are the default.
    normalise: normaliseBlendWeights,
    into: 'settings',
    readBy: 'engine',
    identity: 'unless-default',
  },
  {
    key: 'styleScale',
    flag: '--style-scale <x>',
    help: `the style image's long side is --size times this, above 0 and at most ${MAX_STYLE_SCALE} (default 1)`,
    type: 'number',
    default: 1,
    check: styleScaleProblem,
    into: 'settings',
    readBy: 'activities',
    identity: 'unless-default',
  },
  {
    key: 'originalColors',
    flag: '--original-colors',
    help: "keep the frames' own colours: only the luminance is stylized",
    type: 'switch',
    default: false,
    into: 'settings',
    readBy: 'activities',
    identity: 'unless-default',
  },
  {
    key: 'window',
    flag: '--window <n>',
    help: 'frames scheduled at once',
    type: 'number',
    default: DEFAULT_LIMITS.window,
    showDefault: true,
    check: (n: number) => wholeAtLeast(1)(n) ?? (n > 2000 ? 'must be at most 2000 (Temporal caps pending activities per run)' : undefined),
    into: 'limits',
    readBy: 'workflows',
  },
  {
    key: 'framesPerRun',
    flag: '--frames-per-run <n>',
    help: 'frames per workflow run before continue-as-new',
    type: 'number',
    default: DEFAULT_LIMITS.framesPerRun,
    showDefault: true,
    check: wholeAtLeast(1),
    into: 'limits',
    readBy: 'workflows',
  },
  {
    key: 'frameAttempts',
    flag: '--frame-attempts <n>',
    help: 'attempts per frame before it counts as failed',
    type: 'number',
    default: DEFAULT_LIMITS.frameAttempts,
    showDefault: true,
    check: wholeAtLeast(1),
    into: 'limits',
    readBy: 'workflows',
  },
  {
    key: 'heartbeatTimeoutSeconds',
    flag: '--heartbeat-timeout <s>',
    help: 'seconds of silence before a worker is presumed dead',
    type: 'number',
    default: DEFAULT_LIMITS.heartbeatTimeoutSeconds,
    showDefault: true,
    check: wholeAtLeast(6),
    into: 'limits',
    readBy: 'workflows',
  },
  {
    key: 'checkpointEvery',
    flag: '--checkpoint-every <steps>',
    help: "steps between a frame's checkpoints (default: one epoch)",
    type: 'number',
    check: wholeAtLeast(1),
    into: 'limits',
    readBy: 'activities',
  },
  {
    key: 'degradeAfterOoms',
    flag: '--degrade-after-ooms <n>',
    help: 'out-of-memory failures after which a frame is computed at reduced size',
    type: 'number',
    default: DEFAULT_LIMITS.degradeAfterOoms,
    showDefault: true,
    check: wholeAtLeast(1),
    into: 'limits',
    readBy: 'workflows',
  },
];
