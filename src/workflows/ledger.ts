/**
 * The render's bookkeeping, apart from its orchestration: which frame starts next, which are in
 * flight, what finished and what failed, the aggregate stats, the notable-frame records, busy time
 * and the ETA. Pure and synchronous — no Temporal calls, time passed in — so the workflow reads as
 * its loop and this is unit-tested on its own (test/workflows/ledger.test.ts).
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import {
  MAX_NOTABLE_FRAMES,
  type FailedFrame,
  type FrameNote,
  type FrameRecord,
  type FrameStats,
  type RenderProgress,
  type RenderRequest,
  type SplitResult,
} from './contract';

/** What one run hands to the next when it continues as new. Part of running histories: add fields, never rename. */
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

/** The part of the progress the ledger knows. */
export type FrameSummary = Pick<
  RenderProgress,
  'total' | 'done' | 'reused' | 'failed' | 'inFlight' | 'backends' | 'meanSecondsPerFrame' | 'etaSeconds' | 'stats' | 'notable' | 'notableOmitted' | 'runs'
>;

const emptyStats = (): RenderState['stats'] => ({
  retried: 0,
  resumed: 0,
  degraded: 0,
  failures: 0,
  minSeconds: null,
  maxSeconds: null,
});

/** The summary before the video is split: nothing known yet. */
export function emptySummary(): FrameSummary {
  return {
    total: 0,
    done: 0,
    reused: 0,
    failed: [],
    inFlight: [],
    backends: [],
    meanSecondsPerFrame: null,
    etaSeconds: null,
    stats: { ...emptyStats(), computed: 0, reused: 0, busySeconds: 0 },
    notable: [],
    notableOmitted: 0,
    runs: 1,
  };
}

/** One line for a failed frame: the activity's failure type and message, without the wrapping. */
export function describeFailure(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return describeFailure(err.cause);
  if (err instanceof ApplicationFailure) return `${err.type ?? 'Error'}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

export class FrameLedger {
  /** Frames scheduled and not yet finished or failed. Not carried: a run continues as new only when it is empty. */
  readonly inFlight = new Set<number>();
  private lastTick: number;

  private constructor(
    readonly state: RenderState,
    now: number,
  ) {
    this.lastTick = now;
  }

  /** The first run, once the video is split. */
  static start(split: SplitResult, settings: RenderState['settings'], paused: boolean, now: number): FrameLedger {
    return new FrameLedger(
      {
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
        startedAt: now,
        paused,
        busyMs: 0,
        stats: emptyStats(),
        notable: [],
        notableOmitted: 0,
      },
      now,
    );
  }

  /** A run after continue-as-new, from what the previous run carried. */
  static resume(carried: RenderState, now: number): FrameLedger {
    return new FrameLedger({ ...carried, runs: carried.runs + 1 }, now);
  }

  /** What the next run starts from. */
  carry(settings: RenderState['settings'], paused: boolean): RenderState {
    return { ...this.state, settings, paused };
  }

  get failed(): readonly FailedFrame[] {
    return this.state.failed;
  }

  hasWork(): boolean {
    return this.state.retryQueue.length > 0 || this.state.nextFrame <= this.state.split.frameCount;
  }

  /** Takes the next frame to start: frames the user asked to retry first, then the next new one. */
  take(): number | undefined {
    const s = this.state;
    return s.retryQueue.shift() ?? (s.nextFrame <= s.split.frameCount ? s.nextFrame++ : undefined);
  }

  started(frame: number, now: number): void {
    this.tick(now);
    this.inFlight.add(frame);
  }

  /** Ends a frame in flight; record() or fail() it first. */
  ended(frame: number, now: number): void {
    this.tick(now);
    this.inFlight.delete(frame);
  }

  /** Accounts a finished frame; true when it ran on a backend not seen before. */
  record(r: FrameRecord): boolean {
    const s = this.state;
    s.done++;
    if (r.reused) s.reused++;
    else {
      s.computed++;
      s.computeSeconds += r.seconds;
      s.stats.minSeconds = Math.min(s.stats.minSeconds ?? r.seconds, r.seconds);
      s.stats.maxSeconds = Math.max(s.stats.maxSeconds ?? r.seconds, r.seconds);
    }
    if (r.attempt > 1) s.stats.retried++;
    if (r.resumedFromStep > 0) s.stats.resumed++;
    if (r.degraded) s.stats.degraded++;
    const failures = this.takeNote(r.frame)?.failures ?? 0;
    if (r.attempt > 1 || r.resumedFromStep > 0 || r.degraded || failures > 0) {
      const { frame, attempt, resumedFromStep, degraded, seconds, steps } = r;
      this.note({ frame, attempt, resumedFromStep, degraded, seconds, steps, failures });
    }
    if (s.backends.includes(r.backend)) return false;
    s.backends.push(r.backend);
    return true;
  }

  /** Accounts a frame that ran out of attempts (or failed for good) with `err`. */
  fail(frame: number, err: unknown, frameAttempts: number): void {
    const error = describeFailure(err);
    this.state.failed.push({ frame, error });
    this.state.stats.failures++;
    const failures = (this.takeNote(frame)?.failures ?? 0) + 1;
    // A non-retryable failure ends a frame on an attempt the workflow is not told.
    const attempt = err instanceof ActivityFailure && err.retryState === 'MAXIMUM_ATTEMPTS_REACHED' ? frameAttempts : null;
    this.note({ frame, attempt, resumedFromStep: 0, degraded: false, seconds: 0, steps: 0, failures, error });
  }

  /** retry-failed: the failed frames go back in line, ahead of frames never started. */
  retryFailed(): void {
    this.state.retryQueue.push(...this.state.failed.map((f) => f.frame));
    this.state.failed = [];
  }

  /** skip-failed: the frames assembled unstylized. */
  skipped(): number[] {
    return this.state.failed.map((f) => f.frame).sort((a, b) => a - b);
  }

  summary(): FrameSummary {
    const s = this.state;
    const busySeconds = s.busyMs / 1000;
    const left = s.split.frameCount - s.done - s.failed.length;
    return {
      total: s.split.frameCount,
      done: s.done,
      reused: s.reused,
      failed: s.failed,
      inFlight: [...this.inFlight].sort((a, b) => a - b),
      backends: s.backends,
      meanSecondsPerFrame: s.computed > 0 ? s.computeSeconds / s.computed : null,
      etaSeconds: left <= 0 ? 0 : s.computed > 0 ? (left * busySeconds) / s.computed : null,
      stats: { ...s.stats, computed: s.computed, reused: s.reused, busySeconds },
      notable: s.notable,
      notableOmitted: s.notableOmitted,
      runs: s.runs,
    };
  }

  /** Accounts busy time (at least one frame in flight) up to now; called before inFlight changes. */
  private tick(now: number): void {
    if (this.inFlight.size > 0) this.state.busyMs += now - this.lastTick;
    this.lastTick = now;
  }

  private takeNote(frame: number): FrameNote | undefined {
    const i = this.state.notable.findIndex((n) => n.frame === frame);
    return i < 0 ? undefined : this.state.notable.splice(i, 1)[0];
  }

  private note(n: FrameNote): void {
    this.state.notable.push(n);
    if (this.state.notable.length > MAX_NOTABLE_FRAMES) {
      this.state.notable.shift();
      this.state.notableOmitted++;
    }
  }
}
