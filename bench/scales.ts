/**
 * `npm run bench -- --only scales [--scales-size 256 --scales-steps 250 --scales-list 1,2,3 --scales-coarse-steps 100]`
 *
 * Coarse-to-fine (issue 9's optional `--scales`): does optimising at a fraction of the frame's
 * size first, then upsampling that result as the next size's start, reach the seed's loss sooner?
 * For N scales the frame is optimised at size/2^(N−1), …, size/2 for --scales-coarse-steps steps
 * each (fresh Adam moments at each size, content and style image resized by the same factor,
 * bilinear), then at full size. The seed's run is N = 1: --scales-steps steps from the content
 * frame. Reported: the full-size steps and the wall time (coarse stages included) each schedule
 * needs to reach the seed's final loss, its loss after as many full-size steps as the seed ran, and
 * its loss along the way (all as the mean over a trailing window of a tenth of the steps), and the
 * loss of the image the full-size stage starts from: the content frame, or the upsampled result.
 * The frame is the coherence bench's textured scene (test/helpers/moving-scenes.ts), the style the
 * bench pattern.
 */
import type { StyleEngine } from '../src/engine/engine';
import { DEFAULT_SETTINGS, type StyleSettings } from '../src/engine/settings';
import { imageToTensor } from '../src/engine/stylize';
import { tf } from '../src/engine/tf';
import type { RgbImage } from '../src/media/types';
import { videoScene } from '../test/helpers/moving-scenes';
import { frameShape, pattern } from './steps';

export interface ScalesOptions {
  size: number;
  /** The seed's steps, and the most full-size steps any schedule runs. */
  steps: number;
  /** Numbers of scales to compare; 1 is the seed's. */
  scales: number[];
  /** Steps at each coarse size. */
  coarseSteps: number;
  command: string;
}

function resized(image: RgbImage, width: number, height: number): RgbImage {
  const data = tf.tidy(() => tf.image.resizeBilinear(imageToTensor(image), [height, width], false, true).clipByValue(0, 1).dataSync() as Float32Array);
  return { width, height, data: Float32Array.from(data) };
}

interface Run {
  scales: number;
  /** Loss before each full-size step. */
  losses: number[];
  /** ms from the start of the schedule to the end of each full-size step. */
  elapsedMs: number[];
  coarseMs: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function runSchedule(engine: StyleEngine, content: RgbImage, style: RgbImage, scales: number, o: ScalesOptions): Promise<Run> {
  const started = performance.now();
  let init: RgbImage | undefined;
  for (let level = scales - 1; level >= 1; level--) {
    const factor = 2 ** level;
    const width = Math.round(content.width / factor);
    const height = Math.round(content.height / factor);
    const styleSide = Math.round(style.width / factor);
    const settings: StyleSettings = { ...DEFAULT_SETTINGS, size: Math.max(width, height), epochs: 1, stepsPerEpoch: o.coarseSteps };
    const targets = await engine.styleTargets(`scales-${o.size}-${factor}`, settings.styleLayers, async () => resized(style, styleSide, styleSide));
    const small = resized(content, width, height);
    const r = await engine.stylize({ content: small, targets, settings, init: init && resized(init, width, height) });
    init = r.image;
  }
  const coarseMs = performance.now() - started;
  const settings: StyleSettings = { ...DEFAULT_SETTINGS, size: o.size, epochs: 1, stepsPerEpoch: o.steps };
  const targets = await engine.styleTargets(`scales-${o.size}-1`, settings.styleLayers, async () => style);
  const losses: number[] = [];
  const elapsedMs: number[] = [];
  await engine.stylize({
    content,
    targets,
    settings,
    init: init && resized(init, content.width, content.height),
    onStep: ({ loss }) => {
      losses.push(loss);
      elapsedMs.push(performance.now() - started);
    },
  });
  return { scales, losses, elapsedMs, coarseMs };
}

export async function runScales(engine: StyleEngine, o: ScalesOptions): Promise<void> {
  const { width, height } = frameShape(o.size);
  const content = videoScene(width, height, 0).image;
  const style = pattern(o.size, o.size, 2);
  console.log(
    `\n# coarse-to-fine: one ${width}×${height} frame, ${o.steps} full-size steps, ${o.coarseSteps} steps at each coarser size (÷2 each); ${engine.backend.name} (${engine.stepMode})`,
  );
  // Every size once, untimed: the first step at a size pays for kernel and graph set-up.
  await runSchedule(engine, content, style, Math.max(...o.scales), { ...o, steps: 2, coarseSteps: 2 });
  const runs: Run[] = [];
  for (const scales of o.scales) runs.push(await runSchedule(engine, content, style, scales, o));
  const seed = runs.find((r) => r.scales === 1) ?? (await runSchedule(engine, content, style, 1, o));
  // Adam at the seed's settings does not descend smoothly (with the synthetic weights the loss swings
  // by an order of magnitude from step to step), so every comparison is of a trailing window's mean.
  const window = Math.max(1, Math.round(o.steps / 10));
  const smoothed = (losses: number[]) => losses.map((_, i) => (i + 1 < window ? Infinity : mean(losses.slice(i + 1 - window, i + 1))));
  const target = smoothed(seed.losses).at(-1)!;
  console.log(
    `| scales | coarse stages | loss of the full-size start (× the seed's final) | full-size steps to the seed's final loss (mean of the last ${window}) | time to it | loss after as many full-size steps (× seed) |`,
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of runs) {
    const trace = smoothed(r.losses);
    const reached = trace.findIndex((l) => l <= target);
    const steps = reached < 0 ? `>${o.steps}` : String(reached);
    // losses[i] is the loss before update i+1, i.e. after i full-size steps; its time is that step's end.
    const time = reached < 0 ? '—' : `${(r.elapsedMs[reached] / 1000).toFixed(1)} s`;
    console.log(`| ${r.scales} | ${(r.coarseMs / 1000).toFixed(1)} s | ${(r.losses[0] / target).toFixed(0)} | ${steps} | ${time} | ${(trace.at(-1)! / target).toFixed(2)} |`);
  }
  const marks = Array.from({ length: Math.floor(o.steps / window) }, (_, i) => (i + 1) * window);
  console.log(`\nthe same mean × the seed's final, after so many full-size steps:\n| scales | ${marks.join(' | ')} |\n| ---: |${' ---: |'.repeat(marks.length)}`);
  for (const r of runs) console.log(`| ${r.scales} | ${marks.map((n) => (smoothed(r.losses)[n - 1] / target).toFixed(2)).join(' | ')} |`);
  console.log(`reproduce: ${o.command}`);
}
