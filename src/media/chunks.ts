/**
 * Chunked rendering's media layer: index a video's frames once, extract any contiguous range of
 * them on its own (seeking, not decoding from the start), encode a range into a video segment that
 * plays by itself, and join the segments into the final video with the source's sound.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { addInputOptions, addOutputOptions, ffmpegFactory, runFfmpeg, type FfmpegFactory } from './binaries';
import { MediaInputError } from './errors';
import {
  describeRequest,
  framePattern,
  listFrameCount,
  parseFramecrc,
  pictureOutputOptions,
  reusable,
  timestampOutputOptions,
  writeExtraction,
  type FrameTimestamps,
} from './frames';

export interface IndexOptions {
  input: string;
  /** Cancels the indexing: ffmpeg is killed. */
  signal?: AbortSignal;
}

/**
 * Every video frame's pts in the source time base, numbered as extractFrames numbers its images
 * (pts[0] is frame_000001.png), without writing any picture.
 *
 * It decodes the whole video once, scaled to 2x2, exactly as extractFrames' own timestamp output
 * does: a frame is counted only if the decoder really outputs it, so edit lists, B-frame reordering,
 * missing packet timestamps and undecodable packets give the same answer as the extraction.
 * (A packet listing is several times faster but counts packets, not frames; see the report.)
 */
export async function indexFrames(opts: IndexOptions, ffmpeg: FfmpegFactory = ffmpegFactory()): Promise<FrameTimestamps> {
  const input = path.resolve(opts.input);
  const stat = await fs.stat(input).catch(() => undefined);
  if (!stat?.isFile()) throw new MediaInputError(`"${opts.input}" does not exist or is not a file. Give --input a video such as an .mp4 or .mov.`);
  const scratch = await fs.mkdtemp(path.join(tmpdir(), 'starry-index-'));
  try {
    const crc = path.join(scratch, 'pts.framecrc');
    const command = ffmpeg(input);
    addOutputOptions(command, timestampOutputOptions([]));
    command.output(crc);
    await runFfmpeg(command, `indexing the frames of "${opts.input}"`, opts.signal);
    const timestamps = parseFramecrc(await fs.readFile(crc, 'utf8'));
    if (timestamps.pts.length === 0) throw new MediaInputError(`"${opts.input}" decoded to no frames. Give --input a video with at least one picture.`);
    return timestamps;
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/** Throws a RangeError naming the valid range unless first..last are frames of a `count`-frame video. */
export function checkFrameRange(first: number, last: number, count: number): void {
  if (!(Number.isInteger(first) && Number.isInteger(last) && first >= 1 && first <= last && last <= count)) {
    throw new RangeError(`Frame range ${first}..${last} is not a range of this video's ${count} frames: give whole numbers with 1 <= first <= last <= ${count}`);
  }
}

/** Whether each frame's pts is later than the one before, so a pts names exactly one frame. */
function strictlyIncreasing(pts: readonly number[]): boolean {
  return pts.every((p, i) => i === 0 || p > pts[i - 1]);
}

/**
 * Frames decoded before the wanted first one, at least. Seeking finds the keyframe whose decode
 * time is at or before the target, and a keyframe is shown up to the encoder's reordering delay
 * after it is decoded (H.264 allows 16 frames), so aiming this far early lands on one shown no
 * later than the first wanted frame.
 */
const SEEK_MARGIN_FRAMES = 16;

export interface ExtractRangeOptions {
  input: string;
  outDir: string;
  /** Display size of every frame, as for extractFrames. */
  width: number;
  height: number;
  /** 1-based, inclusive, in extractFrames' numbering; the images keep these global numbers. */
  first: number;
  last: number;
  /** The whole video's frame timestamps, from indexFrames (or a whole extraction). */
  timestamps: FrameTimestamps;
  signal?: AbortSignal;
}

/**
 * Writes exactly frames first..last of `input` into `outDir` as frame_<global index>.png,
 * pixel-identical to what extractFrames writes for those indices, and returns how many.
 *
 * It seeks to a keyframe shortly before the range (timestamps kept as a whole decode has them,
 * -copyts -start_at_zero) and picks the frames by their exact pts, so a late chunk costs about
 * one GOP of extra decoding, not the whole video. The pts of what was written are checked against
 * the index; should a container's seek land too late, it decodes from the start instead.
 * Atomic and reusable like extractFrames: an identical complete extraction in `outDir` is returned
 * as is, anything partial is redone.
 */
export async function extractFrameRange(opts: ExtractRangeOptions, ffmpeg: FfmpegFactory = ffmpegFactory()): Promise<number> {
  const { first, last, timestamps } = opts;
  checkFrameRange(first, last, timestamps.pts.length);
  const outDir = path.resolve(opts.outDir);
  const wanted = { ...(await describeRequest(opts.input, opts.width, opts.height)), first, last };
  const previous = await reusable(outDir, wanted);
  if (previous !== undefined) return previous;

  const expected = timestamps.pts.slice(first - 1, last);
  return writeExtraction(outDir, async (work) => {
    let got = await decodeRange(opts, work, true, ffmpeg);
    if (!samePts(got, expected)) {
      // A seek that landed after the range's start loses its first frames: decode from the start instead.
      await emptyDirectory(work);
      got = await decodeRange(opts, work, false, ffmpeg);
    }
    const frames = await listFrameCount(work);
    if (frames !== expected.length || !samePts(got, expected)) {
      throw new Error(
        `Extracting frames ${first}..${last} of "${opts.input}" gave ${frames} images (pts ${describePts(got)}) ` +
          `instead of ${expected.length} (pts ${describePts(expected)}): the timestamps given are not this video's; index it again with indexFrames`,
      );
    }
    return { ...wanted, frames };
  });
}

/** One ffmpeg run writing the range's images into `work`; returns the pts of what it wrote. */
async function decodeRange(opts: ExtractRangeOptions, work: string, seek: boolean, ffmpeg: FfmpegFactory): Promise<number[]> {
  const { first, last, timestamps } = opts;
  const { num, den } = timestamps.timeBase;
  const command = ffmpeg(path.resolve(opts.input));
  const byPts = strictlyIncreasing(timestamps.pts);
  const seekIndex = Math.max(1, first - SEEK_MARGIN_FRAMES);
  if (seek && byPts && seekIndex > 1) {
    const seconds = (timestamps.pts[seekIndex - 1] * num) / den;
    // copyts + start_at_zero: frames keep the times a decode from the start gives them (the index's),
    // so the select below can compare exact ticks. noaccurate_seek: the select does the trimming.
    addInputOptions(command, ['-ss', seconds.toFixed(6), '-noaccurate_seek', '-copyts', '-start_at_zero']);
  }
  // Without distinct timestamps only the frame count can tell frames apart, which needs a decode from the start.
  const select = byPts
    ? `select=between(pts\\,${timestamps.pts[first - 1]}\\,${timestamps.pts[last - 1]})`
    : `select=between(n\\,${first - 1}\\,${last - 1})`;
  addOutputOptions(command, [...pictureOutputOptions(opts.width, opts.height, [select]), '-start_number', String(first)]);
  command.output(framePattern(work));
  const crc = path.join(work, '.pts.framecrc');
  command.output(crc);
  addOutputOptions(command, timestampOutputOptions([select]));
  await runFfmpeg(command, `extracting frames ${first}..${last} from "${opts.input}"`, opts.signal);
  const got = parseFramecrc(await fs.readFile(crc, 'utf8'));
  await fs.rm(crc);
  return got.pts;
}

function samePts(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

function describePts(pts: readonly number[]): string {
  return pts.length === 0 ? 'none' : `${pts[0]}..${pts[pts.length - 1]}`;
}

async function emptyDirectory(dir: string): Promise<void> {
  for (const name of await fs.readdir(dir)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
}
