import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { Command } from 'commander';
import { basename, dirname, join, resolve } from 'node:path';
import { createStyleRuntime, type StyleRuntime } from '../../worker/engine';
import { createWorkers, runWorkers } from '../../worker/workers';
import { logToFile } from '../../worker/runtime';
import type { StreamReport } from '../../media/types';
import { formatRanges } from '../../workflows/frame-set';
import { TASK_QUEUES, workersSignal, type RenderRequest, type RenderResult } from '../../workflows/contract';
import type { StyleSettings } from '../../engine/settings';
import { describeIdle, idleQueues, queuesOf } from '../server/pollers';
import { whileServerAway } from '../server/reconnect';
import type { renderVideo } from '../../workflows/render';
import { defaultLocalWorkers, spawnLocalStyleWorkers, type LocalWorkers } from '../server/local-workers';
import { embeddedIdentity } from '../../cli-common/identity';
import { failAttemptsOfDeadWorkers } from '../server/orphans';
import { wholeFlag } from '../../cli-common/flags';
import { DEFAULT_NAMESPACE, connectClient, type ServerOptions } from '../../cli-common/connection';
import { WorkDirBusyError, readServerFile, startEmbeddedServer, type EmbeddedServer } from '../server/embedded-server';
import { currentHolder, waitOnHolder, type ServerHolder } from '../server/server-lock';
import { UsageError } from '../../cli-common/errors';
import { formatDuration, formatProgressLine, readSnapshot } from '../report/progress';
import { buildRenderRequest, defaultWorkDir, type RenderFlags } from '../setup/render-options';
import type { Io } from '../../cli-common/io';
import { describeEnding, settle, type Ending } from '../report/ending';
import { describeNeedsAttention } from '../report/attention';
import { shareStylizedFrames } from '../setup/shared-frames';
import { commandHint, type HintTarget } from '../report/hints';
import { checkOutputFree, describeRestored, outputVerdict, recordOutput, refuseReplaced, startAgain, type Restored } from '../setup/own-output';
import { EXIT } from '../exit-codes';
import { engineOptions, renderOptions, serverOptions } from './options';
import { startWatchServer, type WatchServer } from '../watch/server';

export interface StartRenderOptions extends RenderFlags, Partial<ServerOptions> {
  weights?: string;
  backend?: string;
  cacheDir?: string;
  /** Return once the workflow is started instead of following it to the end. */
  detach?: boolean;
  /** Seconds between progress refreshes. */
  refreshSeconds?: number;
  /** Style worker processes in embedded mode, this one included (default: one per core on wasm/cpu). */
  localWorkers?: string;
  /** Replace a file at --output that is not this render's video. */
  overwrite?: boolean;
}

export interface StartRenderOutcome {
  request: RenderRequest;
  result?: RenderResult;
  /** True when the workers stopped (Ctrl-C) before the render finished. */
  interrupted?: boolean;
  /** How the render ended when it did not produce its video (cancelled, failed). */
  ending?: Exclude<Ending, { state: 'done' }>;
  /** Set when the render had finished but its video was missing or replaced, and was made again. */
  restored?: Restored;
}

/** Follows a render to its end; a cancelled or failed render becomes an `ending` instead of an exception. */
async function followToEnd(handle: WorkflowHandle<typeof renderVideo>, io: Io, refreshSeconds: number | undefined, where: HintTarget, workers?: WorkerWatch) {
  const ending = await settle(followRender(handle, io, refreshSeconds, where, workers), { handle, where });
  return ending.state === 'done' ? { result: ending.result } : { ending };
}

/**
 * Follows the render to its end and makes sure its video is at --output: a finished render whose
 * file is missing (or, with --overwrite, replaced) is made again from its kept frames.
 */
async function finish(
  client: Client,
  handle: WorkflowHandle<typeof renderVideo>,
  request: RenderRequest,
  memo: Record<string, unknown>,
  workDir: string,
  opts: StartRenderOptions,
  io: Io,
): Promise<Omit<StartRenderOutcome, 'request'>> {
  // The flags a follow-up command (retry-failed, skip-failed…) needs to find this same server.
  const where: HintTarget = opts.address ? { address: opts.address, namespace: opts.namespace } : { workDir };
  // On a cluster the workers are someone else's: say when none serves a queue this render needs.
  const workers = opts.address
    ? { client, namespace: opts.namespace ?? DEFAULT_NAMESPACE, settings: request.settings, workDir: opts.workDir ? workDir : undefined }
    : undefined;
  const first = await followToEnd(handle, io, opts.refreshSeconds, where, workers);
  if (!first.result) return first;
  const verdict = await outputVerdict(first.result);
  if (verdict === 'own') {
    await recordOutput(workDir, handle.workflowId, first.result);
    return first;
  }
  if (verdict === 'replaced' && !opts.overwrite) refuseReplaced(first.result);
  io.out(`render ${handle.workflowId} had finished, but ${first.result.output} ${verdict === 'missing' ? 'is missing' : 'is another file now'}: making it again from the kept frames`);
  const again = await followToEnd(await startAgain(client, handle, request, first.result, memo), io, opts.refreshSeconds, where, workers);
  if (!again.result) return again;
  await recordOutput(workDir, handle.workflowId, again.result);
  return { result: again.result, restored: { verdict, result: again.result } };
}

async function sameRender(holder: ServerHolder, request: RenderRequest): Promise<boolean> {
  return holder.role === 'render' && holder.renderId !== undefined && holder.renderId === request.renderId;
}

/**
 * The same render is already being rendered by another start-render of this work directory: follow
 * it on that process's server (its workers do the work) and report the same ending. If that process
 * stops first, this one says so; running the command again then resumes the render.
 */
async function followHolder(
  busy: WorkDirBusyError,
  request: RenderRequest,
  memo: Record<string, unknown>,
  workDir: string,
  opts: StartRenderOptions,
  io: Io,
): Promise<Omit<StartRenderOutcome, 'request'>> {
  const { holder } = busy;
  let advert: Awaited<ReturnType<typeof readServerFile>>;
  // It may still be starting its server.
  await waitOnHolder(join(workDir, 'temporal'), holder, async () => Boolean((advert = await readServerFile(workDir))), 120_000);
  if (!advert || advert.pid !== holder.pid) return { interrupted: true };
  const client = await connectClient({ address: advert.address, namespace: DEFAULT_NAMESPACE });
  let interrupt: () => void = () => undefined;
  const interrupted = new Promise<'stopped'>((res) => (interrupt = () => res('stopped')));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  try {
    request.renderId = holder.renderId!;
    io.out(`render ${request.renderId} is already being rendered by another start-render (pid ${holder.pid}) in this work directory; following it here`);
    // Idempotent: the holder starts (or has started) this very workflow id.
    const handle = await startOrAttach(client, request, memo);
    const outcome = await Promise.race([finish(client, handle, request, memo, workDir, opts, io), interrupted]);
    return outcome === 'stopped' ? { interrupted: true } : outcome;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    // The holder (and its server) stopped under us: nothing is lost, the same command resumes it.
    return { interrupted: true };
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    await client.connection.close().catch(() => undefined);
  }
}

/** Starts the render's workflow, or attaches to it when the same render already exists. */
export async function startOrAttach(client: Client, request: RenderRequest, memo: Record<string, unknown>, watchUrl?: string) {
  // Frames another render of the same video, style and settings made are not made again.
  await shareStylizedFrames(request);
  try {
    return await client.workflow.start<typeof renderVideo>('renderVideo', {
      workflowId: request.renderId,
      taskQueue: TASK_QUEUES.media,
      args: [request],
      // A running render is joined; a finished one is reported rather than rendered again.
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      // A copy render says so wherever it is listed: its video is not stylized.
      memo: request.settings.engine === 'copy' ? { ...memo, engine: 'copy', stylized: false } : memo,
      staticSummary: `stylize ${request.input} → ${request.output}`,
      // The Web UI shows it as Markdown: one click from the history to the pictures (watch/server.ts).
      ...(watchUrl ? { staticDetails: `[Watch this render: frames, chunks, segments](${watchUrl})` } : {}),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return client.workflow.getHandle<typeof renderVideo>(request.renderId);
    throw err;
  }
}

/**
 * Follows a render to its end, drawing progress; resolves with the result. When the render enters
 * needs-attention it says so at once, with the failed frames, why, and the commands (with the flags
 * `where` names) that let it go on.
 */
export async function followRender(
  handle: WorkflowHandle<typeof renderVideo>,
  io: Io,
  refreshSeconds = 1,
  where: HintTarget = {},
  workers?: WorkerWatch,
): Promise<RenderResult> {
  let finished = false;
  // A cluster's server that is away for a while (restarted, upgraded) is waited for, not taken as the
  // render's end. A work directory's own server going away means its start-render stopped: said at once.
  const away = { server: `the Temporal server at ${where.address}`, say: (line: string) => io.out(line), followUp: commandHint('status', handle.workflowId, where) };
  const result = (where.address ? whileServerAway(() => handle.result(), () => handle.describe(), away) : handle.result()).finally(() => (finished = true));
  // Handled from now on: the render may fail while this loop awaits something else (the caller reads it).
  result.catch(() => undefined);
  let lastPrinted = '';
  let attentionShown = '';
  const watch = workers && watchWorkers(handle, workers, where, io, () => (lastPrinted = ''));
  while (!finished) {
    await watch?.check();
    try {
      const snap = await readSnapshot(handle);
      const p = snap.progress;
      // Keyed by the failures so far: a retry that fails again is announced again.
      const attention = p.phase === 'needs-attention' ? `${formatRanges(p.failedFrames)}/${p.stats?.failures}` : '';
      if (attention && attention !== attentionShown) {
        for (const line of describeNeedsAttention(handle.workflowId, p, where)) io.out(line);
        lastPrinted = '';
      }
      attentionShown = attention;
      const line = formatProgressLine(snap);
      if (line !== lastPrinted) io.status(line);
      lastPrinted = line;
    } catch {
      // No worker has answered the query yet (or the run is continuing as new): try again shortly.
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, refreshSeconds * 1000))]);
  }
  io.status('');
  return result;
}

/** What followRender needs to tell whether anyone serves the render: a cluster's client and the render's engine. */
export interface WorkerWatch {
  client: Client;
  namespace: string;
  settings: Pick<StyleSettings, 'engine'>;
  /** The work directory the workers must share, when not the default (their command then names it). */
  workDir?: string;
}

/** How often the task queues' pollers are looked at: well inside the 30 s in which a person is told. */
const WORKER_CHECK_MS = 5_000;

/**
 * Says (on screen, and through workersSignal in the Web UI's memo) when a queue the render needs has
 * no worker, with the command that serves it, and again once every queue is served.
 */
function watchWorkers(handle: WorkflowHandle<typeof renderVideo>, watch: WorkerWatch, where: HintTarget, io: Io, redraw: () => void) {
  let nextCheck = 0;
  let shown = '';
  return {
    async check(): Promise<void> {
      if (Date.now() < nextCheck) return;
      nextCheck = Date.now() + WORKER_CHECK_MS;
      let lines: string[];
      try {
        lines = describeIdle(await idleQueues(watch.client, watch.namespace, queuesOf(watch.settings)), { ...where, workDir: watch.workDir });
      } catch {
        return; // The server is unreachable for a moment: the next check says.
      }
      const text = lines.join('\n');
      if (text === shown) return;
      if (text) for (const line of lines) io.out(line);
      else io.out('every task queue of this render has a worker now');
      shown = text;
      redraw();
      await handle.signal(workersSignal, text).catch(() => undefined);
    },
  };
}

/** Each audio and subtitle stream of the input and what became of it, e.g. "audio #1 aac copied". */
export function describeStreams(streams: readonly StreamReport[]): string {
  if (streams.length === 0) return 'no audio or subtitles in the input';
  return streams
    .map((r) => {
      const what = `${r.type} #${r.index} ${r.codec}${r.language ? ` (${r.language})` : ''}`;
      if (r.action === 'copied') return `${what} copied`;
      if (r.action === 're-encoded') return `${what} re-encoded to ${r.to} (${r.reason})`;
      return `${what} dropped (${r.reason})`;
    })
    .join('; ');
}

export function describeResult(r: RenderResult, renderDir: string): string[] {
  const lines = [
    r.stylized === false ? `Wrote ${r.output} — NOT STYLIZED: --engine copy passed every frame through unchanged` : `Wrote ${r.output}`,
    `  ${r.total} frames at ${r.frameRate.num}/${r.frameRate.den} fps, ${r.streams ? describeStreams(r.streams) : r.hasAudio ? 'original audio kept' : 'no audio'}`,
    `  tfjs backend: ${r.backends.join(', ') || 'none (every frame was already rendered)'}`,
    `  time: ${formatDuration(r.elapsedSeconds)}` +
      (r.reused ? ` (${r.reused} frames reused from earlier work)` : '') +
      (r.meanSecondsPerFrame !== null ? `, ${r.meanSecondsPerFrame.toFixed(2)} s per computed frame` : ''),
    `  work files: ${renderDir}`,
  ];
  const skipped = r.skipped;
  if (skipped.count) lines.push(`  unstylized (failed, skipped): ${skipped.count} frame(s): ${formatRanges(skipped)}`);
  return lines;
}

/** Where an embedded start-render (and its helper workers) write the SDK's log. */
export function workerLogPath(workDir: string): string {
  return join(workDir, 'worker.log');
}

/**
 * `start-render`. Without a server address it runs everything here: a dev server persisted in the
 * work directory, a worker with the engine, and the workflow — so the same command resumes after a crash.
 */
/**
 * Loads the engine before anything else: bad weights must fail before a server or workflow exists.
 * The copy engine needs none: frames pass through, so one worker process is plenty.
 */
async function loadEngine(opts: StartRenderOptions, copy: boolean, io: Io): Promise<{ style?: StyleRuntime; localCount: number }> {
  if (copy) {
    io.out('engine: copy — frames pass through NOT stylized (to check splitting, timing and audio, or measure orchestration)');
    return { localCount: 1 };
  }
  const style = await createStyleRuntime({ weights: opts.weights, backend: opts.backend, cacheDir: opts.cacheDir, log: io.out });
  try {
    return { style, localCount: wholeFlag(opts.localWorkers, '--local-workers', defaultLocalWorkers(style.engine.backend.name)) };
  } catch (err) {
    style.engine.dispose();
    throw err;
  }
}

/** The helper style-worker processes on this machine, started first: they load the engine while this process bundles the workflow. */
function startHelpers(server: EmbeddedServer, style: StyleRuntime, localCount: number, request: RenderRequest, workDir: string): LocalWorkers {
  const helpers = spawnLocalStyleWorkers({
    count: localCount - 1,
    address: server.address,
    weights: style.engine.weightsPath,
    backend: style.engine.backend.name,
    workRoot: workDir,
  });
  // Keep every local worker busy: one frame each, plus one waiting.
  request.limits.window = Math.max(request.limits.window, localCount + 1);
  return helpers;
}

/** This process's media and style workers on the embedded server. */
function embeddedWorkers(connection: NativeConnection, style: StyleRuntime | undefined, request: RenderRequest, workDir: string) {
  const copy = request.settings.engine === 'copy';
  return createWorkers({
    connection,
    queues: ['media', 'style'],
    style,
    engine: copy ? 'copy' : 'vgg19',
    // The workers write only inside the work directory and the directory of the output this user chose.
    paths: { workRoot: workDir, outputRoots: [dirname(request.output)] },
    // Copying a frame takes milliseconds: let the whole window run at once.
    ...(copy ? { styleConcurrency: request.limits.window } : {}),
    identity: embeddedIdentity(),
  });
}

export async function startRender(opts: StartRenderOptions, io: Io): Promise<StartRenderOutcome> {
  const request = await buildRenderRequest(opts);
  const workDir = opts.workDir ? resolve(opts.workDir) : defaultWorkDir();
  // Before any work: a file at --output that is not this render's video is not overwritten unasked.
  await checkOutputFree(request, workDir, opts.overwrite);
  // Shown by `list` and the Web UI; `startedAt` outlives the runs a long render continues as new into.
  const memo = { input: request.input, style: request.style, output: request.output, startedAt: new Date().toISOString() };
  if (opts.address) {
    const client = await connectClient({ address: opts.address, namespace: opts.namespace ?? DEFAULT_NAMESPACE, ...opts });
    const handle = await startOrAttach(client, request, memo);
    io.out(`render ${request.renderId} on ${opts.address} (workers run separately: npm run worker)`);
    if (opts.detach) return { request };
    return { request, ...(await finish(client, handle, request, memo, workDir, opts, io)) };
  }

  // Another start-render of this work directory: the same render is followed, another one refused.
  const holder = await currentHolder(join(workDir, 'temporal'));
  // (status, list and the Web UI let go of the server when asked; see startEmbeddedServer.)
  if (holder?.role === 'render') {
    if (await sameRender(holder, request)) return { request, ...(await followHolder(new WorkDirBusyError(workDir, holder), request, memo, workDir, opts, io)) };
    throw new WorkDirBusyError(workDir, holder);
  }

  const copy = request.settings.engine === 'copy';
  const { style, localCount } = await loadEngine(opts, copy, io);
  let server: EmbeddedServer | undefined;
  let helpers: LocalWorkers | undefined;
  let watch: WatchServer | undefined;
  try {
    // The worker log: failed attempts' stacks and the SDK's retries while stopping stay off the screen.
    logToFile(workerLogPath(workDir), io.err);
    try {
      const label = `${basename(request.input)} → ${basename(request.output)}`;
      server = await startEmbeddedServer(workDir, process.env, { owner: { role: 'render', renderId: request.renderId, label } });
    } catch (err) {
      // Started at the same moment as another start-render of this work directory, which won.
      if (err instanceof WorkDirBusyError && (await sameRender(err.holder, request))) {
        return { request, ...(await followHolder(err, request, memo, workDir, opts, io)) };
      }
      throw err;
    }
    if (style && localCount > 1) helpers = startHelpers(server, style, localCount, request, workDir);
    const workers = await embeddedWorkers(server.env.nativeConnection, style, request, workDir);
    const workersStopped = runWorkers(workers);
    if (helpers) {
      // Starting the render once all are polling shares the frames from the first one.
      await helpers.ready;
      io.out(`${localCount} style workers on this machine (${style!.engine.backend.name} computes on one core each)`);
    }
    const embedded = server;
    watch = await startWatchServer({ workDir, source: (read) => read({ client: embedded.env.client, served: true }), commands: { workDir } });
    const watchUrl = watch.pageUrl(request.renderId);
    const handle = await startOrAttach(server.env.client, request, { ...memo, backend: style ? style.engine.backend.name : 'copy (not stylized)' }, watchUrl);
    const handedOver = await failAttemptsOfDeadWorkers(server.env.client, handle);
    if (handedOver.length) io.out(`resuming ${handedOver.length} frame(s) the previous run was computing, from their checkpoints`);
    io.out(`render ${request.renderId} · Temporal UI ${server.uiUrl}/namespaces/default/workflows/${request.renderId}`);
    io.out(`watch it: ${watchUrl}`);
    const stopped = workersStopped.then(() => 'stopped' as const);
    const outcome = await Promise.race([finish(server.env.client, handle, request, memo, workDir, opts, io), stopped]);
    if (outcome === 'stopped') return { request, interrupted: true };
    for (const w of workers) w.shutdown();
    await workersStopped;
    return { request, ...outcome };
  } finally {
    await watch?.close();
    await helpers?.stop();
    await server?.stop();
    style?.engine.dispose();
  }
}

export function register(program: Command, io: Io): Command {
  return engineOptions(
    serverOptions(
      renderOptions(
        program
          .command('start-render')
          .description('stylize a video; without --address, runs server, worker and workflow here and resumes after a crash'),
        'start',
      )
        .option('--detach', 'with --address: start the render and return without following it')
        .option('-y, --overwrite', "replace a file at --output that is not this render's video (refused otherwise)")
        .option('--local-workers <n>', 'embedded mode: style worker processes on this machine (default: one per core on wasm/cpu, else 1)'),
    ),
  ).action(async (opts: StartRenderOptions) => {
    const outcome = await startRender(opts, io);
    if (outcome.ending) {
      io.err(describeEnding(outcome.request.renderId, outcome.ending));
      process.exitCode = EXIT.failed;
    } else if (outcome.interrupted) {
      io.err(`stopped; nothing is lost. Run the same command again to resume render ${outcome.request.renderId}.`);
      if (!opts.address) io.err(`(worker log: ${workerLogPath(opts.workDir ? resolve(opts.workDir) : defaultWorkDir())})`);
      process.exitCode = EXIT.interrupted;
    } else if (outcome.result) {
      if (outcome.restored) io.out(describeRestored(outcome.restored));
      for (const line of describeResult(outcome.result, outcome.result.renderDir || outcome.request.renderDir)) io.out(line);
    } else {
      io.out(`started render ${outcome.request.renderId}; follow it with: ${commandHint('status', outcome.request.renderId, opts)}`);
    }
  });
}
