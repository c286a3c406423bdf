import type { BackendChoice } from '../engine/backend';
import { StyleEngine } from '../engine/engine';
import { describeSelection, parseBackendChoice } from '../engine/backend';
import type { FaultPlan } from '../activities/faults';
import { faultsFromEnv } from './faults-env';
import { ensureVggWeights } from '../engine/weights-cache';
import { checkWeightsComplete } from './hdf5-check';

export interface StyleRuntimeOptions {
  weights?: string;
  backend?: string;
  cacheDir?: string;
  /** Overrides STARRY_FAULTS (see activities/faults.ts). */
  faults?: string;
  log?: (line: string) => void;
}

export interface StyleRuntime {
  engine: StyleEngine;
  /** Test-only fault injection from STARRY_FAULTS; no faults unless it is set. */
  faults: FaultPlan;
  /** md5 of the weights file, part of every frame's fingerprint. */
  weightsId: string;
}

/** Loads the weights (downloading them on first use) and VGG19 once, for the worker's lifetime. */
export async function createStyleRuntime(opts: StyleRuntimeOptions): Promise<StyleRuntime> {
  const backend: BackendChoice | 'auto' = parseBackendChoice(opts.backend ?? process.env.STARRY_BACKEND);
  const weights = await ensureVggWeights({ weightsPath: opts.weights, cacheDir: opts.cacheDir, log: opts.log });
  await checkWeightsComplete(weights.path);
  const engine = await StyleEngine.create({ weightsPath: weights.path, backend });
  opts.log?.(describeSelection(engine.backend) + (engine.stepMode === 'graph' ? '; each step runs as one TensorFlow graph' : ''));
  return { engine, weightsId: weights.md5, faults: faultsFromEnv(opts) };
}
