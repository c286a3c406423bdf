/**
 * Generates media inputs for tests by running the ffmpeg binary directly (not through
 * fluent-ffmpeg, so the code under test is not also the code making its inputs).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { ffmpegPaths } from '../../src/media/binaries';

const run = promisify(execFile);
const MAX_BUFFER = 256 * 1024 * 1024;

export interface ClipSpec {
  path: string;
  width: number;
  height: number;
  /** Frame rate as ffmpeg writes it, e.g. "30000/1001" or "25". */
  rate?: string;
  frames: number;
  /** Adds a 440 Hz track lasting as long as the video. */
  audio?: boolean;
  /** Encoder for that track (default aac); the container comes from the file extension. */
  audioCodec?: 'aac' | 'pcm_s16le' | 'libopus' | 'libmp3lame';
  /** Clockwise rotation a player should apply (the legacy "rotate" tag's meaning). */
  rotate?: 0 | 90 | 180 | 270;
  /** Writes only the audio track (the file has no video stream). */
  audioOnly?: boolean;
  /** Seconds the first frame comes after the start of the audio. */
  videoDelay?: number;
}

async function ffmpeg(args: string[]): Promise<Buffer> {
  const { stdout } = await run(ffmpegPaths().ffmpeg, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args], {
    encoding: 'buffer',
    maxBuffer: MAX_BUFFER,
  });
  return stdout;
}

function rateSeconds(rate: string, frames: number): number {
  const [num, den = '1'] = rate.split('/');
  return (frames * Number(den)) / Number(num);
}

/**
 * Writes a synthetic H.264 clip. Even sizes use yuv420p like real cameras; odd sizes use yuv444p,
 * the one libx264 layout that allows them, so the product can be tested on awkward sizes.
 */
export async function makeClip(spec: ClipSpec): Promise<string> {
  const rate = spec.rate ?? '30000/1001';
  const seconds = rateSeconds(rate, spec.frames).toFixed(6);
  const audioArgs = spec.audioCodec && spec.audioCodec !== 'aac' ? ['-c:a', spec.audioCodec] : ['-c:a', 'aac', '-b:a', '96k'];
  const sine = `sine=frequency=440:sample_rate=44100:duration=${seconds}`;
  if (spec.audioOnly) {
    await ffmpeg(['-f', 'lavfi', '-i', sine, ...audioArgs, spec.path]);
    return spec.path;
  }
  const even = spec.width % 2 === 0 && spec.height % 2 === 0;
  const pixFmt = even ? 'yuv420p' : 'yuv444p';
  // testsrc2 would round odd sizes down for 4:2:0 unless asked for the final layout up front.
  // trim rather than -frames:v: in ffmpeg 4.1 hitting -frames:v also ends the audio stream early.
  const video = `testsrc2=size=${spec.width}x${spec.height}:rate=${rate},trim=end_frame=${spec.frames},format=${pixFmt}`;
  const args = spec.videoDelay ? ['-itsoffset', String(spec.videoDelay)] : [];
  args.push('-f', 'lavfi', '-i', video);
  if (spec.audio) args.push('-f', 'lavfi', '-i', sine);
  args.push('-map', '0:v');
  if (spec.audio) args.push('-map', '1:a', ...audioArgs);
  args.push('-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', pixFmt, '-r', rate);
  // Without passthrough the mp4 muxer's constant-rate sync fills a late start with copies of the first frame.
  if (spec.videoDelay) args.push('-vsync', '0');

  const rotate = spec.rotate ?? 0;
  if (rotate === 0) {
    await ffmpeg([...args, spec.path]);
    return spec.path;
  }
  // ffmpeg 4.1 ignores a rotate tag on streams it encodes, so encode first and tag on a copy.
  // Its stream-copy path also writes the display matrix the other way round (rotate=90 reads back
  // as 270 in both ffmpeg 4.1 and newer ffprobe), so ask for the opposite turn.
  const plain = path.join(path.dirname(spec.path), `.unrotated-${path.basename(spec.path)}`);
  await ffmpeg([...args, plain]);
  try {
    await ffmpeg(['-i', plain, '-map', '0', '-c', 'copy', '-metadata:s:v:0', `rotate=${(360 - rotate) % 360}`, spec.path]);
  } finally {
    await rm(plain, { force: true });
  }
  return spec.path;
}

/** A colourful, non-symmetric pattern (gradients plus stripes) so orientation and colour errors show. */
export async function makeStyleImage(file: string, width: number, height: number): Promise<string> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round((255 * x) / Math.max(1, width - 1));
      data[i + 1] = Math.round((255 * y) / Math.max(1, height - 1));
      data[i + 2] = Math.floor(x / 8) % 2 === 0 ? 230 : 30;
    }
  }
  await sharp(data, { raw: { width, height, channels: 3 } }).toFile(file);
  return file;
}

/** ffprobe's JSON for streams and format, with frames counted by decoding. */
export async function probeStreams(file: string): Promise<FfprobeJson> {
  const { stdout } = await run(
    ffmpegPaths().ffprobe,
    ['-v', 'error', '-show_streams', '-show_format', '-count_frames', '-of', 'json', file],
    { maxBuffer: MAX_BUFFER },
  );
  return JSON.parse(stdout) as FfprobeJson;
}

export interface FfprobeJson {
  streams: Array<Record<string, any> & { codec_type: string }>;
  format: Record<string, any>;
}

export interface RawRgb {
  width: number;
  height: number;
  /** 8-bit RGB, row-major, interleaved. */
  data: Buffer;
}

/** Decodes frame k (0-based, in decode output order) to 8-bit RGB, as ffmpeg shows it (rotation applied). */
export async function decodeFrame(videoPath: string, k: number): Promise<RawRgb> {
  const png = await ffmpeg([
    '-i', videoPath,
    '-map', '0:V:0',
    '-vf', `select=eq(n\\,${k})`,
    '-vsync', '0',
    '-frames:v', '1',
    '-pix_fmt', 'rgb24',
    '-c:v', 'png',
    '-f', 'image2pipe',
    '-',
  ]);
  if (png.length === 0) throw new Error(`${videoPath} has no frame ${k}`);
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** Mean absolute difference of two same-size 8-bit images, in 0..255 units. */
export function meanAbsDiff(a: { data: Uint8Array }, b: { data: Uint8Array }): number {
  if (a.data.length !== b.data.length) throw new Error(`Sizes differ: ${a.data.length} vs ${b.data.length} bytes`);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += Math.abs(a.data[i] - b.data[i]);
  return sum / a.data.length;
}

/** MD5 of a stream's packets, copied out without decoding: equal hashes mean bit-identical streams. */
export async function streamMd5(file: string, spec: string): Promise<string> {
  const out = await ffmpeg(['-i', file, '-map', `0:${spec}`, '-c', 'copy', '-f', 'md5', '-']);
  return out.toString().trim();
}

/** A fresh temp directory and its remover, for `after()` hooks. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A pid with no process behind it, to stand for a writer that crashed. */
export function deadPid(): number {
  for (let pid = 4_000_000; ; pid++) {
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return pid;
    }
  }
}
