/*
 * CHANGING THIS WORKFLOW: renders run for days, and every line here is replayed against the
 * histories of renders already in flight. A change that alters which commands the workflow issues,
 * or their order (a new activity, timer, memo upsert, a different window or split step), breaks
 * them unless it is guarded with `patched()` or shipped with worker versioning. `npm test` replays
 * recorded histories (test/replay/) and fails on such a change. Read docs/changing-the-workflow.md
 * before editing; re-record fixtures (npm run record-histories) only for new scenarios.
 */
import {
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import { styleQueueFor, type RenderProgress, type RenderRequest, type RenderResult } from './contract';
import { FrameLedger, type RenderState } from './ledger';
import { renderProgress } from './progress';
import { Steering, endCancelled } from './steering';
import { media, styleActivities } from './proxies';
import { renderInChunks } from './render-chunks';

export type { RenderState } from './ledger';

/**
 * Renders one video: split it, stylize every frame through a bounded window of activities, and
 * assemble the result. Deterministic orchestration only; all I/O lives in the activities, the
 * bookkeeping in FrameLedger (ledger.ts), what a person steers in Steering (steering.ts).
 *
 * Steering: `setEpochs` / `updateEpochs` change the settings frames not yet started get; `pause`
 * and `resume` gate new frames; `cancelRender` (or a Temporal cancellation request) stops new
 * frames, lets the ones in flight finish and ends the workflow with a `RenderCancelled` failure
 * whose details hold the final progress.
 */
export async function renderVideo(request: RenderRequest, carried?: RenderState): Promise<RenderResult> {
  const steering = new Steering(carried?.settings ?? request.settings, carried?.paused ?? false, carried ? 'styling' : 'splitting');
  // A Temporal cancellation request is handled like the cancelRender signal: the body runs in a
  // non-cancellable scope so frames in flight are not interrupted, and it notices the request here.
  CancellationScope.current().cancelRequested.catch(() => steering.requestCancel());
  // The request says how to render from the start; a run continued as new goes on the way it began.
  const chunked = carried ? carried.chunks !== undefined : request.chunks !== undefined;
  return CancellationScope.nonCancellable(() => (chunked ? renderInChunks : render)(request, carried, steering));
}

async function render(request: RenderRequest, carried: RenderState | undefined, steering: Steering): Promise<RenderResult> {
  const { limits } = request;
  let ledger = carried && FrameLedger.resume(carried, Date.now());
  const progress = (): RenderProgress => renderProgress(request, steering, ledger);
  steering.listen(progress);

  ledger ??= FrameLedger.start(await split(request, steering.settings), steering.settings, steering.paused, Date.now());
  const frames = ledger;
  steering.phase = 'styling';
  if (steering.cancelled) return endCancelled(request, steering, progress);

  // Frames of a copy render go to copy workers; every other render's, as before, to the style queue.
  const style = styleActivities(limits, styleQueueFor(steering.settings));
  const runFrame = async (frame: number) => {
    frames.started(frame, Date.now());
    try {
      const input = { renderDir: request.renderDir, style: request.style, ...(request.styles ? { styles: request.styles } : {}), frame, frameCount: frames.state.split.frameCount, settings: steering.settings };
      const result = await style.stylizeFrame.executeWithOptions({ summary: `frame ${frame} of ${input.frameCount}` }, [
        { ...input, checkpointEvery: limits.checkpointEvery, degradeAfterOoms: limits.degradeAfterOoms },
      ]);
      // Shown by `list` and the Web UI; workers on a cluster are only known once they report.
      if (frames.record(result)) upsertMemo({ backend: frames.state.backends.join(', ') });
    } catch (err) {
      frames.fail(frame, err, limits.frameAttempts);
    } finally {
      frames.ended(frame, Date.now());
    }
  };

  let startedThisRun = 0;
  for (;;) {
    while (frames.hasWork()) {
      // The window: few frames in flight, none started while paused, so new settings reach the rest.
      await condition(() => steering.cancelled || (!steering.paused && frames.inFlight.size < limits.window));
      if (steering.cancelled) break;
      if (startedThisRun >= limits.framesPerRun || workflowInfo().continueAsNewSuggested) {
        // Keeps each run's history small; only with nothing in flight, so no result is lost.
        await condition(() => frames.inFlight.size === 0 && allHandlersFinished());
        if (steering.cancelled) break;
        await continueAsNew<typeof renderVideo>(request, frames.carry(steering.settings, steering.paused));
      }
      void runFrame(frames.take()!);
      startedThisRun++;
    }
    await condition(() => frames.inFlight.size === 0);
    if (steering.cancelled) return endCancelled(request, steering, progress);
    if (frames.failedCount === 0) break;
    // Every other frame is done; the failed ones wait for a person: retry them, skip them, or cancel.
    const decision = await steering.needsAttention();
    if (decision === 'cancel') return endCancelled(request, steering, progress);
    if (decision === 'skip') break;
    frames.retryFailed();
  }

  steering.phase = 'assembling';
  const skipped = frames.skipped();
  const assembly = await media.assembleVideo.executeWithOptions({ summary: 'encode the stylized frames and mux the audio' }, [
    // Packed, so the input stays small however many frames were skipped.
    { renderDir: request.renderDir, input: request.input, output: request.output, split: frames.state.split, unstyledFrames: [], unstyled: skipped.frames },
  ]);
  steering.phase = 'done';
  await condition(allHandlersFinished);
  const { split: video, startedAt } = frames.state;
  return {
    ...progress(),
    output: request.output,
    frameRate: video.frameRate,
    hasAudio: video.hasAudio,
    skipped: skipped.view,
    streams: assembly?.streams,
    elapsedSeconds: (Date.now() - startedAt) / 1000,
    // Part of the result only (no command): lets a later start-render tell its video from a replacement.
    outputFingerprint: assembly?.output,
  };
}

function split(request: RenderRequest, settings: RenderRequest['settings']) {
  // The layers let the split refuse a --size whose frames VGG19 cannot take, before decoding anything.
  const layers = [...settings.contentLayers, ...settings.styleLayers];
  return media.splitVideo.executeWithOptions({ summary: 'split the video into frames' }, [
    { input: request.input, renderDir: request.renderDir, size: settings.size, layers },
  ]);
}
