/**
 * What the render does next, decided from its books alone: no Temporal calls, so the choices of
 * render-chunks.ts are unit-tested without a server (test/orchestration/plan.test.ts). Replayed with
 * the workflow: a change to the order of the choices changes the commands of renders in flight.
 */
import type { ChunkBook, ChunkRecord, ChunkWork } from './chunks';
import type { FrameLedger } from './ledger';

export type FrameWork = Extract<ChunkWork, { kind: 'frame' }>;
export type EncodeWork = Extract<ChunkWork, { kind: 'encode' }>;

/** One thing to start now. */
export type Work = EncodeWork | { kind: 'extract'; chunk: ChunkRecord } | { kind: 'reused'; frames: number } | FrameWork;

/**
 * The next thing to start, first match wins: a chunk ready to encode (it frees disk), a chunk to open
 * (extracted, or found encoded on disk), then — while frames may start — a frame the user asked to
 * retry, then the chunks' next frame. Opening a chunk and taking a retry are recorded as chosen.
 */
export function nextWork(chunks: ChunkBook, frames: FrameLedger, mayStartFrame: boolean): Work | undefined {
  const encoding = chunks.nextEncode((first, last) => frames.unresolvedIn(first, last));
  if (encoding) return encoding;
  const opened = chunks.openNext();
  if (opened && 'extract' in opened) return { kind: 'extract', chunk: opened.extract };
  if (opened) return { kind: 'reused', frames: opened.reusedFrames };
  if (!mayStartFrame) return undefined;
  const retry = frames.takeRetry();
  if (retry !== undefined) {
    const chunk = chunks.chunkOf(retry)!;
    return { kind: 'frame', chunk, frame: retry, lead: false, previous: chunks.previousOf(chunk, retry) };
  }
  return chunks.nextFrame();
}

/** Whether nextWork would start something now (and changes nothing). */
export function canStartWork(chunks: ChunkBook, frames: FrameLedger, mayStartFrame: boolean): boolean {
  if (chunks.nextEncode((first, last) => frames.unresolvedIn(first, last)) || chunks.canOpen) return true;
  return mayStartFrame && (frames.hasRetry || chunks.nextFrame() !== undefined);
}

/** Where the render stands when its loop wakes. */
export interface Standing {
  /** A chunk could not be extracted or encoded. */
  failed: boolean;
  cancelled: boolean;
  /** Every chunk is encoded. */
  done: boolean;
  /** This run has started --frames-per-run frames, or Temporal suggests continuing as new. */
  runFull: boolean;
  /** Frames not started yet, or waiting for a retry. */
  framesLeft: boolean;
  canStart: boolean;
  busy: boolean;
  paused: boolean;
}

/**
 * What the loop does next: `fail` (raise the failure once nothing runs), `end` (cancelled, or every
 * chunk encoded), `continue-as-new` (once nothing runs), `go-on` (start what can start and wait), or
 * `needs-attention`: nothing runs and nothing can start, so failed frames hold a chunk back and a
 * person decides.
 */
export function nextStep(s: Standing): 'fail' | 'end' | 'continue-as-new' | 'go-on' | 'needs-attention' {
  if (s.failed) return 'fail';
  if (s.cancelled || s.done) return 'end';
  if (s.runFull && s.framesLeft) return 'continue-as-new';
  if (s.canStart || s.busy || s.paused) return 'go-on';
  return 'needs-attention';
}
