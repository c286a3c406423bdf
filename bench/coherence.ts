/**
 * `npm run bench -- --only coherence [--coherence-frames 6 --coherence-size 96 --coherence-steps 100
 *   --coherence-later-steps 20 --temporal-weights 1e3,1e4 --coherence-strip strip.png]`
 *
 * Ruder et al.'s temporally coherent stylization against the seed's frame-by-frame one, on a
 * generated sequence with known motion (a textured square moving 3 px a frame over a static
 * textured background):
 *  - content-init: every frame optimised from its own content frame, the full step count;
 *  - warp-init: frames 2..N (with --coherence-later-steps steps) start from the previous stylized frame warped along the flow, no
 *    temporal loss — its loss is the same function as content-init's, so "steps to reach
 *    content-init's final loss" compares like with like;
 *  - warp-init + temporal (one per --temporal-weights): also the temporal loss; its loss includes
 *    that (non-negative) term, so reaching content-init's final loss is a stricter test.
 * For each: steps needed on frames 2..N, the temporal warping error (mean over consecutive frames
 * of mask·(stylized_t − warp(stylized_{t−1}))²), and the mean frame-to-frame change on pixels whose
 * input did not change. Also the loss terms' sizes (style, content, temporal) at the end, and the
 * flow's time per frame pair at 256×144 and 512×288.
 */
import type { StyleEngine } from '../src/engine/engine';
import { computeFlow, temporalGuide } from '../src/engine/flow';
import { caffePreprocess, gramMatrix, styleContentLoss, temporalLoss } from '../src/engine/losses';
import { DEFAULT_SETTINGS, type StyleSettings } from '../src/engine/settings';
import { imageToTensor, type StyleTargets } from '../src/engine/stylize';
import { tf } from '../src/engine/tf';
import { writePng } from '../src/media';
import type { RgbImage } from '../src/media/types';
import { movingSquare, translated } from '../test/helpers/moving-scenes';
import { median, pattern } from './steps';

export interface CoherenceOptions {
  frames: number;
  /** Frame width; height is two thirds of it. */
  size: number;
  /** Full optimisation steps per frame: content-init's, and every mode's on frame 1. */
  steps: number;
  /** Steps on frames 2..N in the warp-init modes (Ruder et al.: a warped start needs fewer). */
  laterSteps: number;
  temporalWeights: number[];
  /** Where to write the PNG strip (rows: modes, columns: frames), if anywhere. */
  strip?: string;
  command: string;
}

interface Mode {
  name: string;
  init: boolean;
  weight?: number;
}

interface ModeResult {
  mode: Mode;
  styled: RgbImage[];
  /** Loss before each step, per frame. */
  losses: number[][];
  /** Style, content and temporal terms of each frame's final image. */
  terms: Array<{ style: number; content: number; temporal: number }>;
}

function sequence(o: CoherenceOptions): RgbImage[] {
  const width = o.size;
  const height = Math.round((o.size * 2) / 3 / 2) * 2;
  const side = Math.round(height / 2.5);
  return Array.from({ length: o.frames }, (_, t) => movingSquare(width, height, Math.round(width * 0.2) + 3 * t, Math.round(height * 0.3), side).image);
}

/** The seed's style and content terms and the temporal term (unweighted) of a finished image. */
function lossTerms(engine: StyleEngine, image: RgbImage, content: RgbImage, targets: StyleTargets, settings: StyleSettings, guide?: { warped: RgbImage; mask: Float32Array }) {
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
    return { style: t.style.dataSync()[0], content: t.content.dataSync()[0], temporal };
  });
}

async function runMode(engine: StyleEngine, frames: RgbImage[], targets: StyleTargets, settings: StyleSettings, laterSteps: number, mode: Mode): Promise<ModeResult> {
  const styled: RgbImage[] = [];
  const losses: number[][] = [];
  const terms: ModeResult['terms'] = [];
  for (const [t, content] of frames.entries()) {
    const guide = t > 0 && mode.init ? await temporalGuide(frames[t - 1], content, styled[t - 1]) : undefined;
    const trace: number[] = [];
    const r = await engine.stylize({
      content,
      targets,
      settings: guide ? { ...settings, stepsPerEpoch: laterSteps } : settings,
      init: guide?.warped,
      temporal: guide && mode.weight ? { ...guide, weight: mode.weight } : undefined,
      onStep: ({ loss }) => void trace.push(loss),
    });
    styled.push(r.image);
    losses.push(trace);
    terms.push(lossTerms(engine, r.image, content, targets, settings, guide));
  }
  return { mode, styled, losses, terms };
}

/** Temporal warping error and change on unchanged input pixels, over consecutive frames. */
async function coherenceOf(frames: RgbImage[], styled: RgbImage[]): Promise<{ warpError: number; staticChange: number }> {
  let warpError = 0;
  let staticChange = 0;
  for (let t = 1; t < frames.length; t++) {
    const g = await temporalGuide(frames[t - 1], frames[t], styled[t - 1]);
    let e = 0;
    let changed = 0;
    let unchangedPixels = 0;
    for (let p = 0; p < g.mask.length; p++) {
      const same = [0, 1, 2].every((c) => frames[t].data[3 * p + c] === frames[t - 1].data[3 * p + c]);
      for (let c = 0; c < 3; c++) {
        const i = 3 * p + c;
        e += g.mask[p] * (styled[t].data[i] - g.warped.data[i]) ** 2;
        if (same) changed += Math.abs(styled[t].data[i] - styled[t - 1].data[i]);
      }
      if (same) unchangedPixels++;
    }
    warpError += e / (3 * g.mask.length);
    staticChange += changed / (3 * Math.max(1, unchangedPixels));
  }
  return { warpError: warpError / (frames.length - 1), staticChange: staticChange / (frames.length - 1) };
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

export async function runCoherence(engine: StyleEngine, o: CoherenceOptions): Promise<void> {
  const settings: StyleSettings = { ...DEFAULT_SETTINGS, size: o.size, epochs: 1, stepsPerEpoch: o.steps };
  const frames = sequence(o);
  const { width, height } = frames[0];
  console.log(
    `\n# temporal coherence: ${o.frames} frames of ${width}×${height}, a square moving 3 px a frame over a static background; ${o.steps} steps a frame, ` +
      `${o.laterSteps} on frames 2..${o.frames} in the warp-init modes; ${engine.backend.name} (${engine.stepMode})`,
  );
  const targets = await engine.styleTargets(`coherence-${o.size}`, settings.styleLayers, async () => pattern(o.size, o.size, 2));
  const modes: Mode[] = [
    { name: 'content-init', init: false },
    { name: 'warp-init', init: true },
    ...o.temporalWeights.map((weight) => ({ name: `warp-init + temporal ${weight.toExponential(0)}`, init: true, weight })),
  ];
  const results: ModeResult[] = [];
  for (const mode of modes) results.push(await runMode(engine, frames, targets, settings, o.laterSteps, mode));

  const base = results[0];
  console.log(`| mode | steps to reach content-init's final loss, frames 2..${o.frames} | warping error | change on unchanged input | final style / content / temporal·weight (mean over frames) |`);
  console.log('| --- | --- | ---: | ---: | --- |');
  for (const r of results) {
    const needed = r.losses.slice(1).map((trace, i) => stepsToReach(trace, base.losses[i + 1].at(-1)!));
    const { warpError, staticChange } = await coherenceOf(frames, r.styled);
    const mean = (k: 'style' | 'content' | 'temporal') => r.terms.slice(1).reduce((s, t) => s + t[k], 0) / (r.terms.length - 1);
    const neededText = r === base ? `${o.steps} (by definition)` : needed.map((n) => (n === undefined ? `>${o.laterSteps}` : String(n))).join(', ');
    console.log(
      `| ${r.mode.name} | ${neededText} | ${warpError.toExponential(2)} | ${staticChange.toExponential(2)} | ${mean('style').toExponential(2)} / ${mean('content').toExponential(2)} / ${(mean('temporal') * (r.mode.weight ?? 0)).toExponential(2)} |`,
    );
  }
  console.log('warping error: mean over consecutive frames of mask·(stylized_t − warp(stylized_t−1))², images in [0, 1]; change: mean |Δ| where the input pixel is unchanged');
  for (const line of await flowTiming()) console.log(`flow ${line}`);
  if (o.strip) {
    await writePng(o.strip, stripOf(results.map((r) => [...r.styled])));
    console.log(`strip (rows: ${modes.map((m) => m.name).join('; ')}; columns: frames 1..${o.frames}): ${o.strip}`);
  }
  console.log(`reproduce: ${o.command}`);
}

/** Rows of equally sized images into one image, 2-px white gaps. */
function stripOf(rows: RgbImage[][]): RgbImage {
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
