import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowExecutionInfo,
  type WorkflowHandle,
} from '@temporalio/client';
import {
  cancelRenderSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
  retryFailedSignal,
  skipFailedSignal,
  updateEpochs,
  type RenderProgress,
} from '../workflows/contract';
import type { renderVideo } from '../workflows/render';
import { epochsError } from '../workflows/validation';
import { formatRanges } from '../workflows/frame-set';
import type { ServerOptions } from '../cli-common/connection';
import { NoRendersHereError, openSession, type Session } from './session';
import { describeInterrupted, interruptedProgress } from './interrupted';
import { UsageError } from '../cli-common/errors';
import { wholeFlag } from '../cli-common/flags';
import type { Io } from '../cli-common/io';
import type { RenderFlags } from './render-options';
import { filesOf, findRenderByFiles, namesFiles } from './find-render';
import { describeEnding, settle, type Ending } from './ending';
import { describeResult, followRender } from './start-render';
import { liveState } from './attention';
import { commandHint, type HintTarget } from './hints';
import { outputVerdict } from './own-output';

export interface CommandServerOptions extends Partial<ServerOptions> {
  workDir?: string;
}

/** A render named by its id, or by the same flags start-render was given (which derive the id). */
export type RenderRefOptions = CommandServerOptions & RenderFlags;

type RenderHandle = WorkflowHandle<typeof renderVideo>;

/** A client for the given address, or for the embedded server a running start-render advertised. */
export async function clientFor(opts: CommandServerOptions): Promise<Client> {
  return (await openSession(opts, false)).client;
}

/** A command names one render: by its id, or by the files start-render was given — not both, not neither. */
export function checkRenderRef(id: string | undefined, flags: RenderFlags): void {
  const byFiles = namesFiles(flags);
  if (id && byFiles) throw new UsageError('give either a render id or --input/--style/--output, not both');
  if (!id && !byFiles) {
    throw new UsageError('which render? give its id (npm run list shows them) or the --input, --style and --output start-render was given');
  }
}

/**
 * The render's workflow id: the one given, or the render whose memo holds the --input/--style/--output
 * given (findRenderByFiles). The settings flags of a reused start-render command line are ignored.
 */
export async function resolveRenderId(client: Client, id: string | undefined, flags: RenderFlags): Promise<string> {
  checkRenderRef(id, flags);
  return id ?? findRenderByFiles(client, filesOf(flags));
}

/** The render's handle and Temporal status; an unknown id is a one-line usage error. */
async function existingRender(client: Client, id: string): Promise<{ handle: RenderHandle; status: string }> {
  const handle = client.workflow.getHandle<typeof renderVideo>(id);
  try {
    const info = await handle.describe();
    return { handle, status: info.status.name };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UsageError(`no render with id "${id}" on this server; npm run list shows recent renders`);
    throw err;
  }
}

/** The flags a follow-up command needs to find the same server as this one. */
function hintTarget(opts: CommandServerOptions): HintTarget {
  return { address: opts.address, namespace: opts.namespace, workDir: opts.workDir };
}

/**
 * Runs `fn` with a session on the server (session.ts): a cluster, the running start-render's
 * server, or the work directory's database opened here for the length of the command.
 */
async function withClient<T>(opts: CommandServerOptions, fn: (client: Client, session: Session) => Promise<T>): Promise<T> {
  const session = await openSession(opts, true);
  try {
    return await fn(session.client, session);
  } finally {
    await session.close();
  }
}

/** A render nobody serves cannot be steered: its start-render has exited. */
function mustBeServed(session: Session, renderId: string, verb: string): void {
  if (session.served) return;
  throw new UsageError(
    `cannot ${verb}: render ${renderId} is not running now (no start-render is serving it in ${session.workDir}); ` +
      `run its start-render command again to resume it, then ${verb}`,
  );
}

/** A running render, or a usage error saying how it ended. */
async function runningRender(client: Client, renderId: string, verb: string) {
  const found = await existingRender(client, renderId);
  if (found.status !== 'RUNNING') {
    const ending = await settle(found.handle.result());
    throw new UsageError(`cannot ${verb}: ${describeEnding(renderId, ending)}`);
  }
  return found.handle;
}

/**
 * `status`: a live progress bar until the render ends, or its progress (or final result) as JSON
 * once. Resolves with the exit code: 0 while running or when it produced its video, 1 when it
 * failed or was cancelled.
 */
export type StatusOptions = RenderRefOptions & { json?: boolean; refreshSeconds?: number };
export type SteerOptions = RenderRefOptions & { wait?: boolean };
export type ListOptions = CommandServerOptions & { limit?: string; json?: boolean };

/** Renders `list` shows unless --limit says otherwise. */
export const DEFAULT_LIST_LIMIT = 20;

export async function statusCommand(id: string | undefined, opts: StatusOptions, io: Io): Promise<number> {
  checkRenderRef(id, opts);
  return withClient(opts, async (client, session) => {
    const renderId = await resolveRenderId(client, id, opts);
    const { handle, status } = await existingRender(client, renderId);
    if (status === 'RUNNING' && !session.served) {
      // Its start-render has exited: no worker answers the progress query, the history tells.
      const p = await interruptedProgress(handle);
      if (opts.json) io.out(JSON.stringify({ status, state: 'interrupted', ...p }, null, 2));
      else io.out(describeInterrupted(p));
      return 0;
    }
    if (status === 'RUNNING' && opts.json) {
      const progress = await handle.query(progressQuery);
      io.out(JSON.stringify({ status, state: liveState(progress), ...progress }, null, 2));
      return 0;
    }
    if (status === 'RUNNING') {
      return reportEnding(renderId, await settle(followRender(handle, io, opts.refreshSeconds, hintTarget(opts))), false, io);
    }
    return reportEnding(renderId, await settle(handle.result()), Boolean(opts.json), io, status);
  });
}

/** Prints how a render ended; returns 0 when it produced its video, 1 otherwise. */
async function reportEnding(id: string, ending: Ending, json: boolean, io: Io, status?: string): Promise<number> {
  if (json) {
    const body =
      ending.state === 'done' ? ending.result : ending.state === 'cancelled' ? { message: ending.message, ...ending.progress } : { message: ending.message };
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
  return ending.state === 'done' ? 0 : 1;
}

/**
 * `set-epochs [render-id] <epochs>`: a Workflow Update, so the answer is a yes (the settings frames
 * not yet started will get) or the workflow's own reason for refusing.
 */
export async function setEpochsCommand(args: Array<string | undefined>, opts: RenderRefOptions, io: Io): Promise<void> {
  const given = args.filter((a): a is string => a !== undefined);
  const byFiles = namesFiles(opts);
  if (given.length === 0 || (given.length === 1 && !byFiles)) {
    throw new UsageError('set-epochs needs the render id (or the -i/-s/-o of start-render) and the new number of epochs, e.g. set-epochs clip-3f9a0c21be 3');
  }
  const epochs = given[given.length - 1];
  const id = given.length > 1 ? given[0] : undefined;
  const n = Number(epochs);
  const problem = epochsError(epochs.trim() !== '' && Number.isFinite(n) ? n : epochs);
  if (problem) throw new UsageError(problem);
  checkRenderRef(id, opts);
  await withClient(opts, async (client, session) => {
    const renderId = await resolveRenderId(client, id, opts);
    const handle = await runningRender(client, renderId, 'change epochs');
    mustBeServed(session, renderId, 'change epochs');
    // What the render had until now (its --epochs, or an earlier set-epochs), not the default.
    const before = (await handle.query(progressQuery)).settings.epochs;
    let settings;
    try {
      settings = await handle.executeUpdate(updateEpochs, { args: [n] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new UsageError(`render ${renderId} refused epochs ${n}: ${err.cause?.message ?? err.message}`);
      throw err;
    }
    io.out(`render ${renderId}: frames not yet started will use ${settings.epochs} epochs (was ${before}); frames in flight keep theirs`);
  });
}

export type SteerAction = 'pause' | 'resume' | 'cancel';

/** `pause`, `resume` and `cancel`: a signal to a running render, after checking it still makes sense. */
export async function steerCommand(action: SteerAction, id: string | undefined, opts: SteerOptions, io: Io): Promise<void> {
  checkRenderRef(id, opts);
  await withClient(opts, async (client, session) => {
    const renderId = await resolveRenderId(client, id, opts);
    const handle = await runningRender(client, renderId, action);
    mustBeServed(session, renderId, action);
    const p = await handle.query(progressQuery);
    if (p.phase === 'assembling' || p.phase === 'done') {
      throw new UsageError(`cannot ${action}: render ${renderId} has rendered every frame and is ${p.phase === 'done' ? 'finishing' : 'assembling the video'}`);
    }
    const inFlight = p.inFlight.length ? `; ${p.inFlight.length} frame(s) in flight (${p.inFlight.join(', ')}) finish first` : '';
    if (action === 'pause') {
      if (p.paused) {
        io.out(`render ${renderId} is already paused (${commandHint('resume', renderId, hintTarget(opts))})`);
        return;
      }
      await handle.signal(pauseSignal);
      io.out(`render ${renderId} paused: no new frame starts${inFlight}. Resume with: ${commandHint('resume', renderId, hintTarget(opts))}`);
    } else if (action === 'resume') {
      if (!p.paused) {
        io.out(`render ${renderId} is not paused`);
        return;
      }
      await handle.signal(resumeSignal);
      io.out(`render ${renderId} resumed: frames start again (${p.done} of ${p.total || '?'} done)`);
    } else {
      await handle.signal(cancelRenderSignal);
      io.out(`render ${renderId} cancelling: no new frame starts${inFlight}; ${p.done} finished frame(s) stay in ${p.renderDir}`);
      if (opts.wait) io.out(describeEnding(renderId, await settle(handle.result())));
    }
  });
}

/** `retry-failed` and `skip-failed`: the choice a render waiting in needs-attention asks for. */
export async function signalCommand(id: string | undefined, signal: 'retryFailed' | 'skipFailed', opts: RenderRefOptions, io: Io): Promise<void> {
  const verb = signal === 'retryFailed' ? 'retry failed frames' : 'skip failed frames';
  checkRenderRef(id, opts);
  await withClient(opts, async (client, session) => {
    const renderId = await resolveRenderId(client, id, opts);
    const handle = await runningRender(client, renderId, verb);
    mustBeServed(session, renderId, verb);
    const progress = await handle.query(progressQuery);
    const failed = progress.failedFrames;
    if (failed.count === 0) {
      io.out(`render ${renderId} has no failed frames`);
      return;
    }
    if (progress.phase !== 'needs-attention') {
      io.out(`render ${renderId} is still rendering; it waits for this choice once every other frame is done, so run this again then`);
      return;
    }
    await handle.signal(signal === 'retryFailed' ? retryFailedSignal : skipFailedSignal);
    io.out(`render ${renderId}: ${signal === 'retryFailed' ? 'retrying' : 'skipping'} frames ${formatRanges(failed)}`);
    for (const e of failed.errors) io.out(`  ${e.count} × ${e.error} (frames ${e.sample.join(', ')}${e.count > e.sample.length ? ', …' : ''})`);
  });
}

export interface ListedRender {
  id: string;
  /** Temporal's status with the render's own refinement: paused, needs-attention, cancelled. */
  state: string;
  status: string;
  startedAt: string;
  output: string | null;
  backend: string | null;
}

const LIST_QUERY = "WorkflowType = 'renderVideo' AND ExecutionStatus != 'ContinuedAsNew'";

function stateOf(info: WorkflowExecutionInfo): string {
  const memoState = typeof info.memo?.state === 'string' ? info.memo.state : undefined;
  const status = info.status.name;
  if (status === 'RUNNING') return memoState && memoState !== 'running' ? memoState : 'running';
  if (status === 'FAILED' && memoState === 'cancelled') return 'cancelled';
  return status === 'COMPLETED' ? 'done' : status.toLowerCase().replace('_', ' ');
}

/** Recent renders on the server, newest first. */
export async function listRenders(client: Client, limit: number): Promise<ListedRender[]> {
  const rows: ListedRender[] = [];
  const seen = new Set<string>();
  // The server orders running executions first, then by close time; sort a generous page by start time.
  for await (const info of client.workflow.list({ query: LIST_QUERY, pageSize: 100 })) {
    if (seen.has(info.workflowId)) continue;
    seen.add(info.workflowId);
    const memo = info.memo ?? {};
    rows.push({
      id: info.workflowId,
      state: stateOf(info),
      status: info.status.name,
      startedAt: typeof memo.startedAt === 'string' ? memo.startedAt : info.startTime.toISOString(),
      output: typeof memo.output === 'string' ? memo.output : null,
      backend: typeof memo.backend === 'string' ? memo.backend : null,
    });
    if (rows.length >= Math.max(200, limit * 4)) break;
  }
  return rows.sort((a, b) => b.startedAt.localeCompare(a.startedAt)).slice(0, limit);
}

export async function listCommand(opts: ListOptions, io: Io): Promise<void> {
  const limit = wholeFlag(opts.limit, '--limit', DEFAULT_LIST_LIMIT);
  let rows: ListedRender[];
  try {
    rows = await withClient(opts, async (client, session) => {
      const found = await listRenders(client, limit);
      // Nothing serves them (their start-render has exited): a "running" render is interrupted.
      return session.served ? found : found.map((r) => (r.state === 'running' ? { ...r, state: 'interrupted' } : r));
    });
  } catch (err) {
    if (!(err instanceof NoRendersHereError)) throw err;
    io.out(err.message.replace(/ \(no start-render.*$/, ''));
    return;
  }
  if (opts.json) {
    io.out(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length === 0) {
    io.out('no renders on this server yet');
    return;
  }
  const table = [['ID', 'STATE', 'STARTED', 'OUTPUT'], ...rows.map((r) => [r.id, r.state, r.startedAt.replace(/\.\d+Z$/, 'Z'), r.output ?? '-'])];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) io.out(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '));
}
