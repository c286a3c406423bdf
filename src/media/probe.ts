import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { FfprobeData, FfprobeStream } from 'fluent-ffmpeg';
import { ffmpegFactory, type FfmpegFactory } from './binaries';
import { MediaInputError } from './errors';
import { displaySize, normaliseRotation } from './geometry';
import type { FrameRate, VideoInfo } from './types';

export { MediaInputError } from './errors';

const INPUT_HINT = 'Give {input} a video such as an .mp4 or .mov.';

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return Math.abs(a);
}

/** Parses "30000/1001" (or "25") into a reduced fraction; undefined for "0/0", "N/A" and the like. */
export function parseFrameRate(text: unknown): FrameRate | undefined {
  const match = /^\s*(\d+)(?:\s*\/\s*(\d+))?\s*$/.exec(String(text ?? ''));
  if (!match) return undefined;
  const num = Number(match[1]);
  const den = match[2] === undefined ? 1 : Number(match[2]);
  if (!Number.isSafeInteger(num) || !Number.isSafeInteger(den) || num <= 0 || den <= 0) return undefined;
  const d = gcd(num, den);
  return { num: num / d, den: den / d };
}

/** Parses "4:3" style ratios; undefined for "0:1", "N/A" and missing values. */
function parseRatio(text: unknown): number | undefined {
  const match = /^(\d+):(\d+)$/.exec(String(text ?? ''));
  if (!match) return undefined;
  const ratio = Number(match[1]) / Number(match[2]);
  return ratio > 0 && Number.isFinite(ratio) ? ratio : undefined;
}

function positiveNumber(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : Number.parseFloat(String(value ?? ''));
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * Clockwise degrees a viewer must turn the coded picture, i.e. the legacy "rotate" tag's meaning.
 * Newer ffprobe builds drop that tag and report the display matrix instead, whose "rotation" is
 * counterclockwise, hence the sign flip. fluent-ffmpeg's text parser flattens the [SIDE_DATA]
 * block into the stream object, which is why `rotation` is read from the stream itself.
 */
function clockwiseRotation(stream: FfprobeStream): number {
  const tag = stream.tags?.rotate;
  if (tag !== undefined && Number.isFinite(Number.parseFloat(String(tag)))) {
    return normaliseRotation(Number.parseFloat(String(tag)));
  }
  const lists = stream.side_data_list as Array<Record<string, unknown>> | undefined;
  const fromList = lists?.find((sd) => sd.rotation !== undefined)?.rotation;
  const matrixRotation = Number.parseFloat(String(fromList ?? stream.rotation ?? ''));
  return Number.isFinite(matrixRotation) ? normaliseRotation(-matrixRotation) : 0;
}

/** Single-image demuxers also report a "video" stream; a still picture is not a usable --input. */
function isStillImage(formatName: string): boolean {
  return formatName === 'image2' || formatName.endsWith('_pipe');
}

function runProbe(ffmpeg: FfmpegFactory, file: string, extra: string[]): Promise<FfprobeData> {
  return new Promise((resolve, reject) => {
    ffmpeg(file).ffprobe(['-v', 'error', ...extra], (err: Error | null, data: FfprobeData) => {
      if (err) reject(err);
      else resolve(data);
    });
  });
}

/** ffprobe's last complaint, without the file name it starts with. */
function shortReason(err: Error, file: string): string {
  const lines = err.message.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const last = lines.length > 1 ? lines[lines.length - 1] : 'unknown error';
  return last.startsWith(`${file}: `) ? last.slice(file.length + 2) : last;
}

async function assertExistingFile(file: string, shown: string): Promise<void> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new MediaInputError(`"${shown}" does not exist. ${INPUT_HINT}`);
    throw new MediaInputError(`"${shown}" cannot be read (${code ?? String(err)}). ${INPUT_HINT}`);
  }
  if (!stat.isFile()) throw new MediaInputError(`"${shown}" is not a file. ${INPUT_HINT}`);
}

/**
 * Describes a video file: exact frame rate, frame count, rotation and audio.
 * Throws MediaInputError when the file is missing, not media, a still image or audio only.
 */
export async function probeVideo(input: string, ffmpeg: FfmpegFactory = ffmpegFactory()): Promise<VideoInfo> {
  // Absolute paths keep ffmpeg from reading "name:rest" as a protocol and make messages unambiguous.
  const file = path.resolve(input);
  await assertExistingFile(file, input);

  let data: FfprobeData;
  try {
    data = await runProbe(ffmpeg, file, []);
  } catch (err) {
    const error = err as Error;
    if (!/ffprobe exited with code/.test(error.message)) {
      throw new Error(`Could not run ffprobe to read "${input}": ${error.message}`);
    }
    throw new MediaInputError(
      `"${input}" is not a readable video file (ffprobe: ${shortReason(error, file)}). ${INPUT_HINT}`,
    );
  }

  const formatName = String(data.format.format_name ?? '');
  const video = data.streams.find((s) => s.codec_type === 'video' && Number(s.disposition?.attached_pic ?? 0) !== 1);
  const audio = data.streams.find((s) => s.codec_type === 'audio');
  if (!video) {
    const holds = audio ? 'it holds only audio' : 'ffprobe found no picture in it';
    throw new MediaInputError(`"${input}" has no video stream (${holds}). ${INPUT_HINT}`);
  }
  if (isStillImage(formatName)) {
    throw new MediaInputError(`"${input}" is a still image (${formatName}), not a video. ${INPUT_HINT}`);
  }

  const width = Number(video.width);
  const height = Number(video.height);
  if (!(width > 0 && height > 0)) {
    throw new MediaInputError(`"${input}" has a video stream without a usable picture size. ${INPUT_HINT}`);
  }

  const frameRate = parseFrameRate(video.avg_frame_rate) ?? parseFrameRate(video.r_frame_rate);
  if (!frameRate) {
    throw new MediaInputError(`"${input}" does not state a frame rate, so its timing cannot be kept. ${INPUT_HINT}`);
  }

  const durationSeconds = positiveNumber(video.duration) ?? positiveNumber(data.format.duration) ?? 0;
  const frameCount = await countFrames(ffmpeg, file, video, frameRate, durationSeconds);
  const rotation = clockwiseRotation(video);
  const display = displaySize(width, height, rotation, parseRatio(video.sample_aspect_ratio));

  return {
    formatName,
    durationSeconds,
    frameCount,
    frameRate,
    width,
    height,
    rotation,
    displayWidth: display.width,
    displayHeight: display.height,
    hasAudio: audio !== undefined,
    audioCodec: audio?.codec_name === undefined ? undefined : String(audio.codec_name),
    videoStartSeconds: videoStart(video, data),
    sideStreams: data.streams
      .filter((s) => s.codec_type === 'audio' || s.codec_type === 'subtitle')
      .map((s) => ({
        index: Number(s.index),
        type: s.codec_type as 'audio' | 'subtitle',
        codec: String(s.codec_name ?? 'unknown'),
        // "und" (undetermined) is what muxers write when nobody said; it is no language.
        ...(s.tags?.language && s.tags.language !== 'und' ? { language: String(s.tags.language) } : {}),
      })),
  };
}

/** Video start relative to the earliest stream, the origin ffmpeg shifts each input's timestamps to. */
function videoStart(video: FfprobeStream, data: FfprobeData): number {
  const starts = data.streams.map((s) => Number.parseFloat(String(s.start_time))).filter(Number.isFinite);
  const own = Number.parseFloat(String(video.start_time));
  if (!Number.isFinite(own) || starts.length === 0) return 0;
  return Math.max(0, Math.round((own - Math.min(...starts)) * 1e6) / 1e6);
}

/**
 * The header's count when the container stores one (mp4/mov), else packets counted by reading
 * the file without decoding (mkv/webm), else an estimate from the duration.
 */
async function countFrames(
  ffmpeg: FfmpegFactory,
  file: string,
  video: FfprobeStream,
  rate: FrameRate,
  durationSeconds: number,
): Promise<number> {
  const fromHeader = positiveNumber(video.nb_frames);
  if (fromHeader !== undefined && Number.isInteger(fromHeader)) return fromHeader;
  try {
    const counted = await runProbe(ffmpeg, file, ['-count_packets']);
    const same = counted.streams.find((s) => s.index === video.index);
    const packets = positiveNumber(same?.nb_read_packets);
    if (packets !== undefined) return packets;
  } catch {
    // The first probe succeeded, so fall through to the estimate rather than fail here.
  }
  return Math.max(1, Math.round((durationSeconds * rate.num) / rate.den));
}
