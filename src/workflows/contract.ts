/**
 * What the workflow, its activities and its clients agree on. Types and constants only (plus
 * signal/query definitions), so both the workflow sandbox and Node code can import it.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { EngineName, StyleSettings } from '../engine/settings';
import type { FrameRate, StreamReport } from '../media/types';
import type { OutputFingerprint } from '../common/output-fingerprint';
import type { FailedFramesView, FramesView, PackedFrames } from './frame-set';
import type { ChunkOptions, ChunkPhase } from './chunks';

export type { FailedFramesView, FailureGroup, FrameRange, FramesView, PackedFrames } from './frame-set';
/** Packed frame sets: activities read the sets the workflow hands them. */
export { FrameSet } from './frame-set';

export const TASK_QUEUES = Object.freeze({
  /** Workflow tasks and the media activities (index, extract, encode, join): CPU and disk. */
  media: 'starry-media',
  /** One stylize activity per frame: the accelerator. */
  style: 'starry-style',
});

/**
 * Stylize activities of renders with `engine: 'copy'`: served by workers started with `--engine
 * copy`, so a copy-only worker never takes a frame that needs the style transfer, and no frame of a
 * copy render is stylized by mistake.
 */
export const COPY_STYLE_QUEUE = 'starry-style-copy';

/** The task queue a render's frames go to. */
export function styleQueueFor(settings: Pick<StyleSettings, 'engine'>): string {
  return settings.engine === 'copy' ? COPY_STYLE_QUEUE : TASK_QUEUES.style;
}

export interface RenderLimits {
  /** Frame activities scheduled at once; small so that setting changes reach unstarted frames. */
  window: number;
  /** Frames started per workflow run before it continues as new, keeping each history far below Temporal's limits. */
  framesPerRun: number;
  /** Attempts per frame before it is recorded as failed. */
  frameAttempts: number;
  /** A worker that stops heartbeating for this long is presumed dead and its frame retried elsewhere. */
  heartbeatTimeoutSeconds: number;
  /** Steps between a frame's checkpoints; undefined means one epoch. */
  checkpointEvery?: number;
  /** Out-of-memory failures of a frame after which it is computed at reduced size. */
  degradeAfterOoms?: number;
}

export const DEFAULT_LIMITS: Readonly<RenderLimits> = Object.freeze({
  window: 4,
  framesPerRun: 1000,
  frameAttempts: 5,
  heartbeatTimeoutSeconds: 60,
  degradeAfterOoms: 2,
});

export interface RenderRequest {
  renderId: string;
  input: string;
  /** The style image; the first of `styles` when there are several. */
  style: string;
  /** Every style image, in --style order, when more than one is blended (absent for one). */
  styles?: string[];
  output: string;
  /** This render's own directory: frames, stylized frames, checkpoints. Shared storage when workers are remote. */
  renderDir: string;
  settings: StyleSettings;
  limits: RenderLimits;
  /** How the video is cut into chunks (extracted, stylized, encoded and deleted a few hundred frames at a time). */
  chunks: ChunkOptions;
}

export interface SplitResult {
  frameCount: number;
  frameRate: FrameRate;
  width: number;
  height: number;
  hasAudio: boolean;
  durationSeconds: number;
}

/** What the index pass of a chunked render finds. */
export interface IndexResult {
  split: SplitResult;
  /** Chunks (by number, index + 1) whose segments an earlier run of this render left complete. */
  reusedChunks: PackedFrames;
}

export interface ChunkRange {
  first: number;
  last: number;
  /** First frame the chunk extracts and renders: `first` less its lead-in (sequential mode only). */
  leadFirst: number;
}

/** The frames of chunk `index` (0-based); `overlap` is the lead-in, 0 when frames are independent. */
export function chunkRange(index: number, frameCount: number, { frames, overlap }: { frames: number; overlap: number }): ChunkRange {
  const first = index * frames + 1;
  const last = Math.min(frameCount, first + frames - 1);
  return { first, last, leadFirst: Math.max(1, first - overlap) };
}

/** The chunk (0-based) holding `frame` as one of its own frames: chunkRange's inverse. */
export function chunkIndexOf(frame: number, framesPerChunk: number): number {
  return Math.floor((frame - 1) / framesPerChunk);
}

/** Chunks of `framesPerChunk` frames (the last may be shorter) in a video of `frameCount` frames. */
export function chunkCount(frameCount: number, framesPerChunk: number): number {
  return Math.max(1, Math.ceil(frameCount / framesPerChunk));
}

export interface AssembleResult {
  /** What became of each audio and subtitle stream of the input: copied, re-encoded or dropped. */
  streams: StreamReport[];
  /** The video written at the output, so a later run can tell it from a file that replaced it (absent in older results). */
  output?: OutputFingerprint;
}

export interface StylizeFrameInput {
  renderDir: string;
  /** The style image; the first of `styles` when there are several. */
  style: string;
  /** Every style image to blend (settings.styleBlendWeights), when more than one; absent means `[style]`. */
  styles?: string[];
  frame: number;
  frameCount: number;
  settings: StyleSettings;
  /** Steps between checkpoints; default one epoch. */
  checkpointEvery?: number;
  /** Out-of-memory failures after which the frame is computed at reduced size and scaled back up. */
  degradeAfterOoms?: number;
  /** Chunked renders: the chunk (0-based) whose directory holds the frame's content image. */
  chunk?: number;
  /** A lead-in frame: rendered by `chunk` ahead of its first frame, kept apart to cross-fade with the previous chunk. */
  lead?: boolean;
  /** Sequential (`init: prev-warped`) renders: the frame whose stylized result this one starts from, warped by the flow (a lead-in frame's result when `lead`). */
  previous?: { frame: number; lead: boolean };
  /** A frame looked at on its own (`preview`), not the start of a chain: it runs no run-up (settings.runUp). */
  alone?: boolean;
}

/** Where a frame sits in its render: the chunk that holds it, and for the coherent mode what it starts from. */
export type FramePlace = Pick<StylizeFrameInput, 'frame' | 'chunk' | 'lead' | 'previous' | 'alone'>;

/** The stylize activity's input for one frame of a render: built here only, by the workflow and by `preview`. */
export function frameInputFor(
  request: Pick<RenderRequest, 'renderDir' | 'style' | 'styles' | 'limits'>,
  settings: StyleSettings,
  frameCount: number,
  { frame, ...place }: FramePlace,
): StylizeFrameInput {
  return {
    renderDir: request.renderDir,
    style: request.style,
    ...(request.styles ? { styles: request.styles } : {}),
    frame,
    frameCount,
    settings,
    checkpointEvery: request.limits.checkpointEvery,
    degradeAfterOoms: request.limits.degradeAfterOoms,
    ...place,
  };
}

/**
 * The stylize activity's heartbeat details: enough for a person (`status`) or a retried attempt to
 * see where the frame stands.
 */
export interface FrameHeartbeat {
  frame: number;
  step: number;
  totalSteps: number;
  loss: number;
  checkpointStep: number;
  checkpoint?: string;
  /** Long side the frame is computed at when degraded after running out of memory. */
  degradedSize?: number;
}

export const DEFAULT_DEGRADE_AFTER_OOMS = DEFAULT_LIMITS.degradeAfterOoms!;

export interface FrameRecord {
  frame: number;
  /** True when a finished frame for the same settings was already on disk. */
  reused: boolean;
  seconds: number;
  backend: string;
  loss: number;
  steps: number;
  resumedFromStep: number;
  attempt: number;
  /** True when the frame ran out of memory and was computed at reduced size, then scaled back up. */
  degraded: boolean;
}

/**
 * A per-frame record kept only for frames worth a look — finished on a retry, resumed from a
 * checkpoint, degraded, or failed — so the state stays small at 108,000 frames. Ordinary frames
 * count only in {@link FrameStats}.
 */
export interface FrameNote {
  frame: number;
  /**
   * The attempt that finished the frame (1 = first try); for a frame that failed, the attempts it
   * made when it ran out of them, or null when a non-retryable error ended it on an unknown attempt.
   */
  attempt: number | null;
  /** Step the finishing attempt resumed from (0 = started from the content frame). */
  resumedFromStep: number;
  degraded: boolean;
  /** Seconds the finishing attempt computed (0 for a failed frame). */
  seconds: number;
  /** Optimisation steps of the finished frame: epochs × steps per epoch of the settings it started with. */
  steps: number;
  /** Times this frame ran out of attempts (and was retried with retry-failed, when it has finished since). */
  failures: number;
}

/** Aggregates over every frame, notable or not. */
export interface FrameStats {
  computed: number;
  reused: number;
  /** Frames that finished on an attempt after the first. */
  retried: number;
  /** Frames whose finishing attempt resumed from a checkpoint. */
  resumed: number;
  degraded: number;
  /** Times a frame ran out of attempts (a frame retried with retry-failed can count more than once). */
  failures: number;
  minSeconds: number | null;
  maxSeconds: number | null;
  /** Workflow time during which at least one frame was in flight (paused time with nothing in flight is not counted). */
  busySeconds: number;
  /**
   * Optimisation steps of the computed frames (a coherent render's warm frames stop when done, so
   * fewer than their settings plan); absent until a frame is computed, and in earlier releases' states.
   */
  steps?: number;
}

/**
 * Most notable-frame records kept; older ones are dropped and counted in `notableOmitted`. About
 * 100 bytes each, so they stay a small part of the state and of every progress answer.
 */
export const MAX_NOTABLE_FRAMES = 200;

export type RenderPhase = 'splitting' | 'styling' | 'needs-attention' | 'assembling' | 'done' | 'cancelled';

export interface RenderProgress {
  renderId: string;
  /** This render's directory: frames, stylized frames (kept after a cancel), checkpoints. */
  renderDir: string;
  phase: RenderPhase;
  /** No new frame starts while paused; frames already in flight finish. */
  paused: boolean;
  /** A cancel was received: no new frame starts, the frames in flight finish, then the render ends cancelled. */
  cancelling: boolean;
  total: number;
  done: number;
  reused: number;
  /**
   * The frames that ran out of attempts: how many, their first runs, and their errors grouped (one
   * entry per distinct message, capped, with a count and sample frames). Bounded whatever fails.
   */
  failedFrames: FailedFramesView;
  inFlight: number[];
  settings: StyleSettings;
  /** What computes the frames (absent in results of earlier releases: vgg19). */
  engine?: EngineName;
  /** False when the frames are passed through unstylized (`--engine copy`): the output is NOT a stylized video. */
  stylized?: boolean;
  backends: string[];
  /** Mean seconds per computed (not reused) frame. */
  meanSecondsPerFrame: number | null;
  /**
   * Seconds left, from workflow time only: frames left × (busy seconds ÷ computed frames), where busy
   * seconds is the workflow time during which at least one frame was in flight. Parallel workers
   * shorten the busy time per frame, so they shorten the estimate; time paused with nothing in flight
   * does not count. Null until a frame has been computed; while paused, the time left once resumed.
   */
  etaSeconds: number | null;
  stats: FrameStats;
  /** Notable frames (see {@link FrameNote}), oldest first, at most {@link MAX_NOTABLE_FRAMES}. */
  notable: FrameNote[];
  /** Notable records dropped to respect the cap. */
  notableOmitted: number;
  /** Workflow runs so far (continue-as-new); each holds at most limits.framesPerRun frames. */
  runs: number;
  /** Where the chunks stand (absent until the index pass has listed the frames). */
  chunks?: ChunksView;
}

/** The render's chunks, as the progress shows them. */
export interface ChunksView {
  total: number;
  framesPerChunk: number;
  /** Frames in order, one at a time per chunk (`init: prev-warped`), or any order. */
  sequential: boolean;
  /** Chunks encoded into segments, in order from the first. */
  encoded: number;
  /** The chunks on disk now and what they are doing. */
  open: Array<{ index: number; first: number; last: number; phase: ChunkPhase }>;
  /** Frames that failed and that the user chose to skip: encoded from the content, unstylized. */
  skipped: FramesView;
  /** The render's segments so far, watchable while the rest renders (segment_0001.mp4 ...). */
  segmentsDir: string;
}

export interface RenderResult extends RenderProgress {
  output: string;
  frameRate: FrameRate;
  hasAudio: boolean;
  /** Frames assembled unstylized because the user chose to skip their failures. */
  skipped: FramesView;
  /** Each audio and subtitle stream of the input and what assembly did with it (absent in older results). */
  streams?: StreamReport[];
  /** Wall time from the first run's start to the end of assembly, across restarts. */
  elapsedSeconds: number;
  /** Size and head/tail hash of the video assembly wrote (absent in older results). */
  outputFingerprint?: OutputFingerprint;
}

export const progressQuery = defineQuery<RenderProgress>('progress');
export const retryFailedSignal = defineSignal('retryFailed');
export const skipFailedSignal = defineSignal('skipFailed');
export const updateEpochs = defineUpdate<StyleSettings, [number]>('updateEpochs');
export const setEpochsSignal = defineSignal<[number]>('setEpochs');
/** No new frame starts until `resume`; frames in flight finish. Repeating it is harmless. */
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
/**
 * Stop scheduling, let the frames in flight finish, keep every finished frame on disk, and end the
 * workflow with an ApplicationFailure of type {@link RENDER_CANCELLED} whose details[0] is the
 * final RenderProgress (phase 'cancelled'). Ignored once the render is assembling.
 */
export const cancelRenderSignal = defineSignal('cancelRender');
/**
 * From a client watching the render: which of its task queues no worker serves, and the command that
 * serves each ('' once all are served). The workflow only copies it into its memo (`workers`), so
 * the Web UI and `list` show it: the workflow cannot look at the queues itself (that is I/O).
 */
export const workersSignal = defineSignal<[string]>('workers');

/**
 * The `type` of every ApplicationFailure the workflow and its activities raise on purpose. Retry
 * policies, activities, the command line and tests name them from here, so a rename cannot leave
 * a policy matching a type nothing raises any more. The values are part of running histories:
 * changing one changes which failures an in-flight render retries.
 */
export const FAILURE_TYPES = Object.freeze({
  /** A file the user gave (or a frame extracted from it) is missing, unreadable or of the wrong kind; never retried. */
  mediaInput: 'MediaInputError',
  /** The settings cannot work for this video (e.g. frames too small for the VGG19 layers); never retried. */
  invalidSettings: 'InvalidSettingsError',
  /** The backend ran out of memory; retried with backoff, at reduced size after repeated failures. */
  outOfMemory: 'OutOfMemory',
  /** Assembly found a frame with no image (a failed frame that was not skipped); never retried. */
  missingFrame: 'MissingFrameError',
  /** The render was cancelled on request; details[0] is the final RenderProgress. */
  renderCancelled: 'RenderCancelled',
  /** An activity input names a path outside what the worker's operator allows (--work-root, --output-root); never retried. */
  pathNotAllowed: 'PathNotAllowed',
  /** The work directory's or the output's filesystem is full; retried (space may be freed), its message says how much is needed. */
  diskFull: 'DiskFull',
});

export const RENDER_CANCELLED = FAILURE_TYPES.renderCancelled;

/** The placeholders in a fix that stand for a command, not a setting (see FAILURE_FIXES). */
export const FIX_COMMANDS: readonly string[] = Object.freeze(['retry', 'again', 'worker']);

/**
 * What a person does about each failure: shown beside the type and message by start-render, status
 * and status --json. Keyed like FAILURE_TYPES, so a new type cannot ship without its fix. `{retry}`
 * (retry-failed for a frame waiting in needs-attention; start-render again for a render that
 * failed), `{again}` and `{worker}` stand for the exact commands (FIX_COMMANDS, with this render's
 * id and flags); any other `{key}` is a render setting or a worker's own setting, named by its flag
 * where the client shows it (the option table, the worker's flags).
 */
export const FAILURE_FIXES: Readonly<Record<keyof typeof FAILURE_TYPES, string>> = Object.freeze({
  mediaInput: 'give {input} a readable video (ffprobe must list a video stream); once the file is repaired: {retry}',
  invalidSettings: 'change the setting the message names (e.g. a larger {size}), then run start-render again with it',
  outOfMemory: 'frames ran out of memory even at reduced size: try a smaller {size}, fewer {styleConcurrency}, or a machine with more memory; then {retry}',
  missingFrame: 'a stylized frame was deleted before it was encoded: {again} (finished frames are reused, the missing one is rendered again)',
  renderCancelled: 'cancelled on request; the finished frames are kept: {again} to resume',
  pathNotAllowed:
    "the workers write only inside their roots: start them with {outputRoot} set to the output's directory (or {workDir}/{workRoot} for the work directory), or choose an {output} inside the roots the message lists; then {again}",
  diskFull:
    'free the space the message names on that disk (npm run clean deletes finished renders), or use a {workDir} on a larger disk, or fewer {frames}/{open}; then {retry} (nothing finished is lost)',
});

/** Failure types the SDK raises itself: a timeout of an activity, named by its kind. */
export const TIMEOUT_FAILURE_TYPES = Object.freeze({
  HEARTBEAT: 'HeartbeatTimeout',
  START_TO_CLOSE: 'StartToCloseTimeout',
  SCHEDULE_TO_START: 'ScheduleToStartTimeout',
  SCHEDULE_TO_CLOSE: 'ScheduleToCloseTimeout',
});

/** The fix for each timeout, as FAILURE_FIXES. */
export const TIMEOUT_FIXES: Readonly<Record<keyof typeof TIMEOUT_FAILURE_TYPES, string>> = Object.freeze({
  HEARTBEAT:
    'the worker computing it stopped answering (it died, was killed, or lost the server): read its log, make sure a worker serves the queue ({worker}), then {retry}; if frames are only slow, raise {heartbeatTimeoutSeconds}',
  START_TO_CLOSE: 'the activity ran longer than its limit: a worker is stuck or far too slow; restart it ({worker}) and {retry}',
  SCHEDULE_TO_START: 'no worker took the task in time: start one that serves the queue ({worker}), then {retry}',
  SCHEDULE_TO_CLOSE: 'the activity did not finish in time across its attempts: make sure a worker serves the queue ({worker}), then {retry}',
});

/** Memo key the workflow keeps up to date so `list` can tell paused, needing attention and cancelled renders apart. */
export type RenderMemoState = 'running' | 'paused' | 'needs-attention' | 'cancelled';
