import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../common/atomic';
import { fingerprintFile } from '../common/output-fingerprint';
import {
  blendImages,
  encodeSegment,
  extractFrameRange,
  framePath,
  indexFrames,
  joinSegments,
  readImage,
  removeThumbnails,
  writePng,
  type FrameRate,
  type FrameTimestamps,
} from '../media';
import { FAILURE_TYPES, FrameSet, chunkCount, chunkRange, type AssembleResult, type IndexResult, type PackedFrames, type SplitResult } from '../workflows/contract';
import { failOnDiskFull, meanPngBytes, nonRetryable, probeForRender, withHeartbeat } from './media-common';
import { checkOutput, checkRenderDir, renderPaths, type PathPolicy } from './paths';

export type { IndexResult } from '../workflows/contract';

export interface IndexInput {
  input: string;
  renderDir: string;
  size: number;
  /** The VGG19 layers the frames go through (the deepest sets the smallest frame). */
  layers?: string[];
  framesPerChunk: number;
}

export interface ExtractChunkInput {
  input: string;
  renderDir: string;
  chunk: number;
  /** First frame to extract: the chunk's lead-in, when it has one. */
  first: number;
  last: number;
  width: number;
  height: number;
}

export interface EncodeChunkInput {
  renderDir: string;
  chunk: number;
  first: number;
  last: number;
  frameRate: FrameRate;
  /** Frames taken from the content, unstylized (their stylization failed and the user skipped them). */
  unstyled: PackedFrames;
  /** The next chunk's lead-in frames, cross-faded into this chunk's last frames. */
  blendWith?: { chunk: number; first: number; last: number };
  keepFrames: boolean;
}

export interface JoinInput {
  renderDir: string;
  input: string;
  output: string;
  split: SplitResult;
  chunks: number;
}

/** Written next to a segment once it is complete: what it holds. */
interface SegmentRecord {
  first: number;
  last: number;
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

const segmentRecordPath = (segment: string) => `${segment}.json`;

async function readTimestamps(renderDir: string): Promise<FrameTimestamps> {
  const index = await readJson<FrameTimestamps>(renderPaths(renderDir).index);
  if (!index) throw new Error(`${renderPaths(renderDir).index} is missing: the render's index pass did not finish; start the render again`);
  return index;
}

/** Whether a complete segment of frames first..last is on disk (written last, after the segment itself). */
async function segmentDone(segment: string, first: number, last: number): Promise<boolean> {
  const record = await readJson<SegmentRecord>(segmentRecordPath(segment));
  return record?.first === first && record.last === last && existsSync(segment);
}

/**
 * Fills the chunk's assembly directory with what its segment shows, frame by frame: the stylized
 * frame, or the content where it was skipped, cross-faded over the overlap with the next chunk's
 * lead-in (its share growing towards that chunk's own first frame).
 */
async function linkSegmentFrames(paths: ReturnType<typeof renderPaths>, input: EncodeChunkInput): Promise<void> {
  const own = paths.chunk(input.chunk);
  const unstyled = FrameSet.unpack(input.unstyled);
  const blend = input.blendWith;
  await rm(own.assembly, { recursive: true, force: true });
  await mkdir(own.assembly, { recursive: true });
  for (let frame = input.first; frame <= input.last; frame++) {
    const skipped = unstyled.has(frame);
    const source = skipped ? framePath(own.frames, frame) : framePath(paths.styled, frame);
    if (!existsSync(source)) {
      throw ApplicationFailure.nonRetryable(`frame ${frame} has no image at ${source}; run the same start-render command again to render it`, FAILURE_TYPES.missingFrame);
    }
    const lead = blend && !skipped && frame >= blend.first && frame <= blend.last ? framePath(paths.chunk(blend.chunk).lead, frame) : undefined;
    if (lead && existsSync(lead)) {
      const weight = (frame - blend!.first + 1) / (blend!.last - blend!.first + 2);
      const [mine, theirs] = await Promise.all([readImage(source), readImage(lead)]);
      await writePng(framePath(own.assembly, frame), blendImages(mine, theirs, weight));
    } else {
      await symlink(source, framePath(own.assembly, frame));
    }
  }
}

/** Probes the video and lists every frame's time (a decode pass that writes no pictures). */
async function indexVideo(policy: PathPolicy, { input, renderDir: givenDir, size, layers, framesPerChunk }: IndexInput): Promise<IndexResult> {
  const renderDir = checkRenderDir(policy, givenDir);
  const paths = renderPaths(renderDir);
  const { info, frame } = await probeForRender(input, size, layers);
  const timestamps = await withHeartbeat(indexFrames({ input })).catch(nonRetryable);
  const frameCount = timestamps.pts.length;
  if (frameCount === 0) throw ApplicationFailure.nonRetryable(`"${input}" decoded to no frames. Give {input} a video with at least one picture.`, FAILURE_TYPES.mediaInput);
  await mkdir(renderDir, { recursive: true });
  await writeFileAtomic(paths.index, JSON.stringify(timestamps));
  // Segments a cancelled or failed run of this render already encoded are kept, not made again.
  const reused = new FrameSet();
  const count = chunkCount(frameCount, framesPerChunk);
  for (let index = 0; index < count; index++) {
    const { first, last } = chunkRange(index, frameCount, { frames: framesPerChunk, overlap: 0 });
    if (await segmentDone(paths.segment(index), first, last)) reused.add(index + 1);
  }
  const split: SplitResult = {
    frameCount,
    frameRate: info.frameRate,
    width: frame.width,
    height: frame.height,
    hasAudio: info.hasAudio,
    durationSeconds: info.durationSeconds,
  };
  return { split, reusedChunks: reused.pack() };
}

async function extractChunk(policy: PathPolicy, { input, renderDir: givenDir, chunk, first, last, width, height }: ExtractChunkInput): Promise<number> {
  const renderDir = checkRenderDir(policy, givenDir);
  const timestamps = await readTimestamps(renderDir);
  const outDir = renderPaths(renderDir).chunk(chunk).frames;
  const frames = last - first + 1;
  // Content and stylized PNGs of every frame of the chunk, at the size the frames written so far have.
  const need = async () => ({
    bytes: 2 * frames * (await meanPngBytes(outDir, width * height * 3)),
    what: `chunk ${chunk + 1} (${frames} frames of ${width}×${height}, content and stylized PNGs; the render holds {open} such chunks at once)`,
  });
  return failOnDiskFull(withHeartbeat(extractFrameRange({ input, outDir, width, height, first, last, timestamps })), renderDir, need).catch(nonRetryable);
}

/**
 * Encodes a chunk's frames into its segment — each frame stylized, or from the content where
 * skipped, and cross-faded with the next chunk's lead-in over the overlap — then deletes the
 * chunk's working files. A segment already complete on disk is kept (a retried encode).
 */
async function encodeChunk(policy: PathPolicy, input: EncodeChunkInput): Promise<void> {
  const renderDir = checkRenderDir(policy, input.renderDir);
  const paths = renderPaths(renderDir);
  const { chunk, first, last } = input;
  const own = paths.chunk(chunk);
  const segment = paths.segment(chunk);
  if (!(await segmentDone(segment, first, last))) {
    await linkSegmentFrames(paths, input);
    await mkdir(paths.segments, { recursive: true });
    const encoding = withHeartbeat(encodeSegment({ framesDir: own.assembly, first, last, timestamps: await readTimestamps(renderDir), frameRate: input.frameRate, output: segment }));
    // A segment is far smaller than its PNGs; a tenth of them is a generous bound.
    const need = async () => ({ bytes: ((last - first + 1) * (await meanPngBytes(paths.styled, 0))) / 10, what: `segment ${chunk + 1} (${last - first + 1} frames)` });
    await failOnDiskFull(encoding, paths.segments, need);
    await writeFileAtomic(segmentRecordPath(segment), JSON.stringify({ first, last } satisfies SegmentRecord));
  }
  if (input.keepFrames) return;
  // The segment holds them now. The chunk's lead-in went into the previous chunk, encoded before this one.
  await rm(own.dir, { recursive: true, force: true });
  for (let frame = first; frame <= last; frame++) {
    const styled = framePath(paths.styled, frame);
    await rm(styled, { force: true });
    await rm(styled.replace(/\.png$/, '.json'), { force: true });
    await removeThumbnails(styled);
  }
}

/**
 * Joins the segments and muxes the input's audio and subtitles into the output. The segments are
 * kept (about the output's size): a finished render whose output goes missing is re-joined from
 * them rather than rendered again; `clean` deletes them with the rest of the render's directory.
 */
async function joinChunks(policy: PathPolicy, { renderDir: givenDir, input, output: givenOutput, split, chunks }: JoinInput): Promise<AssembleResult> {
  const renderDir = checkRenderDir(policy, givenDir);
  const output = checkOutput(policy, givenOutput);
  const paths = renderPaths(renderDir);
  const segments = Array.from({ length: chunks }, (_, i) => paths.segment(i));
  const missing = segments.find((s) => !existsSync(s));
  if (missing) throw ApplicationFailure.nonRetryable(`segment ${missing} is missing; start the render again to encode it`, FAILURE_TYPES.missingFrame);
  const joining = withHeartbeat(
    joinSegments({ segments, frameRate: split.frameRate, timestamps: await readTimestamps(renderDir), frameCount: split.frameCount, audioFrom: input, output }),
  );
  // The output is about the segments' size plus the input's audio.
  const need = async () => ({ bytes: (await Promise.all(segments.map((f) => stat(f)))).reduce((a, s) => a + s.size, 0), what: `the output ${output}` });
  const { streams } = await failOnDiskFull(joining, dirname(output), need);
  const fingerprint = await fingerprintFile(output);
  // Marks the render's directory as finished, so `clean` may delete it (and nothing else).
  await writeFileAtomic(paths.finished, JSON.stringify({ output, frames: split.frameCount, fingerprint, streams, chunks }));
  return { streams, output: fingerprint };
}

/**
 * The media side of a render (render-chunks.ts): list the frames, extract a chunk, encode
 * it into a segment and delete its frames, join the segments. Every path is checked against
 * `policy` first.
 */
export function createMediaActivities(policy: PathPolicy) {
  return {
    indexVideo: (input: IndexInput) => indexVideo(policy, input),
    extractChunk: (input: ExtractChunkInput) => extractChunk(policy, input),
    encodeChunk: (input: EncodeChunkInput) => encodeChunk(policy, input),
    joinChunks: (input: JoinInput) => joinChunks(policy, input),
  };
}
