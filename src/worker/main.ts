import { DEFAULT_NAMESPACE, type ServerOptions } from '../cli-common/connection';
import { UsageError } from '../cli-common/errors';
import { wholeFlag } from '../cli-common/flags';
import { embeddedIdentity } from '../cli-common/identity';
import type { Io } from '../cli-common/io';
import { createStyleRuntime, type StyleRuntime } from './engine';
import { DEFAULT_CONCURRENCY, createWorkers, parseQueues, runWorkers } from './workers';
import { connectWhenReachable } from './wait-for-server';

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
  const styleConcurrency = wholeFlag(opts.styleConcurrency, '--style-concurrency', DEFAULT_CONCURRENCY.style);
  const mediaConcurrency = wholeFlag(opts.mediaConcurrency, '--media-concurrency', DEFAULT_CONCURRENCY.media);
  const namespace = opts.namespace ?? DEFAULT_NAMESPACE;
  let style: StyleRuntime | undefined;
  if (queues.includes('style')) {
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
      styleConcurrency,
      mediaConcurrency,
      identity: opts.identity ?? (process.env.STARRY_EMBEDDED_WORKER ? embeddedIdentity() : undefined),
    });
    onParentGone = () => process.kill(process.pid, 'SIGTERM');
    io.out(`worker serving ${queues.join(', ')} on ${opts.address} (namespace ${namespace})`);
    await runWorkers(workers);
    io.out('worker stopped');
  } finally {
    await connection.close();
    style?.engine.dispose();
  }
}
