/**
 * One competitor of `npm run bench -- --only compare`: our engine on one backend at one size, in a
 * process of its own (tfjs backends cannot be switched cleanly in one process, native thread pools
 * interfere, and the peak RSS is then that of a style worker doing just this size).
 *
 *   node --import tsx bench/step-child.ts --backend wasm --size 64 --steps 6 --weights FILE
 *
 * Prints one JSON line: ms/step (median after a warm-up step), the loss before each step, peak RSS;
 * or `unavailable` with the reason when the backend does not initialise here.
 */
import { parseArgs } from 'node:util';
import { parseBackendChoice } from '../src/engine/backend';
import { StyleEngine } from '../src/engine/engine';
import { tf } from '../src/engine/tf';
import { frameShape, timeSteps } from './steps';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    size: { type: 'string', default: '64' },
    steps: { type: 'string', default: '6' },
    weights: { type: 'string' },
  },
});

const mib = (kib: number) => kib / 1024;

async function main() {
  if (!args.weights) throw new Error('--weights FILE is required');
  const size = Number(args.size);
  const steps = Number(args.steps);
  // node-eager: the native backend with the step as eager tfjs ops, to show what the graph buys.
  const eager = args.backend === 'node-eager';
  const backend = parseBackendChoice(eager ? 'node' : args.backend);
  const base = { impl: 'ours', backend: args.backend, size, ...frameShape(size), steps };
  let engine: StyleEngine;
  const t0 = performance.now();
  try {
    engine = await StyleEngine.create({ weightsPath: args.weights, backend, stepGraph: !eager });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    console.log(JSON.stringify({ ...base, unavailable: reason }));
    return;
  }
  const weightsLoadMs = performance.now() - t0;
  const rssAfterLoadMiB = mib(process.resourceUsage().maxRSS);
  const timing = await timeSteps(engine, size, steps);
  console.log(
    JSON.stringify({
      ...base,
      backend: args.backend,
      stepMode: engine.stepMode,
      tfjsBackend: tf.getBackend(),
      ...timing,
      maxRssMiB: mib(process.resourceUsage().maxRSS),
      rssAfterLoadMiB,
      weightsLoadMs,
      node: process.version,
      tfjs: tf.version.tfjs,
    }),
  );
  engine.dispose();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
