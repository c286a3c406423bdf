/**
 * Whether anyone serves a render's task queues: a render whose queue has no worker polling waits
 * forever and looks like work. The client asks the server (DescribeTaskQueue: its recent pollers)
 * and names the queue and the `npm run worker` command that serves it.
 */
import type { Client } from '@temporalio/client';
import { COPY_STYLE_QUEUE, TASK_QUEUES, styleQueueFor } from '../../workflows/contract';
import type { StyleSettings } from '../../engine/settings';
import { DEFAULT_NAMESPACE } from '../../cli-common/connection';
import { shellQuote, type HintTarget } from '../report/hints';

/** temporal.api.enums.v1 values (the proto package is the client's, not ours to import). */
const TaskQueueType = { TASK_QUEUE_TYPE_WORKFLOW: 1, TASK_QUEUE_TYPE_ACTIVITY: 2 } as const;
const TASK_QUEUE_KIND_NORMAL = 1;

/** A queue a render needs, the kind of task it holds there, and the worker that serves it. */
interface NeededQueue {
  name: string;
  types: number[];
  /** The --queues (and --engine) of a worker that serves it. */
  workerFlags: string;
}

/** The queues a render with `settings` needs: the workflow and media activities, and its frames' queue. */
export function queuesOf(settings: Pick<StyleSettings, 'engine'>): NeededQueue[] {
  const style = styleQueueFor(settings);
  return [
    { name: TASK_QUEUES.media, types: [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY], workerFlags: '--queues media' },
    { name: style, types: [TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY], workerFlags: style === COPY_STYLE_QUEUE ? '--queues style --engine copy' : '--queues style' },
  ];
}

/** The worker command for `queue`, with the flags that find the same server and work directory. */
export function workerCommand(queue: Pick<NeededQueue, 'workerFlags'>, where: HintTarget): string {
  const args: string[] = [];
  if (where.address) args.push('--address', where.address);
  if (where.namespace && where.namespace !== DEFAULT_NAMESPACE) args.push('--namespace', where.namespace);
  if (where.workDir) args.push('--work-dir', where.workDir);
  return `npm run worker -- ${[...args.map(shellQuote), queue.workerFlags].join(' ')}`;
}

/** Queues among `queues` with no worker polling them now (the server keeps the pollers of the last minutes). */
export async function idleQueues(client: Client, namespace: string, queues: NeededQueue[]): Promise<NeededQueue[]> {
  const idle: NeededQueue[] = [];
  for (const queue of queues) {
    for (const taskQueueType of queue.types) {
      const answer = await client.workflowService.describeTaskQueue({
        namespace,
        taskQueue: { name: queue.name, kind: TASK_QUEUE_KIND_NORMAL },
        taskQueueType,
      });
      if ((answer.pollers ?? []).length === 0) {
        idle.push(queue);
        break;
      }
    }
  }
  return idle;
}

/** One line per idle queue: which, and the command that serves it; empty when every queue is served. */
export function describeIdle(idle: NeededQueue[], where: HintTarget): string[] {
  return idle.map((q) => `no worker is serving task queue ${q.name}: this render waits until one does; start one with: ${workerCommand(q, where)}`);
}
