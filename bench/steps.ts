/**
 * What bench.ts and step-child.ts share: the deterministic frame/style pattern (mirrored in
 * bench/reference/seed_step.py), the frame shape for a size, and the timing of our engine's step.
 */
import type { StyleEngine } from '../src/engine/engine';
import { DEFAULT_SETTINGS, type StyleSettings } from '../src/engine/settings';
import type { RgbImage } from '../src/media/types';

/** Flat NHWC, element i = float32(0.5 + 0.45·sin(0.37·i + seed·(1 + i mod 7))); seed_step.py computes the same. */
export function pattern(width: number, height: number, seed: number): RgbImage {
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = 0.5 + 0.45 * Math.sin(0.37 * i + seed * (1 + (i % 7)));
  return { width, height, data };
}

/** A 4:3 frame whose long side is `size`: width = size, height = round(size·3/8)·2. */
export function frameShape(size: number): { width: number; height: number } {
  return { width: size, height: Math.round((size * 3) / 4 / 2) * 2 };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface StepTiming {
  /** Median of the step-to-step intervals after the first step (which pays for kernel set-up). */
  msPerStep: number;
  samplesMs: number[];
  /** The loss before each of the steps + 1 updates, starting from the frame with fresh Adam moments. */
  losses: number[];
  /** From the call to the first step's end: content targets plus any per-size set-up. */
  firstStepMs: number;
}

/**
 * Runs steps + 1 optimisation steps on the pattern frame (seed 1) against the pattern style image
 * (seed 2, size × size), both `size` px on the long side, with the default (seed) settings.
 */
export async function timeSteps(engine: StyleEngine, size: number, steps: number): Promise<StepTiming> {
  const settings: StyleSettings = { ...DEFAULT_SETTINGS, size, epochs: 1, stepsPerEpoch: steps + 1 };
  const { width, height } = frameShape(size);
  const content = pattern(width, height, 1);
  const targets = await engine.styleTargets(`bench-${size}`, settings.styleLayers, async () => pattern(size, size, 2));
  const stamps: number[] = [];
  const losses: number[] = [];
  const started = performance.now();
  await engine.stylize({
    content,
    targets,
    settings,
    onStep: ({ loss }) => {
      stamps.push(performance.now());
      losses.push(loss);
    },
  });
  const samplesMs = stamps.slice(1).map((t, i) => t - stamps[i]);
  // The first step also computes the content targets and sets up kernels for this frame size.
  return { msPerStep: median(samplesMs), samplesMs, losses, firstStepMs: stamps[0] - started };
}
