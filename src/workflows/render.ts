import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { createMediaActivities } from '../activities/media';
import type { createStyleActivities } from '../activities/style';
import {
  FAILURE_TYPES,
  MAX_NOTABLE_FRAMES,
  RENDER_CANCELLED,
  TASK_QUEUES,
  cancelRenderSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
  retryFailedSignal,
  setEpochsSignal,
  skipFailedSignal,
  updateEpochs,
  type FailedFrame,
  type FrameNote,
  type FrameRecord,
  type FrameStats,
  type RenderMemoState,
  type RenderProgress,
  type RenderRequest,
  type RenderResult,
  type SplitResult,
} from './contract';
import { epochsError } from './validation';

type MediaActivities = ReturnType<typeof createMediaActivities>;
type StyleActivities = ReturnType<typeof createStyleActivities>;

/** What one run hands to the next when it continues as new. */
export interface RenderState {
  split: SplitResult;
  settings: RenderRequest['settings'];
  /** Next frame (1-based) never started yet. */
  nextFrame: number;
  /** Failed frames the user asked to retry, waiting for a slot. */
  retryQueue: number[];
  done: number;
  reused: number;
  computed: number;
  computeSeconds: number;
  backends: string[];
  failed: FailedFrame[];
  runs: number;
  /** When the first run started (workflow time, ms since the epoch). */
  startedAt: number;
  paused: boolean;
  /** Workflow time (ms) during which at least one frame was in flight; drives the ETA. */
  busyMs: number;
  stats: Omit<FrameStats, 'computed' | 'reused' | 'busySeconds'>;
  notable: FrameNote[];
  notableOmitted: number;
}

const media = proxyActivities<MediaActivities>({
  taskQueue: TASK_QUEUES.media,
  startToCloseTimeout: '12h',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: [FAILURE_TYPES.mediaInput] },
});

/** The style activity raises these as non-retryable failures; listed so the policy says so too. */
const NON_RETRYABLE_FRAME_ERRORS = [FAILURE_TYPES.mediaInput, FAILURE_TYPES.invalidSettings];

const emptyStats = (): RenderState['stats'] => ({
  retried: 0,
  resumed: 0,
  degraded: 0,
  failures: 0,
  minSeconds: null,
  maxSeconds: null,
});

/**
 * Renders one video: split it, stylize every frame through a bounded window of activities, and
 * assemble the result. Deterministic orchestration only; all I/O lives in the activities.
 *
 * Steering: `setEpochs` / `updateEpochs` change the settings frames not yet started get; `pause`
 * and `resume` gate new frames; `cancelRender` (or a Temporal cancellation request) stops new
 * frames, lets the ones in flight finish and ends the workflow with a `RenderCancelled` failure
 * whose details hold the final progress.
 */
export async function renderVideo(request: RenderRequest, carried?: RenderState): Promise<RenderResult> {
  // A Temporal cancellation request is handled like the cancelRender signal: the body runs in a
  // non-cancellable scope so frames in flight are not interrupted, and it notices the request here.
  let cancelRequested = false;
  CancellationScope.current().cancelRequested.catch(() => {
    cancelRequested = true;
  });
  return CancellationScope.nonCancellable(() => render(request, carried, () => cancelRequested, () => (cancelRequested = true)));
}

async function render(
  request: RenderRequest,
  carried: RenderState | undefined,
  cancelled: () => boolean,
  requestCancel: () => void,
): Promise<RenderResult> {
  const { limits } = request;
  let phase: RenderProgress['phase'] = carried ? 'styling' : 'splitting';
  let state: RenderState | undefined = carried && { ...carried, runs: carried.runs + 1 };
  let settings = carried?.settings ?? request.settings;
  let paused = state?.paused ?? false;
  const inFlight = new Set<number>();
  let decision: 'retry' | 'skip' | undefined;
  let memoState: RenderMemoState = paused ? 'paused' : 'running';
  let lastTick = Date.now();

  const setMemoState = (next: RenderMemoState) => {
    if (next === memoState) return;
    memoState = next;
    upsertMemo({ state: next });
  };
  const canStillChange = () => phase === 'splitting' || phase === 'styling' || phase === 'needs-attention';

  /** Accounts busy time (at least one frame in flight) up to now; call before inFlight changes. */
  const tick = () => {
    const now = Date.now();
    if (state && inFlight.size > 0) state.busyMs += now - lastTick;
    lastTick = now;
  };

  const progress = (): RenderProgress => {
    const total = state?.split.frameCount ?? 0;
    const done = state?.done ?? 0;
    const computed = state?.computed ?? 0;
    const busySeconds = (state?.busyMs ?? 0) / 1000;
    const left = total - done - (state?.failed.length ?? 0);
    return {
      renderId: request.renderId,
      renderDir: request.renderDir,
      phase,
      paused,
      cancelling: cancelled() && phase !== 'cancelled' && canStillChange(),
      total,
      done,
      reused: state?.reused ?? 0,
      failed: state?.failed ?? [],
      inFlight: [...inFlight].sort((a, b) => a - b),
      settings,
      backends: state?.backends ?? [],
      meanSecondsPerFrame: state && state.computed > 0 ? state.computeSeconds / state.computed : null,
      etaSeconds: !state ? null : left <= 0 ? 0 : computed > 0 ? (left * busySeconds) / computed : null,
      stats: { ...(state?.stats ?? emptyStats()), computed, reused: state?.reused ?? 0, busySeconds },
      notable: state?.notable ?? [],
      notableOmitted: state?.notableOmitted ?? 0,
      runs: state?.runs ?? 1,
    };
  };
  const changeEpochs = (epochs: number) => {
    settings = { ...settings, epochs };
    if (state) state.settings = settings;
    return settings;
  };
  setHandler(progressQuery, progress);
  setHandler(setEpochsSignal, (epochs) => {
    // A signal cannot answer; invalid values are dropped so they never reach a frame.
    if (epochsError(epochs) === undefined) changeEpochs(epochs);
  });
  setHandler(updateEpochs, changeEpochs, {
    validator: (epochs) => {
      const error = epochsError(epochs);
      if (error) throw new Error(error);
      if (!canStillChange()) throw new Error(`the render is ${phase}; every frame has already started`);
    },
  });
  setHandler(retryFailedSignal, () => void (decision = 'retry'));
  setHandler(skipFailedSignal, () => void (decision = 'skip'));
  setHandler(pauseSignal, () => {
    if (!canStillChange()) return;
    paused = true;
    if (phase !== 'needs-attention') setMemoState('paused');
  });
  setHandler(resumeSignal, () => {
    paused = false;
    if (phase !== 'needs-attention' && canStillChange()) setMemoState('running');
  });
  // Once the video is being assembled every frame is done: a cancel would only throw the result away.
  setHandler(cancelRenderSignal, () => void (canStillChange() && requestCancel()));

  const endCancelled = async (): Promise<never> => {
    phase = 'cancelled';
    setMemoState('cancelled');
    await condition(allHandlersFinished);
    const p = progress();
    throw ApplicationFailure.create({
      type: RENDER_CANCELLED,
      nonRetryable: true,
      message:
        `render cancelled on request after ${p.done} of ${p.total} frames; the finished frames are kept in ` +
        `${request.renderDir} and running the same start-render command again resumes from them`,
      details: [p],
    });
  };

  if (!state) {
    const split = await media.splitVideo.executeWithOptions({ summary: 'split the video into frames' }, [
      { input: request.input, renderDir: request.renderDir, size: settings.size },
    ]);
    state = {
      split,
      settings,
      nextFrame: 1,
      retryQueue: [],
      done: 0,
      reused: 0,
      computed: 0,
      computeSeconds: 0,
      backends: [],
      failed: [],
      runs: 1,
      startedAt: Date.now(),
      paused,
      busyMs: 0,
      stats: emptyStats(),
      notable: [],
      notableOmitted: 0,
    };
  }
  const s = state;
  phase = 'styling';
  if (cancelled()) return endCancelled();

  const style = proxyActivities<StyleActivities>({
    taskQueue: TASK_QUEUES.style,
    // Whole frames at 512 px take minutes on a CPU; the heartbeat timeout is what notices a dead worker.
    startToCloseTimeout: '24h',
    heartbeatTimeout: `${limits.heartbeatTimeoutSeconds}s`,
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '2m',
      maximumAttempts: limits.frameAttempts,
      nonRetryableErrorTypes: NON_RETRYABLE_FRAME_ERRORS,
    },
  });

  const takeNote = (frame: number) => {
    const i = s.notable.findIndex((n) => n.frame === frame);
    return i < 0 ? undefined : s.notable.splice(i, 1)[0];
  };
  const note = (n: FrameNote) => {
    s.notable.push(n);
    if (s.notable.length > MAX_NOTABLE_FRAMES) {
      s.notable.shift();
      s.notableOmitted++;
    }
  };

  const record = (r: FrameRecord) => {
    s.done++;
    if (r.reused) s.reused++;
    else {
      s.computed++;
      s.computeSeconds += r.seconds;
      s.stats.minSeconds = Math.min(s.stats.minSeconds ?? r.seconds, r.seconds);
      s.stats.maxSeconds = Math.max(s.stats.maxSeconds ?? r.seconds, r.seconds);
    }
    if (!s.backends.includes(r.backend)) {
      s.backends.push(r.backend);
      // Shown by `list` and the Web UI; workers on a cluster are only known once they report.
      upsertMemo({ backend: s.backends.join(', ') });
    }
    const { degraded } = r;
    if (r.attempt > 1) s.stats.retried++;
    if (r.resumedFromStep > 0) s.stats.resumed++;
    if (degraded) s.stats.degraded++;
    const failures = takeNote(r.frame)?.failures ?? 0;
    if (r.attempt > 1 || r.resumedFromStep > 0 || degraded || failures > 0) {
      note({ frame: r.frame, attempt: r.attempt, resumedFromStep: r.resumedFromStep, degraded, seconds: r.seconds, steps: r.steps, failures });
    }
  };

  const recordFailure = (frame: number, err: unknown) => {
    const error = describeFailure(err);
    s.failed.push({ frame, error });
    s.stats.failures++;
    const failures = (takeNote(frame)?.failures ?? 0) + 1;
    const attempt = err instanceof ActivityFailure && err.retryState === 'MAXIMUM_ATTEMPTS_REACHED' ? limits.frameAttempts : null;
    note({ frame, attempt, resumedFromStep: 0, degraded: false, seconds: 0, steps: 0, failures, error });
  };

  const runFrame = async (frame: number) => {
    tick();
    inFlight.add(frame);
    try {
      const result = await style.stylizeFrame.executeWithOptions(
        { summary: `frame ${frame} of ${s.split.frameCount}` },
        [
          {
            renderDir: request.renderDir,
            style: request.style,
            frame,
            frameCount: s.split.frameCount,
            settings,
            checkpointEvery: limits.checkpointEvery,
            degradeAfterOoms: limits.degradeAfterOoms,
          },
        ],
      );
      record(result);
    } catch (err) {
      recordFailure(frame, err);
    } finally {
      tick();
      inFlight.delete(frame);
    }
  };

  let startedThisRun = 0;
  const nextToStart = () => s.retryQueue.shift() ?? (s.nextFrame <= s.split.frameCount ? s.nextFrame++ : undefined);
  const hasWork = () => s.retryQueue.length > 0 || s.nextFrame <= s.split.frameCount;

  for (;;) {
    while (hasWork()) {
      await condition(() => cancelled() || (!paused && inFlight.size < limits.window));
      if (cancelled()) break;
      if (startedThisRun >= limits.framesPerRun || workflowInfo().continueAsNewSuggested) {
        await condition(() => inFlight.size === 0 && allHandlersFinished());
        if (cancelled()) break;
        await continueAsNew<typeof renderVideo>(request, { ...s, settings, paused });
      }
      void runFrame(nextToStart()!);
      startedThisRun++;
    }
    await condition(() => inFlight.size === 0);
    if (cancelled()) return endCancelled();
    if (s.failed.length === 0) break;

    phase = 'needs-attention';
    setMemoState('needs-attention');
    decision = undefined;
    await condition(() => decision !== undefined || cancelled());
    if (cancelled()) return endCancelled();
    setMemoState(paused ? 'paused' : 'running');
    if (decision === 'skip') break;
    s.retryQueue.push(...s.failed.map((f) => f.frame));
    s.failed = [];
    phase = 'styling';
  }

  phase = 'assembling';
  const skippedFailed = s.failed.map((f) => f.frame).sort((a, b) => a - b);
  await media.assembleVideo.executeWithOptions({ summary: 'encode the stylized frames and mux the audio' }, [
    {
      renderDir: request.renderDir,
      input: request.input,
      output: request.output,
      split: s.split,
      unstyledFrames: skippedFailed,
    },
  ]);
  phase = 'done';
  await condition(allHandlersFinished);
  return {
    ...progress(),
    output: request.output,
    frameRate: s.split.frameRate,
    hasAudio: s.split.hasAudio,
    skippedFailed,
    elapsedSeconds: (Date.now() - s.startedAt) / 1000,
  };
}

function describeFailure(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return describeFailure(err.cause);
  if (err instanceof ApplicationFailure) return `${err.type ?? 'Error'}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
