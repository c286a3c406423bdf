/**
 * What the workflow, its activities and its clients agree on. Types and constants only (plus
 * signal/query definitions), so both the workflow sandbox and Node code can import it.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { StyleSettings } from '../engine/settings';
import type { FrameRate } from '../media/types';

export const TASK_QUEUES = Object.freeze({
  /** Workflow tasks, split and assemble: CPU and disk. */
  media: 'starry-media',
  /** One stylize activity per frame: the accelerator. */
  style: 'starry-style',
});

export interface RenderLimits {
  /** Frame activities scheduled at once; small so that setting changes reach unstarted frames. */
  window: number;
  /** Frames started per workflow run before it continues as new, keeping each history far below Temporal's limits. */
  framesPerRun: number;
  /** Attempts per frame before it is recorded as failed. */
  frameAttempts: number;
  /** A worker that stops heartbeating for this long is presumed dead and its frame retried elsewhere. */
  heartbeatTimeoutSeconds: number;
}

export const DEFAULT_LIMITS: Readonly<RenderLimits> = Object.freeze({
  window: 4,
  framesPerRun: 1000,
  frameAttempts: 5,
  heartbeatTimeoutSeconds: 60,
});

export interface RenderRequest {
  renderId: string;
  input: string;
  style: string;
  output: string;
  /** This render's own directory: frames, stylized frames, checkpoints. Shared storage when workers are remote. */
  renderDir: string;
  settings: StyleSettings;
  limits: RenderLimits;
}

export interface SplitResult {
  frameCount: number;
  frameRate: FrameRate;
  width: number;
  height: number;
  hasAudio: boolean;
  audioCodec?: string;
  durationSeconds: number;
}

export interface StylizeFrameInput {
  renderDir: string;
  style: string;
  frame: number;
  frameCount: number;
  settings: StyleSettings;
}

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
}

export interface FailedFrame {
  frame: number;
  error: string;
}

export type RenderPhase = 'splitting' | 'styling' | 'needs-attention' | 'assembling' | 'done';

export interface RenderProgress {
  renderId: string;
  phase: RenderPhase;
  total: number;
  done: number;
  reused: number;
  failed: FailedFrame[];
  inFlight: number[];
  settings: StyleSettings;
  backends: string[];
  /** Mean seconds per computed (not reused) frame. */
  meanSecondsPerFrame: number | null;
  /** Workflow runs so far (continue-as-new); each holds at most limits.framesPerRun frames. */
  runs: number;
  /** Frames whose attempt resumed from a checkpoint instead of from the content frame. */
  resumed: { frame: number; fromStep: number }[];
}

export interface RenderResult extends RenderProgress {
  output: string;
  frameRate: FrameRate;
  hasAudio: boolean;
  /** Frames assembled unstylized because the user chose to skip their failures. */
  skippedFailed: number[];
  /** Wall time from the first run's start to the end of assembly, across restarts. */
  elapsedSeconds: number;
}

export const progressQuery = defineQuery<RenderProgress>('progress');
export const retryFailedSignal = defineSignal('retryFailed');
export const skipFailedSignal = defineSignal('skipFailed');
export const updateEpochs = defineUpdate<StyleSettings, [number]>('updateEpochs');
export const setEpochsSignal = defineSignal<[number]>('setEpochs');
