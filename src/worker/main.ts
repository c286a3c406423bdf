import { DEFAULT_NAMESPACE, type ServerOptions } from '../cli-common/connection';
import { UsageError } from '../cli-common/errors';
import { wholeFlag } from '../cli-common/flags';
import { embeddedIdentity } from '../cli-common/identity';
import type { Io } from '../cli-common/io';
import { createStyleRuntime, type StyleRuntime } from './engine';
import { ENGINES, type EngineName } from '../engine/settings';
import { resolve } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { PathPolicy } from '../activities/paths';
import { DEFAULT_CONCURRENCY, createWorkers, parseQueues, runWorkers } from './workers';
import { connectWhenReachable } from './wait-for-server';
import { WORKER_FLAGS } from './flags';

/** The `worker` command's flags, as commander hands them over. */
export interface WorkerCommandOptions extends Partial<ServerOptions> {
  queues: string;
  styleConcurrency?: string;
  mediaConcurrency?: string;
  weights?: string;
  backend?: string;
  cacheDir?: string;
  /** Shown in the workflow history (default: Temporal's pid@host). */
  identity?: string;
  /** `copy`: serve copy renders' frames (passed through unstylized); no weights are loaded. */
  engine?: string;
  /** Render directories this worker writes must lie inside it (default: --work-dir, STARRY_WORK_DIR or ./.starry). */
  workRoot?: string;
  /** The shared work directory, as start-render's --work-dir: the work root unless --work-root says otherwise. */
  workDir?: string;
  /** Comma-separated directories outputs may be written to, besides the work root. */
  outputRoot?: string;
}

/**
 * The worker's path policy from its flags (or STARRY_WORK_ROOT / STARRY_OUTPUT_ROOT, which commander
 * reads). Without --output-root, outputs may go to the directory the worker was started in, as its
 * default work root (./.starry) lies there: the README's cluster commands, run from one directory,
 * write `-o out.mp4` there. An operator who gives --output-root allows exactly those directories.
 */
export function workerPathPolicy(
  opts: Pick<WorkerCommandOptions, 'workRoot' | 'workDir' | 'outputRoot'>,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): PathPolicy {
  const workRoot = resolve(cwd, opts.workRoot ?? opts.workDir ?? env.STARRY_WORK_DIR ?? '.starry');
  const given = (opts.outputRoot ?? '').split(',').map((r) => r.trim()).filter(Boolean).map((r) => resolve(cwd, r));
  return { workRoot, outputRoots: opts.outputRoot === undefined ? [resolve(cwd)] : given };
}

export function parseEngine(value: string | undefined): EngineName {
  const engine = (value ?? 'vgg19') as EngineName;
  if (!ENGINES.includes(engine)) throw new UsageError(`${WORKER_FLAGS.engine} must be one of ${ENGINES.join(', ')} (got "${value}")`);
  return engine;
}

/** `worker`: serves the chosen task queues until SIGINT/SIGTERM, then drains and exits. */
export async function runWorkerCommand(opts: WorkerCommandOptions, io: Io): Promise<void> {
  if (!opts.address) throw new UsageError('worker needs --address host:port (or TEMPORAL_ADDRESS) of a Temporal server');
  // Spawned by start-render with an IPC channel: end with it. Before the workers run there is
  // nothing to save; once they run, SIGTERM makes them checkpoint their frames and stop.
  let onParentGone: () => void = () => process.exit(0);
  if (process.send) {
    process.once('disconnect', () => onParentGone());
    if (!process.connected) onParentGone();
  }
  const queues = parseQueues(opts.queues);
  const styleConcurrency = wholeFlag(opts.styleConcurrency, WORKER_FLAGS.styleConcurrency, DEFAULT_CONCURRENCY.style);
  const mediaConcurrency = wholeFlag(opts.mediaConcurrency, '--media-concurrency', DEFAULT_CONCURRENCY.media);
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  const engine = parseEngine(opts.engine);
  const paths = workerPathPolicy(opts);
  mkdirSync(paths.workRoot, { recursive: true });
  let style: StyleRuntime | undefined;
  if (queues.includes('style') && engine === 'vgg19') {
    style = await createStyleRuntime({ weights: opts.weights, backend: opts.backend, cacheDir: opts.cacheDir, log: io.out });
  }
  // Workers often start before the server (a cluster, docker compose up): wait for it.
  const connection = await connectWhenReachable({ ...opts, address: opts.address, namespace }, io);
  try {
    const workers = await createWorkers({
      connection,
      namespace,
      queues,
      style,
      engine,
      paths,
      styleConcurrency,
      mediaConcurrency,
      identity: opts.identity ?? (process.env.STARRY_EMBEDDED_WORKER ? embeddedIdentity() : undefined),
    });
    onParentGone = () => process.kill(process.pid, 'SIGTERM');
    io.out(
      `worker serving ${queues.join(', ')}${engine === 'copy' ? ' (copy engine: frames pass through NOT stylized)' : ''} on ${opts.address} ` +
        `(namespace ${namespace}); writes only inside ${[paths.workRoot, ...paths.outputRoots].join(', ')}`,
    );
    await runWorkers(workers);
    io.out('worker stopped');
  } finally {
    await connection.close();
    style?.engine.dispose();
  }
}
