import { bundleWorkflowCode, Worker, type NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import { createMediaActivities } from '../activities/chunks';
import { createStyleActivities } from '../activities/style';
import { COPY_STYLE_QUEUE, TASK_QUEUES } from '../workflows/contract';
import type { PathPolicy } from '../activities/paths';
import type { EngineName } from '../engine/settings';
import { DEFAULT_NAMESPACE } from '../cli-common/connection';
import type { StyleRuntime } from './engine';
import { faultsFromEnv } from './faults-env';

export type QueueName = keyof typeof TASK_QUEUES;

/** Activities a worker process runs at once per queue: one frame per accelerator is right for tfjs. */
export const DEFAULT_CONCURRENCY: Readonly<Record<QueueName, number>> = Object.freeze({ style: 1, media: 2 });

export interface WorkerSetup {
  connection: NativeConnection;
  namespace?: string;
  queues: readonly QueueName[];
  /** Required when serving the style queue with the vgg19 engine. */
  style?: StyleRuntime;
  /** `copy`: the style queue is served by the copy engine (frames pass through unstylized), on its own task queue. */
  engine?: EngineName;
  /** Where this worker may write and delete: render directories, outputs. */
  paths: PathPolicy;
  /** Frames computed at once by this process; one per accelerator is right for tfjs. */
  styleConcurrency?: number;
  mediaConcurrency?: number;
  workflowBundle?: WorkflowBundle;
  /** Shown in the workflow history for each task this worker takes; default: Temporal's pid@host. */
  identity?: string;
}

let bundle: Promise<WorkflowBundle> | undefined;

/** Bundles the workflow code once per process (webpack takes seconds; tests start many workers). */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietLogger });
  return bundle;
}

const quietLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string) {
    console.warn(message);
  },
  error(message: string) {
    console.error(message);
  },
};

/** One Temporal worker per task queue this process serves. */
export async function createWorkers(setup: WorkerSetup): Promise<Worker[]> {
  const namespace = setup.namespace ?? DEFAULT_NAMESPACE;
  const workers: Worker[] = [];
  for (const queue of setup.queues) {
    if (queue === 'media') {
      workers.push(
        await Worker.create({
          connection: setup.connection,
          namespace,
          ...(setup.identity ? { identity: setup.identity } : {}),
          taskQueue: TASK_QUEUES.media,
          workflowBundle: setup.workflowBundle ?? (await workflowBundle()),
          activities: createMediaActivities(setup.paths),
          maxConcurrentActivityTaskExecutions: setup.mediaConcurrency ?? DEFAULT_CONCURRENCY.media,
        }),
      );
    } else {
      const copy = setup.engine === 'copy';
      if (!copy && !setup.style) throw new Error('the style queue needs a style engine');
      workers.push(
        await Worker.create({
          connection: setup.connection,
          namespace,
          ...(setup.identity ? { identity: setup.identity } : {}),
          taskQueue: copy ? COPY_STYLE_QUEUE : TASK_QUEUES.style,
          activities: createStyleActivities(copy ? { paths: setup.paths, faults: faultsFromEnv() } : { ...setup.style!, paths: setup.paths }),
          maxConcurrentActivityTaskExecutions: setup.styleConcurrency ?? DEFAULT_CONCURRENCY.style,
          // Heartbeats carry the step and loss shown by `status`; send them at least every few seconds.
          maxHeartbeatThrottleInterval: '2s',
          defaultHeartbeatThrottleInterval: '2s',
          // On SIGINT/SIGTERM frames in flight are cancelled at once, checkpoint their current step
          // and fail over to another worker; this bounds how long that may take.
          shutdownForceTime: '30s',
        }),
      );
    }
  }
  return workers;
}

/** Runs every worker until all have stopped (shutdown signal or error). */
export async function runWorkers(workers: readonly Worker[]): Promise<void> {
  await Promise.all(workers.map((w) => w.run()));
}

export function parseQueues(value: string): QueueName[] {
  const names = value.split(',').map((q) => q.trim()).filter(Boolean);
  const valid = Object.keys(TASK_QUEUES);
  const bad = names.filter((q) => !valid.includes(q));
  if (bad.length || names.length === 0) {
    throw new Error(`--queues takes a comma-separated list of ${valid.join(', ')} (got "${value}")`);
  }
  return [...new Set(names)] as QueueName[];
}
