/**
 * What the commands that act on one render share: finding it (by id, or by the files start-render
 * was given), a session on its server, and the checks before steering it.
 */
import { WorkflowNotFoundError, type Client, type WorkflowHandle } from '@temporalio/client';
import { progressQuery, retryFailedSignal, skipFailedSignal, type RenderProgress } from '../../workflows/contract';
import { formatRanges } from '../../workflows/frame-set';
import type { renderVideo } from '../../workflows/render';
import type { ServerOptions } from '../../cli-common/connection';
import type { Io } from '../../cli-common/io';
import { openSession, type Session } from '../server/session';
import { UsageError } from '../../cli-common/errors';
import type { RenderFlags } from '../setup/render-options';
import { filesOf, findRenderByFiles, namesFiles } from '../setup/find-render';
import { describeEnding, settle } from '../report/ending';
import type { HintTarget } from '../report/hints';

export interface CommandServerOptions extends Partial<ServerOptions> {
  workDir?: string;
}

/** A render named by its id, or by the same flags start-render was given (which derive the id). */
export type RenderRefOptions = CommandServerOptions & RenderFlags;

export type RenderHandle = WorkflowHandle<typeof renderVideo>;

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
export async function existingRender(client: Client, id: string): Promise<{ handle: RenderHandle; status: string }> {
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
export function hintTarget(opts: CommandServerOptions): HintTarget {
  return { address: opts.address, namespace: opts.namespace, workDir: opts.workDir };
}

/**
 * Runs `fn` with a session on the server (server/session.ts): a cluster, the running start-render's
 * server, or the work directory's database opened here for the length of the command.
 */
export async function withClient<T>(opts: CommandServerOptions, fn: (client: Client, session: Session) => Promise<T>): Promise<T> {
  const session = await openSession(opts, true);
  try {
    return await fn(session.client, session);
  } finally {
    await session.close();
  }
}

/** A render nobody serves cannot be steered: its start-render has exited. */
export function mustBeServed(session: Session, renderId: string, verb: string): void {
  if (session.served) return;
  throw new UsageError(
    `cannot ${verb}: render ${renderId} is not running now (no start-render is serving it in ${session.workDir}); ` +
      `run its start-render command again to resume it, then ${verb}`,
  );
}

/** A running render, or a usage error saying how it ended. */
export async function runningRender(client: Client, renderId: string, verb: string) {
  const found = await existingRender(client, renderId);
  if (found.status !== 'RUNNING') {
    const ending = await settle(found.handle.result());
    throw new UsageError(`cannot ${verb}: ${describeEnding(renderId, ending)}`);
  }
  return found.handle;
}

/** A render named by `id`/`opts` that is running and served, with its progress: what every steering command starts from. */
export async function withServedRender<T>(
  id: string | undefined,
  opts: RenderRefOptions,
  verb: string,
  fn: (renderId: string, handle: RenderHandle, progress: RenderProgress) => Promise<T>,
): Promise<T> {
  checkRenderRef(id, opts);
  return withClient(opts, async (client, session) => {
    const renderId = await resolveRenderId(client, id, opts);
    const handle = await runningRender(client, renderId, verb);
    mustBeServed(session, renderId, verb);
    return fn(renderId, handle, await handle.query(progressQuery));
  });
}

/** Pause, resume and cancel make no sense once every frame is rendered. */
export function checkStillSteerable(verb: string, renderId: string, p: RenderProgress): void {
  if (p.phase === 'assembling' || p.phase === 'done') {
    throw new UsageError(`cannot ${verb}: render ${renderId} has rendered every frame and is ${p.phase === 'done' ? 'finishing' : 'assembling the video'}`);
  }
}

/** "; 2 frame(s) in flight (4, 5) finish first", or nothing. */
export function inFlightNote(p: RenderProgress): string {
  return p.inFlight.length ? `; ${p.inFlight.length} frame(s) in flight (${p.inFlight.join(', ')}) finish first` : '';
}

/** `retry-failed` and `skip-failed`: the choice a render waiting in needs-attention asks for. */
export async function answerNeedsAttention(id: string | undefined, signal: 'retryFailed' | 'skipFailed', opts: RenderRefOptions, io: Io): Promise<void> {
  const verb = signal === 'retryFailed' ? 'retry failed frames' : 'skip failed frames';
  await withServedRender(id, opts, verb, async (renderId, handle, progress) => {
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

