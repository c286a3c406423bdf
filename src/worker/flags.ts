/**
 * The worker's own flags that messages from the layers below name by key (`{outputRoot}`,
 * `{styleConcurrency}`): the worker command defines its options with these, and the command line
 * renders the keys with them (render-option-values.ts, withFlags).
 */
export const WORKER_FLAGS = Object.freeze({
  backend: '--backend',
  weights: '--weights',
  engine: '--engine',
  workRoot: '--work-root',
  workDir: '--work-dir',
  outputRoot: '--output-root',
  styleConcurrency: '--style-concurrency',
});

/** The worker flag a key names; undefined for a key that is not one. */
export function workerFlagOf(key: string): string | undefined {
  return Object.hasOwn(WORKER_FLAGS, key) ? WORKER_FLAGS[key as keyof typeof WORKER_FLAGS] : undefined;
}
