/**
 * `npx tsx bench/footage.ts --clip /usr/share/doc/opencv-doc/examples/data/vtest.avi
 *   --style /usr/share/doc/opencv-doc/examples/data/starry_night.jpg --net sinusoidal|he-narrow|he-full
 *   [--start seconds] --size 96 --frames 6 --epochs 2 --steps-per-epoch 25 [--later-epochs N] [--temporal-weight α] [--stop-tolerance t] [--stop-on terms|sum]
 *   [--later-optimizer lbfgs|adam] [--later-learning-rate x]
 *   [--run-up 3] [--scene-cut 0.5] [--splice other.avi] [--backend node] [--strip strip.png] [--fresh] [--trace-terms] [--target-scale 1] [--photo-ratio]`
 *
 * The coherent default (a render's --init prev-warped: run-up, warm frames with the relative
 * temporal weight and the stop rule, exactly as src/activities/style.ts chains them) against the
 * seed's content-init, on real footage (.ci/bench-footage.sh installs Debian's opencv-doc, whose
 * examples hold vtest.avi, a static-camera street scene, and starry_night.jpg) and on VGG19 weights
 * of different scale: `sinusoidal` (the tests' formula weights, narrow), `he-narrow` and `he-full`
 * (He-normal random kernels, zero biases, seeded; the tests' narrow widths and VGG19's own), and
 * `he-narrow-x2`, he-narrow at another scale (every kernel doubled).
 * Prints one table row: still-pixel change and warping error as ratios to content-init's, frames
 * 2..N's style and content loss against frame 1's (the worst of each), the clip's steps as a share
 * of the seed's (frames × epochs × steps), and the frames whose style + content loss is worse than
 * content-init's final loss for that frame; below it, per frame lines and the drift against content-init:
 * the largest change of frames 2..N's style (content) loss ÷ content-init's for the same frame from
 * frame 1's, so that what the content does to both cancels. content-init's run is cached (bench/run-cache.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { temporalGuide, type GuideOptions, PHOTOMETRIC_THRESHOLD, STILL_THRESHOLD, type TemporalGuide } from '../src/engine/flow';
import { caffePreprocess, gramMatrix, styleContentLoss } from '../src/engine/losses';
import { DEFAULT_LATER_OPTIMIZER, DEFAULT_RUN_UP, DEFAULT_SCENE_CUT, DEFAULT_SETTINGS, isSceneCut, type OptimizerName, DEFAULT_STOP_ON, DEFAULT_STOP_TOLERANCE, type ChainTarget, type StopOn, defaultLaterEpochs, laterSettings, stopRuleFor, temporalWeightFor, type StyleSettings } from '../src/engine/settings';
import { imageToTensor, totalSteps, type StyleTargets } from '../src/engine/stylize';
import type { StyleEngine } from '../src/engine/engine';
import { tf } from '../src/engine/tf';
import { ffmpegPaths, readImage, writePng } from '../src/media';
import type { RgbImage } from '../src/media/types';
import { createStyleRuntime } from '../src/worker/engine';
import { TINY_VGG_WIDTHS, VGG19_WIDTHS, writeVggH5 } from '../test/helpers/tiny-vgg';
import { cachedRun, runKey, weightsKey } from './run-cache';
import { changesOf, lossTerms, stripOf, type Terms } from './coherence';

const { values: args } = parseArgs({
  options: {
    clip: { type: 'string', default: '/usr/share/doc/opencv-doc/examples/data/vtest.avi' },
    style: { type: 'string', default: '/usr/share/doc/opencv-doc/examples/data/starry_night.jpg' },
    net: { type: 'string', default: 'he-narrow' },
    size: { type: 'string', default: '96' },
    frames: { type: 'string', default: '6' },
    /** Seconds into the clip where the frames start (ffmpeg's input seek). */
    start: { type: 'string', default: '0' },
    epochs: { type: 'string', default: '2' },
    'steps-per-epoch': { type: 'string', default: '25' },
    'later-epochs': { type: 'string' },
    'temporal-weight': { type: 'string' },
    'stop-tolerance': { type: 'string' },
    'stop-on': { type: 'string', default: DEFAULT_STOP_ON },
    'run-up': { type: 'string' },
    'later-learning-rate': { type: 'string' },
    'later-optimizer': { type: 'string', default: DEFAULT_LATER_OPTIMIZER },
    backend: { type: 'string', default: 'node' },
    strip: { type: 'string' },
    fresh: { type: 'boolean', default: false },
    'trace-terms': { type: 'boolean', default: false },
    /** An experiment: the warm frames' stop target × this (the chain start's loss × 1 is the product's). */
    'target-scale': { type: 'string', default: '1' },
    /** Another clip whose first frames make the second half of the frames (scaled to the first's frame size): a scene cut. */
    splice: { type: 'string' },
    'scene-cut': { type: 'string', default: String(DEFAULT_SCENE_CUT) },
    /** Print content-init's final loss ÷ the photo's own loss per frame, and stop (no coherent run). */
    'photo-ratio': { type: 'boolean', default: false },
    work: { type: 'string', default: '/tmp/coherence/footage' },
  },
});

/** A seeded normal sampler (mulberry32 and Box–Muller): the He networks are the same on every machine. */
function normals(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** The weights file of `net`, written once under `dir`. */
async function weightsFile(net: string, dir: string): Promise<string> {
  const file = join(dir, `vgg19-${net}.h5`);
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  if (net === 'sinusoidal') await writeVggH5(file);
  else if (net === 'he-narrow' || net === 'he-full' || net === 'he-narrow-x2') {
    const normal = normals(net === 'he-full' ? 19 : 4);
    // he-narrow-x2: he-narrow with every kernel doubled, so block l's activations are 2^l times as large
    // (no biases) and the losses about 2^32 times: the same network at another scale.
    const gain = net === 'he-narrow-x2' ? 2 : 1;
    await writeVggH5(file, {
      widths: net === 'he-full' ? VGG19_WIDTHS : TINY_VGG_WIDTHS,
      kernel: (_l, cin, cout) => Float32Array.from({ length: 9 * cin * cout }, () => gain * normal() * Math.sqrt(2 / (9 * cin))),
      bias: (_l, cout) => new Float32Array(cout),
    });
  } else throw new Error(`--net must be sinusoidal, he-narrow, he-narrow-x2 or he-full (got ${net})`);
  return file;
}

/** The clip's first `frames` frames, `size` px on the long side (even sides), as ffmpeg scales them. */
async function clipFrames(clip: string, start: number, size: number, frames: number, dir: string, fit?: RgbImage): Promise<RgbImage[]> {
  // Keyed by the clip's file name and start too: several windows share the work directory.
  const out = join(dir, `frames-${basename(clip, extname(clip))}-${start}-${size}-${frames}${fit ? `-${fit.width}x${fit.height}` : ''}`);
  if (!existsSync(join(out, 'done'))) {
    await mkdir(out, { recursive: true });
    execFileSync(ffmpegPaths().ffmpeg, ['-hide_banner', '-loglevel', 'error', '-y', '-ss', String(start), '-i', clip, '-frames:v', String(frames), '-vf', fit ? `scale=${fit.width}:${fit.height}:flags=area` : `scale=${size}:-2:flags=area`, join(out, 'f_%04d.png')]);
    execFileSync('touch', [join(out, 'done')]);
  }
  const names = (await readdir(out)).filter((n) => n.endsWith('.png')).sort();
  return Promise.all(names.slice(0, frames).map((n) => readImage(join(out, n))));
}

/** What a frame written as PNG reads back as: the next frame of a render starts from these 8-bit values. */
const as8bit = (img: RgbImage): RgbImage => ({ ...img, data: Float32Array.from(img.data, (v) => Math.round(255 * Math.min(1, Math.max(0, v))) / 255) });

interface Run {
  styled: RgbImage[];
  steps: number[];
}

/** One warm frame as the activity runs it: the guide, the relative weight, the stop rule. */
async function warmFrame(engine: StyleEngine, settings: StyleSettings, targets: StyleTargets, guide: TemporalGuide, content: RgbImage, target: ChainTarget, settled: number) {
  const later = laterSettings(settings);
  const r = await engine.stylize({
    content,
    targets,
    settings: later,
    init: guide.warped,
    temporal: { warped: guide.warped, mask: guide.mask, weight: temporalWeightFor(settings, target.loss) },
    // --target-scale moves the stop rule's target only; the temporal weight keeps the chain's scale.
    stop: stopRuleFor(settings, { ...target, loss: target.loss * Number(args['target-scale']) }, guide.mask, totalSteps(later), settled),
    onStep: process.env.FOOTAGE_TRACE ? ({ step, loss }) => void (step % 5 === 1 && process.stdout.write(`${step}:${(loss / target.loss).toFixed(2)} `)) : undefined,
  });
  if (args['trace-terms']) {
    // Where each warm frame starts and ends, as shares of its chain start's style and content loss.
    const [from, to] = [lossTerms(engine, guide.warped, content, targets, settings), lossTerms(engine, r.image, content, targets, settings)];
    const { style, content: c } = target.terms!;
    const distrusted = 1 - guide.mask.reduce((a, b) => a + b, 0) / guide.mask.length;
    console.log(`style/content ÷ chain start's: init ${(from.style / style).toFixed(2)}/${(from.content / c).toFixed(2)} -> ${r.steps} steps ${(to.style / style).toFixed(2)}/${(to.content / c).toFixed(2)} (distrusted ${(100 * distrusted).toFixed(1)} %)`);
  }
  if (process.env.FOOTAGE_TRACE) console.log(`| ${r.steps} steps, style + content ${(r.styleContentLoss / target.loss).toFixed(2)} × target`);
  const image = as8bit(r.image);
  // As the activity keeps it: the stored image's loss, which an identical next frame starts at.
  return { image, steps: r.steps, settled: engine.measureStyleContent({ content, image, targets, settings: later }) };
}

interface CoherentRun extends Run {
  /** The frames (0-based) where a chain starts: 0, and each scene cut (settings.sceneCut). */
  chainStarts: number[];
}

/**
 * The coherent chain as a render's chunk runs it: frame 1 reached through the run-up from frame
 * 1 + runUp's content-init result, frames 2..N warm, and at a scene cut a new chain reached the
 * same way from the cut frame's own run-up (style.ts notAtSceneCut).
 */
async function coherentRun(engine: StyleEngine, frames: RgbImage[], targets: StyleTargets, settings: StyleSettings, base: Run, baseTerms: Terms[]): Promise<CoherentRun> {
  const sc = (t: Terms) => t.style + t.content + t.tv;
  const chainStart = async (first: number) => {
    const from = Math.min(first + (settings.runUp ?? DEFAULT_RUN_UP), frames.length - 1);
    // The chain's target and loss scale: its first optimisation's final style + content loss (a render's chain start records it).
    const target: ChainTarget = { loss: sc(baseTerms[from]), terms: { style: baseTerms[from].style, content: baseTerms[from].content } };
    let image = base.styled[from];
    let steps = base.steps[from];
    // Each frame's predecessor's loss as stored (stopRuleFor's settled), as the activity passes it on.
    let settled = engine.measureStyleContent({ content: frames[from], image, targets, settings: laterSettings(settings) });
    for (let t = from - 1; t >= first; t--) {
      const r = await warmFrame(engine, settings, targets, await temporalGuide(frames[t + 1], frames[t], image), frames[t], target, settled);
      ({ image, settled } = r);
      steps += r.steps;
    }
    return { image, steps, target, settled };
  };
  let chain = await chainStart(0);
  const run: CoherentRun = { styled: [chain.image], steps: [chain.steps], chainStarts: [0] };
  for (let t = 1; t < frames.length; t++) {
    const guide = await temporalGuide(frames[t - 1], frames[t], run.styled[t - 1]);
    if (isSceneCut(settings, guide.mask)) {
      chain = await chainStart(t);
      run.styled.push(chain.image);
      run.steps.push(chain.steps);
      run.chainStarts.push(t);
      continue;
    }
    const r = await warmFrame(engine, settings, targets, guide, frames[t], chain.target, chain.settled);
    run.styled.push(r.image);
    run.steps.push(r.steps);
    chain = { ...chain, settled: r.settled };
  }
  return run;
}

/** The judge's guide: the tests the guide had before STILL_RATIO and the in-place rule (bench/coherence.ts EVALUATION_GUIDE). */
const EVALUATION_GUIDE: GuideOptions = { photometricThreshold: PHOTOMETRIC_THRESHOLD, stillThreshold: STILL_THRESHOLD, stillRatio: 0, inPlaceThreshold: 0 };
/** A pixel is still when no channel of the input changed by more than this (the clip's compression noise). */
const STILL_INPUT = 6 / 255;

/** Warping error and change on still pixels over consecutive frames, flow and mask from the input frames. */
async function coherenceOf(input: RgbImage[], images: RgbImage[]) {
  let warp = 0;
  let still = 0;
  for (let t = 1; t < input.length; t++) {
    const g: TemporalGuide = await temporalGuide(input[t - 1], input[t], images[t - 1], EVALUATION_GUIDE);
    let e = 0;
    let change = 0;
    let n = 0;
    for (let p = 0; p < g.mask.length; p++) {
      const isStill = [0, 1, 2].every((c) => Math.abs(input[t].data[3 * p + c] - input[t - 1].data[3 * p + c]) <= STILL_INPUT);
      for (let c = 0; c < 3; c++) {
        const i = 3 * p + c;
        e += g.mask[p] * (images[t].data[i] - g.warped.data[i]) ** 2;
        if (isStill) change += Math.abs(images[t].data[i] - images[t - 1].data[i]);
      }
      if (isStill) n++;
    }
    warp += e / (3 * g.mask.length);
    still += (255 * change) / (3 * Math.max(1, n));
  }
  return { warp: warp / (input.length - 1), still: still / (input.length - 1) };
}

async function main() {
  const size = Number(args.size);
  const frameCount = Number(args.frames);
  const weights = await weightsFile(args.net!, join(args.work!, 'weights'));
  const rt = await createStyleRuntime({ weights, backend: args.backend as never });
  const engine = rt.engine;
  const epochs = Number(args.epochs);
  const base: StyleSettings = { ...DEFAULT_SETTINGS, size, epochs, stepsPerEpoch: Number(args['steps-per-epoch']) };
  const settings: StyleSettings = {
    ...base,
    init: 'prev-warped',
    laterEpochs: args['later-epochs'] ? Number(args['later-epochs']) : defaultLaterEpochs(epochs),
    ...(args['temporal-weight'] && { temporalWeight: Number(args['temporal-weight']) }),
    stopTolerance: args['stop-tolerance'] ? Number(args['stop-tolerance']) : DEFAULT_STOP_TOLERANCE,
    stopOn: args['stop-on'] as StopOn,
    laterOptimizer: args['later-optimizer'] as OptimizerName,
    ...(args['later-learning-rate'] && { laterLearningRate: Number(args['later-learning-rate']) }),
    ...(args['run-up'] && { runUp: Number(args['run-up']) }),
    sceneCut: Number(args['scene-cut']),
  };
  const frames = await clipFrames(args.clip!, Number(args.start), size, frameCount, args.work!);
  if (args.splice) {
    // The cut: from the middle on, the other clip's first frames at this clip's frame size.
    const cut = Math.ceil(frameCount / 2);
    const other = await clipFrames(args.splice, 0, size, frameCount - cut, args.work!, frames[0]);
    frames.splice(cut, frameCount - cut, ...other);
  }
  const style = await readImage(args.style!, { longSide: size });
  const targets = await engine.styleTargets(`footage-${size}`, base.styleLayers, async () => [{ image: style, weight: 1 }]);

  const key = await runKey([JSON.stringify(base), engine.backend.name, engine.stepMode, await weightsKey(weights), style, ...frames]);
  const content = await cachedRun(key, args.fresh!, async () => {
    const styled: RgbImage[] = [];
    for (const frame of frames) styled.push(as8bit((await engine.stylize({ content: frame, targets, settings: base })).image));
    return { styled, extra: {} };
  });
  const baseRun: Run = { styled: content.styled, steps: frames.map(() => totalSteps(base)) };
  const baseTerms = frames.map((f, t) => lossTerms(engine, baseRun.styled[t], f, targets, base));
  if (args['photo-ratio']) {
    // Would the photo's own loss predict content-init's, frame by frame (a per-frame target)? Only if this ratio holds still.
    const sum = (t: Terms) => t.style + t.content + t.tv;
    const ratio = frames.map((f, t) => sum(baseTerms[t]) / sum(lossTerms(engine, f, f, targets, base)));
    const [low, high] = [Math.min(...ratio), Math.max(...ratio)];
    console.log(`content-init's final loss ÷ the photo's own, per frame: ${ratio.map((x) => x.toFixed(3)).join(' ')}`);
    console.log(`from ${low.toFixed(3)} to ${high.toFixed(3)}: spread ${(100 * (high / low - 1)).toFixed(1)} %`);
    engine.dispose();
    return;
  }
  const started = performance.now();
  const run = await coherentRun(engine, frames, targets, settings, baseRun, baseTerms);
  const seconds = (performance.now() - started) / 1000;
  const terms = frames.map((f, t) => lossTerms(engine, run.styled[t], f, targets, base));

  const [cb, cr] = [await coherenceOf(frames, baseRun.styled), await coherenceOf(frames, run.styled)];
  const worst = (xs: Pick<Terms, 'style' | 'content'>[], k: 'style' | 'content') => Math.max(...xs.slice(1).map((x) => Math.abs(x[k] / xs[0][k] - 1)));
  const sc = (t: Terms) => t.style + t.content + t.tv;
  const worse = terms.map((t, i) => sc(t) / sc(baseTerms[i])).filter((r) => r > 1);
  const steps = run.steps.reduce((a, b) => a + b, 0);
  const seed = frameCount * totalSteps(base);
  const { height, width } = frames[0];
  console.log(
    `| ${args.net} | ${width}×${height} | ${frameCount} | ${cr.still.toFixed(2)} / ${cb.still.toFixed(2)} (${(cr.still / cb.still).toFixed(2)}) | ${(cr.warp / cb.warp).toFixed(2)} | ` +
      `${(100 * worst(terms, 'style')).toFixed(1)} % / ${(100 * worst(terms, 'content')).toFixed(1)} % | ${(100 * worst(baseTerms, 'style')).toFixed(1)} % / ${(100 * worst(baseTerms, 'content')).toFixed(1)} % | ` +
      `${steps} / ${seed} (${(steps / seed).toFixed(3)}) | ${worse.length === 0 ? 'none' : `${worse.length} (worst ×${Math.max(...worse).toFixed(3)})`} | ${seconds.toFixed(0)} s |`,
  );
  if (run.chainStarts.length > 1) console.log(`chains start at frames ${run.chainStarts.map((t) => t + 1).join(', ')} (each with its run-up in its steps)`);
  console.log(`steps per frame (frame 1 with its run-up): ${run.steps.join(' ')}; loss scale ${sc(baseTerms[Math.min(settings.runUp ?? DEFAULT_RUN_UP, frameCount - 1)]).toExponential(3)}; content-init ${content.fromCache ? 'cached' : 'computed'}`);
  console.log(`style + content per frame ÷ content-init's: ${terms.map((t, i) => (sc(t) / sc(baseTerms[i])).toFixed(2)).join(' ')}`);
  console.log(`style/content per frame ÷ content-init's: ${terms.map((t, i) => `${(t.style / baseTerms[i].style).toFixed(2)}/${(t.content / baseTerms[i].content).toFixed(2)}`).join(' ')}`);
  console.log(`content-init's style/content per frame ÷ its frame 1's: ${baseTerms.map((t) => `${(t.style / baseTerms[0].style).toFixed(2)}/${(t.content / baseTerms[0].content).toFixed(2)}`).join(' ')}`);
  // The look against content-init's: how far frames 2..N's terms ÷ content-init's for the same frame move from frame 1's (content changes cancel).
  const relative = terms.map((t, i) => ({ style: t.style / baseTerms[i].style, content: t.content / baseTerms[i].content }));
  console.log(`drift against content-init (style / content): ${(100 * worst(relative, 'style')).toFixed(1)} % / ${(100 * worst(relative, 'content')).toFixed(1)} %`);
  console.log(`style/content per frame ÷ frame 1's: ${terms.map((t) => `${(t.style / terms[0].style).toFixed(2)}/${(t.content / terms[0].content).toFixed(2)}`).join(' ')}`);
  // Rows: input; content-init; its change from the previous frame ×4; the coherent chain; its change ×4 (the last 4 frames).
  const rows = [frames, baseRun.styled, changesOf(baseRun.styled), run.styled, changesOf(run.styled)];
  if (args.strip) await writePng(args.strip, stripOf(rows.map((row) => row.slice(Math.max(0, frameCount - 4)))));
  engine.dispose();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
