import type { RgbImage } from '../media/types';
import { adamUpdate, type AdamMoments } from './adam';
import { Lbfgs, LBFGS_HISTORY, type LbfgsArrays } from './lbfgs';
import { caffePreprocess, gramMatrix, styleContentLoss, temporalLoss } from './losses';
import { totalSteps, type StyleContentTerms, type StyleSettings } from './settings';
import { tf } from './tf';
import { StepGraph, type FrameStep } from './step-graph';
import type { Vgg19 } from './vgg19';

/** Everything needed to continue a frame's optimisation exactly where it stopped. */
export type OptimisationCheckpoint = AdamCheckpoint | LbfgsCheckpoint;

export interface AdamCheckpoint {
  /** Steps completed. */
  step: number;
  image: Float32Array;
  m: Float32Array;
  v: Float32Array;
  /** The loss before each of the last StopRule.window steps (a stopping frame's only): the tolerance rule's memory. */
  recent?: number[];
}

/** --optimizer lbfgs: the image and L-BFGS's history (lbfgs.ts). */
export interface LbfgsCheckpoint {
  step: number;
  image: Float32Array;
  lbfgs: LbfgsArrays;
  recent?: number[];
}

export interface StepProgress {
  step: number;
  totalSteps: number;
  loss: number;
}

export interface StyleTargets {
  readonly layers: readonly string[];
  readonly grams: readonly tf.Tensor3D[];
  dispose(): void;
}

export function imageToTensor(image: RgbImage): tf.Tensor4D {
  return tf.tensor4d(image.data, [1, image.height, image.width, 3]);
}

/** Gram matrices of the style image: computed once per style and settings, shared by every frame. */
export function computeStyleTargets(model: Vgg19, style: RgbImage, layers: readonly string[]): StyleTargets {
  const grams = styleGrams(model, style, layers);
  return { layers, grams, dispose: () => tf.dispose(grams) };
}

function styleGrams(model: Vgg19, style: RgbImage, layers: readonly string[]): tf.Tensor3D[] {
  return tf.tidy(() => {
    const features = model.extract(caffePreprocess(imageToTensor(style)), layers, { release: true });
    return layers.map((l) => gramMatrix(features[l]));
  });
}

/** One style image of a blend and its weight (the weights of a blend sum to 1). */
export interface WeightedStyle {
  image: RgbImage;
  weight: number;
}

/**
 * The targets of several styles blended as neural-style blends them: each layer's target is
 * Σ wᵢ·Gramᵢ. A Gram matrix is C×C whatever the image's size, so the styles may differ in size.
 * One style alone gives exactly computeStyleTargets' bits, whatever its weight says.
 */
export function computeBlendedStyleTargets(model: Vgg19, styles: readonly WeightedStyle[], layers: readonly string[]): StyleTargets {
  if (styles.length === 0) throw new RangeError('a style blend needs at least one style image');
  if (styles.length === 1) return computeStyleTargets(model, styles[0].image, layers);
  let sums: tf.Tensor3D[] | undefined;
  // One style's features at a time: the blend never holds more than one image's activations.
  for (const { image, weight } of styles) {
    const grams = styleGrams(model, image, layers);
    const next = tf.tidy(() => grams.map((g, i) => (sums ? sums[i].add(g.mul(weight)) : g.mul(weight)) as tf.Tensor3D));
    tf.dispose(grams);
    if (sums) tf.dispose(sums);
    sums = next;
  }
  const grams = sums!;
  return { layers, grams, dispose: () => tf.dispose(grams) };
}

/**
 * Ruder et al.'s temporal term: keeps the pixels of this frame that `mask` trusts close to the
 * previous stylized frame warped onto this one (see flow.ts temporalGuide).
 */
export interface TemporalConstraint {
  warped: RgbImage;
  /** H·W weights in [0, 1], 1 = keep this pixel close to `warped`. */
  mask: Float32Array;
  /** Multiplies the mean over pixels and channels of mask·(x − warped)²; see settings.ts defaultTemporalWeight. */
  weight: number;
}

/**
 * When a warm-started frame is done (settings.ts stopRuleFor): Ruder et al. run a fixed number of
 * steps, but a frame that starts at its chain's loss needs none, and steps beyond it drift the look.
 * Checked before each update from the image and `recent` alone, so a resumed frame stops at the same step.
 */
export interface StopRule {
  /** Done once style + content + tv is at most target × (1 + tolerance): the chain's first frame's. */
  target: number;
  /** With these, the style loss and the content loss must each be back at the chain start's too (settings.stopOn `terms`). */
  terms?: StyleContentTerms;
  /** Done once the loss fell by less than tolerance × itself over the last `window` steps (artistic-videos' -tol_loss_relative). */
  tolerance: number;
  window: number;
  /**
   * Steps it runs whatever the loss says: a disoccluded region's share (the global loss can hide it).
   * Those taken at the target update only the pixels the temporal mask distrusts.
   */
  minSteps: number;
  /**
   * The style + content + tv of its predecessor's result as stored (8-bit: the image this frame
   * starts from, not the float one optimised). A frame that starts no higher, with no distrusted
   * pixel to earn steps (minSteps 0), has nothing to recover and stops before its first step: an
   * identical frame keeps its predecessor's bits also where the predecessor ran to its ceiling above
   * the target, where its repeats would otherwise go on optimising, frame after frame.
   */
  settled?: number;
}

export interface StylizeRequest {
  content: RgbImage;
  /**
   * The image the optimisation starts from instead of the content frame (e.g. the previous
   * stylized frame warped onto this one); Adam's moments still start at zero, and the content
   * loss still compares with `content`. Ignored when resuming: the checkpoint holds the image.
   */
  init?: RgbImage;
  temporal?: TemporalConstraint;
  targets: StyleTargets;
  settings: StyleSettings;
  resumeFrom?: OptimisationCheckpoint;
  /** Steps between checkpoints; defaults to one epoch. */
  checkpointEvery?: number;
  onStep?: (progress: StepProgress) => void | Promise<void>;
  onCheckpoint?: (checkpoint: OptimisationCheckpoint) => void | Promise<void>;
  signal?: AbortSignal;
  /** Stop before the settings' steps when done (warm-started frames); absent: every step runs. */
  stop?: StopRule;
  /** Report the returned image's style + content + tv loss (implied by `stop`): a chain's first frame sets its chain's target with it. */
  measureStyleContent?: boolean;
  /** Run each step as one TensorFlow graph (native backends, the seed's layers); eager tfjs ops otherwise. */
  graph?: StepGraph;
  /** L-BFGS's curvature pairs (--optimizer lbfgs); LBFGS_HISTORY unless a measurement varies it (bench/lbfgs.ts). */
  lbfgsHistory?: number;
}

export interface StylizeResult {
  image: RgbImage;
  /** Loss before the last update (with a stop rule: of the returned image). */
  loss: number;
  /** Style + content + tv of the returned image (with a stop rule or measureStyleContent; otherwise NaN). */
  styleContentLoss: number;
  /** Its style and content loss apart (with measureStyleContent): a chain start's, for its warm frames' stop rule. */
  styleContentTerms?: StyleContentTerms;
  /** Updates made: the settings' steps, or fewer when the stop rule ended the frame. */
  steps: number;
  resumedFromStep: number;
}

// Defined with the settings, so code that plans steps needs no tfjs; re-exported for the engine's callers.
export { totalSteps };

/** Lets timers, heartbeats, signals and cancellation run between optimisation steps. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * The seed's optimisation (Gatys et al.): starts from the content frame and minimises the
 * style/content loss with Keras-style Adam (or L-BFGS, --optimizer lbfgs), clipping to [0, 1] after each step.
 */
export async function stylize(model: Vgg19, req: StylizeRequest): Promise<StylizeResult> {
  const { content, targets, settings } = req;
  const size = [1, content.height, content.width, 3] as [number, number, number, number];
  const steps = totalSteps(settings);
  const checkpointEvery = req.checkpointEvery ?? settings.stepsPerEpoch;
  const resume = req.resumeFrom;
  const lbfgs = settings.optimizer === 'lbfgs';
  checkResume(req, lbfgs);
  checkGuides(req);

  const { contentTargets, temporal, lossOf, termsOf, dispose } = frameLoss(model, req);
  const valueAndGrad = tf.valueAndGrad(lossOf);
  const graph =
    req.graph && StepGraph.supports({ styleLayers: targets.layers, contentLayers: settings.contentLayers })
      ? req.graph.forFrame(model, { grams: targets.grams, content: contentTargets[0], temporal }, settings)
      : undefined;

  const optimiser = lbfgs ? lbfgsOptimiser(req, size, valueAndGrad, graph) : adamOptimiser(req, size, valueAndGrad, graph, temporal?.mask);
  let lastLoss = NaN;
  // Style + content + tv of the image the stop rule stopped at (NaN until it stops).
  const measured = { styleContent: NaN };
  const recent = [...(req.resumeFrom?.recent ?? [])];
  const gate = req.stop && stopGate(req.stop, optimiser, temporal, recent, measured, termsOf);
  let checkpointedStep = optimiser.step;
  const checkpoint = async () => {
    const c = await optimiser.checkpoint();
    checkpointedStep = c.step;
    await req.onCheckpoint!({ ...c, ...(req.stop && { recent: [...recent] }) });
  };
  let stopped = false;
  try {
    while (optimiser.step < steps) {
      if (req.signal?.aborted) {
        // Cancelled (worker shutting down, or the activity cancelled): keep the work done so far.
        if (req.onCheckpoint && optimiser.step > checkpointedStep) await checkpoint();
        req.signal.throwIfAborted();
      }
      const advanced = optimiser.advance(gate);
      lastLoss = (await advanced.loss.data())[0];
      advanced.loss.dispose();
      stopped = advanced.stopped;
      if (stopped) break;
      await req.onStep?.({ step: optimiser.step, totalSteps: steps, loss: lastLoss });
      if (req.onCheckpoint && optimiser.step % checkpointEvery === 0 && optimiser.step < steps) await checkpoint();
      await yieldToEventLoop();
    }
    // At the ceiling, the last update is a step nobody scored yet; L-BFGS scores it, and the score serves below.
    const endLoss = stopped ? undefined : optimiser.settle(lossOf);
    const image = optimiser.image;
    const data = (await image.data()) as Float32Array;
    // A chain start's terms, for its warm frames' stop rule: one forward pass, which also gives its sum.
    const terms = req.measureStyleContent ? termsOf(image) : undefined;
    if ((req.stop || req.measureStyleContent) && Number.isNaN(measured.styleContent)) {
      // Ran to the ceiling: the loss of the final image, for the chain's next frame's target.
      measured.styleContent =
        terms && !temporal ? terms.total : (endLoss ?? tf.tidy(() => lossOf(image).dataSync()[0])) - (temporal ? temporal.weight * temporalValue(image, temporal) : 0);
    }
    return {
      image: { width: content.width, height: content.height, data: Float32Array.from(data) },
      loss: lastLoss,
      styleContentLoss: measured.styleContent,
      ...(terms && { styleContentTerms: { style: terms.style, content: terms.content } }),
      steps: optimiser.step,
      resumedFromStep: resume?.step ?? 0,
    };
  } finally {
    graph?.dispose();
    optimiser.dispose();
    dispose();
  }
}

/** What measureStyleContent scores: `image` against the frame `content`, with the style `targets` and the settings' weights. */
export interface StyleContentRequest {
  content: RgbImage;
  image: RgbImage;
  targets: StyleTargets;
  settings: StyleSettings;
}

/**
 * The seed's style + content + tv of `image` as a frame of `content` (one forward pass): a coherent
 * frame's result as stored, 8-bit, which is what the next frame starts from (stopRuleFor's `settled`).
 */
export function measureStyleContent(model: Vgg19, req: StyleContentRequest): number {
  const { termsOf, dispose } = frameLoss(model, { content: req.content, targets: req.targets, settings: req.settings });
  const image = imageToTensor(req.image);
  try {
    return termsOf(image).total;
  } finally {
    image.dispose();
    dispose();
  }
}

/**
 * A frame's loss: its content targets and temporal constraint, tensors kept across steps (`dispose`
 * frees them), and `lossOf` an image.
 */
function frameLoss(model: Vgg19, req: Pick<StylizeRequest, 'content' | 'targets' | 'settings' | 'temporal'>) {
  const { content, targets, settings } = req;
  const contentLayers = settings.contentLayers;
  const styleLayers = targets.layers;
  const allLayers = [...styleLayers, ...contentLayers];
  const contentTargets = tf.tidy(() => {
    const f = model.extract(caffePreprocess(imageToTensor(content)), contentLayers, { release: true });
    return contentLayers.map((l) => f[l]);
  });
  // Kept across steps like the content targets; freed with them.
  const temporal = req.temporal && {
    warped: imageToTensor(req.temporal.warped),
    mask: tf.tensor4d(req.temporal.mask, [1, content.height, content.width, 1]),
    weight: req.temporal.weight,
  };
  // The seed's style, content and tv terms of `image` (tensors; the caller tidies).
  const seedTerms = (image: tf.Tensor4D) => {
    const f = model.extract(caffePreprocess(image), allLayers);
    return styleContentLoss(styleLayers.map((l) => gramMatrix(f[l])), targets.grams, contentLayers.map((l) => f[l]), contentTargets, image, settings);
  };
  const lossOf = (image: tf.Tensor4D) => {
    const { total } = seedTerms(image);
    // Without a temporal constraint the loss is the seed's, op for op (and so bit for bit).
    return temporal ? (tf.add(total, tf.mul(temporalLoss(image, temporal.warped, temporal.mask), temporal.weight)) as tf.Scalar) : total;
  };
  // The terms as numbers: a chain start's, and a warm frame's where its sum is already back at its
  // target (stopOn terms). `total` is lossOf's without the temporal term, bit for bit.
  const termsOf = (image: tf.Tensor4D): StyleContentTerms & { total: number } =>
    tf.tidy(() => {
      const t = seedTerms(image);
      return { style: t.style.dataSync()[0], content: t.content.dataSync()[0], total: t.total.dataSync()[0] };
    });
  const dispose = () => {
    tf.dispose(contentTargets);
    if (temporal) tf.dispose([temporal.warped, temporal.mask]);
  };
  return { contentTargets, temporal, lossOf, termsOf, dispose };
}

/** What the stop rule says before an update (stopDecision). */
type Gate = (loss: tf.Scalar, image: tf.Tensor4D) => 'stop' | 'untrusted' | 'all';

/** A resume's checkpoint must be this frame's size and this optimiser's. */
function checkResume(req: StylizeRequest, lbfgs: boolean): void {
  const resume = req.resumeFrom;
  if (!resume) return;
  if (resume.image.length !== req.content.data.length) {
    throw new Error(`checkpoint is for a ${resume.image.length / 3}-pixel image, frame has ${req.content.data.length / 3}`);
  }
  if (('lbfgs' in resume) !== lbfgs) {
    throw new Error(`the checkpoint at step ${resume.step} is ${lbfgs ? "Adam's" : "L-BFGS's"}, the settings ask for ${lbfgs ? 'L-BFGS' : 'Adam'}`);
  }
}

/**
 * The stop rule, asked before each update with the loss of the current image. `recent` (the last
 * `window` losses) is kept across checkpoints; when it says stop, `measured.styleContent` is the
 * current image's style + content + tv, else it stays NaN.
 */
function stopGate(
  rule: StopRule,
  optimiser: Optimiser,
  temporal: { warped: tf.Tensor4D; mask: tf.Tensor4D; weight: number } | undefined,
  recent: number[],
  measured: { styleContent: number },
  termsOf: (image: tf.Tensor4D) => StyleContentTerms,
): Gate {
  return (loss, image) => {
    const lossNow = loss.dataSync()[0];
    measured.styleContent = temporal ? lossNow - temporal.weight * temporalValue(image, temporal) : lossNow;
    const decision = stopDecision(rule, optimiser.step, measured.styleContent, lossNow, recent, () => termsOf(image));
    if (decision !== 'stop') {
      recent.push(lossNow);
      if (recent.length > rule.window) recent.shift();
      measured.styleContent = NaN;
    }
    return decision;
  };
}

/**
 * One optimiser's state for a frame: `advance` takes one step and returns the loss before it, or,
 * when `gate` says stop, leaves the image as it is (`stopped`).
 */
interface Optimiser {
  readonly step: number;
  readonly image: tf.Tensor4D;
  advance(gate?: Gate): { loss: tf.Scalar; stopped: boolean };
  /**
   * After the last step at the ceiling: the image the frame ends with (L-BFGS may take the last step
   * back), and its loss where settling scored it (L-BFGS), else undefined.
   */
  settle(lossOf: (image: tf.Tensor4D) => tf.Scalar): number | undefined;
  checkpoint(): Promise<OptimisationCheckpoint>;
  dispose(): void;
}

type ValueAndGrad = (image: tf.Tensor4D) => { value: tf.Scalar; grad: tf.Tensor };
type Shape = [number, number, number, number];

/** The seed's Keras Adam, as one graph per step where there is one. */
function adamOptimiser(req: StylizeRequest, size: Shape, valueAndGrad: ValueAndGrad, graph: FrameStep | undefined, mask?: tf.Tensor4D): Optimiser {
  // stylize checked that a checkpoint is this optimiser's.
  const resume = req.resumeFrom as AdamCheckpoint | undefined;
  let image: tf.Tensor4D = resume ? tf.tensor4d(resume.image, size) : imageToTensor(req.init ?? req.content);
  let moments: AdamMoments<tf.Tensor> = resume
    ? { step: resume.step, m: tf.tensor4d(resume.m, size), v: tf.tensor4d(resume.v, size) }
    : { step: 0, m: tf.zerosLike(image), v: tf.zerosLike(image) };
  return {
    get step() {
      return moments.step;
    },
    get image() {
      return image;
    },
    advance(gate) {
      let { loss, next, m, v } = graph
        ? graph.step({ ...moments, image, t: moments.step + 1 })
        : tf.tidy(() => {
            const { value, grad } = valueAndGrad(image);
            const updated = adamUpdate(req.settings, image, grad, moments);
            return { loss: value, next: tf.clipByValue(updated.value, 0, 1), m: updated.state.m, v: updated.state.v };
          });
      // The loss is the current image's: stopping here keeps that image, and drops the update just computed.
      const decision = gate?.(loss, image) ?? 'all';
      if (decision === 'stop') {
        tf.dispose([next, m, v]);
        return { loss, stopped: true };
      }
      if (decision === 'untrusted' && mask) {
        // At its target already, the frame owes steps to its distrusted pixels only: the trusted ones keep their values (no drift).
        const held = tf.tidy(() => tf.add(image, tf.mul(tf.sub(1, mask), tf.sub(next, image))) as tf.Tensor4D);
        next.dispose();
        next = held;
      }
      tf.dispose([image, moments.m, moments.v]);
      image = next as tf.Tensor4D;
      moments = { step: moments.step + 1, m, v };
      return { loss, stopped: false };
    },
    // The seed's Adam ends on its last update, as Keras does.
    settle: () => undefined,
    async checkpoint() {
      const [img, m, v] = await Promise.all([image.data(), moments.m.data(), moments.v.data()]);
      return { step: moments.step, image: img as Float32Array, m: m as Float32Array, v: v as Float32Array };
    },
    dispose: () => tf.dispose([image, moments.m, moments.v]),
  };
}

/** L-BFGS (lbfgs.ts): the gradient from the step graph where there is one, the update in tfjs ops. */
function lbfgsOptimiser(req: StylizeRequest, size: Shape, valueAndGrad: ValueAndGrad, graph: FrameStep | undefined): Optimiser {
  const resume = req.resumeFrom as LbfgsCheckpoint | undefined;
  const history = req.lbfgsHistory ?? LBFGS_HISTORY;
  let image: tf.Tensor4D = resume ? tf.tensor4d(resume.image, size) : imageToTensor(req.init ?? req.content);
  const lbfgs = resume ? Lbfgs.restore(resume.lbfgs, size, history) : Lbfgs.fresh(history);
  return {
    get step() {
      return lbfgs.step;
    },
    get image() {
      return image;
    },
    advance(gate) {
      const { loss, grad } = graph
        ? graph.gradient(image)
        : tf.tidy(() => {
            const { value, grad } = valueAndGrad(image);
            return { loss: value, grad };
          });
      // L-BFGS's line search owns its step: the stop rule may end the frame, but not hold pixels ('untrusted' runs as 'all').
      if (gate?.(loss, image) === 'stop') {
        grad.dispose();
        return { loss, stopped: true };
      }
      const next = lbfgs.update(image, grad, loss) as tf.Tensor4D;
      tf.dispose([image, grad]);
      image = next;
      return { loss, stopped: false };
    },
    settle(lossOf) {
      // A last step that raised the loss would have been taken back by the next: take it back here.
      const trial = tf.tidy(() => lossOf(image).dataSync()[0]);
      const kept = lbfgs.acceptedAbove(trial);
      if (!kept) return trial;
      image.dispose();
      image = kept.image as tf.Tensor4D;
      return kept.loss;
    },
    async checkpoint() {
      return { step: lbfgs.step, image: Float32Array.from((await image.data()) as Float32Array), lbfgs: await lbfgs.arrays() };
    },
    dispose: () => {
      image.dispose();
      lbfgs.dispose();
    },
  };
}

/** The unweighted temporal term of `image`. */
function temporalValue(image: tf.Tensor4D, temporal: { warped: tf.Tensor4D; mask: tf.Tensor4D }): number {
  return tf.tidy(() => temporalLoss(image, temporal.warped, temporal.mask).dataSync()[0]);
}

/**
 * The stop rule before update `step + 1`: `stop` at the target, or when the loss changed by less than
 * the tolerance over the window (`recent` holds the losses before the last `window` updates, oldest
 * first); before the minimum steps, `untrusted` (update only the distrusted pixels) at the target and
 * `all` above it; before the first step, also `stop` when the start is no higher than `rule.settled`.
 * With `rule.terms`, the target is reached when the sum is and `termsNow()` (asked only then) has the
 * style and the content loss each at most the chain start's.
 */
export function stopDecision(
  rule: StopRule,
  step: number,
  styleContent: number,
  loss: number,
  recent: readonly number[],
  termsNow?: () => StyleContentTerms,
): 'stop' | 'untrusted' | 'all' {
  const within = (value: number, target: number) => value <= target * (1 + rule.tolerance);
  const termsAt = (t: StyleContentTerms, target: StyleContentTerms) => within(t.style, target.style) && within(t.content, target.content);
  const atTarget = within(styleContent, rule.target) && (!rule.terms || !termsNow || termsAt(termsNow(), rule.terms));
  if (step < rule.minSteps) return atTarget ? 'untrusted' : 'all';
  if (atTarget || (step === 0 && rule.settled !== undefined && within(styleContent, rule.settled))) return 'stop';
  return recent.length === rule.window && Math.abs(recent[0] - loss) <= rule.tolerance * Math.abs(loss) ? 'stop' : 'all';
}

/** init and the temporal guide must match the frame; a mismatch is a bug upstream, said plainly. */
function checkGuides(req: StylizeRequest): void {
  const { width, height } = req.content;
  const same = (img: RgbImage, what: string) => {
    if (img.width !== width || img.height !== height || img.data.length !== width * height * 3) {
      throw new RangeError(`${what} is ${img.width}×${img.height} (${img.data.length} values), the frame ${width}×${height}: compute it from this frame's neighbours at this size`);
    }
  };
  if (req.init) same(req.init, 'init image');
  if (req.temporal) {
    same(req.temporal.warped, 'temporal warped image');
    if (req.temporal.mask.length !== width * height) {
      throw new RangeError(`temporal mask has ${req.temporal.mask.length} values, the ${width}×${height} frame needs one per pixel (${width * height})`);
    }
    if (!(Number.isFinite(req.temporal.weight) && req.temporal.weight >= 0)) {
      throw new RangeError(`temporal weight must be a number of at least 0 (got ${req.temporal.weight})`);
    }
  }
}
