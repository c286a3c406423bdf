/**
 * Optimisation settings. Defaults reproduce the seed script (Gatys et al. with the
 * TensorFlow tutorial's weights) so results stay comparable with it.
 */
/**
 * What computes a frame: `vgg19`, the style transfer; `copy`, the frame passes through unstylized —
 * to measure the orchestration alone, or check the splitting, timing and audio of a long video in
 * minutes. Part of the settings, so of every fingerprint: a copied frame never poses as a stylized one.
 */
export type EngineName = 'vgg19' | 'copy';
export const ENGINES: readonly EngineName[] = ['vgg19', 'copy'];

export interface StyleSettings {
  /** Absent means `vgg19` (so renders of earlier releases keep their ids and fingerprints); set only for `copy`. */
  engine?: EngineName;
  epochs: number;
  stepsPerEpoch: number;
  styleWeight: number;
  contentWeight: number;
  tvWeight: number;
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Long side of the frames and the style image, in pixels. */
  size: number;
  contentLayers: string[];
  styleLayers: string[];
  /**
   * Where each frame's optimisation starts: `content`, the seed's method (every frame on its own,
   * any order); `prev-warped`, the previous frame's stylized result warped along the optical flow
   * (Ruder et al. 2016), so frames run in order within a chunk and flicker far less. Absent means
   * `content`, so renders of earlier releases keep their ids and fingerprints.
   */
  init?: InitMode;
  /**
   * Weight of the temporal loss that keeps warm-started frames close to the warped previous result
   * (prev-warped only). With `stopTolerance` (renders of this release) it is relative and
   * dimensionless (temporalWeightFor); without (earlier releases) the absolute weight they ran with.
   */
  temporalWeight?: number;
  /**
   * A warm-started frame is done when its loss reaches its chain's first frame's or falls by less
   * than this share over STOP_WINDOW steps (stopRuleFor); its presence also makes `temporalWeight`
   * relative. Absent (renders of earlier releases): every warm frame runs its later epochs.
   */
  stopTolerance?: number;
  /**
   * When a warm frame is back at its chain's first frame (stopRuleFor): `sum` (absent), its style +
   * content loss at the chain start's; `terms`, its style loss and its content loss each. The sum lets
   * a long chain slide toward less content; the terms hold it, but a frame whose one term cannot get
   * back runs to its ceiling, and so may the identical frames after it (docs/coherence.md).
   */
  stopOn?: StopOn;
  /**
   * Adam's learning rate on warm-started frames; absent: `learningRate` × LATER_LEARNING_RATE_SHARE
   * with stopTolerance, `learningRate` without (earlier releases). A fresh
   * Adam's first steps move every pixel by about the learning rate whatever the gradient's size, so
   * the seed's 0.02 shakes a warm start that is already near its optimum (docs/coherence.md).
   */
  laterLearningRate?: number;
  /**
   * What optimises a warm-started frame (prev-warped): `lbfgs` in coherent renders of this release
   * (DEFAULT_LATER_OPTIMIZER), or `adam` at laterLearningRate. Absent (renders of earlier releases):
   * `optimizer`, as they ran. L-BFGS's first step is 1/‖g‖₁ long and a step that raises the loss is
   * taken back (the last step at a frame's ceiling too: stylize scores it before the frame ends);
   * a fresh Adam's first steps move every pixel by
   * about its learning rate whatever the gradient, which at the seed's 250 steps leaves most warm
   * frames at their ceiling and far above their target (docs/coherence.md).
   */
  laterOptimizer?: OptimizerName;
  /** Epochs of a frame that starts from the warped previous result; absent means `epochs` (prev-warped only). */
  laterEpochs?: number;
  /**
   * Frames a chain's first frame is reached from, backwards (prev-warped only; absent means
   * DEFAULT_RUN_UP, so renders of earlier releases keep their ids and fingerprints): the chain's
   * optimisation starts `runUp` frames later, from that frame's content, and runs warm back to its
   * first frame, which so starts the chain already settled. 0 starts it from its own content.
   */
  runUp?: number;
  /**
   * A warm frame whose temporal guide trusts the flow on less than this share of its pixels is a
   * scene cut: it starts a new chain from its content (through its run-up), as a chunk's first
   * frame does, instead of running the warm ceiling from a guide that holds nothing of the previous
   * shot (prev-warped only). Present in every coherent render of this release (DEFAULT_SCENE_CUT;
   * 0: never); absent in earlier releases' renders, which resume as they ran.
   */
  sceneCut?: number;
  /**
   * The options below are absent at their defaults, so renders of earlier releases keep their ids
   * and fingerprints.
   *
   * Keep the content frame's colours — the stylized frame's luminance with the
   * content's chrominance, applied to the finished frame (the optimisation is unchanged).
   */
  originalColors?: true;
  /**
   * One weight per style image, normalised to sum 1; the style target of
   * each layer is Σ wᵢ·Gramᵢ. Absent means equal weights (and is what a single style has).
   */
  styleBlendWeights?: number[];
  /** The style image's long side is `size × styleScale` (absent: 1). */
  styleScale?: number;
  /**
   * What minimises the loss: `adam`, the seed's Keras Adam, or `lbfgs`, L-BFGS as neural-style runs
   * it (lbfgs.ts). Absent means `adam`, so renders of earlier releases keep their ids and fingerprints.
   */
  optimizer?: OptimizerName;
}

export type OptimizerName = 'adam' | 'lbfgs';
export const OPTIMIZERS: readonly OptimizerName[] = ['adam', 'lbfgs'];

export type InitMode = 'content' | 'prev-warped';

/** The measured points the default temporal weight runs through (see defaultTemporalWeight). */
const TEMPORAL_WEIGHT_AT_96 = 1e5;
const TEMPORAL_WEIGHT_AT_512 = 1e7;
/** How fast the default grows with the long side: the power through both points, 2.75. */
const TEMPORAL_WEIGHT_EXPONENT = Math.log(TEMPORAL_WEIGHT_AT_512 / TEMPORAL_WEIGHT_AT_96) / Math.log(512 / 96);

/**
 * Temporal loss weight of the prev-warped mode unless given: 1e5 at a long
 * side of 96 px, growing a little faster than the frame's area — 1e5 × (size / 96)^2.75, to two
 * significant figures (2.2e5 at 128, 1.5e6 at 256, 1e7 at the default 512). Measured with
 * bench/coherence.ts on its camera-like clip (sensor noise σ 2.5/255, H.264 CRF 23; synthetic
 * full-width VGG19; docs/coherence.md has the tables and the commands). Renders of this release use
 * temporalWeightFor instead; this is what renders of earlier releases (no stopTolerance) ran with:
 *  - at 96×64, 1e5 is the best weight (before flow.ts STILL_RATIO): warping error 0.43×
 *    content-init's against 0.52× at 1e4 and 0.48× without the term; 1e6 stops later frames from
 *    reaching content-init's loss within their third of the steps;
 *  - at a fixed weight the term's share of the loss falls with the frame's area (temporal·weight /
 *    style 0.23 at 96×64, 0.04 at 256×170 for 1e5), so a weight fixed at 96 px's best is too weak
 *    for larger frames: at 256×170 (12 frames, before STILL_RATIO) the change on still pixels went
 *    0.88× (1e5), 0.81× (3e5), 0.72× (1e6), 0.68× (3e6);
 *  - at 512×342 (6 frames, the seed's 250 steps and 84 later, with the run-up and the in-place rule)
 *    the area's 2.8e6 leaves 0.33× content-init's change on still pixels and 1e7 0.23×, every later
 *    frame still reaching content-init's loss at once; the same clip at 256 px gives 0.14× with
 *    7.1e5 and 0.15× with 1.5e6, at 128 px 0.20× with 1.8e5 and with 2.2e5: no worse there;
 *  - against it: at 128×86 with 250/84 steps 1e5 did a little better than 1.8e5 (0.50× against
 *    0.54×, before STILL_RATIO).
 * Re-measure with ImageNet weights and real footage.
 */
export function defaultTemporalWeight(size: number): number {
  return Number((TEMPORAL_WEIGHT_AT_96 * (size / 96) ** TEMPORAL_WEIGHT_EXPONENT).toPrecision(2));
}

/**
 * The default relative temporal weight (--temporal-weight with the stop rule): the temporal term's
 * absolute weight is this × the chain's loss scale × (size / 96)^2.75 (temporalWeightFor).
 * Measured on real footage (vtest.avi, Starry Night) with a sinusoidal and two He-random networks
 * whose loss scales differ (docs/coherence.md): 1e2 leaves the term too weak to hold still pixels,
 * 1e3 and 1e4 hold them; 1e3 keeps every frame's loss nearer content-init's.
 */
export const DEFAULT_RELATIVE_TEMPORAL_WEIGHT = 1e3;
/** Warm frames' learning rate as a share of the first frame's (settings.laterLearningRate): measured in docs/coherence.md. */
export const LATER_LEARNING_RATE_SHARE = 0.25;

/**
 * The temporal term's absolute weight for a warm frame whose chain's first frame ended at
 * style + content loss `scale`. The balance of the two terms' gradients scales with the
 * style + content loss's own magnitude (which differs by orders of magnitude between networks), so
 * a weight relative to it holds across networks where an absolute one cannot; the size factor is
 * defaultTemporalWeight's, measured at a fixed network. Renders of earlier releases (no
 * stopTolerance) keep their absolute weight.
 */
export function temporalWeightFor(s: Pick<StyleSettings, 'temporalWeight' | 'stopTolerance' | 'size'>, scale: number): number {
  if (s.stopTolerance === undefined) return s.temporalWeight ?? defaultTemporalWeight(s.size);
  return (s.temporalWeight ?? DEFAULT_RELATIVE_TEMPORAL_WEIGHT) * scale * (s.size / 96) ** TEMPORAL_WEIGHT_EXPONENT;
}

/** artistic-videos' -tol_loss_relative default is 1e-4 over 50 steps; Adam's steps here are coarser (see docs/coherence.md). */
export const DEFAULT_STOP_TOLERANCE = 1e-3;
/** Steps over which the tolerance compares the loss. */
export const STOP_WINDOW = 10;

/** What a warm frame's loss must be back at (StyleSettings.stopOn); the sum unless a render asks for the terms. */
export type StopOn = 'sum' | 'terms';
export const STOP_ON: readonly StopOn[] = ['sum', 'terms'];
export const DEFAULT_STOP_ON: StopOn = 'sum';

/** A chain start's style and content loss (weighted, as in the frame's loss): what `stopOn: terms` holds each frame to. */
export interface StyleContentTerms {
  style: number;
  content: number;
}

/**
 * What a chain's warm frames work back to: its start's style + content + tv loss (also the temporal
 * weight's scale), and its style and content apart (absent in chains an earlier release started).
 */
export interface ChainTarget {
  loss: number;
  terms?: StyleContentTerms;
}
/**
 * A warm frame runs at least this × its untrusted share of its ceiling: 10 % of its pixels
 * distrusted (disoccluded, changed) earns the whole ceiling. The global loss can sit below the
 * target while such a patch is still the warped neighbour's paint; steps spent there are what
 * optimises it, and few untrusted pixels (noise, a small moving object) cost few steps.
 */
export const UNTRUSTED_GAIN = 10;

/**
 * Whether a coherent render's frames keep their stored result's loss and its warm frames stop on it
 * (stopRuleFor's `settled`): those that name their warm frames' optimiser (laterOptimizer); earlier
 * releases' renders resume as they ran, and spend no forward pass on it.
 */
export function usesSettled(s: Pick<StyleSettings, 'stopTolerance' | 'laterOptimizer'>): boolean {
  return s.stopTolerance !== undefined && s.laterOptimizer !== undefined;
}

/**
 * The stop rule of a warm frame (stylize.ts StopRule) of a chain with target `chain`, with temporal
 * mask `mask` (1 = trusted) and `ceiling` steps; undefined for earlier releases' settings (no
 * stopTolerance), which run every step. `settled`, the style + content + tv of its predecessor's
 * result as stored (what the frame starts from), counts where usesSettled says so.
 */
export function stopRuleFor(s: Pick<StyleSettings, 'stopTolerance' | 'stopOn' | 'laterOptimizer'>, { loss: target, terms }: ChainTarget, mask: Float32Array, ceiling: number, settled?: number) {
  if (s.stopTolerance === undefined) return undefined;
  const share = untrustedShare(mask);
  const minSteps = Math.min(ceiling, Math.ceil(ceiling * share * UNTRUSTED_GAIN));
  // A chain whose start recorded no terms (started by an earlier release) keeps to the sum.
  return { target, tolerance: s.stopTolerance, window: STOP_WINDOW, minSteps, ...(s.stopOn === 'terms' && terms && { terms }), ...(usesSettled(s) && settled !== undefined && Number.isFinite(settled) && { settled }) };
}

/** The settings a warm-started frame runs: its later epochs, its optimiser (laterOptimizer), and with the stop rule its own learning rate. */
export function laterSettings(s: StyleSettings): StyleSettings {
  const learningRate = s.laterLearningRate ?? (s.stopTolerance === undefined ? s.learningRate : s.learningRate * LATER_LEARNING_RATE_SHARE);
  return { ...s, epochs: s.laterEpochs ?? s.epochs, learningRate, ...(s.laterOptimizer && { optimizer: s.laterOptimizer }) };
}

/** What optimises a coherent render's warm frames unless given (settings.laterOptimizer): measured in docs/coherence.md. */
export const DEFAULT_LATER_OPTIMIZER: OptimizerName = 'lbfgs';

/** Epochs of a warm-started frame unless given: a third of the first frame's, rounded up. */
export function defaultLaterEpochs(epochs: number): number {
  return Math.ceil(epochs / 3);
}
/**
 * A chain's run-up unless given. A fresh start is not converged, so the warm frames
 * after it go on converging and at first change nearly as much as independent frames do (frames
 * 1→2 of a chain: 0.79× content-init's change on still pixels at 128 px with 100/33 steps, 0.96× at
 * 256 px with 250/84). Rendering the chain's first frames backwards first leaves that settling
 * behind: at 128 px over 6 frames, run-ups of 1, 2 and 3 frames give 0.36×, 0.29× and 0.25× over
 * the clip against 0.47× without (1→2: 0.40×, 0.31×, 0.23×); with 3 and the seed's 250/84 steps,
 * 0.37× → 0.23× at 256 px over 16 frames and 0.58× → 0.38× at 512 px over 6 (bench/coherence.ts
 * `--coherence-run-ups`, docs/coherence.md). It costs `runUp` warm frames' steps once per
 * chain: about 1% of a 300-frame chunk.
 */
export const DEFAULT_RUN_UP = 3;

/**
 * settings.sceneCut unless given: a frame whose flow is trusted on less than half its pixels. Within
 * a shot the guide distrusts at most a fifth of a frame on the bench's three clips at 96 px (vtest's
 * walkers 3.8 %, Megamind's pan 7.8 %, a hand entering tree's picture 20.3 %: docs/coherence.md);
 * across a cut it trusts next to nothing, since the warped previous shot fails the photometric test
 * almost everywhere.
 */
export const DEFAULT_SCENE_CUT = 0.5;

/** Whether a warm frame with temporal mask `mask` (1 = trusted) is a scene cut, and so starts a new chain (settings.sceneCut). */
export function isSceneCut(s: Pick<StyleSettings, 'sceneCut'>, mask: Float32Array): boolean {
  return !!s.sceneCut && 1 - untrustedShare(mask) < s.sceneCut;
}

/** The share of a temporal mask's pixels it distrusts (mask 0; 1 = trusted), summed as the stop rule always has. */
function untrustedShare(mask: Float32Array): number {
  let untrusted = 0;
  for (const m of mask) untrusted += 1 - m;
  return untrusted / Math.max(1, mask.length);
}

/** Optimisation steps a frame runs with these settings. */
export function totalSteps(settings: Pick<StyleSettings, 'epochs' | 'stepsPerEpoch'>): number {
  return settings.epochs * settings.stepsPerEpoch;
}

export const INIT_MODES: readonly InitMode[] = ['content', 'prev-warped'];

export const DEFAULT_SETTINGS: Readonly<StyleSettings> = Object.freeze({
  epochs: 5,
  stepsPerEpoch: 50,
  styleWeight: 1e-2,
  contentWeight: 1e4,
  tvWeight: 0,
  learningRate: 0.02,
  beta1: 0.99,
  beta2: 0.999,
  epsilon: 0.1,
  size: 512,
  contentLayers: ['block5_conv2'],
  styleLayers: ['block1_conv1', 'block2_conv1', 'block3_conv1', 'block4_conv1', 'block5_conv1'],
});

/**
 * Settings that cannot work for this input (e.g. frames too small for the chosen VGG19 layers).
 * Its own class, not RangeError: helpers throw RangeError for unrelated reasons (a bad frame
 * index, a short pixel buffer), and those are bugs to retry and report, not bad settings.
 */
export class InvalidSettingsError extends Error {
  override name = 'InvalidSettingsError';
  constructor(
    message: string,
    /** The setting at fault, for a caller that names settings otherwise (the command line: by its flags). */
    readonly problem?: SettingProblem,
  ) {
    super(message);
  }
}

/**
 * A setting that cannot work, said without naming a command-line flag: `message` writes each setting
 * as `{key}` (`{size} 16 makes …`), and so does the InvalidSettingsError made of it. The command line
 * names them by their flags where a person reads them (common/setting-names.ts); this layer and the
 * ones below it by their keys.
 */
export interface SettingProblem {
  key: keyof StyleSettings;
  message: string;
}

export const MIN_SIZE = 16;
export const MAX_SIZE = 4096;
/** Above this the style image would be up to 4× the frame's side on a side, 16× its pixels: memory, not style. */
export const MAX_STYLE_SCALE = 4;

/** Long side of the style image for frames of long side `size`. */
export function styleLongSide(s: Pick<StyleSettings, 'styleScale'>, size: number): number {
  return Math.max(1, Math.round(size * (s.styleScale ?? 1)));
}

/** Each style's weight in the blend: the settings' weights, or equal ones. */
export function styleBlendWeightsFor(s: Pick<StyleSettings, 'styleBlendWeights'>, styleCount: number): number[] {
  return s.styleBlendWeights ?? Array.from({ length: styleCount }, () => 1 / styleCount);
}

/**
 * Weights as given (`3,7`) made to sum 1; undefined when they are all equal, which is the default
 * (so weights 1,1 name the same render as none at all).
 */
export function normaliseBlendWeights(weights: readonly number[]): number[] | undefined {
  const total = weights.reduce((sum, w) => sum + w, 0);
  if (weights.every((w) => w === weights[0])) return undefined;
  return weights.map((w) => w / total);
}
