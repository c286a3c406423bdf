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
}

export type InitMode = 'content' | 'prev-warped';

/** Temporal loss weight when --init prev-warped is given without --temporal-weight (chosen from bench/coherence.ts). */
export const DEFAULT_TEMPORAL_WEIGHT = 1e4;

/** Epochs of a warm-started frame when --later-epochs is not given: a third of the first frame's, rounded up. */
export function defaultLaterEpochs(epochs: number): number {
  return Math.ceil(epochs / 3);
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

/** Returns one message per invalid field, naming the flag and what would be accepted. */
export function validateSettings(s: StyleSettings): string[] {
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
  if (s.init !== 'prev-warped' && (s.temporalWeight !== undefined || s.laterEpochs !== undefined)) {
    errors.push('--temporal-weight and --later-epochs apply to --init prev-warped only; add --init prev-warped or leave them out');
  }
  if (s.engine !== undefined && !ENGINES.includes(s.engine)) errors.push(`--engine must be one of ${ENGINES.join(', ')} (got ${String(s.engine)})`);
  return errors;
}
