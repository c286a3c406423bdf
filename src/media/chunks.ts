/**
 * Chunked rendering's media layer: index a video's frames once, extract any contiguous range of
 * them on its own (seeking, not decoding from the start), encode a range into a video segment that
 * plays by itself, and join the segments into the final video with the source's sound.
 */
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { removeStaleTemps, withAtomicOutput } from '../common/atomic';
import {
  carriedStreams,
  checkFrames,
  checkWritten,
  containerFor,
  frameEncoding,
  isConstantRate,
  muxerOptions,
  sideStreamOptions,
  streamSource,
  variableRateClock,
  videoStartSeconds,
} from './assemble';
import { addInputOptions, addOutputOptions, ffmpegFactory, runFfmpeg, type FfmpegFactory } from './binaries';
import { MediaInputError } from './errors';
import {
  checkImagesComplete,
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
import { probeVideo } from './probe';
import type { FrameRate, StreamReport } from './types';

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
  if (!stat?.isFile()) throw new MediaInputError(`"${opts.input}" does not exist or is not a file. Give {input} a video such as an .mp4 or .mov.`);
  const scratch = await fs.mkdtemp(path.join(tmpdir(), 'starry-index-'));
  try {
    const crc = path.join(scratch, 'pts.framecrc');
    const command = ffmpeg(input);
    addOutputOptions(command, timestampOutputOptions([]));
    command.output(crc);
    await runFfmpeg(command, `indexing the frames of "${opts.input}"`, opts.signal);
    const timestamps = parseFramecrc(await fs.readFile(crc, 'utf8'));
    if (timestamps.pts.length === 0) throw new MediaInputError(`"${opts.input}" decoded to no frames. Give {input} a video with at least one picture.`);
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
    await checkImagesComplete(work, first, last);
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
  // Both outputs stop at the range's last frame, and ffmpeg with them, rather than decoding to the end.
  const stop = ['-frames:v', String(last - first + 1)];
  addOutputOptions(command, [...pictureOutputOptions(opts.width, opts.height, [select]), '-start_number', String(first), ...stop]);
  command.output(framePattern(work));
  const crc = path.join(work, '.pts.framecrc');
  command.output(crc);
  addOutputOptions(command, [...timestampOutputOptions([select]), ...stop]);
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

export interface EncodeSegmentOptions {
  /** Holds frames first..last named by their global index (files or symlinks), all one even size. */
  framesDir: string;
  first: number;
  last: number;
  /** The whole video's timestamps (indexFrames): every segment must decide rate and clock on all of them. */
  timestamps: FrameTimestamps;
  frameRate: FrameRate;
  /** A QuickTime-family file (.mp4, .mov, .m4v): its clock holds every frame time exactly. */
  output: string;
  signal?: AbortSignal;
}

/**
 * Encodes frames first..last into one video-only segment with assembleVideo's encoder settings.
 * The segment starts at time 0 so it plays by itself (a viewer can watch it while the rest renders);
 * its frames keep their spacing from the source, variable-rate included, and joinSegments puts each
 * segment back at its place. The output appears only when complete.
 */
export async function encodeSegment(opts: EncodeSegmentOptions, ffmpeg: FfmpegFactory = ffmpegFactory()): Promise<void> {
  const { first, last, timestamps } = opts;
  checkFrameRange(first, last, timestamps.pts.length);
  const output = path.resolve(opts.output);
  if (!['mp4', 'mov'].includes(containerFor(opts.output).muxer)) {
    // Matroska keeps milliseconds, which would move 29.97 fps frames by a fraction of a millisecond each.
    throw new MediaInputError(`Cannot write segment "${opts.output}": a segment must be an .mp4, .m4v or .mov file, whose clock holds every frame time exactly.`);
  }
  const framesDir = path.resolve(opts.framesDir);
  await checkFrames(framesDir, first, last);
  await fs.mkdir(path.dirname(output), { recursive: true });
  await removeStaleTemps(output);
  const scratch = await fs.mkdtemp(path.join(tmpdir(), 'starry-segment-'));
  try {
    await withAtomicOutput(output, async (tempPath) => {
      const encoding = await frameEncoding({ framesDir, first, last, frameRate: opts.frameRate, timestamps, fromZero: true, scratch });
      const command = ffmpeg();
      command.input(framePattern(framesDir));
      addInputOptions(command, encoding.inputOptions);
      // Variable-rate segments are encoded without B-frames (see frameEncoding), so decode times
      // are frame times; no edit list is written all the same, so nothing but the frames' own
      // times places a segment's frames, and the join places each segment by its start.
      const editList = isConstantRate(timestamps, opts.frameRate) ? [] : ['-use_editlist', '0'];
      addOutputOptions(command, [...encoding.outputOptions, ...editList, ...muxerOptions(containerFor(opts.output))]);
      command.output(tempPath);
      await runFfmpeg(command, `encoding frames ${first}..${last} into "${opts.output}"`, opts.signal);
      await checkWritten(tempPath, last - first + 1, [], opts.output, ffmpeg);
    });
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

export interface JoinOptions {
  /** Segments from encodeSegment, in order, together holding frames 1..frameCount. */
  segments: string[];
  frameRate: FrameRate;
  /** The whole video's timestamps (indexFrames), which place each segment. */
  timestamps: FrameTimestamps;
  frameCount: number;
  /** The original input, whose audio and subtitle streams are carried over as assembleVideo does. */
  audioFrom?: string;
  /** Destination; the extension (.mp4, .mov, .mkv) picks the container. */
  output: string;
  signal?: AbortSignal;
}

/**
 * Joins the segments into one video without re-encoding them (concat demuxer, stream copy), each
 * placed exactly where its first frame belongs, and carries over the source's audio and subtitles
 * exactly as assembleVideo does. The frame times equal a single-pass assembleVideo's. Atomic output.
 */
export async function joinSegments(opts: JoinOptions, ffmpeg: FfmpegFactory = ffmpegFactory()): Promise<{ streams: StreamReport[] }> {
  const output = path.resolve(opts.output);
  const container = containerFor(opts.output);
  if (opts.timestamps.pts.length !== opts.frameCount) {
    throw new Error(`Cannot join: ${opts.timestamps.pts.length} timestamps for ${opts.frameCount} frames; give the whole video's timestamps from indexFrames`);
  }
  if (opts.segments.length === 0) throw new RangeError('Cannot join: no segments given');
  const counts: number[] = [];
  for (const segment of opts.segments) counts.push((await probeVideo(segment, ffmpeg)).frameCount);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== opts.frameCount) {
    throw new Error(`Cannot join: the ${opts.segments.length} segments hold ${total} frames (${counts.join(' + ')}), not the video's ${opts.frameCount}; encode the missing or extra ranges again`);
  }
  const source = await streamSource(opts.audioFrom, opts.output, container, ffmpeg);
  const carried = carriedStreams(source);
  const audio = carried.length > 0 ? source : undefined;
  await fs.mkdir(path.dirname(output), { recursive: true });
  await removeStaleTemps(output);
  const scratch = await fs.mkdtemp(path.join(tmpdir(), 'starry-join-'));
  try {
    const list = path.join(scratch, 'segments.ffconcat');
    await fs.writeFile(list, concatList(opts.segments, segmentStarts(counts, opts.frameRate, opts.timestamps)));
    await withAtomicOutput(output, async (tempPath) => {
      const command = ffmpeg();
      command.input(list);
      addInputOptions(command, ['-f', 'concat', '-safe', '0']);
      // The segments start at 0; the whole video's first frame may come later (see assembleVideo).
      const start = videoStartSeconds(opts.frameRate, opts.timestamps, audio);
      if (start > 0) addInputOptions(command, ['-itsoffset', start.toFixed(6)]);
      if (audio) command.input(audio.file);
      addOutputOptions(command, ['-map', '0:v:0', '-c:v', 'copy', ...sideStreamOptions(carried, container, 1), ...muxerOptions(container)]);
      command.output(tempPath);
      await runFfmpeg(command, `joining ${opts.segments.length} segments into "${opts.output}"`, opts.signal);
      await checkWritten(tempPath, opts.frameCount, carried, opts.output, ffmpeg);
    });
    return { streams: source?.streams ?? [] };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}

/**
 * Where each segment starts and where the last one ends, in whole microseconds after the first
 * frame (the concat demuxer's unit). Each is rounded from the exact time rather than summed from
 * rounded durations, so the error never grows past half a microsecond, far below one tick of the
 * segments' clock, and each frame lands on its exact tick.
 */
export function segmentStarts(counts: readonly number[], frameRate: FrameRate, timestamps: FrameTimestamps): number[] {
  const boundaries = [0];
  for (const n of counts) boundaries.push(boundaries[boundaries.length - 1] + n);
  if (isConstantRate(timestamps, frameRate)) {
    return boundaries.map((frames) => Math.round((frames * frameRate.den * 1e6) / frameRate.num));
  }
  const clock = variableRateClock(timestamps);
  // The last frame lasts one tick of the clock, as the encoder gives it.
  const tick = (i: number) => (i < clock.pts.length ? clock.pts[i] : clock.pts[clock.pts.length - 1] + 1) - clock.pts[0];
  return boundaries.map((frames) => Math.round((tick(frames) * clock.rate.den * 1e6) / clock.rate.num));
}

/** An ffconcat list: each segment with its exact duration, so none is placed by its container's rounded length. */
function concatList(segments: readonly string[], starts: readonly number[]): string {
  const lines = ['ffconcat version 1.0'];
  segments.forEach((segment, k) => {
    lines.push(`file '${path.resolve(segment).replace(/'/g, "'\\''")}'`, `duration ${microsecondsText(starts[k + 1] - starts[k])}`);
  });
  return `${lines.join('\n')}\n`;
}

/** "12.345678": seconds written from whole microseconds without a float's rounding. */
function microsecondsText(us: number): string {
  return `${Math.floor(us / 1e6)}.${String(us % 1e6).padStart(6, '0')}`;
}
