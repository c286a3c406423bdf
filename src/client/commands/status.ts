/**
 * `status`: a live progress bar until the render ends, or its progress (or final result) as JSON
 * once. Resolves with the exit code: 0 while running or when it produced its video, 1 when it
 * failed or was cancelled.
 */
import type { Command } from 'commander';
import type { Io } from '../../cli-common/io';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Session } from '../server/session';
import { DEFAULT_NAMESPACE } from '../../cli-common/connection';
import { TASK_QUEUES, progressQuery } from '../../workflows/contract';
import { describeIdle, idleQueues, queuesOf } from '../server/pollers';
import { liveState } from '../report/attention';
import { cancelledFailure, describeEnding, settle, type Ending } from '../report/ending';
import { describeInterrupted, interruptedProgress } from '../report/interrupted';
import { outputVerdict } from '../setup/own-output';
import { EXIT } from '../exit-codes';
import { commandHint } from '../report/hints';
import { whileServerAway } from '../server/reconnect';
import { renderCommand } from './options';
import { checkRenderRef, existingRender, hintTarget, resolveRenderId, withClient, type RenderRefOptions } from './render-ref';
import { describeResult, followRender, type WorkerWatch } from './start-render';

export type StatusOptions = RenderRefOptions & { json?: boolean; refreshSeconds?: number };

export async function statusCommand(id: string | undefined, opts: StatusOptions, io: Io): Promise<number> {
  checkRenderRef(id, opts);
  return withClient(opts, (client, session) => {
    const once = () => statusOnce(client, session, id, opts, io);
    // A cluster's server away for a moment (a restart) is waited for, saying so on stderr (stdout may
    // be JSON). A work directory's own server going away means its start-render stopped: said at once.
    if (!opts.address) return once();
    const where = hintTarget(opts);
    const away = { server: `the Temporal server at ${opts.address}`, say: (line: string) => io.err(line), followUp: commandHint('status', id ?? '<render id>', where) };
    return whileServerAway(once, () => client.workflowService.getSystemInfo({}), away);
  });
}

async function statusOnce(client: Client, session: Session, id: string | undefined, opts: StatusOptions, io: Io): Promise<number> {
  const renderId = await resolveRenderId(client, id, opts);
  const { handle, status } = await existingRender(client, renderId);
  if (status === 'RUNNING' && !session.served) {
    // Its start-render has exited: no worker answers the progress query, the history tells.
    const p = await interruptedProgress(handle);
    if (opts.json) io.out(JSON.stringify({ status, state: 'interrupted', ...p }, null, 2));
    else io.out(describeInterrupted(p));
    return EXIT.ok;
  }
  // On a cluster the workers are someone else's: say when none serves a queue this render needs.
  const workers = opts.address ? await workerWatch(client, handle, opts) : undefined;
  if (status === 'RUNNING' && opts.json) {
    const idle = workers ? await idleQueues(workers.client, workers.namespace, queuesOf(workers.settings)) : [];
    const noWorkers = describeIdle(idle, { ...hintTarget(opts), workDir: opts.workDir });
    // Without a media worker nothing answers the progress query: the JSON says why instead.
    if (idle.some((q) => q.name === TASK_QUEUES.media)) {
      io.out(JSON.stringify({ status, state: 'waiting-for-workers', noWorkers }, null, 2));
      return EXIT.ok;
    }
    const progress = await handle.query(progressQuery);
    io.out(JSON.stringify({ status, state: liveState(progress), ...progress, ...(noWorkers.length ? { noWorkers } : {}) }, null, 2));
    return EXIT.ok;
  }
  if (status === 'RUNNING') {
    const explain = { handle, where: hintTarget(opts) };
    return reportEnding(renderId, await settle(followRender(handle, io, opts.refreshSeconds, hintTarget(opts), workers), explain), false, io);
  }
  return reportEnding(renderId, await settle(handle.result(), { handle, where: hintTarget(opts) }), Boolean(opts.json), io, status);
}

/** What status needs to tell whether anyone serves a render on a cluster; its engine is in its memo (copy renders say so). */
async function workerWatch(client: Client, handle: WorkflowHandle, opts: StatusOptions): Promise<WorkerWatch> {
  const memo = (await handle.describe()).memo ?? {};
  const engine = memo.engine === 'copy' ? 'copy' : 'vgg19';
  return { client, namespace: opts.namespace ?? DEFAULT_NAMESPACE, settings: { engine }, workDir: opts.workDir };
}

/** Prints how a render ended; returns 0 when it produced its video, 1 otherwise. */
async function reportEnding(id: string, ending: Ending, json: boolean, io: Io, status?: string): Promise<number> {
  if (json) {
    const body =
      ending.state === 'done'
        ? ending.result
        : ending.state === 'cancelled'
          ? { message: ending.message, failure: cancelledFailure(ending.message), ...ending.progress }
          : { message: ending.message, ...(ending.state === 'failed' && ending.failure ? { failure: ending.failure } : {}) };
    io.out(JSON.stringify({ status, state: ending.state, ...body }, null, 2));
  } else if (ending.state === 'done') {
    io.out(`render ${id} finished`);
    for (const line of describeResult(ending.result, ending.result.renderDir ?? '')) io.out(line);
    const verdict = await outputVerdict(ending.result);
    if (verdict !== 'own') {
      const again = verdict === 'missing' ? 'run the same start-render command again' : 'run the same start-render command again with --overwrite';
      io.out(`  but ${ending.result.output} ${verdict === 'missing' ? 'is missing now' : 'has been replaced by another file since'}; ${again} to make it again from the kept frames`);
    }
  } else {
    io.out(describeEnding(id, ending));
  }
  return ending.state === 'done' ? EXIT.ok : EXIT.failed;
}

export function register(program: Command, io: Io): Command {
  return renderCommand(program, 'status', 'progress of a render: a live bar until it ends, or once with --json; exit 1 if it failed or was cancelled')
    .option('--json', 'print the progress (or the final result) as JSON once and exit')
    .action(async (id: string | undefined, opts: StatusOptions) => {
      process.exitCode = await statusCommand(id, opts, io);
    });
}
