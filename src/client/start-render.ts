import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import { dirname, join, resolve } from 'node:path';
import { createStyleRuntime, type StyleRuntime } from '../worker/engine';
import { createWorkers, runWorkers } from '../worker/workers';
import { logToFile } from '../worker/runtime';
import type { StreamReport } from '../media/types';
import { failedFramesOf, formatRanges, skippedFramesOf } from '../workflows/frame-set';
import { TASK_QUEUES, type RenderRequest, type RenderResult } from '../workflows/contract';
import type { renderVideo } from '../workflows/render';
import { defaultLocalWorkers, spawnLocalStyleWorkers, type LocalWorkers } from './local-workers';
import { embeddedIdentity } from '../cli-common/identity';
import { failAttemptsOfDeadWorkers } from './orphans';
import { wholeFlag } from '../cli-common/flags';
import { DEFAULT_NAMESPACE, connectClient, type ServerOptions } from '../cli-common/connection';
import { startEmbeddedServer, type EmbeddedServer } from './embedded-server';
import { formatDuration, formatProgressLine, readSnapshot } from './progress';
import { buildRenderRequest, defaultWorkDir, type RenderFlags } from './render-options';
import type { Io } from '../cli-common/io';
import { settle, type Ending } from './ending';
import { describeNeedsAttention } from './attention';
import { shareStylizedFrames } from './shared-frames';
import type { HintTarget } from './hints';

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
}

export interface StartRenderOutcome {
  request: RenderRequest;
  result?: RenderResult;
  /** True when the workers stopped (Ctrl-C) before the render finished. */
  interrupted?: boolean;
  /** How the render ended when it did not produce its video (cancelled, failed). */
  ending?: Exclude<Ending, { state: 'done' }>;
}

/** Follows a render to its end; a cancelled or failed render becomes an `ending` instead of an exception. */
async function followToEnd(handle: WorkflowHandle<typeof renderVideo>, io: Io, refreshSeconds: number | undefined, where: HintTarget) {
  const ending = await settle(followRender(handle, io, refreshSeconds, where));
  return ending.state === 'done' ? { result: ending.result } : { ending };
}

/** Starts the render's workflow, or attaches to it when the same render already exists. */
export async function startOrAttach(client: Client, request: RenderRequest, memo: Record<string, unknown>) {
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
): Promise<RenderResult> {
  let finished = false;
  const result = handle.result().finally(() => (finished = true));
  let lastPrinted = '';
  let attentionShown = '';
  while (!finished) {
    try {
      const snap = await readSnapshot(handle);
      const p = snap.progress;
      // Keyed by the failures so far: a retry that fails again is announced again.
      const attention = p.phase === 'needs-attention' ? `${formatRanges(failedFramesOf(p))}/${p.stats?.failures}` : '';
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
  const skipped = skippedFramesOf(r);
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
export async function startRender(opts: StartRenderOptions, io: Io): Promise<StartRenderOutcome> {
  const request = await buildRenderRequest(opts);
  // Shown by `list` and the Web UI; `startedAt` outlives the runs a long render continues as new into.
  const memo = { input: request.input, style: request.style, output: request.output, startedAt: new Date().toISOString() };
  if (opts.address) {
    const client = await connectClient({ address: opts.address, namespace: opts.namespace ?? DEFAULT_NAMESPACE, ...opts });
    const handle = await startOrAttach(client, request, memo);
    io.out(`render ${request.renderId} on ${opts.address} (workers run separately: npm run worker)`);
    if (opts.detach) return { request };
    return { request, ...(await followToEnd(handle, io, opts.refreshSeconds, { address: opts.address, namespace: opts.namespace })) };
  }

  const copy = request.settings.engine === 'copy';
  const workDir = opts.workDir ? resolve(opts.workDir) : defaultWorkDir();
  // Load the engine before anything else: bad weights must fail before a server or workflow exists.
  // The copy engine needs none: frames pass through, so one worker process is plenty.
  const style: StyleRuntime | undefined = copy
    ? undefined
    : await createStyleRuntime({ weights: opts.weights, backend: opts.backend, cacheDir: opts.cacheDir, log: io.out });
  if (copy) io.out('engine: copy — frames pass through NOT stylized (to check splitting, timing and audio, or measure orchestration)');
  let localCount: number;
  try {
    localCount = style ? wholeFlag(opts.localWorkers, '--local-workers', defaultLocalWorkers(style.engine.backend.name)) : 1;
  } catch (err) {
    style?.engine.dispose();
    throw err;
  }
  // The workers write only inside the work directory and the directory of the output this user chose.
  const paths = { workRoot: workDir, outputRoots: [dirname(request.output)] };
  let server: EmbeddedServer | undefined;
  let connection: NativeConnection | undefined;
  let helpers: LocalWorkers | undefined;
  try {
    // The worker log: failed attempts' stacks and the SDK's retries while stopping stay off the screen.
    logToFile(workerLogPath(workDir), io.err);
    server = await startEmbeddedServer(workDir);
    connection = server.env.nativeConnection;
    if (style && localCount > 1) {
      // Started first: they load the engine while this process bundles the workflow.
      helpers = spawnLocalStyleWorkers({
        count: localCount - 1,
        address: server.address,
        weights: style.engine.weightsPath,
        backend: style.engine.backend.name,
        workRoot: workDir,
      });
      // Keep every local worker busy: one frame each, plus one waiting.
      request.limits.window = Math.max(request.limits.window, localCount + 1);
    }
    const workers = await createWorkers({
      connection,
      queues: ['media', 'style'],
      style,
      engine: copy ? 'copy' : 'vgg19',
      paths,
      // Copying a frame takes milliseconds: let the whole window run at once.
      ...(copy ? { styleConcurrency: request.limits.window } : {}),
      identity: embeddedIdentity(),
    });
    const workersStopped = runWorkers(workers);
    if (helpers) {
      // Starting the render once all are polling shares the frames from the first one.
      await helpers.ready;
      io.out(`${localCount} style workers on this machine (${style!.engine.backend.name} computes on one core each)`);
    }
    const handle = await startOrAttach(server.env.client, request, { ...memo, backend: style ? style.engine.backend.name : 'copy (not stylized)' });
    const handedOver = await failAttemptsOfDeadWorkers(server.env.client, handle);
    if (handedOver.length) io.out(`resuming ${handedOver.length} frame(s) the previous run was computing, from their checkpoints`);
    io.out(`render ${request.renderId} · Temporal UI ${server.uiUrl}/namespaces/default/workflows/${request.renderId}`);
    const stopped = workersStopped.then(() => 'stopped' as const);
    const outcome = await Promise.race([followToEnd(handle, io, opts.refreshSeconds, { workDir }), stopped]);
    if (outcome === 'stopped') return { request, interrupted: true };
    for (const w of workers) w.shutdown();
    await workersStopped;
    return { request, ...outcome };
  } finally {
    await helpers?.stop();
    await server?.stop();
    style?.engine.dispose();
  }
}
