import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { createMediaActivities } from '../activities/media';
import type { createStyleActivities } from '../activities/style';
import {
  TASK_QUEUES,
  progressQuery,
  retryFailedSignal,
  setEpochsSignal,
  skipFailedSignal,
  updateEpochs,
  type FailedFrame,
  type FrameRecord,
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
  resumed: { frame: number; fromStep: number }[];
  runs: number;
  /** When the first run started (workflow time, ms since the epoch). */
  startedAt: number;
}

const media = proxyActivities<MediaActivities>({
  taskQueue: TASK_QUEUES.media,
  startToCloseTimeout: '12h',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 3, nonRetryableErrorTypes: ['MediaInputError'] },
});

const NON_RETRYABLE_FRAME_ERRORS = ['MediaInputError', 'WeightsError', 'RangeError', 'InvalidSettingsError'];

/**
 * Renders one video: split it, stylize every frame through a bounded window of activities, and
 * assemble the result. Deterministic orchestration only; all I/O lives in the activities.
 */
export async function renderVideo(request: RenderRequest, carried?: RenderState): Promise<RenderResult> {
  const { limits } = request;
  let phase: RenderProgress['phase'] = carried ? 'styling' : 'splitting';
  let state: RenderState | undefined = carried && { ...carried, runs: carried.runs + 1 };
  let settings = carried?.settings ?? request.settings;
  const inFlight = new Set<number>();
  let decision: 'retry' | 'skip' | undefined;

  const progress = (): RenderProgress => ({
    renderId: request.renderId,
    phase,
    total: state?.split.frameCount ?? 0,
    done: state?.done ?? 0,
    reused: state?.reused ?? 0,
    failed: state?.failed ?? [],
    inFlight: [...inFlight].sort((a, b) => a - b),
    settings,
    backends: state?.backends ?? [],
    meanSecondsPerFrame: state && state.computed > 0 ? state.computeSeconds / state.computed : null,
    runs: state?.runs ?? 1,
    resumed: state?.resumed ?? [],
  });
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
    },
  });
  setHandler(retryFailedSignal, () => void (decision = 'retry'));
  setHandler(skipFailedSignal, () => void (decision = 'skip'));

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
      resumed: [],
      runs: 1,
      startedAt: Date.now(),
    };
  }
  const s = state;
  phase = 'styling';

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

  const record = (r: FrameRecord) => {
    s.done++;
    if (r.reused) s.reused++;
    else {
      s.computed++;
      s.computeSeconds += r.seconds;
    }
    if (!s.backends.includes(r.backend)) s.backends.push(r.backend);
    if (r.resumedFromStep > 0) s.resumed.push({ frame: r.frame, fromStep: r.resumedFromStep });
  };

  const runFrame = async (frame: number) => {
    inFlight.add(frame);
    try {
      const result = await style.stylizeFrame.executeWithOptions(
        { summary: `frame ${frame} of ${s.split.frameCount}` },
        [{ renderDir: request.renderDir, style: request.style, frame, frameCount: s.split.frameCount, settings }],
      );
      record(result);
    } catch (err) {
      s.failed.push({ frame, error: describeFailure(err) });
    } finally {
      inFlight.delete(frame);
    }
  };

  let startedThisRun = 0;
  const nextToStart = () => s.retryQueue.shift() ?? (s.nextFrame <= s.split.frameCount ? s.nextFrame++ : undefined);
  const hasWork = () => s.retryQueue.length > 0 || s.nextFrame <= s.split.frameCount;

  for (;;) {
    while (hasWork()) {
      await condition(() => inFlight.size < limits.window);
      if (startedThisRun >= limits.framesPerRun || workflowInfo().continueAsNewSuggested) {
        await condition(() => inFlight.size === 0 && allHandlersFinished());
        await continueAsNew<typeof renderVideo>(request, s);
      }
      void runFrame(nextToStart()!);
      startedThisRun++;
    }
    await condition(() => inFlight.size === 0);
    if (s.failed.length === 0) break;

    phase = 'needs-attention';
    decision = undefined;
    await condition(() => decision !== undefined);
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
