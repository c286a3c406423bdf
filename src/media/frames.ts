import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { removeStaleTemps, tempPathFor, writeFileAtomic } from '../common/atomic';
import { addOutputOptions, ffmpegFactory, runFfmpeg, type FfmpegFactory } from './binaries';
import { MediaInputError } from './errors';
import type { FrameRate } from './types';

const FRAME_NAME = /^frame_\d{6,}\.png$/;
/** Written last into a finished extraction so a later run can trust the directory. */
const MARKER = '.extract.json';
/** Each frame's presentation time, written next to the frames by the same ffmpeg run that decodes them. */
export const TIMESTAMPS = 'timestamps.json';
/** Bumped when an extraction's contents change meaning, so older ones are redone rather than trusted. */
const LAYOUT = 2;

/** ffmpeg's printf-style name for the frames: 1-based, at least six digits. */
export const FRAME_PATTERN = 'frame_%06d.png';

/** `<dir>/frame_000001.png` for index 1. Indices are 1-based, like ffmpeg's image2 numbering. */
export function framePath(dir: string, index: number): string {
  if (!Number.isInteger(index) || index < 1) throw new RangeError(`Frame index must be a whole number from 1 (got ${index})`);
  return path.join(dir, `frame_${String(index).padStart(6, '0')}.png`);
}

/** The last 8 bytes of every complete PNG: its IEND chunk's type and CRC. */
const PNG_END = Buffer.from([0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);

/**
 * Checks that frames first..last in `dir` are whole PNGs. ffmpeg's image writer does not report a
 * short write: on a full disk it leaves empty or truncated images and exits 0. A cut-off image is
 * reported as ENOSPC when the disk then refuses the bytes it lacked, else as an incomplete file.
 */
export async function checkImagesComplete(dir: string, first: number, last: number): Promise<void> {
  for (let frame = first; frame <= last; frame++) {
    const file = framePath(dir, frame);
    const handle = await fs.open(file, 'r');
    let size: number;
    const tail = Buffer.alloc(PNG_END.length);
    try {
      size = (await handle.stat()).size;
      if (size >= tail.length) await handle.read(tail, 0, tail.length, size - tail.length);
    } finally {
      await handle.close();
    }
    if (size >= tail.length && tail.equals(PNG_END)) continue;
    // Whether the disk is full: write as much as a whole image would take (the previous frame's size).
    const wanted = frame > first ? (await fs.stat(framePath(dir, frame - 1))).size : 64 * 1024;
    const probe = path.join(dir, '.space-probe');
    try {
      await fs.writeFile(probe, Buffer.alloc(wanted));
    } finally {
      await fs.rm(probe, { force: true });
    }
    throw new Error(`ffmpeg wrote ${file} incomplete (${size} bytes) though the disk has room now: extract it again`);
  }
}

/** The image2 pattern for a directory; a literal % in the directory name must be doubled for ffmpeg. */
export function framePattern(dir: string): string {
  return path.join(dir.replace(/%/g, '%%'), FRAME_PATTERN);
}

/** Number of frame images in `dir` (0 when it does not exist). */
export async function listFrameCount(dir: string): Promise<number> {
  try {
    return (await fs.readdir(dir)).filter((name) => FRAME_NAME.test(name)).length;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
}

export interface ExtractOptions {
  input: string;
  outDir: string;
  /** Size of every frame in pixels: the display (upright) size, since ffmpeg applies rotation. */
  width: number;
  height: number;
  /** Cancels the extraction: ffmpeg is killed and the partial frames removed. */
  signal?: AbortSignal;
}

/**
 * When each extracted frame is shown: `pts[i]` is frame i+1's presentation time in `timeBase` seconds,
 * the source stream's own clock (relative to the file's earliest stream, as ffmpeg counts it).
 */
export interface FrameTimestamps {
  timeBase: FrameRate;
  pts: number[];
}

/** What an extraction directory was made from; a later request reuses it only when every field matches. */
export interface Marker {
  layout: number;
  input: string;
  inputSize: number;
  inputMtimeMs: number;
  width: number;
  height: number;
  /** The frame range of a chunk's extraction (absent for a whole-video one, so the two never pass for each other). */
  first?: number;
  last?: number;
  frames: number;
}

async function readMarker(dir: string): Promise<Marker | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, MARKER), 'utf8')) as Marker;
  } catch {
    return undefined;
  }
}

async function exists(p: string): Promise<boolean> {
  return fs.lstat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Decodes every frame of `input` into `outDir` as `frame_000001.png`... scaled to exactly
 * width x height, and returns how many were written.
 *
 * Crash-safe and idempotent: frames are written into a hidden sibling directory which is
 * renamed to `outDir` only when complete, so an existing `outDir` from an identical earlier
 * request is reused as is. A directory from a different request (other size or input) is
 * replaced; one we did not write is never deleted.
 */
export async function extractFrames(opts: ExtractOptions, ffmpeg: FfmpegFactory = ffmpegFactory()): Promise<number> {
  const input = path.resolve(opts.input);
  const outDir = path.resolve(opts.outDir);
  const wanted = await describeRequest(opts.input, opts.width, opts.height);

  const previous = await reusable(outDir, wanted);
  if (previous !== undefined) return previous;

  return writeExtraction(outDir, async (work) => {
    const command = ffmpeg(input);
    addOutputOptions(command, [...pictureOutputOptions(opts.width, opts.height, []), '-start_number', '1']);
    command.output(framePattern(work));
    // A second output of the same decode lists every frame's pts in the source's own time base
    // (framecrc of a 2x2 thumbnail: cheap), so variable-rate video keeps its timing exactly.
    const crc = path.join(work, '.pts.framecrc');
    // fluent-ffmpeg adds output options to the latest output, so name it first.
    command.output(crc);
    addOutputOptions(command, timestampOutputOptions([]));
    await runFfmpeg(command, `extracting frames from "${opts.input}"`, opts.signal);

    const frames = await listFrameCount(work);
    if (frames === 0) throw new MediaInputError(`"${opts.input}" decoded to no frames. Give {input} a video with at least one picture.`);
    await checkImagesComplete(work, 1, frames);
    const timestamps = parseFramecrc(await fs.readFile(crc, 'utf8'));
    if (timestamps.pts.length !== frames) {
      throw new Error(`ffmpeg wrote ${frames} frames but ${timestamps.pts.length} timestamps for "${opts.input}"`);
    }
    await fs.rm(crc);
    await writeFileAtomic(path.join(work, TIMESTAMPS), JSON.stringify(timestamps));
    return { ...wanted, frames };
  });
}

/**
 * The identity of an extraction request: the input (by path, size and mtime, so a replaced file is
 * not mistaken for the old one) and the frame size. Throws a clear error for a bad size or input.
 */
export async function describeRequest(inputArg: string, width: number, height: number): Promise<Omit<Marker, 'frames'>> {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`Frame size must be whole positive pixels (got ${width}x${height})`);
  }
  const input = path.resolve(inputArg);
  const stat = await fs.stat(input).catch(() => undefined);
  if (!stat?.isFile()) throw new MediaInputError(`"${inputArg}" does not exist or is not a file. Give {input} a video such as an .mp4 or .mov.`);
  return { layout: LAYOUT, input, inputSize: stat.size, inputMtimeMs: stat.mtimeMs, width, height };
}

/**
 * The options of the output that writes the pictures: `selectFilters` (which frames) run before
 * the scale, so every frame a chunk writes went through exactly the chain a whole extraction uses.
 */
export function pictureOutputOptions(width: number, height: number, selectFilters: string[]): string[] {
  return [
    // Upper-case V skips cover art, which some files carry as an extra "video" stream.
    '-map', '0:V:0',
    // Passthrough: exactly one image per decoded frame, never duplicated or dropped to fit a rate.
    '-vsync', '0',
    // ffmpeg has already turned the picture upright (autorotate), so width x height is the display size.
    '-vf', [...selectFilters, `scale=${width}:${height}:flags=lanczos+accurate_rnd+full_chroma_int`, 'setsar=1'].join(','),
    '-pix_fmt', 'rgb24',
    '-c:v', 'png',
    '-f', 'image2',
  ];
}

/** The options of a framecrc output listing each (selected) frame's pts in the source's time base. */
export function timestampOutputOptions(selectFilters: string[]): string[] {
  return ['-map', '0:V:0', '-vsync', '0', '-enc_time_base', '-1', '-vf', [...selectFilters, 'scale=2:2'].join(','), '-c:v', 'rawvideo', '-f', 'framecrc'];
}

/**
 * Runs `write` on a fresh hidden sibling of `outDir` and renames it into place once it has
 * returned the marker to leave there; on failure the partial directory is removed.
 */
export async function writeExtraction(outDir: string, write: (work: string) => Promise<Marker>): Promise<number> {
  await fs.mkdir(path.dirname(outDir), { recursive: true });
  await removeStaleTemps(outDir);
  const work = tempPathFor(outDir);
  await fs.mkdir(work);
  try {
    const marker = await write(work);
    await writeFileAtomic(path.join(work, MARKER), JSON.stringify(marker));
    await moveIntoPlace(work, outDir);
    return marker.frames;
  } catch (err) {
    await fs.rm(work, { recursive: true, force: true });
    throw err;
  }
}

/** Reads ffmpeg's framecrc listing: a "#tb 0: num/den" header, then "stream, dts, pts, duration, size, crc" per frame. */
export function parseFramecrc(text: string): FrameTimestamps {
  const tb = /^#tb 0: (\d+)\/(\d+)$/m.exec(text);
  if (!tb) throw new Error('ffmpeg wrote no time base for the frame timestamps');
  const pts = text
    .split(/\r?\n/)
    .filter((line) => /^\s*0\s*,/.test(line))
    .map((line) => Number(line.split(',')[2]));
  if (pts.some((p) => !Number.isSafeInteger(p))) throw new Error('ffmpeg wrote a frame without a timestamp');
  return { timeBase: { num: Number(tb[1]), den: Number(tb[2]) }, pts };
}

/** The timestamps of a finished extraction in `dir`, or undefined when it has none. */
export async function readFrameTimestamps(dir: string): Promise<FrameTimestamps | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dir, TIMESTAMPS), 'utf8')) as FrameTimestamps;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The frame count of a complete earlier extraction of the same request, if `outDir` holds one. */
export async function reusable(outDir: string, wanted: Omit<Marker, 'frames'>): Promise<number | undefined> {
  if (!(await exists(outDir))) return undefined;
  const marker = await readMarker(outDir);
  if (!marker) {
    // An empty directory (made ahead of time) is harmless to take over; anything else is not ours to delete.
    const entries = await fs.readdir(outDir).catch(() => undefined);
    if (entries && entries.length === 0) {
      await fs.rmdir(outDir);
      return undefined;
    }
    throw new Error(`"${outDir}" exists but was not written by a frame extraction; move it away or choose another directory`);
  }
  const keys = new Set([...Object.keys(wanted), ...Object.keys(marker)].filter((k) => k !== 'frames')) as Set<keyof typeof wanted>;
  const same = [...keys].every((k) => marker[k] === wanted[k]);
  if (same && (await listFrameCount(outDir)) === marker.frames) return marker.frames;
  return undefined;
}

/** Renames the finished work directory to `outDir`, replacing an outdated extraction there. */
async function moveIntoPlace(work: string, outDir: string): Promise<void> {
  if (await exists(outDir)) {
    const old = tempPathFor(outDir);
    await fs.rename(outDir, old);
    await fs.rename(work, outDir);
    await fs.rm(old, { recursive: true, force: true });
    return;
  }
  try {
    await fs.rename(work, outDir);
  } catch (err) {
    // A concurrent extraction of the same request got there first; replace its result with ours.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    await moveIntoPlace(work, outDir);
  }
}
