/**
 * `npm run bench -- --only coherence [--coherence-frames 6 --coherence-size 96 --coherence-steps 100
 *   --coherence-later-steps 33 --coherence-first-steps 100 --temporal-weights 0,default --coherence-noise 2.5 --coherence-crf 23
 *   --coherence-thresholds default --coherence-still-ratios default --coherence-in-place default --coherence-run-ups default
 *   --coherence-settle 3 --coherence-strip strip.png --coherence-fresh]`
 *
 * Ruder et al.'s temporally coherent stylization against the seed's frame-by-frame one, on a
 * generated clip made to look like camera footage (test/helpers/moving-scenes.ts videoScene): a
 * static background with detail at several scales and a textured object moving 2.5 px a frame at
 * sub-pixel positions, then what a camera adds — independent Gaussian sensor noise on every frame
 * (--coherence-noise σ in 0..255 units, seeded, so runs repeat) and an H.264 round trip
 * (--coherence-crf, libx264 in 4:2:0). `--coherence-noise 0 --coherence-crf none` is the
 * noiseless clip, on which frame-by-frame stylization looks steadier than it ever is on real video:
 * nearly identical inputs optimise to nearly identical outputs.
 *  - content-init: every frame optimised from its own content frame, the full step count;
 *  - warp-init, temporal weight w (one per --temporal-weights; 0 = no temporal loss, `default` = what a
 *    render at this size gets), photometric threshold (one per --coherence-thresholds: `default` is flow.ts PHOTOMETRIC_THRESHOLD, `off`
 *    the paper's tests only, or a number) and still ratio (one per --coherence-still-ratios: `default` is
 *    flow.ts STILL_RATIO, `off` the local-difference threshold alone, or a number), in-place threshold (one per
 *    --coherence-in-place: `default` is flow.ts IN_PLACE_THRESHOLD, `off` none, or a number): frames 2..N run --coherence-later-steps steps from the
 *    previous stylized frame warped along the flow of the (noisy) input frames, and run-up (one per
 *    --coherence-run-ups: `default` is settings.ts DEFAULT_RUN_UP, `off` or 0 none): frame 1 is
 *    reached as a render reaches a chain's first frame, from frame 1 + run-up (content-init's, the
 *    same optimisation, so it is not run again) warm back to frame 1. Without a run-up frame 1 is
 *    content-init's, or with --coherence-first-steps the same optimisation run for that many steps
 *    (a chain's fresh start given more steps; no run-up then).
 * For each: steps on frames 2..N to reach content-init's final loss (with w > 0 the loss includes
 * the non-negative temporal term, a stricter test), the temporal warping error (mean over consecutive
 * frames of mask·(stylized_t − warp(stylized_{t−1}))², flow and mask from the NOISELESS frames with
 * the guide's tests pinned (EVALUATION_GUIDE), so every mode is judged against the same motion), the mean frame-to-frame change on pixels whose
 * noiseless input did not change (a static background, which in real video still differs by its
 * noise), each also as a ratio to content-init's, and the seed's loss (style + content + tv) of the
 * final frames relative to content-init's. Also the flow's time per frame pair at 256×144 and 512×288.
 */
import type { StyleEngine } from '../src/engine/engine';
import { computeFlow, type GuideOptions, IN_PLACE_THRESHOLD, PHOTOMETRIC_THRESHOLD, STILL_RATIO, STILL_THRESHOLD, temporalGuide, type TemporalGuide } from '../src/engine/flow';
import { caffePreprocess, gramMatrix, styleContentLoss, temporalLoss } from '../src/engine/losses';
import { DEFAULT_RUN_UP, DEFAULT_SETTINGS, defaultTemporalWeight, type StyleSettings } from '../src/engine/settings';
import { imageToTensor, type StyleTargets } from '../src/engine/stylize';
import { tf } from '../src/engine/tf';
import { writePng } from '../src/media';
import type { RgbImage } from '../src/media/types';
import { h264RoundTrip } from '../test/helpers/media-fixtures';
import { translated, videoScene, withSensorNoise } from '../test/helpers/moving-scenes';
import { cachedRun, runKey } from './run-cache';
import { median, pattern } from './steps';

export interface CoherenceOptions {
  frames: number;
  /** Frame width; height is two thirds of it (even). */
  size: number;
  /** Full optimisation steps per frame: content-init's, and frame 1 of every mode. */
  steps: number;
  /** Steps on frames 2..N in the warp-init modes (Ruder et al.: a warped start needs fewer). */
  laterSteps: number;
  /** Steps on frame 1 of the warp-init modes (a chain's fresh start); `steps` makes it content-init's frame 1. */
  firstSteps: number;
  /** Temporal loss weights of the warp-init modes; 0 is warp-init alone. */
  temporalWeights: number[];
  /** Photometric thresholds of the warp-init modes' guides (Infinity: Ruder et al.'s tests only). */
  thresholds: number[];
  /** Still ratios of the warp-init modes' guides (flow.ts STILL_RATIO; 0: the local-difference threshold alone). */
  stillRatios: number[];
  /** Run-ups of the warp-init modes (settings.ts DEFAULT_RUN_UP; 0: frame 1 is content-init's). */
  runUps: number[];
  /** In-place thresholds of the warp-init modes' guides (flow.ts IN_PLACE_THRESHOLD; 0: none). */
  inPlaces: number[];
  /** What identifies the VGG19 weights the engine loaded (run-cache.ts weightsKey): part of the key of content-init's cached run. */
  weightsKey: string;
  /** Recompute content-init's run even when it is cached. */
  fresh: boolean;
  /** Sensor noise σ in 0..255 units, independent per frame; 0 for none. */
  noise: number;
  /** libx264 CRF of the H.264 round trip; undefined for none. */
  crf?: number;
  /** The "settled" column of the frame-by-frame table averages the pairs from frame `settle` → `settle + 1` on. */
  settle: number;
  /** Where to write the PNG strip (input, each mode and its frame-to-frame change; columns: frames), if anywhere. */
  strip?: string;
  command: string;
}

interface Mode {
  name: string;
  init: boolean;
  weight: number;
  threshold: number;
  stillRatio: number;
  inPlace: number;
  /** Frames of a chain's run-up (settings.runUp). */
  runUp: number;
}

export interface Terms {
  style: number;
  content: number;
  tv: number;
  temporal: number;
}

interface ModeResult {
  mode: Mode;
  styled: RgbImage[];
  /** Loss before each step, per frame. */
  losses: number[][];
  /** Loss terms of each frame's final image (temporal unweighted). */
  terms: Terms[];
  /** The temporal guide of each of frames 2..N (warp-init modes; empty otherwise). */
  guides: TemporalGuide[];
}

interface Clip {
  /** The scene as rendered, before any camera noise: what "did not change" means. */
  clean: RgbImage[];
  /** What the stylizer is given: the clean frames with sensor noise and compression. */
  input: RgbImage[];
  /** The moving object's pixels in each frame. */
  objects: number[][];
}

/** Seed of frame t's sensor noise: fixed, so every run (and machine) sees the same clip. */
const NOISE_SEED = 20160428;

async function clipOf(o: CoherenceOptions): Promise<Clip> {
  const width = o.size;
  const height = Math.round((o.size * 2) / 3 / 2) * 2;
  const scenes = Array.from({ length: o.frames }, (_, t) => videoScene(width, height, t));
  const clean = scenes.map((s) => s.image);
  const noisy = o.noise > 0 ? clean.map((f, t) => withSensorNoise(f, o.noise, NOISE_SEED + t)) : clean;
  const input = o.crf === undefined ? noisy : await h264RoundTrip(noisy, o.crf);
  const objects = scenes.map(({ left, top, side }) => {
    const pixels: number[] = [];
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) if (x >= left && x < left + side && y >= top && y < top + side) pixels.push(y * width + x);
    return pixels;
  });
  return { clean, input, objects };
}

/**
 * The share of the moving object's pixels that a warm mode's guides held in place (trusted, with the
 * previous stylized frame's own pixel: zero motion) over frames 2..N: the risk of the still tests
 * and the in-place rule, stylization that stays behind while the object moves.
 */
function heldOnObject(clip: Clip, { guides, styled }: ModeResult): number {
  let held = 0;
  let pixels = 0;
  for (const [i, guide] of guides.entries()) {
    const t = i + 1;
    const previous = styled[t - 1].data;
    for (const p of clip.objects[t]) {
      if (guide.mask[p] === 1 && [0, 1, 2].every((c) => guide.warped.data[3 * p + c] === previous[3 * p + c])) held++;
    }
    pixels += clip.objects[t].length;
  }
  return held / pixels;
}

/** 1e5, 7.1e5, 0: the way the flags write them. */
function weightName(weight: number): string {
  return weight === 0 ? '0' : weight.toExponential(1).replace('.0e', 'e').replace('+', '');
}

/** A guide test's value the way the flags write it: `default`, `off` (0 or Infinity: the test left out), or the number. */
function guideValueName(value: number, defaultValue: number): string {
  if (value === defaultValue) return 'default';
  return value > 0 && Number.isFinite(value) ? String(Number(value.toPrecision(2))) : 'off';
}

/** Every combination of one value from each list, the first list varying slowest. */
function combinations<K extends string>(lists: Record<K, readonly number[]>): Record<K, number>[] {
  return (Object.entries(lists) as [K, readonly number[]][]).reduce<Record<K, number>[]>(
    (partial, [key, values]) => partial.flatMap((c) => values.map((v) => ({ ...c, [key]: v }))),
    [{} as Record<K, number>],
  );
}

/** The seed's style, content and tv terms and the temporal term (unweighted) of a finished image. */
export function lossTerms(engine: StyleEngine, image: RgbImage, content: RgbImage, targets: StyleTargets, settings: StyleSettings, guide?: { warped: RgbImage; mask: Float32Array }): Terms {
  return tf.tidy(() => {
    const x = imageToTensor(image);
    const layers = [...targets.layers, ...settings.contentLayers];
    const f = engine.model.extract(caffePreprocess(x), layers);
    const fc = engine.model.extract(caffePreprocess(imageToTensor(content)), settings.contentLayers);
    const t = styleContentLoss(
      targets.layers.map((l) => gramMatrix(f[l])),
      targets.grams,
      settings.contentLayers.map((l) => f[l]),
      settings.contentLayers.map((l) => fc[l]),
      x,
      settings,
    );
    const temporal = guide ? temporalLoss(x, imageToTensor(guide.warped), tf.tensor4d(guide.mask, [1, image.height, image.width, 1])).dataSync()[0] : 0;
    return { style: t.style.dataSync()[0], content: t.content.dataSync()[0], tv: t.tv.dataSync()[0], temporal };
  });
}

/**
 * Stylizes the input frames in order in one mode. A warp-init mode takes frame 1 from `first`
 * (content-init's run): frame 1 has no predecessor, so its optimisation is content-init's.
 */
async function runMode(engine: StyleEngine, frames: RgbImage[], targets: StyleTargets, settings: StyleSettings, laterSteps: number, mode: Mode, first?: ModeResult): Promise<ModeResult> {
  const result: ModeResult = { mode, styled: [], losses: [], terms: [], guides: [] };
  const runUp = mode.init && first ? await runUpOf(engine, frames, targets, settings, laterSteps, mode, first) : undefined;
  for (const [t, content] of frames.entries()) {
    if (t === 0 && runUp) {
      result.styled.push(runUp.image);
      result.losses.push(runUp.trace);
      result.terms.push(lossTerms(engine, runUp.image, content, targets, settings));
      continue;
    }
    if (t === 0 && first) {
      result.styled.push(first.styled[0]);
      result.losses.push(first.losses[0]);
      result.terms.push(first.terms[0]);
      continue;
    }
    const guide = t > 0 && mode.init ? await guideOf(mode, frames[t - 1], content, result.styled[t - 1]) : undefined;
    if (guide) result.guides.push(guide);
    const r = await stylizeTraced(engine, content, targets, guide ? { ...settings, stepsPerEpoch: laterSteps } : settings, mode, guide);
    result.styled.push(r.image);
    result.losses.push(r.trace);
    result.terms.push(lossTerms(engine, r.image, content, targets, settings, guide));
  }
  return result;
}

function guideOf(mode: Mode, previousContent: RgbImage, content: RgbImage, previousStyled: RgbImage) {
  return temporalGuide(previousContent, content, previousStyled, { photometricThreshold: mode.threshold, stillRatio: mode.stillRatio, inPlaceThreshold: mode.inPlace });
}

/** One frame's optimisation, from `guide`'s warped image with its temporal term when given; the loss before each step with it. */
async function stylizeTraced(engine: StyleEngine, content: RgbImage, targets: StyleTargets, settings: StyleSettings, mode: Mode, guide?: TemporalGuide) {
  const trace: number[] = [];
  const r = await engine.stylize({
    content,
    targets,
    settings,
    init: guide?.warped,
    temporal: guide && mode.weight ? { ...guide, weight: mode.weight } : undefined,
    onStep: ({ loss }) => void trace.push(loss),
  });
  return { image: r.image, trace };
}

/**
 * Frame 1 of a warm chain reached through its run-up, as a render does it (src/activities/style.ts):
 * frame 1 + runUp is `first`'s (content-init's, the same optimisation) and the chain runs warm back
 * to frame 1. Undefined without a run-up.
 */
async function runUpOf(engine: StyleEngine, frames: RgbImage[], targets: StyleTargets, settings: StyleSettings, laterSteps: number, mode: Mode, first: ModeResult) {
  const from = Math.min(mode.runUp, frames.length - 1);
  if (from === 0) return undefined;
  let reached = { image: first.styled[from], trace: first.losses[from] };
  for (let t = from - 1; t >= 0; t--) {
    const guide = await guideOf(mode, frames[t + 1], frames[t], reached.image);
    reached = await stylizeTraced(engine, frames[t], targets, { ...settings, stepsPerEpoch: laterSteps }, mode, guide);
  }
  return reached;
}

/** content-init's run, from the cache when an earlier bench run made it with the same inputs (bench/run-cache.ts). */
async function contentInit(engine: StyleEngine, frames: RgbImage[], targets: StyleTargets, settings: StyleSettings, o: CoherenceOptions, mode: Mode): Promise<ModeResult> {
  const grams = targets.grams.map((g) => {
    const values = g.dataSync();
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  });
  const key = await runKey([JSON.stringify(settings), engine.backend.name, engine.stepMode, o.weightsKey, ...grams, ...frames]);
  const run = await cachedRun(key, o.fresh, async () => {
    const r = await runMode(engine, frames, targets, settings, o.laterSteps, mode);
    return { styled: r.styled, extra: { losses: r.losses, terms: r.terms } };
  });
  console.log(run.fromCache ? `content-init: from the cache (key ${key}; --coherence-fresh recomputes it)` : `content-init: computed, cached under ${key}`);
  return { mode, styled: run.styled, ...run.extra, guides: [] };
}

interface Coherence {
  warpError: number;
  stillChange: number;
  /** stillChange over the still pixels that the evaluation's mask trusts, and over those it does not (near the moving object). */
  stillChangeTrusted: number;
  stillChangeUntrusted: number;
  /** stillChange and stillChangeTrusted of each consecutive pair: pair i is frames i+1 → i+2. */
  pairs: { still: number; trusted: number }[];
}

/**
 * The evaluation's guide is pinned to the tests it had before STILL_RATIO and IN_PLACE_THRESHOLD existed, so that the judge
 * does not move with what it judges: the numbers stay comparable with those measured before.
 */
const EVALUATION_GUIDE: GuideOptions = { photometricThreshold: PHOTOMETRIC_THRESHOLD, stillThreshold: STILL_THRESHOLD, stillRatio: 0, inPlaceThreshold: 0 };

/**
 * Temporal warping error and change on still pixels of `images` (stylized frames, or the input
 * itself), over consecutive frames. The flow, the warp and the mask come from the clean frames, so
 * every mode is measured against the same, true motion; "still" means the clean input pixel did
 * not change.
 */
async function coherenceOf(clean: RgbImage[], images: RgbImage[]): Promise<Coherence> {
  const sum = { warpError: 0, stillChange: 0, stillChangeTrusted: 0, stillChangeUntrusted: 0 };
  const pairs: Coherence['pairs'] = [];
  for (let t = 1; t < clean.length; t++) {
    const g = await temporalGuide(clean[t - 1], clean[t], images[t - 1], EVALUATION_GUIDE);
    let e = 0;
    const changed = [0, 0]; // untrusted, trusted
    const stillPixels = [0, 0];
    for (let p = 0; p < g.mask.length; p++) {
      const still = [0, 1, 2].every((c) => clean[t].data[3 * p + c] === clean[t - 1].data[3 * p + c]);
      const trusted = g.mask[p] === 1 ? 1 : 0;
      for (let c = 0; c < 3; c++) {
        const i = 3 * p + c;
        e += g.mask[p] * (images[t].data[i] - g.warped.data[i]) ** 2;
        if (still) changed[trusted] += Math.abs(images[t].data[i] - images[t - 1].data[i]);
      }
      if (still) stillPixels[trusted]++;
    }
    const pair = { still: (changed[0] + changed[1]) / (3 * Math.max(1, stillPixels[0] + stillPixels[1])), trusted: changed[1] / (3 * Math.max(1, stillPixels[1])) };
    pairs.push(pair);
    sum.warpError += e / (3 * g.mask.length);
    sum.stillChange += pair.still;
    sum.stillChangeTrusted += pair.trusted;
    sum.stillChangeUntrusted += changed[0] / (3 * Math.max(1, stillPixels[0]));
  }
  const n = clean.length - 1;
  return { warpError: sum.warpError / n, stillChange: sum.stillChange / n, stillChangeTrusted: sum.stillChangeTrusted / n, stillChangeUntrusted: sum.stillChangeUntrusted / n, pairs };
}

/** How many updates it took for the loss to be at most `target` (trace[i] is the loss after i updates), or undefined. */
function stepsToReach(trace: number[], target: number): number | undefined {
  const i = trace.findIndex((l) => l <= target);
  return i < 0 ? undefined : i;
}

async function flowTiming(): Promise<string[]> {
  const lines: string[] = [];
  for (const [w, h] of [
    [256, 144],
    [512, 288],
  ]) {
    const a = translated(w, h, 0, 0);
    const b = translated(w, h, 1.5, -0.5);
    await computeFlow(a, b); // loads OpenCV, the first time
    const flowMs: number[] = [];
    const guideMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      let t0 = performance.now();
      await computeFlow(a, b);
      flowMs.push(performance.now() - t0);
      t0 = performance.now();
      await temporalGuide(a, b, a);
      guideMs.push(performance.now() - t0);
    }
    lines.push(`${w}×${h}: ${median(flowMs).toFixed(1)} ms per flow, ${median(guideMs).toFixed(1)} ms per guide (two flows, warp, mask; median of 5)`);
  }
  return lines;
}

const split = (c: Coherence) => `${c.stillChangeTrusted.toExponential(1)} / ${c.stillChangeUntrusted.toExponential(1)}`;
const ratio = (x: number, of: number) => (of > 0 ? x / of : NaN);
const seedLoss = (t: Terms) => t.style + t.content + t.tv;
const meanOverLater = (r: ModeResult, f: (t: Terms) => number) => r.terms.slice(1).reduce((s, t) => s + f(t), 0) / (r.terms.length - 1);

export async function runCoherence(engine: StyleEngine, o: CoherenceOptions): Promise<void> {
  const settings: StyleSettings = { ...DEFAULT_SETTINGS, size: o.size, epochs: 1, stepsPerEpoch: o.steps };
  const clip = await clipOf(o);
  const { width, height } = clip.input[0];
  const camera = o.noise > 0 || o.crf !== undefined ? `sensor noise σ ${o.noise}/255 per frame, ${o.crf === undefined ? 'no compression' : `H.264 CRF ${o.crf}`}` : 'noiseless (no sensor noise, no compression)';
  console.log(
    `\n# temporal coherence: ${o.frames} frames of ${width}×${height}, an object moving 2.5 px a frame over a static textured background, ${camera}; ` +
      `${o.steps} steps a frame, ${o.firstSteps === o.steps ? '' : `${o.firstSteps} on frame 1 and `}${o.laterSteps} on frames 2..${o.frames} in the warp-init modes; ${engine.backend.name} (${engine.stepMode})`,
  );
  if (o.firstSteps !== o.steps && o.runUps.some((r) => r > 0)) {
    throw new Error('--coherence-first-steps gives a chain\'s frame 1 more steps in place of a run-up; add --coherence-run-ups off');
  }
  const targets = await engine.styleTargets(`coherence-${o.size}`, settings.styleLayers, async () => pattern(o.size, o.size, 2));
  const modes: Mode[] = [
    { name: 'content-init', init: false, weight: 0, threshold: PHOTOMETRIC_THRESHOLD, stillRatio: STILL_RATIO, inPlace: IN_PLACE_THRESHOLD, runUp: 0 },
    ...combinations({ runUp: o.runUps, inPlace: o.inPlaces, stillRatio: o.stillRatios, threshold: o.thresholds, weight: o.temporalWeights }).map((c) => {
      // A setting is named only where the run compares several of it.
      const varied = (list: readonly number[], text: string) => (list.length > 1 ? `, ${text}` : '');
      return {
        ...c,
        name:
          `warp-init, temporal ${weightName(c.weight)}${varied(o.thresholds, `photometric ${guideValueName(c.threshold, PHOTOMETRIC_THRESHOLD)}`)}` +
          `${varied(o.stillRatios, `still ratio ${guideValueName(c.stillRatio, STILL_RATIO)}`)}${varied(o.inPlaces, `in place ${guideValueName(c.inPlace, IN_PLACE_THRESHOLD)}`)}` +
          `${varied(o.runUps, `run-up ${c.runUp}`)}`,
        init: true,
      };
    }),
  ];
  const base = await contentInit(engine, clip.input, targets, settings, o, modes[0]);
  const results: ModeResult[] = [base];
  // The warm chains' frame 1: content-init's own, or the same optimisation run longer (--coherence-first-steps).
  const first = o.firstSteps === o.steps ? base : await runMode(engine, clip.input.slice(0, 1), targets, { ...settings, stepsPerEpoch: o.firstSteps }, o.laterSteps, modes[0]);
  for (const mode of modes.slice(1)) results.push(await runMode(engine, clip.input, targets, settings, o.laterSteps, mode, first));

  const input = await coherenceOf(clip.clean, clip.input);
  const baseCoherence = await coherenceOf(clip.clean, base.styled);
  console.log(
    `| mode | steps to reach content-init's final loss, frames 2..${o.frames} | warping error (× content-init) | change on still pixels (× content-init) | of which trusted / untrusted | seed's loss (× content-init) | temporal·weight / style | object pixels held in place |`,
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(`| input frames | | ${input.warpError.toExponential(2)} | ${input.stillChange.toExponential(2)} | ${split(input)} | | | |`);
  const coherences = new Map<ModeResult, Coherence>([[base, baseCoherence]]);
  for (const r of results.slice(1)) coherences.set(r, await coherenceOf(clip.clean, r.styled));
  for (const r of results) {
    const needed = r.losses.slice(1).map((trace, i) => stepsToReach(trace, base.losses[i + 1].at(-1)!));
    const c = coherences.get(r)!;
    const neededText = r === base ? `${o.steps} (by definition)` : needed.map((n) => (n === undefined ? `>${o.laterSteps}` : String(n))).join(', ');
    const temporalShare = ratio(meanOverLater(r, (t) => t.temporal) * r.mode.weight, meanOverLater(r, (t) => t.style));
    const held = r.mode.init ? `${(100 * heldOnObject(clip, r)).toFixed(2)}%` : '';
    console.log(
      `| ${r.mode.name} | ${neededText} | ${c.warpError.toExponential(2)} (${ratio(c.warpError, baseCoherence.warpError).toFixed(2)}) | ` +
        `${c.stillChange.toExponential(2)} (${ratio(c.stillChange, baseCoherence.stillChange).toFixed(2)}) | ${split(c)} | ` +
        `${ratio(meanOverLater(r, seedLoss), meanOverLater(base, seedLoss)).toFixed(2)} | ${temporalShare.toFixed(2)} | ${held} |`,
    );
  }
  console.log(
    'warping error: mean over consecutive frames of mask·(stylized_t − warp(stylized_t−1))², images in [0, 1], flow and mask from the noiseless frames; ' +
      "change on still pixels: mean |Δ| between consecutive frames where the noiseless input did not change (trusted / untrusted: where that mask is 1 / 0); seed's loss: style + content + tv of frames 2..N; " +
      "object pixels held in place: the share of the moving object's pixels on frames 2..N that the mode's guides hold at the previous stylized pixel (zero motion), stylization left behind; " +
      'the goal: warping error and change at most 0.33 × content-init with at most a third of the steps on frames 2..N',
  );
  printByFrame(results, coherences, o.settle, input);
  for (const line of await flowTiming()) console.log(`flow ${line}`);
  if (o.strip) {
    const shown =
      results.find((r) => r.mode.init && r.mode.weight === defaultTemporalWeight(o.size) && r.mode.threshold === PHOTOMETRIC_THRESHOLD && r.mode.stillRatio === STILL_RATIO && r.mode.inPlace === IN_PLACE_THRESHOLD && r.mode.runUp === DEFAULT_RUN_UP) ??
      results.at(-1)!;
    const rows = [clip.input, base.styled, changesOf(base.styled), shown.styled, changesOf(shown.styled)].map((row) => row.slice(0, STRIP_FRAMES));
    await writePng(o.strip, stripOf(rows));
    console.log(
      `strip (columns: frames 1..${Math.min(o.frames, STRIP_FRAMES)}; rows: input; ${base.mode.name}; its |frame − previous frame| ×${CHANGE_GAIN}; ${shown.mode.name}; its |frame − previous frame| ×${CHANGE_GAIN}): ${o.strip}`,
    );
  }
  console.log(`reproduce: ${o.command}`);
}

/**
 * The change on still pixels pair by pair, as a ratio to content-init's: a warm-started chain
 * settles over its first frames (frame 1 ran the full steps but is not converged, and the warm frames
 * go on converging, so frames 2–3 still move), and a mean over a short clip hides how it does once
 * settled, which is what most of a long video's frames are. "static" is the still pixels that the
 * true flow's mask trusts: background away from the moving object.
 */
function printByFrame(results: ModeResult[], coherences: Map<ModeResult, Coherence>, settle: number, input: Coherence): void {
  const base = coherences.get(results[0])!;
  const n = base.pairs.length;
  const from = Math.max(1, Math.min(settle, n));
  const settled = (pairs: Coherence['pairs'], key: 'still' | 'trusted') => {
    const later = pairs.slice(from - 1);
    return later.reduce((s, p) => s + p[key], 0) / later.length;
  };
  console.log(`\nchange on still pixels frame by frame, all / static (the still pixels the true flow trusts); content-init absolute, the others × content-init's:`);
  console.log(`| mode | ${base.pairs.map((_, i) => `${i + 1}→${i + 2}`).join(' | ')} | settled (pairs from ${from}→${from + 1}) |`);
  console.log(`| --- |${' ---: |'.repeat(n + 1)}`);
  const absolute = (still: number, trusted: number) => `${still.toExponential(1)} / ${trusted.toExponential(1)}`;
  console.log(`| input frames | ${input.pairs.map((p) => absolute(p.still, p.trusted)).join(' | ')} | ${absolute(settled(input.pairs, 'still'), settled(input.pairs, 'trusted'))} |`);
  for (const r of results) {
    const c = coherences.get(r)!;
    const cell = (still: number, trusted: number, bs: number, bt: number) =>
      r === results[0] ? absolute(still, trusted) : `${ratio(still, bs).toFixed(2)} / ${ratio(trusted, bt).toFixed(2)}`;
    const cells = c.pairs.map((p, i) => cell(p.still, p.trusted, base.pairs[i].still, base.pairs[i].trusted));
    const last = cell(settled(c.pairs, 'still'), settled(c.pairs, 'trusted'), settled(base.pairs, 'still'), settled(base.pairs, 'trusted'));
    console.log(`| ${r.mode.name} | ${cells.join(' | ')} | ${last} |`);
  }
}

/** Frames in the strip: enough to see flicker, few enough that the noisy PNG stays small for the docs. */
const STRIP_FRAMES = 4;

/** How much the strip amplifies frame-to-frame change, so flicker a few levels deep shows. */
const CHANGE_GAIN = 4;

/** |frame t − frame t−1| × CHANGE_GAIN per channel (black for frame 1): flicker made visible. */
export function changesOf(images: RgbImage[]): RgbImage[] {
  return images.map((img, t) => {
    const data = new Float32Array(img.data.length);
    if (t > 0) for (let i = 0; i < data.length; i++) data[i] = Math.min(1, CHANGE_GAIN * Math.abs(img.data[i] - images[t - 1].data[i]));
    return { width: img.width, height: img.height, data };
  });
}

/** Rows of equally sized images into one image, 2-px white gaps. */
export function stripOf(rows: RgbImage[][]): RgbImage {
  const { width, height } = rows[0][0];
  const gap = 2;
  const W = rows[0].length * (width + gap) - gap;
  const H = rows.length * (height + gap) - gap;
  const data = new Float32Array(W * H * 3).fill(1);
  rows.forEach((row, r) =>
    row.forEach((img, c) => {
      for (let y = 0; y < height; y++) {
        const to = ((r * (height + gap) + y) * W + c * (width + gap)) * 3;
        data.set(img.data.subarray(y * width * 3, (y + 1) * width * 3), to);
      }
    }),
  );
  return { width: W, height: H, data };
}
