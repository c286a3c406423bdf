/**
 * Generates media inputs for tests by running the ffmpeg binary directly (not through
 * fluent-ffmpeg, so the code under test is not also the code making its inputs).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { ffmpegPaths } from '../../src/media/binaries';
import type { RgbImage } from '../../src/media/types';

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

/** Source instants of the variable-rate clip: 30 per second, but only every third outside [1 s, 2 s). */
export const VFR_TICKS_PER_SECOND = 30;
/** Beep onsets in the variable-rate clip's sound, each in the middle of the frame it belongs to. */
export const VFR_BEEPS = [0.55, 1.25, 2.15, 2.65];

/**
 * A 3 s variable-rate clip: 10 fps, then 30 fps from 1 s to 2 s, then 10 fps again (50 frames, as
 * phones and screen recorders make them). Each frame shows which 1/30 s instant it was taken at —
 * the instant's number in binary as eight vertical bars, bit 0 leftmost, white for 1 — so a decoded
 * frame tells exactly when it belongs. The sound (AAC) has 50 ms 1 kHz beeps at {@link VFR_BEEPS}.
 */
export async function makeVfrClip(file: string): Promise<string> {
  const bits = "255*mod(floor(floor(T*30+0.5)/pow(2\\,floor(X*8/W)))\\,2)";
  const video = `nullsrc=s=64x48:r=30,format=gray,geq=lum='${bits}',select='gte(t\\,1)*lt(t\\,2)+not(mod(n\\,3))',format=yuv420p`;
  const beeps = VFR_BEEPS.map((b) => `between(t\\,${b}\\,${b + 0.05})`).join('+');
  const audio = `aevalsrc='0.8*sin(2*PI*1000*t)*(${beeps})':s=44100:d=3`;
  await ffmpeg(['-f', 'lavfi', '-i', video, '-f', 'lavfi', '-i', audio, '-t', '3', '-vsync', 'vfr',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k', file]);
  return file;
}

/**
 * The clip: 2 s at 5 fps, then 2 s at 30 fps (70 frames, coded as {@link makeVfrClip}'s
 * are), with a 4.0 s 440 Hz soundtrack. It ends faster than it starts, where x264's decode times
 * (shifted by its opening frame spacing) once made the output 1/3 s longer than its frames.
 */
export async function makeSlowThenFastClip(file: string): Promise<string> {
  const bits = "255*mod(floor(floor(T*30+0.5)/pow(2\\,floor(X*8/W)))\\,2)";
  const video = `nullsrc=s=64x48:r=30,format=gray,geq=lum='${bits}',select='gte(t\\,2)+not(mod(n\\,6))',format=yuv420p`;
  await ffmpeg(['-f', 'lavfi', '-i', video, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=4', '-t', '4', '-vsync', 'vfr',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '96k', file]);
  return file;
}

export interface CodedFrame {
  /** Seconds after the start of the file's audio (its clock when it has none). */
  time: number;
  /** The 1/30 s instant of the source the picture shows. */
  code: number;
}

/** Every video frame of a clip made by {@link makeVfrClip} (or a render of it): when it is shown and what it shows. */
export async function readCodedFrames(file: string): Promise<CodedFrame[]> {
  const { stdout } = await run(
    ffmpegPaths().ffprobe,
    ['-v', 'error', '-show_entries', 'frame=media_type,best_effort_timestamp_time:stream=codec_type,start_time', '-of', 'json', file],
    { maxBuffer: MAX_BUFFER },
  );
  const probe = JSON.parse(stdout) as { frames: Array<Record<string, string>>; streams: Array<Record<string, string>> };
  const audio = probe.streams.find((s) => s.codec_type === 'audio');
  const origin = audio ? Number(audio.start_time) : 0;
  const times = probe.frames.filter((f) => f.media_type === 'video').map((f) => Number(f.best_effort_timestamp_time) - origin);
  // Each bar averaged to one pixel: eight grey values per frame.
  const bars = await ffmpeg(['-i', file, '-map', '0:V:0', '-vsync', '0', '-vf', 'scale=8:1:flags=area,format=gray', '-f', 'rawvideo', '-']);
  if (bars.length !== times.length * 8) throw new Error(`${file}: ${times.length} frame times but ${bars.length / 8} pictures`);
  return times.map((time, k) => {
    let code = 0;
    for (let bit = 0; bit < 8; bit++) if (bars[k * 8 + bit] > 128) code |= 1 << bit;
    return { time, code };
  });
}

/** Seconds (after the audio's start) at which each beep of the first audio track begins. */
export async function beepOnsets(file: string): Promise<number[]> {
  const rate = 44100;
  const pcm = await ffmpeg(['-i', file, '-map', '0:a:0', '-ac', '1', '-ar', String(rate), '-f', 's16le', '-c:a', 'pcm_s16le', '-']);
  const onsets: number[] = [];
  let quietSince = 0;
  for (let i = 0; i + 1 < pcm.length; i += 2) {
    const loud = Math.abs(pcm.readInt16LE(i)) > 0.3 * 32767;
    const sample = i / 2;
    if (loud) {
      if (sample - quietSince > rate * 0.1) onsets.push(sample / rate);
      quietSince = sample;
    }
  }
  return onsets;
}

/** The frame on screen at `t`: the last one shown at or before it. */
export function shownAt(frames: readonly CodedFrame[], t: number): CodedFrame {
  let shown = frames[0];
  for (const f of frames) if (f.time <= t + 1e-9) shown = f;
  return shown;
}

/**
 * A 1 s, 25 fps clip with one audio track per entry of `audio` (440 Hz, 660 Hz, ... so they differ;
 * languages eng, fra, ...) and, when `subtitles` is set, a SubRip track in that codec (srt for .mkv,
 * mov_text for .mp4).
 */
export async function makeMultiStreamClip(
  file: string,
  audio: Array<'aac' | 'libopus' | 'libmp3lame'>,
  subtitles?: 'srt' | 'mov_text',
): Promise<string> {
  const languages = ['eng', 'fra', 'deu', 'spa'];
  const args = ['-f', 'lavfi', '-i', 'testsrc2=size=64x48:rate=25,trim=end_frame=25,format=yuv420p'];
  audio.forEach((_, i) => args.push('-f', 'lavfi', '-i', `sine=frequency=${440 + 220 * i}:sample_rate=48000:duration=1`));
  if (subtitles) {
    const srt = `${file}.srt`;
    await writeFile(srt, '1\n00:00:00,100 --> 00:00:00,600\nHello\n\n2\n00:00:00,700 --> 00:00:00,900\nWorld\n');
    args.push('-i', srt);
  }
  args.push('-map', '0:v', '-c:v', 'libx264', '-preset', 'veryfast');
  audio.forEach((codec, i) => {
    args.push('-map', `${i + 1}:a`, `-c:a:${i}`, codec, `-metadata:s:a:${i}`, `language=${languages[i]}`);
  });
  if (subtitles) args.push('-map', `${audio.length + 1}:s`, '-c:s', subtitles, '-metadata:s:s:0', 'language=eng');
  await ffmpeg([...args, file]);
  if (subtitles) await rm(`${file}.srt`, { force: true });
  return file;
}

/**
 * `frames` (even width and height) as they come back from an H.264 clip: encoded with libx264 at
 * `crf` (23 is its default; lower is better) in 4:2:0 as cameras and phones record, and decoded to
 * 8-bit RGB. Compression noise differs from frame to frame even where the scene does not, like
 * sensor noise. Deterministic: one thread, a fixed preset.
 */
export async function h264RoundTrip(frames: readonly RgbImage[], crf: number): Promise<RgbImage[]> {
  const { width, height } = frames[0];
  if (width % 2 || height % 2) throw new RangeError(`h264RoundTrip: 4:2:0 needs even sizes, got ${width}×${height}`);
  const { dir, cleanup } = await tempDir('h264-round-trip');
  try {
    const clip = path.join(dir, 'clip.mp4');
    const raw = Buffer.alloc(frames.length * width * height * 3);
    frames.forEach((f, t) => f.data.forEach((v, i) => (raw[t * width * height * 3 + i] = Math.round(255 * Math.min(1, Math.max(0, v))))));
    await new Promise<void>((resolve, reject) => {
      const child = spawn(ffmpegPaths().ffmpeg, [
        '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
        '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', '25', '-i', 'pipe:0',
        '-c:v', 'libx264', '-preset', 'veryfast', '-crf', String(crf), '-threads', '1', '-pix_fmt', 'yuv420p', clip,
      ], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg (libx264 encode) exited ${code}: ${stderr.trim()}`))));
      child.stdin.end(raw);
    });
    const decoded = await ffmpeg(['-threads', '1', '-i', clip, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']);
    const frameBytes = width * height * 3;
    if (decoded.length !== frames.length * frameBytes) {
      throw new Error(`h264RoundTrip: expected ${frames.length} frames back (${frames.length * frameBytes} bytes), got ${decoded.length} bytes`);
    }
    return frames.map((_, t) => ({ width, height, data: Float32Array.from(decoded.subarray(t * frameBytes, (t + 1) * frameBytes), (v) => v / 255) }));
  } finally {
    await cleanup();
  }
}
