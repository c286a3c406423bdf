/**
 * The render's bookkeeping, apart from its orchestration: which frame starts next, which are in
 * flight, what finished and what failed, the aggregate stats, the notable-frame records, busy time
 * and the ETA. Pure and synchronous — no Temporal calls, time passed in — so the workflow reads as
 * its loop and this is unit-tested on its own (test/orchestration/ledger.test.ts).
 */
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import {
  TIMEOUT_FAILURE_TYPES,
  MAX_NOTABLE_FRAMES,
  type FailureGroup,
  type FrameNote,
  type FrameRecord,
  type FrameStats,
  type RenderProgress,
  type RenderRequest,
  type SplitResult,
} from './contract';
import type { ChunksState } from './chunks';
import { FrameSet, addFailure, viewGroups, type PackedFrames } from './frame-set';

/** What one run hands to the next when it continues as new. Part of running histories: add fields, never rename. */
export interface RenderState {
  split: SplitResult;
  settings: RenderRequest['settings'];
  done: number;
  reused: number;
  computed: number;
  computeSeconds: number;
  backends: string[];
  /** Frames that ran out of attempts, packed (bounded by the frame count, not the failures). */
  failedFrames?: PackedFrames;
  /** Their errors, one group per distinct message (bounded). */
  failureGroups?: FailureGroup[];
  /** Failed frames the user asked to retry, waiting for a slot, packed. */
  retryFrames?: PackedFrames;
  runs: number;
  /** When the first run started (workflow time, ms since the epoch). */
  startedAt: number;
  paused: boolean;
  /** Workflow time (ms) during which at least one frame was in flight; drives the ETA. */
  busyMs: number;
  stats: Omit<FrameStats, 'computed' | 'reused' | 'busySeconds'>;
  notable: FrameNote[];
  notableOmitted: number;
  /** The chunks' state: set by the workflow when it continues as new (the ledger does not read it). */
  chunks?: ChunksState;
}

/** The part of the progress the ledger knows. */
export type FrameSummary = Pick<
  RenderProgress,
  'total' | 'done' | 'reused' | 'failedFrames' | 'inFlight' | 'backends' | 'meanSecondsPerFrame' | 'etaSeconds' | 'stats' | 'notable' | 'notableOmitted' | 'runs'
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
    failedFrames: { count: 0, ranges: [], rangesOmitted: 0, errors: [] },
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

/** One line for a failed frame: the activity's failure type and message, without the wrapping (capped when grouped). */
export function describeFailure(err: unknown): string {
  if (err instanceof ActivityFailure && err.cause) return describeFailure(err.cause);
  if (err instanceof ApplicationFailure) return `${err.type ?? 'Error'}: ${err.message}`;
  // A worker that died or stalled: named by the timeout's kind, so the client can show its fix.
  if (err instanceof TimeoutFailure) {
    const kind = String(err.timeoutType ?? '').replace(/^TIMEOUT_TYPE_/, '') as keyof typeof TIMEOUT_FAILURE_TYPES;
    return `${TIMEOUT_FAILURE_TYPES[kind] ?? 'Timeout'}: ${err.message || 'activity timed out'}`;
  }
  return err instanceof Error ? err.message : String(err);
}

export class FrameLedger {
  /** Frames scheduled and not yet finished or failed. Not carried: a run continues as new only when it is empty. */
  readonly inFlight = new Set<number>();
  private lastTick: number;
  private readonly failedSet: FrameSet;
  private readonly retrySet: FrameSet;
  private groups: FailureGroup[];

  private constructor(
    readonly state: RenderState,
    now: number,
  ) {
    this.lastTick = now;
    this.failedSet = FrameSet.unpack(state.failedFrames);
    this.groups = (state.failureGroups ?? []).map((g) => ({ ...g, sample: [...g.sample] }));
    this.retrySet = FrameSet.unpack(state.retryFrames);
    this.sync();
  }

  /** The first run, once the video is split. */
  static start(split: SplitResult, settings: RenderState['settings'], paused: boolean, now: number): FrameLedger {
    return new FrameLedger(
      {
        split,
        settings,
        done: 0,
        reused: 0,
        computed: 0,
        computeSeconds: 0,
        backends: [],
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
    this.sync();
    return { ...this.state, settings, paused };
  }

  /** The next frame the user asked to retry, lowest first (new frames come from the chunks). */
  takeRetry(): number | undefined {
    return this.retrySet.takeLowest();
  }

  get hasRetry(): boolean {
    return this.retrySet.size > 0;
  }

  /** Whether a frame from `first` to `last` failed or waits for a retry (its chunk cannot be encoded yet). */
  unresolvedIn(first: number, last: number): boolean {
    const touches = (set: FrameSet) => set.ranges.some(([a, b]) => a <= last && b >= first);
    return touches(this.failedSet) || touches(this.retrySet);
  }

  /** skip-failed: the failed frames, no longer failed (they are encoded unstylized). */
  takeFailed(): FrameSet {
    const taken = FrameSet.of(this.failedSet);
    this.failedSet.clear();
    this.groups = [];
    return taken;
  }

  /** Frames an earlier run of the same render already encoded, counted done and reused. */
  recordReused(frames: number): void {
    this.state.done += frames;
    this.state.reused += frames;
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
      s.stats.steps = (s.stats.steps ?? 0) + r.steps;
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
    if (!this.failedSet.has(frame)) {
      this.failedSet.add(frame);
      addFailure(this.groups, frame, describeFailure(err));
    }
    this.state.stats.failures++;
    const failures = (this.takeNote(frame)?.failures ?? 0) + 1;
    // A non-retryable failure ends a frame on an attempt the workflow is not told.
    const attempt = err instanceof ActivityFailure && err.retryState === 'MAXIMUM_ATTEMPTS_REACHED' ? frameAttempts : null;
    // The error itself is in the groups: one copy per distinct message, not one per frame.
    this.note({ frame, attempt, resumedFromStep: 0, degraded: false, seconds: 0, steps: 0, failures });
  }

  /** retry-failed: the failed frames go back in line, ahead of the chunks' next frames. */
  retryFailed(): void {
    for (const frame of this.failedSet) this.retrySet.add(frame);
    this.failedSet.clear();
    this.groups = [];
  }

  summary(): FrameSummary {
    const s = this.state;
    const busySeconds = s.busyMs / 1000;
    const left = s.split.frameCount - s.done - this.failedSet.size;
    return {
      total: s.split.frameCount,
      done: s.done,
      reused: s.reused,
      failedFrames: { ...this.failedSet.view(), errors: viewGroups(this.groups) },
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

  /** Writes the sets back into the state in their packed form. */
  private sync(): void {
    this.state.failedFrames = this.failedSet.pack();
    this.state.failureGroups = this.groups.map((g) => ({ ...g, sample: [...g.sample] }));
    this.state.retryFrames = this.retrySet.pack();
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
    const s = this.state;
    s.notable.push(n);
    while (s.notable.length > MAX_NOTABLE_FRAMES) {
      s.notable.shift();
      s.notableOmitted++;
    }
  }
}
