/** The render's bookkeeping on its own: no server, no workflow, time passed in. */
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_SETTINGS } from '../../src/engine/settings';
import { FAILURE_TYPES, MAX_NOTABLE_FRAMES, type FrameRecord, type SplitResult } from '../../src/workflows/contract';
import { FrameLedger, emptySummary } from '../../src/workflows/ledger';

const split = (frameCount: number): SplitResult => ({
  frameCount,
  frameRate: { num: 25, den: 1 },
  width: 32,
  height: 24,
  hasAudio: false,
  durationSeconds: frameCount / 25,
});

const ledger = (frames: number) => FrameLedger.start(split(frames), { ...DEFAULT_SETTINGS }, false, 0);

const done = (frame: number, more: Partial<FrameRecord> = {}): FrameRecord => ({
  frame,
  reused: false,
  seconds: 2,
  backend: 'wasm',
  loss: 1,
  steps: 250,
  resumedFromStep: 0,
  attempt: 1,
  degraded: false,
  ...more,
});

const outOfAttempts = (message: string) =>
  new ActivityFailure('activity failed', 'stylizeFrame', '1', 'MAXIMUM_ATTEMPTS_REACHED', 'w', ApplicationFailure.retryable(message, FAILURE_TYPES.outOfMemory));

/** Runs `frame` from `from` to `to` seconds and records `r`. */
function run(l: FrameLedger, frame: number, from: number, to: number, r: FrameRecord = done(frame)) {
  l.started(frame, from * 1000);
  l.record(r);
  l.ended(frame, to * 1000);
}

describe('FrameLedger', () => {
  test('frames start in order, frames to retry first, and the work runs out', () => {
    const l = ledger(3);
    assert.equal(l.take(), 1);
    l.fail(1, new Error('boom'), 5);
    l.retryFailed();
    assert.deepEqual(l.failed, []);
    assert.equal(l.take(), 1, 'the frame to retry goes ahead of frames never started');
    assert.equal(l.take(), 2);
    assert.equal(l.hasWork(), true);
    assert.equal(l.take(), 3);
    assert.equal(l.hasWork(), false);
    assert.equal(l.take(), undefined);
  });

  test('ordinary frames only count; retried, resumed and degraded ones get a record', () => {
    const l = ledger(5);
    run(l, 1, 0, 2);
    run(l, 2, 2, 5, done(2, { attempt: 2, seconds: 3 }));
    run(l, 3, 5, 6, done(3, { resumedFromStep: 100, seconds: 1 }));
    run(l, 4, 6, 8, done(4, { degraded: true }));
    run(l, 5, 8, 8, done(5, { reused: true, seconds: 0 }));
    const s = l.summary();
    assert.equal(s.done, 5);
    assert.equal(s.reused, 1);
    assert.deepEqual(s.stats, { computed: 4, reused: 1, retried: 1, resumed: 1, degraded: 1, failures: 0, minSeconds: 1, maxSeconds: 3, busySeconds: 8 });
    assert.equal(s.meanSecondsPerFrame, 2);
    assert.deepEqual(s.notable.map((n) => n.frame), [2, 3, 4]);
    assert.deepEqual(s.notable[1], { frame: 3, attempt: 1, resumedFromStep: 100, degraded: false, seconds: 1, steps: 250, failures: 0 });
  });

  test('a new backend is reported once', () => {
    const l = ledger(3);
    assert.equal(l.record(done(1)), true);
    assert.equal(l.record(done(2)), false);
    assert.equal(l.record(done(3, { backend: 'tensorflow' })), true);
    assert.deepEqual(l.summary().backends, ['wasm', 'tensorflow']);
  });

  test('a failed frame: its error, the attempts it made, and its record kept when it later finishes', () => {
    const l = ledger(2);
    l.fail(1, outOfAttempts('frame 1 of 2, attempt 5: out of memory'), 5);
    l.fail(2, new ActivityFailure('failed', 'stylizeFrame', '2', 'NON_RETRYABLE_FAILURE', 'w', ApplicationFailure.nonRetryable('gone', FAILURE_TYPES.mediaInput)), 5);
    let s = l.summary();
    assert.deepEqual(s.failed, [
      { frame: 1, error: 'OutOfMemory: frame 1 of 2, attempt 5: out of memory' },
      { frame: 2, error: 'MediaInputError: gone' },
    ]);
    assert.deepEqual(s.notable.map((n) => [n.frame, n.attempt, n.failures]), [[1, 5], [2, null]].map(([f, a]) => [f, a, 1]));
    assert.equal(s.etaSeconds, 0, 'nothing is left to render until the failed frames are retried');

    l.retryFailed();
    run(l, l.take()!, 0, 1);
    s = l.summary();
    const note = s.notable.find((n) => n.frame === 1);
    assert.deepEqual(note, { frame: 1, attempt: 1, resumedFromStep: 0, degraded: false, seconds: 2, steps: 250, failures: 1 }, 'finished: no error, one failure');
    assert.equal(s.stats.failures, 2);
  });

  test(`at most ${MAX_NOTABLE_FRAMES} records; older ones are counted`, () => {
    const l = ledger(MAX_NOTABLE_FRAMES + 3);
    for (let f = 1; f <= MAX_NOTABLE_FRAMES + 3; f++) l.record(done(f, { attempt: 2 }));
    const s = l.summary();
    assert.equal(s.notable.length, MAX_NOTABLE_FRAMES);
    assert.equal(s.notableOmitted, 3);
    assert.equal(s.notable[0].frame, 4, 'the oldest records are the ones dropped');
  });

  test('busy time counts while any frame is in flight, not the gaps; the ETA is frames left × busy time per frame', () => {
    const l = ledger(10);
    l.started(1, 0);
    l.started(2, 1000);
    l.record(done(1));
    l.ended(1, 4000);
    l.record(done(2));
    l.ended(2, 5000); // busy 0–5 s with one or two frames in flight
    l.started(3, 65_000); // a minute paused with nothing in flight does not count
    assert.deepEqual(l.summary().inFlight, [3]);
    l.record(done(3));
    l.ended(3, 66_000);
    const s = l.summary();
    assert.equal(s.stats.busySeconds, 6);
    assert.equal(s.etaSeconds, (7 * 6) / 3);
    assert.deepEqual(s.inFlight, []);
  });

  test('continue-as-new carries everything but the frames in flight, with the settings and pause of the moment', () => {
    const l = ledger(4);
    run(l, l.take()!, 0, 3, done(1, { attempt: 2 }));
    const carried = l.carry({ ...DEFAULT_SETTINGS, epochs: 9 }, true);
    assert.equal(carried.settings.epochs, 9);
    assert.equal(carried.paused, true);
    const next = FrameLedger.resume(JSON.parse(JSON.stringify(carried)), 10_000);
    assert.equal(next.take(), 2);
    const s = next.summary();
    assert.equal(s.runs, 2);
    assert.equal(s.done, 1);
    assert.equal(s.stats.busySeconds, 3);
    assert.deepEqual(s.notable.map((n) => n.frame), [1]);
  });

  test('before the split nothing is known', () => {
    const s = emptySummary();
    assert.equal(s.total, 0);
    assert.equal(s.etaSeconds, null);
    assert.equal(s.runs, 1);
  });
});
