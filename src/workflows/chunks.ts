/**
 * A render as a sequence of chunks: contiguous frame ranges that are extracted, stylized, encoded
 * into a segment of the output and deleted, one after another, so the disk holds only the chunks
 * in flight whatever the video's length. Pure and synchronous like FrameLedger: the workflow asks
 * it what to do next and tells it what happened; unit-tested on its own (test/orchestration).
 *
 * Two ways to run a chunk's frames:
 * - independent (`--init content`, the seed's method): any frame of an extracted chunk may start,
 *   many at once, on any worker;
 * - sequential (`--init prev-warped`): frame t starts from frame t-1's result, so a chunk runs its
 *   frames in order, one at a time; chunks run in parallel. Each chunk after the first also renders
 *   `overlap` frames ahead of its start (its lead-in, from the content), which its predecessor
 *   cross-fades with its own last frames, so the fresh start of a chunk leaves no visible seam.
 */
import { chunkCount, chunkRange, type ChunkRange, type ChunksView } from './contract';
import { FrameSet, type PackedFrames } from './frame-set';

export interface ChunkOptions {
  /** Frames per chunk. */
  frames: number;
  /** Chunks extracted and not yet encoded at once: what bounds the disk (and the chains in parallel). */
  open: number;
  /** Sequential mode: frames each chunk renders ahead of its start to cross-fade with its predecessor. */
  overlap: number;
  /** Keep each chunk's frames once its segment is encoded (they are deleted otherwise; segments are always kept). */
  keepFrames: boolean;
}

export const DEFAULT_CHUNK_OPTIONS: Readonly<ChunkOptions> = Object.freeze({ frames: 300, open: 3, overlap: 4, keepFrames: false });

export type ChunkPhase = 'extracting' | 'styling' | 'encoding' | 'encoded';

export interface ChunkRecord {
  /** 0-based. */
  index: number;
  first: number;
  last: number;
  /** First frame the chunk extracts and renders: `first` less its lead-in (sequential mode only). */
  leadFirst: number;
  phase: ChunkPhase;
  /** Next frame of the chunk to start, from leadFirst to last. */
  cursor: number;
  /** Frames of the chunk in flight, its lead-in included. */
  running: number;
}

/** What one run hands to the next. Part of running histories: add fields, never rename. */
export interface ChunksState {
  options: ChunkOptions;
  sequential: boolean;
  frameCount: number;
  count: number;
  /** Next chunk index to extract. */
  nextToOpen: number;
  /** Chunks 0..encoded-1 are encoded (or were already, as found on disk). */
  encoded: number;
  /** Chunks from `encoded` on that have been opened, lowest first. */
  open: ChunkRecord[];
  /** Chunks whose segments an earlier run of the same render left complete on disk, by number (index + 1). */
  reused: PackedFrames;
  /** Frames the user chose to skip after they failed: encoded from the content, unstylized. */
  skipped: PackedFrames;
}

/** One thing the workflow can start now. */
export type ChunkWork =
  | { kind: 'extract'; chunk: ChunkRecord }
  | { kind: 'frame'; chunk: ChunkRecord; frame: number; lead: boolean; previous?: { frame: number; lead: boolean } }
  | { kind: 'encode'; chunk: ChunkRecord; blendWith?: { chunk: number; first: number; last: number } };

export class ChunkBook {
  private readonly reused: FrameSet;
  private readonly skippedSet: FrameSet;

  private constructor(readonly state: ChunksState) {
    this.reused = FrameSet.unpack(state.reused);
    this.skippedSet = FrameSet.unpack(state.skipped);
  }

  static start(frameCount: number, options: ChunkOptions, sequential: boolean, reusedChunks: PackedFrames): ChunkBook {
    return new ChunkBook({
      // A sequential chunk encodes only once the next one has rendered its lead-in: two must fit.
      options: { ...options, overlap: sequential ? options.overlap : 0, open: sequential ? Math.max(2, options.open) : options.open },
      sequential,
      frameCount,
      count: chunkCount(frameCount, options.frames),
      nextToOpen: 0,
      encoded: 0,
      open: [],
      reused: reusedChunks,
      skipped: { ranges: [] },
    });
  }

  static resume(state: ChunksState): ChunkBook {
    // Whatever was in flight when the last run ended was finished first (it continues as new only then).
    return new ChunkBook({ ...state, open: state.open.map((c) => ({ ...c, running: 0 })) });
  }

  carry(): ChunksState {
    return { ...this.state, open: this.state.open.map((c) => ({ ...c })), reused: this.reused.pack(), skipped: this.skippedSet.pack() };
  }

  get done(): boolean {
    return this.state.encoded >= this.state.count;
  }

  /** Frames of chunks found already encoded on disk; counted as reused when the book opens them. */
  isReused(index: number): boolean {
    return this.reused.has(index + 1);
  }

  rangeOf(index: number): ChunkRange {
    return chunkRange(index, this.state.frameCount, this.state.options);
  }

  /** Chunks using disk now: extracting, styling or encoding. */
  get inUse(): number {
    return this.state.open.filter((c) => c.phase !== 'encoded').length;
  }

  /** Whether openNext() would open a chunk now. */
  get canOpen(): boolean {
    const s = this.state;
    return s.nextToOpen < s.count && this.inUse < s.options.open && !s.open.some((c) => c.phase === 'extracting');
  }

  view(segmentsDir: string): ChunksView {
    const s = this.state;
    return {
      total: s.count,
      framesPerChunk: s.options.frames,
      sequential: s.sequential,
      encoded: s.encoded,
      open: s.open.filter((c) => c.phase !== 'encoded').map(({ index, first, last, phase }) => ({ index, first, last, phase })),
      skipped: this.skippedSet.view(),
      segmentsDir,
    };
  }

  /**
   * Opens the next chunk when the disk bound allows: a chunk found encoded on disk opens straight
   * as encoded (returns its frame count as reused), any other starts extracting (returns it).
   */
  openNext(): { extract: ChunkRecord } | { reusedFrames: number } | undefined {
    const s = this.state;
    // Only one extraction at a time: they read the same file, and the first chunk comes first.
    if (!this.canOpen) return undefined;
    const index = s.nextToOpen++;
    const range = this.rangeOf(index);
    if (this.isReused(index)) {
      s.open.push({ index, ...range, phase: 'encoded', cursor: range.last + 1, running: 0 });
      this.settle();
      return { reusedFrames: range.last - range.first + 1 };
    }
    const chunk: ChunkRecord = { index, ...range, phase: 'extracting', cursor: range.leadFirst, running: 0 };
    s.open.push(chunk);
    return { extract: chunk };
  }

  extracted(index: number): void {
    const chunk = this.find(index);
    if (chunk?.phase === 'extracting') chunk.phase = 'styling';
  }

  /** The chunk holding `frame` as one of its own (not lead-in) frames, when open. */
  chunkOf(frame: number): ChunkRecord | undefined {
    return this.state.open.find((c) => c.first <= frame && frame <= c.last);
  }

  /**
   * The next frame to start, if any: in chunk order; a sequential chunk only when its previous
   * frame has finished. `previous` is the frame whose result this one starts from.
   */
  nextFrame(): Extract<ChunkWork, { kind: 'frame' }> | undefined {
    for (const chunk of this.state.open) {
      if (chunk.phase !== 'styling' || chunk.cursor > chunk.last) continue;
      if (this.state.sequential && chunk.running > 0) continue;
      const frame = chunk.cursor;
      return { kind: 'frame', chunk, frame, lead: frame < chunk.first, previous: this.previousOf(chunk, frame) };
    }
    return undefined;
  }

  /** Sequential mode: the frame `frame` starts from (none for the first of a chunk's chain). */
  previousOf(chunk: ChunkRecord, frame: number): { frame: number; lead: boolean } | undefined {
    if (!this.state.sequential || frame <= chunk.leadFirst) return undefined;
    return { frame: frame - 1, lead: frame - 1 < chunk.first };
  }

  /** A frame (or a retried one) has started in `chunk`; advances the cursor past it if it was next. */
  frameStarted(chunk: ChunkRecord, frame: number): void {
    chunk.running++;
    if (frame === chunk.cursor) chunk.cursor++;
  }

  frameEnded(chunk: ChunkRecord): void {
    chunk.running--;
  }

  /**
   * The first unencoded chunk, when it can be encoded: every own frame finished (and `unresolved`
   * — failed or waiting for a retry — none of them), and in sequential mode the next chunk's lead-in
   * rendered, since it is cross-faded into this chunk's last frames.
   */
  nextEncode(unresolved: (first: number, last: number) => boolean): Extract<ChunkWork, { kind: 'encode' }> | undefined {
    const chunk = this.state.open[0];
    if (!chunk || chunk.phase !== 'styling' || chunk.cursor <= chunk.last || chunk.running > 0) return undefined;
    if (unresolved(chunk.first, chunk.last)) return undefined;
    const next = this.state.open[1];
    const wantsLead = this.state.options.overlap > 0 && chunk.index + 1 < this.state.count && !this.isReused(chunk.index + 1);
    if (!wantsLead) return { kind: 'encode', chunk };
    // The lead-in is done when the next chunk's cursor has passed it and no lead frame runs.
    if (!next || next.phase !== 'styling' || next.cursor < next.first || (next.cursor === next.first && next.running > 0)) return undefined;
    return { kind: 'encode', chunk, blendWith: { chunk: next.index, first: next.leadFirst, last: next.first - 1 } };
  }

  encodeStarted(chunk: ChunkRecord): void {
    chunk.phase = 'encoding';
  }

  encoded(index: number): void {
    const chunk = this.find(index);
    if (chunk) chunk.phase = 'encoded';
    this.settle();
  }

  /** Frames to encode from the content after their stylization failed and the user chose to skip them. */
  skip(frames: Iterable<number>): void {
    for (const f of frames) this.skippedSet.add(f);
  }

  /** The skipped frames from `first` to `last`, run by run (not frame by frame: the set may be large). */
  skippedIn(first: number, last: number): PackedFrames {
    const within = new FrameSet();
    for (const [a, b] of this.skippedSet.ranges) if (a <= last && b >= first) within.addRun(Math.max(a, first), Math.min(b, last));
    return within.pack();
  }

  get skipped(): FrameSet {
    return this.skippedSet;
  }

  /** Frames not started yet: in chunks not opened, or opened and not through. */
  get framesLeft(): boolean {
    const s = this.state;
    return s.nextToOpen < s.count || s.open.some((c) => c.phase !== 'encoded' && c.cursor <= c.last);
  }

  /** Frames in flight, lead-ins included. */
  get framesInFlight(): number {
    return this.state.open.reduce((n, c) => n + c.running, 0);
  }

  /** Anything in flight: extraction, frames or encoding. */
  /** Frames of open chunks in flight. */
  get framesRunning(): boolean {
    return this.state.open.some((c) => c.running > 0);
  }

  get busy(): boolean {
    return this.state.open.some((c) => c.phase === 'extracting' || c.phase === 'encoding' || c.running > 0);
  }

  private find(index: number): ChunkRecord | undefined {
    return this.state.open.find((c) => c.index === index);
  }

  /** Drops encoded chunks from the front: the count moves on in order. */
  private settle(): void {
    const s = this.state;
    while (s.open[0]?.phase === 'encoded') {
      s.open.shift();
      s.encoded++;
    }
  }
}
