/** What the render starts next (workflows/plan.ts), from its books alone: no server, no workflow. */
import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SETTINGS } from '../../src/engine/settings';
import { ChunkBook, DEFAULT_CHUNK_OPTIONS } from '../../src/workflows/chunks';
import { FrameLedger } from '../../src/workflows/ledger';
import { canStartWork, nextStep, nextWork, type FrameWork, type Standing, type Work } from '../../src/workflows/plan';

const split = (frameCount: number) => ({ frameCount, frameRate: { num: 25, den: 1 }, width: 32, height: 24, hasAudio: false, durationSeconds: frameCount / 25 });
const books = (frameCount: number, options = {}, sequential = false, reused: number[] = []) => ({
  frames: FrameLedger.start(split(frameCount), { ...DEFAULT_SETTINGS }, false, 0),
  chunks: ChunkBook.start(frameCount, { ...DEFAULT_CHUNK_OPTIONS, ...options }, sequential, { ranges: reused.map((n) => [n, n] as [number, number]) }),
});
/** The work, which must be a frame. */
function asFrame(w: Work | undefined): FrameWork {
  assert.ok(w?.kind === 'frame', `a frame, not ${describe(w)}`);
  return w;
}
const describe = (w: Work | undefined) =>
  !w ? 'nothing' : w.kind === 'reused' ? `reused ${w.frames}` : w.kind === 'frame' ? `frame ${w.frame}${w.lead ? ' (lead)' : ''}` : `${w.kind} ${w.chunk.index}`;

test('one extraction at a time, frames of an extracted chunk as the window allows, encode before anything else', () => {
  const { frames, chunks } = books(5, { frames: 2, open: 2 });
  assert.equal(describe(nextWork(chunks, frames, true)), 'extract 0');
  assert.equal(describe(nextWork(chunks, frames, true)), 'nothing', 'the next chunk waits for this extraction');
  chunks.extracted(0);
  assert.equal(describe(nextWork(chunks, frames, true)), 'extract 1');
  assert.equal(describe(nextWork(chunks, frames, false)), 'nothing', 'no frame while frames may not start');
  assert.equal(canStartWork(chunks, frames, false), false);
  assert.equal(canStartWork(chunks, frames, true), true);
  const first = asFrame(nextWork(chunks, frames, true));
  assert.equal(first.frame, 1);
  chunks.frameStarted(first.chunk, 1);
  const second = asFrame(nextWork(chunks, frames, true));
  assert.equal(second.frame, 2);
  chunks.frameStarted(second.chunk, 2);
  chunks.frameEnded(first.chunk);
  chunks.frameEnded(second.chunk);
  assert.equal(describe(nextWork(chunks, frames, true)), 'encode 0', 'a finished chunk encodes first: it frees disk');
});

test('a failed frame holds its chunk back; retried, it goes ahead of the chunks\' next frames', () => {
  const { frames, chunks } = books(4, { frames: 2, open: 1 });
  nextWork(chunks, frames, true);
  chunks.extracted(0);
  for (const f of [1, 2]) {
    const work = asFrame(nextWork(chunks, frames, true));
    chunks.frameStarted(work.chunk, f);
    chunks.frameEnded(work.chunk);
  }
  frames.fail(2, ApplicationFailure.nonRetryable('bad'), 5);
  assert.equal(describe(nextWork(chunks, frames, true)), 'nothing', 'chunk 0 cannot encode, and only one chunk may be open');
  frames.retryFailed();
  assert.equal(describe(nextWork(chunks, frames, true)), 'frame 2');
  assert.equal(frames.hasRetry, false, 'taken as chosen');
});

test('a chunk found encoded on disk counts its frames as reused', () => {
  const { frames, chunks } = books(4, { frames: 2, open: 1 }, false, [1]);
  assert.equal(describe(nextWork(chunks, frames, true)), 'reused 2');
  assert.equal(describe(nextWork(chunks, frames, true)), 'extract 1');
});

test('coherent mode: a chain one frame at a time, each from the one before', () => {
  const { frames, chunks } = books(4, { frames: 2, open: 2, overlap: 1 }, true);
  nextWork(chunks, frames, true);
  chunks.extracted(0);
  nextWork(chunks, frames, true);
  chunks.extracted(1);
  const a = asFrame(nextWork(chunks, frames, true));
  assert.equal(describe(a), 'frame 1');
  chunks.frameStarted(a.chunk, 1);
  const b = asFrame(nextWork(chunks, frames, true));
  assert.equal(describe(b), 'frame 2 (lead)', "chunk 1's chain starts with its lead-in while chunk 0's waits");
  assert.equal(b.previous, undefined, 'the first of a chain starts from its content');
  chunks.frameStarted(b.chunk, 2);
  assert.equal(describe(nextWork(chunks, frames, true)), 'nothing');
  chunks.frameEnded(a.chunk);
  const c = asFrame(nextWork(chunks, frames, true));
  assert.deepEqual([c.frame, c.previous], [2, { frame: 1, lead: false }]);
});

test('the loop: a failure first, then the end, continue-as-new only with frames left, a person only when stalled', () => {
  const calm: Standing = { failed: false, cancelled: false, done: false, runFull: false, framesLeft: true, canStart: false, busy: false, paused: false };
  assert.equal(nextStep({ ...calm, failed: true, cancelled: true }), 'fail');
  assert.equal(nextStep({ ...calm, cancelled: true, runFull: true }), 'end');
  assert.equal(nextStep({ ...calm, done: true }), 'end');
  assert.equal(nextStep({ ...calm, runFull: true, busy: true }), 'continue-as-new');
  assert.equal(nextStep({ ...calm, runFull: true, framesLeft: false, busy: true }), 'go-on', 'nothing left to start: this run finishes the render');
  assert.equal(nextStep({ ...calm, canStart: true }), 'go-on');
  assert.equal(nextStep({ ...calm, busy: true }), 'go-on');
  assert.equal(nextStep({ ...calm, paused: true }), 'go-on');
  assert.equal(nextStep(calm), 'needs-attention');
});
