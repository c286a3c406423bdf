/**
 * `npm run bench -- --only lbfgs [--lbfgs-sizes 96,128 --lbfgs-networks sinusoidal-narrow,he-narrow,he-full
 *                                 --lbfgs-steps 250 --lbfgs-max-steps 250 --lbfgs-histories 100]`
 *
 * Issue 19 item 6: time to the seed's loss on a first frame, L-BFGS (--optimizer lbfgs) against the
 * seed's Adam. The seed's loss is the loss of the image Adam returns after --lbfgs-steps steps (5×50),
 * from the content frame. Reported per network and size: that loss; Adam's time for its steps, and
 * the first step where its (swinging) loss was already at or below it; L-BFGS's steps and time until
 * the loss it evaluates is at or below it (at most --lbfgs-max-steps), and its loss after as many
 * steps as the seed ran. Each step's loss is the loss of the image before that step's update, so
 * "reached at step k" means the image after k − 1 updates has the seed's loss, and the time is that
 * evaluation's end. The frame is the coherence bench's textured scene, the style the bench pattern.
 *
 * Networks (VGG19's shape, synthetic weights; the arithmetic of ImageNet's is the same, its loss
 * landscape is not): `sinusoidal-narrow`, the tests' golden network (test/helpers/tiny-vgg.ts, widths
 * 4..8); `sinusoidal-full`, the same formula at VGG19's widths (what the other benches time);
 * `he-narrow` and `he-full`, He-initialised (normal, σ = √(2/fan-in), zero bias, seeded) at the narrow
 * and the full widths; `file:PATH` times a weights file of your own (ImageNet's notop file).
 */
import { join } from 'node:path';
import { StyleEngine } from '../src/engine/engine';
import type { BackendChoice } from '../src/engine/backend';
import { DEFAULT_SETTINGS, type OptimizerName, type StyleSettings } from '../src/engine/settings';
import type { RgbImage } from '../src/media/types';
import { videoScene, gaussian } from '../test/helpers/moving-scenes';
import { TINY_VGG_WIDTHS, VGG19_WIDTHS, writeVggH5 } from '../test/helpers/tiny-vgg';
import { frameShape, median, pattern } from './steps';

export const LBFGS_NETWORKS = ['sinusoidal-narrow', 'sinusoidal-full', 'he-narrow', 'he-full'] as const;
/** A synthetic network by name, or `file:PATH`: a VGG19 weights file (e.g. ImageNet's). */
export type LbfgsNetwork = (typeof LBFGS_NETWORKS)[number] | `file:${string}`;

export interface LbfgsBenchOptions {
  dir: string;
  backend: BackendChoice | 'auto';
  sizes: number[];
  networks: LbfgsNetwork[];
  /** The seed's steps (epochs × steps per epoch). */
  steps: number;
  /** The most steps L-BFGS gets to reach the seed's loss. */
  maxSteps: number;
  histories: number[];
  command: string;
}

/** He initialisation: N(0, 2/fan-in) per weight, seeded per layer so every machine writes the same file. */
function heKernel(l: number, cin: number, cout: number): Float32Array {
  const normal = gaussian(1000 + l);
  const sigma = Math.sqrt(2 / (9 * cin));
  return Float32Array.from({ length: 9 * cin * cout }, () => sigma * normal());
}

async function writeNetwork(network: (typeof LBFGS_NETWORKS)[number], path: string): Promise<void> {
  const widths = network.endsWith('narrow') ? TINY_VGG_WIDTHS : VGG19_WIDTHS;
  if (network.startsWith('he')) await writeVggH5(path, { widths, kernel: heKernel, bias: (_l, cout) => new Float32Array(cout) });
  else await writeVggH5(path, { widths });
}

interface Trace {
  /** Loss before each update. */
  losses: number[];
  /** ms from the call to the end of each step. */
  elapsedMs: number[];
}

async function trace(engine: StyleEngine, content: RgbImage, style: RgbImage, steps: number, optimizer: OptimizerName, history?: number): Promise<Trace> {
  const settings: StyleSettings = { ...DEFAULT_SETTINGS, size: Math.max(content.width, content.height), epochs: 1, stepsPerEpoch: steps, optimizer };
  const targets = await engine.styleTargets(`lbfgs-bench-${settings.size}`, settings.styleLayers, async () => style);
  const losses: number[] = [];
  const elapsedMs: number[] = [];
  const started = performance.now();
  await engine.stylize({
    content,
    targets,
    settings,
    lbfgsHistory: history,
    onStep: ({ loss }) => {
      losses.push(loss);
      elapsedMs.push(performance.now() - started);
    },
  });
  return { losses, elapsedMs };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
/** Loss levels, as fractions of the content frame's, that each optimiser's time to is reported. */
const FRACTIONS = [0.9, 0.75, 0.5];

/** "step, time" of the first evaluated loss at or below `target`, or ">max". */
function reach(t: Trace, target: number, max: number): string {
  const at = t.losses.slice(0, max).findIndex((l) => l <= target);
  return at < 0 ? `>${max}` : `${at + 1}, ${seconds(t.elapsedMs[at])}`;
}
const msPerStep = (t: Trace) => median(t.elapsedMs.slice(1).map((e, i) => e - t.elapsedMs[i]));

export async function runLbfgsBench(o: LbfgsBenchOptions): Promise<void> {
  console.log(`\n# time to the seed's loss on a first frame: Adam (${o.steps} steps) against L-BFGS (at most ${o.maxSteps}), backend ${o.backend}`);
  console.log(
    `| network | size | loss at the start | seed's loss (× start) | Adam's best (× start): step | ms/step Adam | L-BFGS history | ms/step | L-BFGS steps, time to the seed's loss | ${FRACTIONS.map((f) => `to ${f}× start`).join(' | ')} | L-BFGS after ${o.steps} steps (× start) |`,
  );
  console.log(`| --- | --- | ${' ---: |'.repeat(8 + FRACTIONS.length)}`);
  for (const network of o.networks) {
    const weightsPath = network.startsWith('file:') ? network.slice('file:'.length) : join(o.dir, `lbfgs-${network}.h5`);
    if (!network.startsWith('file:')) await writeNetwork(network as (typeof LBFGS_NETWORKS)[number], weightsPath);
    const engine = await StyleEngine.create({ weightsPath, backend: o.backend });
    try {
      for (const size of o.sizes) {
        const { width, height } = frameShape(size);
        const content = videoScene(width, height, 0).image;
        const style = pattern(size, size, 2);
        // Untimed: the first steps at a size pay for kernel and graph set-up.
        for (const optimizer of ['adam', 'lbfgs'] as const) await trace(engine, content, style, 3, optimizer);
        // One more step than the seed's: its loss is the loss of the image the seed returns.
        const adam = await trace(engine, content, style, o.steps + 1, 'adam');
        const start = adam.losses[0];
        const seedLoss = adam.losses[o.steps];
        const best = Math.min(...adam.losses);
        const adamReach = (target: number) => reach(adam, target, o.steps + 1);
        for (const history of o.histories) {
          const lbfgs = await trace(engine, content, style, Math.max(o.maxSteps, o.steps + 1), 'lbfgs', history);
          const lbfgsReach = (target: number) => reach(lbfgs, target, o.maxSteps);
          const fractions = FRACTIONS.map((f) => `${lbfgsReach(f * start)} (Adam ${adamReach(f * start)})`);
          console.log(
            `| ${network} | ${width}×${height} | ${start.toPrecision(3)} | ${(seedLoss / start).toFixed(2)} | ${(best / start).toFixed(2)}: ${adam.losses.indexOf(best) + 1} | ${msPerStep(adam).toFixed(0)} | ${history} | ${msPerStep(lbfgs).toFixed(0)} | ${lbfgsReach(seedLoss)} | ${fractions.join(' | ')} | ${(lbfgs.losses[o.steps] / start).toFixed(2)} |`,
          );
        }
      }
    } finally {
      engine.dispose();
    }
  }
  console.log(`reproduce: ${o.command}`);
}
