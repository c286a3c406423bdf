/** The render's bookkeeping on its own: no server, no workflow, time passed in. */
import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_SETTINGS } from '../../src/engine/settings';
import { FAILURE_TYPES, MAX_NOTABLE_FRAMES, type FrameRecord, type SplitResult } from '../../src/workflows/contract';
import { FrameLedger, describeFailure, emptySummary, type RenderState } from '../../src/workflows/ledger';
import {
  FrameSet,
  MAX_ERROR_GROUPS,
  MAX_ERROR_LENGTH,
  MAX_LISTED_RANGES,
  OTHER_ERRORS,
  formatRanges,
} from '../../src/workflows/frame-set';

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
  test('retry-failed: the failed frames come back once each, lowest first, and hold their chunk until they finish', () => {
    const l = ledger(5);
    l.fail(3, new Error('boom'), 5);
    l.fail(1, new Error('boom'), 5);
    assert.equal(l.hasRetry, false);
    assert.equal(l.unresolvedIn(1, 2), true, 'a failed frame holds its chunk back');
    assert.equal(l.unresolvedIn(4, 5), false);
    l.retryFailed();
    assert.equal(l.summary().failedFrames.count, 0);
    assert.equal(l.hasRetry, true);
    assert.equal(l.unresolvedIn(1, 2), true, 'so does a frame waiting for its retry');
    assert.equal(l.takeRetry(), 1);
    assert.equal(l.takeRetry(), 3);
    assert.equal(l.takeRetry(), undefined);
    assert.equal(l.hasRetry, false);
  });

  test('ordinary frames only count; retried, resumed and degraded ones get a record', () => {
    const l = ledger(5);
    run(l, 1, 0, 2);
    run(l, 2, 2, 5, done(2, { attempt: 2, seconds: 3 }));
    run(l, 3, 5, 6, done(3, { resumedFromStep: 100, seconds: 1 }));
    run(l, 4, 6, 8, done(4, { degraded: true, steps: 7 }));
    run(l, 5, 8, 8, done(5, { reused: true, seconds: 0 }));
    const s = l.summary();
    assert.equal(s.done, 5);
    assert.equal(s.reused, 1);
    assert.deepEqual(s.stats, { computed: 4, reused: 1, retried: 1, resumed: 1, degraded: 1, failures: 0, minSeconds: 1, maxSeconds: 3, busySeconds: 8, steps: 3 * 250 + 7 });
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
    assert.deepEqual(s.failedFrames, {
      count: 2,
      ranges: [[1, 2]],
      rangesOmitted: 0,
      errors: [
        { error: 'OutOfMemory: frame 1 of 2, attempt 5: out of memory', count: 1, sample: [1] },
        { error: 'MediaInputError: gone', count: 1, sample: [2] },
      ],
    });
    assert.equal('error' in s.notable[0], false, 'the error is kept once per message, not per frame');
    assert.deepEqual(s.notable.map((n) => [n.frame, n.attempt, n.failures]), [[1, 5], [2, null]].map(([f, a]) => [f, a, 1]));
    assert.equal(s.etaSeconds, 0, 'nothing is left to render until the failed frames are retried');

    l.retryFailed();
    run(l, l.takeRetry()!, 0, 1);
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
    run(l, 1, 0, 3, done(1, { attempt: 2 }));
    const carried = l.carry({ ...DEFAULT_SETTINGS, epochs: 9 }, true);
    assert.equal(carried.settings.epochs, 9);
    assert.equal(carried.paused, true);
    const next = FrameLedger.resume(JSON.parse(JSON.stringify(carried)), 10_000);
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

describe('FrameSet', () => {
  test('runs stay sorted, disjoint and merged, whatever the order frames come in', () => {
    const set = FrameSet.of([5, 3, 4, 10, 1, 9, 4, 12, 11]);
    assert.deepEqual(set.ranges, [[1, 1], [3, 5], [9, 12]]);
    assert.equal(set.size, 8);
    assert.equal(set.has(4), true);
    assert.equal(set.has(6), false);
    assert.equal(set.takeLowest(), 1);
    assert.equal(set.takeLowest(), 3);
    assert.deepEqual([...set], [4, 5, 9, 10, 11, 12]);
    set.add(2);
    set.add(3);
    assert.deepEqual(set.ranges, [[2, 5], [9, 12]]);
  });

  test('packs as runs when frames are together and as a bitmap when scattered, and unpacks to the same frames', () => {
    const together = FrameSet.of(range(1, 50_000));
    assert.deepEqual(together.pack(), { ranges: [[1, 50_000]] });
    const scattered = FrameSet.of(range(1, 100_000).filter((f) => f % 2 === 0 || f % 7 === 0));
    const packed = scattered.pack();
    assert.ok('bits' in packed, 'scattered frames pack as a bitmap');
    assert.ok(JSON.stringify(packed).length < 100_000 / 6 + 100, `about one character per six frames (${JSON.stringify(packed).length})`);
    const back = FrameSet.unpack(JSON.parse(JSON.stringify(packed)));
    assert.equal(back.size, scattered.size);
    assert.deepEqual(back.ranges, scattered.ranges);
  });

  test('runs of frames read as ranges', () => {
    assert.equal(formatRanges({ ranges: [[7, 8], [10, 10]], rangesOmitted: 2 }), '7-8, 10 and 2 more run(s)');
  });
});

describe('FrameLedger at tens of thousands of failed frames: state and progress stay small', () => {
  const KB = 1024;
  const size = (o: unknown) => JSON.stringify(o).length;
  /** Fails `frames` as a worker would report them: messages naming the frame, attempt and size. */
  function failAll(l: FrameLedger, frames: number[], message: (f: number) => string) {
    for (const f of frames) {
      l.started(f, f);
      l.fail(f, outOfAttempts(message(f)), 5);
      l.ended(f, f + 1);
    }
  }
  const frameCount = (l: FrameLedger) => l.state.split.frameCount;
  /** Every frame of the video, in order. */
  const allFrames = (l: FrameLedger) => range(1, frameCount(l));
  /** Takes every frame waiting for a retry, as the workflow would. */
  const takeRetries = (l: FrameLedger) => {
    const taken: number[] = [];
    for (let f = l.takeRetry(); f !== undefined; f = l.takeRetry()) taken.push(f);
    return taken;
  };

  test('50,000 frames failing with one bad setting: one run, one error group, under 64 KB', () => {
    const l = ledger(50_000);
    failAll(l, allFrames(l), (f) => `frame ${f} of 50000, attempt 5: out of memory at 4096 px (OOM when allocating tensor). ${'lower --size. '.repeat(100)}`);
    const p = l.summary();
    assert.equal(p.failedFrames.count, 50_000);
    assert.deepEqual(p.failedFrames.ranges, [[1, 50_000]]);
    assert.equal(p.failedFrames.errors.length, 1, 'the same error for every frame is one group');
    assert.equal(p.failedFrames.errors[0].count, 50_000);
    assert.deepEqual(p.failedFrames.errors[0].sample, range(1, 10));
    assert.ok(p.failedFrames.errors[0].error.length <= MAX_ERROR_LENGTH, 'the message is capped');
    assert.ok(p.notable.length <= MAX_NOTABLE_FRAMES);
    const carried = l.carry(l.state.settings, false);
    assert.ok(size(p) < 64 * KB, `progress ${size(p)} bytes`);
    assert.ok(size(carried) < 64 * KB, `carried state ${size(carried)} bytes`);
    assert.equal(p.etaSeconds, 0);
  });

  test('50,000 scattered failures with 60 distinct long errors, carried across continue-as-new and retried exactly', () => {
    const frames = 100_000;
    const l = ledger(frames);
    const all = allFrames(l);
    // Every other frame fails, plus a few more: 50,000+ failures scattered over the video.
    const failing = all.filter((f) => f % 2 === 0 || f % 97 === 0);
    const failingSet = new Set(failing);
    for (const f of all) {
      if (failingSet.has(f)) continue;
      run(l, f, f, f + 1);
    }
    failAll(l, failing, (f) => `${'abcdefghij'[f % 10]}${'klmnop'[Math.floor(f / 10) % 6]}Error: frame ${f}: ${'x'.repeat(5_000)}`);
    const p = l.summary();
    assert.equal(p.failedFrames.count, failing.length);
    assert.ok(p.failedFrames.ranges.length <= MAX_LISTED_RANGES);
    assert.equal(p.failedFrames.rangesOmitted + p.failedFrames.ranges.length, FrameSet.of(failing).ranges.length);
    assert.ok(p.failedFrames.errors.length <= MAX_ERROR_GROUPS + 1, `${p.failedFrames.errors.length} groups`);
    assert.equal(p.failedFrames.errors.reduce((n, g) => n + g.count, 0), failing.length, 'every failure is counted in a group');
    assert.ok(p.failedFrames.errors.some((g) => g.error === OTHER_ERRORS));
    assert.ok(size(p) < 64 * KB, `progress ${size(p)} bytes`);

    const carried = JSON.parse(JSON.stringify(l.carry(l.state.settings, false))) as RenderState;
    assert.ok(size(carried) < 64 * KB, `carried state ${size(carried)} bytes`);
    const next = FrameLedger.resume(carried, 0);
    assert.deepEqual(next.summary().failedFrames, p.failedFrames, 'the next run shows the same failures');
    assert.equal(next.hasRetry, false);
    next.retryFailed();
    const again = JSON.parse(JSON.stringify(next.carry(next.state.settings, false))) as RenderState;
    assert.ok(size(again) < 64 * KB, `carried state with frames to retry ${size(again)} bytes`);
    assert.deepEqual(takeRetries(FrameLedger.resume(again, 0)), failing, 'exactly the failed frames are retried, lowest first');
  });

  test('an error group read back after continue-as-new still takes the same error for other frames', () => {
    const l = ledger(3);
    const message = (f: number) => `frame ${f} of 3, attempt 5: out of memory ${'at 512 px, '.repeat(100)}`;
    failAll(l, [1], message);
    const next = FrameLedger.resume(JSON.parse(JSON.stringify(l.carry(l.state.settings, false))), 0);
    failAll(next, [2], message);
    assert.deepEqual(next.summary().failedFrames.errors.map((g) => [g.count, g.sample]), [[2, [1, 2]]]);
  });

  test('skip-failed hands the chunks every failed frame, packed, and the result a bounded view', () => {
    const l = ledger(30_000);
    const failing = allFrames(l).filter((f) => f % 3 === 0);
    failAll(l, failing, (f) => `frame ${f} is damaged`);
    const taken = l.takeFailed();
    const frames = taken.pack();
    const view = taken.view();
    assert.deepEqual([...FrameSet.unpack(frames)], failing);
    assert.equal(l.summary().failedFrames.count, 0, 'skipped frames are no longer failed');
    assert.equal(view.count, 10_000);
    assert.equal(view.ranges.length, MAX_LISTED_RANGES);
    assert.ok(size(frames) < 8 * KB, `packed ${size(frames)} bytes`);
  });
});

test('a frame whose worker died is recorded by the timeout\'s kind, so the client can show its fix', () => {
  const died = new ActivityFailure('activity failed', 'stylizeFrame', '4', 'MAXIMUM_ATTEMPTS_REACHED', 'w', new TimeoutFailure('activity Heartbeat timeout', undefined, 'HEARTBEAT'));
  assert.equal(describeFailure(died), 'HeartbeatTimeout: activity Heartbeat timeout');
  const stuck = new ActivityFailure('activity failed', 'stylizeFrame', '5', 'TIMEOUT', 'w', new TimeoutFailure(undefined, undefined, 'START_TO_CLOSE'));
  assert.equal(describeFailure(stuck), 'StartToCloseTimeout: activity timed out');
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
