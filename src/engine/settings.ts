import { deepestLayer, minimumSideFor } from './vgg19-architecture';

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
  /** Weight of the temporal loss that keeps warm-started frames close to the warped previous result (prev-warped only). */
  temporalWeight?: number;
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
   * The options below are absent at their defaults, so renders of earlier releases keep their ids
   * and fingerprints.
   *
   * `--original-colors`: keep the content frame's colours — the stylized frame's luminance with the
   * content's chrominance, applied to the finished frame (the optimisation is unchanged).
   */
  originalColors?: true;
  /**
   * `--style-blend-weights`: one weight per style image, normalised to sum 1; the style target of
   * each layer is Σ wᵢ·Gramᵢ. Absent means equal weights (and is what a single style has).
   */
  styleBlendWeights?: number[];
  /** `--style-scale`: the style image's long side is `size × styleScale` (absent: 1). */
  styleScale?: number;
}

export type InitMode = 'content' | 'prev-warped';

/** The measured points the default temporal weight runs through (see defaultTemporalWeight). */
const TEMPORAL_WEIGHT_AT_96 = 1e5;
const TEMPORAL_WEIGHT_AT_512 = 1e7;
/** How fast the default grows with the long side: the power through both points, 2.75. */
const TEMPORAL_WEIGHT_EXPONENT = Math.log(TEMPORAL_WEIGHT_AT_512 / TEMPORAL_WEIGHT_AT_96) / Math.log(512 / 96);

/**
 * Temporal loss weight when --init prev-warped is given without --temporal-weight: 1e5 at a long
 * side of 96 px, growing a little faster than the frame's area — 1e5 × (size / 96)^2.75, to two
 * significant figures (2.2e5 at 128, 1.5e6 at 256, 1e7 at the default 512). Measured with
 * bench/coherence.ts on its camera-like clip (sensor noise σ 2.5/255, H.264 CRF 23; synthetic
 * full-width VGG19; README "Flicker-free video" has the tables and the commands):
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

/** Epochs of a warm-started frame when --later-epochs is not given: a third of the first frame's, rounded up. */
export function defaultLaterEpochs(epochs: number): number {
  return Math.ceil(epochs / 3);
}
/**
 * A chain's run-up when --run-up is not given. A fresh start is not converged, so the warm frames
 * after it go on converging and at first change nearly as much as independent frames do (frames
 * 1→2 of a chain: 0.79× content-init's change on still pixels at 128 px with 100/33 steps, 0.96× at
 * 256 px with 250/84). Rendering the chain's first frames backwards first leaves that settling
 * behind: at 128 px over 6 frames, run-ups of 1, 2 and 3 frames give 0.36×, 0.29× and 0.25× over
 * the clip against 0.47× without (1→2: 0.40×, 0.31×, 0.23×); with 3 and the seed's 250/84 steps,
 * 0.37× → 0.23× at 256 px over 16 frames and 0.58× → 0.38× at 512 px over 6 (bench/coherence.ts
 * `--coherence-run-ups`, README "Flicker-free video"). It costs `runUp` warm frames' steps once per
 * chain: about 1% of a 300-frame chunk.
 */
export const DEFAULT_RUN_UP = 3;

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
 * (so `--style-blend-weights 1,1` names the same render as no flag at all).
 */
export function normaliseBlendWeights(weights: readonly number[]): number[] | undefined {
  const total = weights.reduce((sum, w) => sum + w, 0);
  if (weights.every((w) => w === weights[0])) return undefined;
  return weights.map((w) => w / total);
}

/** The flags that only the coherent mode reads, given without it. */
export const COHERENT_ONLY = '--temporal-weight, --later-epochs and --run-up apply to --init prev-warped only; add --init prev-warped or leave them out';

/**
 * Returns one message per invalid field, naming the flag and what would be accepted. `styleCount`
 * is the number of style images (one per --style) the blend weights must match.
 */
export function validateSettings(s: StyleSettings, styleCount = 1): string[] {
  const errors: string[] = [];
  const positiveInt = (v: number, flag: string) => {
    if (!Number.isInteger(v) || v < 1) errors.push(`${flag} must be a whole number of at least 1 (got ${v})`);
  };
  const nonNegative = (v: number, flag: string) => {
    if (!Number.isFinite(v) || v < 0) errors.push(`${flag} must be a number of at least 0 (got ${v})`);
  };
  positiveInt(s.epochs, '--epochs');
  positiveInt(s.stepsPerEpoch, '--steps-per-epoch');
  nonNegative(s.styleWeight, '--style-weight');
  nonNegative(s.contentWeight, '--content-weight');
  nonNegative(s.tvWeight, '--tv-weight');
  if (!Number.isFinite(s.learningRate) || s.learningRate <= 0) {
    errors.push(`--learning-rate must be a number above 0 (got ${s.learningRate})`);
  }
  if (!(s.beta1 >= 0 && s.beta1 < 1)) errors.push(`beta1 must be in [0, 1) (got ${s.beta1})`);
  if (!(s.beta2 >= 0 && s.beta2 < 1)) errors.push(`beta2 must be in [0, 1) (got ${s.beta2})`);
  if (!(s.epsilon > 0)) errors.push(`epsilon must be above 0 (got ${s.epsilon})`);
  if (!Number.isInteger(s.size) || s.size < MIN_SIZE || s.size > MAX_SIZE) {
    errors.push(`--size must be a whole number of pixels from ${MIN_SIZE} to ${MAX_SIZE} (got ${s.size})`);
  }
  if (s.contentLayers.length === 0) errors.push('at least one content layer is needed');
  if (s.styleLayers.length === 0) errors.push('at least one style layer is needed');
  if (s.init !== undefined && !INIT_MODES.includes(s.init)) errors.push(`--init must be one of ${INIT_MODES.join(', ')} (got ${String(s.init)})`);
  if (s.temporalWeight !== undefined) nonNegative(s.temporalWeight, '--temporal-weight');
  if (s.laterEpochs !== undefined) positiveInt(s.laterEpochs, '--later-epochs');
  if (s.runUp !== undefined && !(Number.isInteger(s.runUp) && s.runUp >= 0)) errors.push(`--run-up must be a whole number of frames from 0 (got ${s.runUp})`);
  if (s.init !== 'prev-warped' && (s.temporalWeight !== undefined || s.laterEpochs !== undefined || s.runUp !== undefined)) {
    errors.push(COHERENT_ONLY);
  }
  errors.push(...styleOptionErrors(s, styleCount));
  if (s.engine !== undefined && !ENGINES.includes(s.engine)) errors.push(`--engine must be one of ${ENGINES.join(', ')} (got ${String(s.engine)})`);
  return errors;
}

function styleOptionErrors(s: StyleSettings, styleCount: number): string[] {
  const errors: string[] = [];
  const weights = s.styleBlendWeights;
  if (weights !== undefined) {
    if (!Array.isArray(weights) || !weights.every((w) => Number.isFinite(w) && w > 0)) {
      errors.push(`--style-blend-weights must be numbers above 0, one per --style, e.g. 3,7 (got ${String(weights)})`);
    } else if (weights.length !== styleCount) {
      errors.push(
        `--style-blend-weights has ${weights.length} weight${weights.length === 1 ? '' : 's'} but ${styleCount} style image${styleCount === 1 ? ' was' : 's were'} given; give one weight per --style`,
      );
    }
  }
  if (s.styleScale !== undefined && !(Number.isFinite(s.styleScale) && s.styleScale > 0 && s.styleScale <= MAX_STYLE_SCALE)) {
    errors.push(`--style-scale must be a number above 0 and at most ${MAX_STYLE_SCALE} (got ${s.styleScale})`);
  } else if (Number.isInteger(s.size) && s.styleLayers.length > 0) {
    const min = minimumSideFor(s.styleLayers);
    const side = styleLongSide(s, s.size);
    if (side < min) {
      errors.push(
        `--style-scale ${s.styleScale ?? 1} makes the style image ${side} px on its long side at --size ${s.size}, but VGG19 layers down to ${deepestLayer(s.styleLayers)} need at least ${min}; raise --style-scale or --size`,
      );
    }
  }
  if (s.originalColors !== undefined && s.originalColors !== true) {
    errors.push(`--original-colors takes no value (got ${String(s.originalColors)})`);
  }
  return errors;
}
