import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { removeStaleTemps, withAtomicOutput } from '../common/atomic';
import { addInputOptions, addOutputOptions, ffmpegFactory, runFfmpeg, type FfmpegFactory } from './binaries';
import { MediaInputError } from './errors';
import { framePath, framePattern, type FrameTimestamps } from './frames';
import { probeVideo } from './probe';
import type { FrameRate, SideStream, StreamReport } from './types';

export interface AssembleOptions {
  /** Holds frame_000001.png ... frame_<frameCount>.png (files or symlinks), all one even size. */
  framesDir: string;
  frameRate: FrameRate;
  frameCount: number;
  /**
   * Each frame's presentation time in the source (from the extraction). When the frames do not sit
   * on the constant-rate grid of `frameRate` (variable-rate video from phones, screen recordings)
   * they are written at exactly these times instead, so the picture stays in sync with the sound.
   */
  timestamps?: FrameTimestamps;
  /** The original input, whose audio and subtitle streams are carried over (each copied where the container allows). */
  audioFrom?: string;
  /** Destination; the extension (.mp4, .mov, .mkv) picks the container. */
  output: string;
  /** Cancels the assembly: ffmpeg is killed and its partial output removed. */
  signal?: AbortSignal;
}

export interface Container {
  /** ffmpeg muxer name for -f. */
  muxer: string;
  /** Audio codecs this container stores as they are; undefined means any. */
  copyableAudio?: ReadonlySet<string>;
  /** Subtitle codecs this container stores as they are. */
  copyableSubtitles: ReadonlySet<string>;
  /** Encoder for text subtitles it cannot store as they are (picture subtitles are dropped). */
  textSubtitles: string;
  /** QuickTime-family files want their index first so playback can start before the download ends. */
  faststart: boolean;
}

/** Subtitles made of text, which any container's own text format can take; the rest are pictures. */
const TEXT_SUBTITLES = new Set(['subrip', 'srt', 'ass', 'ssa', 'webvtt', 'mov_text', 'text']);
const QUICKTIME_SUBTITLES = new Set(['mov_text']);

const QUICKTIME_AUDIO = ['aac', 'mp3', 'alac', 'ac3', 'eac3'];
const CONTAINERS: Readonly<Record<string, Container>> = {
  '.mp4': { muxer: 'mp4', copyableAudio: new Set(QUICKTIME_AUDIO), copyableSubtitles: QUICKTIME_SUBTITLES, textSubtitles: 'mov_text', faststart: true },
  '.m4v': { muxer: 'mp4', copyableAudio: new Set(QUICKTIME_AUDIO), copyableSubtitles: QUICKTIME_SUBTITLES, textSubtitles: 'mov_text', faststart: true },
  '.mov': {
    muxer: 'mov',
    copyableAudio: new Set([...QUICKTIME_AUDIO, 'pcm_s16le', 'pcm_s16be', 'pcm_s24le', 'pcm_s24be']),
    copyableSubtitles: QUICKTIME_SUBTITLES,
    textSubtitles: 'mov_text',
    faststart: true,
  },
  '.mkv': {
    muxer: 'matroska',
    copyableSubtitles: new Set(['subrip', 'ass', 'ssa', 'webvtt', 'hdmv_pgs_subtitle', 'dvd_subtitle', 'dvb_subtitle']),
    textSubtitles: 'srt',
    faststart: false,
  },
};

/**
 * The container for an output path, from its extension. Exported so a caller can reject a bad
 * --output before spending hours on the frames.
 */
export function containerFor(output: string): Container {
  const ext = path.extname(output).toLowerCase();
  const container = CONTAINERS[ext];
  if (!container) {
    throw new MediaInputError(
      `Cannot write "${output}": unsupported extension "${ext || '(none)'}". Give {output} a file name ending in ${Object.keys(CONTAINERS).join(', ')}.`,
    );
  }
  return container;
}

/** Whether the source audio can be stored untouched; otherwise it is re-encoded to AAC. */
export function canCopyAudio(container: Container, codec: string): boolean {
  return container.copyableAudio === undefined || container.copyableAudio.has(codec);
}

/**
 * What becomes of each audio and subtitle stream of the source in `container`: copied where it can
 * hold the stream as it is, else re-encoded (audio to AAC, text subtitles to the container's text
 * format), else dropped (picture subtitles in MP4/MOV), with the reason.
 */
export function planStreams(container: Container, output: string, streams: readonly SideStream[]): StreamReport[] {
  const ext = path.extname(output).toLowerCase();
  return streams.map((stream): StreamReport => {
    if (stream.type === 'audio') {
      return canCopyAudio(container, stream.codec)
        ? { ...stream, action: 'copied' }
        : { ...stream, action: 're-encoded', to: 'aac', reason: `${ext} cannot hold ${stream.codec} audio` };
    }
    if (container.copyableSubtitles.has(stream.codec)) return { ...stream, action: 'copied' };
    if (TEXT_SUBTITLES.has(stream.codec)) {
      const to = container.textSubtitles === 'srt' ? 'subrip' : container.textSubtitles;
      return { ...stream, action: 're-encoded', to, reason: `${ext} cannot hold ${stream.codec} subtitles` };
    }
    return { ...stream, action: 'dropped', reason: `${ext} cannot hold ${stream.codec} subtitles, and they are pictures, not text` };
  });
}

function rateText(rate: FrameRate): string {
  if (!(Number.isSafeInteger(rate.num) && Number.isSafeInteger(rate.den) && rate.num > 0 && rate.den > 0)) {
    throw new RangeError(`Frame rate must be a fraction of positive whole numbers (got ${rate.num}/${rate.den})`);
  }
  return `${rate.num}/${rate.den}`;
}

/**
 * Whether every frame sits on the grid of `rate` from the first frame on, within a tick of the source
 * clock or a millisecond (containers round times to their clock). Such video is written at that
 * exact constant rate; anything else keeps its own timestamps.
 */
export function isConstantRate(ts: FrameTimestamps, rate: FrameRate): boolean {
  const ticksPerSecond = ts.timeBase.den / ts.timeBase.num;
  const ticksPerFrame = (rate.den * ticksPerSecond) / rate.num;
  const tolerance = Math.max(1, ticksPerSecond / 1000);
  const first = ts.pts[0] ?? 0;
  return ts.pts.every((p, i) => Math.abs(p - first - i * ticksPerFrame) <= tolerance);
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return Math.abs(a);
}

/**
 * The clock variable-rate frames are written on: the coarsest one that still holds every source
 * timestamp exactly (10 and 30 fps segments give 1/30 s), or milliseconds when that would be finer.
 * ffmpeg 4.1 gives the last frame one tick of this clock as its duration, and only when the clock is
 * at most 1000 Hz; a finer clock leaves it zero and an MP4 edit list then hides that frame.
 */
export function variableRateClock(ts: FrameTimestamps): { rate: FrameRate; pts: number[] } {
  const { num, den } = ts.timeBase;
  const step = ts.pts.reduce((g, p) => gcd(g, p), 0) || 1;
  const r = gcd(den, num * step);
  const rate = { num: den / r, den: (num * step) / r };
  if (rate.num <= 1000 * rate.den) return { rate, pts: ts.pts.map((p) => p / step) };
  const pts: number[] = [];
  for (const p of ts.pts) pts.push(Math.max(Math.round((p * num * 1000) / den), (pts[pts.length - 1] ?? -Infinity) + 1));
  return { rate: { num: 1000, den: 1 }, pts };
}

/**
 * A setpts expression giving frame N (0-based) the time pts[N], exactly, in ticks of the source clock.
 * Runs of equal spacing become one linear piece, and the pieces a balanced tree of if(), so even a
 * long jittery clip costs a few comparisons per frame.
 */
export function ptsExpression(pts: readonly number[]): string {
  if (pts.length === 0) throw new RangeError('No frame timestamps');
  const pieces: Array<{ from: number; base: number; step: number }> = [];
  for (let i = 0; i < pts.length; ) {
    const step = i + 1 < pts.length ? pts[i + 1] - pts[i] : 0;
    let end = i + 1;
    while (end + 1 < pts.length && pts[end + 1] - pts[end] === step) end++;
    pieces.push({ from: i, base: pts[i], step });
    i = end + 1;
  }
  const tree = (a: number, b: number): string => {
    if (a === b) {
      const p = pieces[a];
      return p.step === 0 ? `${p.base}` : `${p.base}+(N-${p.from})*${p.step}`;
    }
    const mid = (a + b + 1) >> 1;
    return `if(lt(N,${pieces[mid].from}),${tree(a, mid - 1)},${tree(mid, b)})`;
  };
  return tree(0, pieces.length - 1);
}

/**
 * image2 stops silently at the first missing number, which would shorten the video without a
 * word, so every frame first..last is checked first. Returns the size of the first frame.
 */
export async function checkFrames(framesDir: string, first: number, last: number): Promise<{ width: number; height: number }> {
  if (!(Number.isInteger(first) && Number.isInteger(last) && first >= 1 && last >= first)) {
    throw new RangeError(`Frames ${first}..${last} are no range: give whole numbers with 1 <= first <= last`);
  }
  for (let i = first; i <= last; i++) {
    const stat = await fs.stat(framePath(framesDir, i)).catch(() => undefined);
    if (!stat?.isFile()) throw new Error(`Cannot assemble: frame ${i} of ${first === 1 ? last : `${first}..${last}`} is missing (${framePath(framesDir, i)})`);
  }
  const meta = await sharp(framePath(framesDir, first)).metadata();
  if (meta.width % 2 !== 0 || meta.height % 2 !== 0) {
    // 4:2:0 video has half-resolution colour, so H.264 needs even sides; frames come from scaledSize() for this reason.
    throw new Error(`Cannot assemble ${meta.width}x${meta.height} frames: H.264 in yuv420p needs an even width and height`);
  }
  return { width: meta.width, height: meta.height };
}

/** An input whose audio and subtitle streams go into the output, and what becomes of each. */
export interface StreamSource {
  file: string;
  /** Seconds the first frame came after the start of the earliest stream in the source. */
  videoDelay: number;
  streams: StreamReport[];
}

/** What to carry over from `audioFrom` into `output` (nothing when there is no source). */
export async function streamSource(audioFrom: string | undefined, output: string, container: Container, ffmpeg: FfmpegFactory): Promise<StreamSource | undefined> {
  if (!audioFrom) return undefined;
  if (path.resolve(audioFrom) === path.resolve(output)) {
    throw new MediaInputError(`{output} "${output}" is the input video itself; choose another file name.`);
  }
  const info = await probeVideo(audioFrom, ffmpeg);
  return {
    file: path.resolve(audioFrom),
    videoDelay: info.videoStartSeconds ?? 0,
    streams: planStreams(container, output, info.sideStreams ?? []),
  };
}

/** The streams of `source` that end up in the output (dropped ones do not). */
export function carriedStreams(source: StreamSource | undefined): StreamReport[] {
  return source?.streams.filter((r) => r.action !== 'dropped') ?? [];
}

/**
 * Output options mapping the carried streams from input number `inputIndex`: each copied or
 * re-encoded as planned. No -shortest: each soundtrack keeps its own length even where it outlasts the last frame.
 */
export function sideStreamOptions(carried: readonly StreamReport[], container: Container, inputIndex: number): string[] {
  const options: string[] = [];
  let audioOut = 0;
  let subtitleOut = 0;
  for (const r of carried) {
    options.push('-map', `${inputIndex}:${r.index}`);
    if (r.type === 'audio') {
      options.push(`-c:a:${audioOut}`, r.action === 'copied' ? 'copy' : 'aac');
      if (r.action === 're-encoded') options.push(`-b:a:${audioOut}`, '192k');
      audioOut++;
    } else {
      options.push(`-c:s:${subtitleOut}`, r.action === 'copied' ? 'copy' : container.textSubtitles);
      subtitleOut++;
    }
  }
  return options;
}

/** The container's final options: the index up front where it has one, and the format said outright. */
export function muxerOptions(container: Container): string[] {
  // The temp name ends in the same extension, but say the format outright rather than rely on guessing.
  return [...(container.faststart ? ['-movflags', '+faststart'] : []), '-f', container.muxer];
}

/** Belt and braces: a video one frame short would drift from its soundtrack without any error. */
export async function checkWritten(file: string, frameCount: number, carried: readonly StreamReport[], shown: string, ffmpeg: FfmpegFactory): Promise<void> {
  const written = await probeVideo(file, ffmpeg);
  if (written.frameCount !== frameCount) {
    throw new Error(`Assembled ${written.frameCount} frames instead of ${frameCount} for "${shown}"`);
  }
  const got = (written.sideStreams ?? []).map((st) => st.type).join(',');
  const wanted = carried.map((r) => r.type).join(',');
  if (got !== wanted) throw new Error(`Assembled streams ${got || 'none'} instead of ${wanted || 'none'} for "${shown}"`);
}

/** How numbered frames become H.264: the image2 input's options and the video output's options. */
export interface FrameEncoding {
  inputOptions: string[];
  outputOptions: string[];
}

export interface FrameEncodingRequest {
  framesDir: string;
  /** The frames to encode, by global index. */
  first: number;
  last: number;
  frameRate: FrameRate;
  /** The whole video's timestamps: whether it is variable-rate, and its clock, are decided on all of them. */
  timestamps?: FrameTimestamps;
  /**
   * Start the encoded frames at time 0 (a segment, played alone or placed by the join) rather
   * than at the first frame's source time (a whole video).
   */
  fromZero: boolean;
  /** A directory for the variable-rate filter script. */
  scratch: string;
}

/**
 * The encoder settings of every video this module writes, whole or in segments: segments must
 * agree on them (and on the clock) to join into one stream without re-encoding.
 */
export async function frameEncoding(req: FrameEncodingRequest): Promise<FrameEncoding> {
  const rate = rateText(req.frameRate);
  const count = req.last - req.first + 1;
  const ts = req.timestamps;
  const variable = ts !== undefined && !isConstantRate(ts, req.frameRate);
  if (variable && ts.pts.length < req.last) {
    throw new Error(`Cannot assemble: ${ts.pts.length} timestamps for frames ${req.first}..${req.last}`);
  }
  const clock = variable ? variableRateClock(ts) : undefined;
  // The frames are sRGB: convert with the BT.709 matrix and tag it, so players need not guess
  // (they would guess BT.601 for small pictures). trim rather than -frames:v, because in
  // ffmpeg 4.1 reaching -frames:v ends every stream of the file and would cut the audio short.
  const colour = [`trim=end_frame=${count}`, 'scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int', 'format=yuv420p'];
  let videoFilter: string[];
  let timing: string[];
  if (clock) {
    // Every frame gets its source time on the clock the images are read at, which the encoder keeps.
    const pts = clock.pts.slice(req.first - 1, req.last);
    const origin = req.fromZero ? pts[0] : 0;
    const script = path.join(req.scratch, `video-filter-${req.first}-${req.last}.txt`);
    await fs.writeFile(script, [`setpts='${ptsExpression(pts.map((p) => p - origin))}'`, ...colour].join(','));
    videoFilter = ['-filter_script:v', script];
    // No B-frames: x264 stamps the first decode times back by its reordering delay measured on the
    // opening frames' spacing, and ffmpeg 4.1's MP4 muxer takes the track's length from decode
    // times. A clip that ends faster than it starts (5 then 30 fps) then held its last frame a
    // third of a second too long, and one that ends slower lost its last frame behind the edit
    // list. Without reordering, decode times are the frame times and the video ends where its last
    // frame does (one tick of the clock after it: its own interval when it ends at its finest spacing).
    timing = ['-vsync', 'vfr', '-bf', '0'];
  } else {
    videoFilter = ['-vf', colour.join(',')];
    // vfr: one output frame per image. The default constant-rate sync would pad a delayed start
    // with copies of the first frame, and passthrough (-vsync 0) together with -r makes 4.1 warn.
    timing = ['-r', rate, '-vsync', 'vfr'];
  }
  return {
    inputOptions: ['-f', 'image2', '-framerate', clock ? rateText(clock.rate) : rate, '-start_number', String(req.first)],
    outputOptions: [
      // Stop at a frame that will not decode: by default ffmpeg skips it and the video silently loses a frame.
      '-xerror',
      '-map', '0:v:0',
      ...videoFilter,
      '-c:v', 'libx264', '-preset', 'medium', '-crf', '18', '-pix_fmt', 'yuv420p',
      '-colorspace', 'bt709', '-color_primaries', 'bt709', '-color_trc', 'bt709', '-color_range', 'tv',
      ...timing,
    ],
  };
}

/**
 * Seconds after the start of the output at which its first frame is shown: the source's own delay,
 * which variable-rate frames carry in their timestamps and constant-rate ones need only beside sound.
 */
export function videoStartSeconds(frameRate: FrameRate, timestamps: FrameTimestamps | undefined, audio: StreamSource | undefined): number {
  if (timestamps !== undefined && !isConstantRate(timestamps, frameRate)) {
    const clock = variableRateClock(timestamps);
    return (clock.pts[0] * clock.rate.den) / clock.rate.num;
  }
  return audio && audio.videoDelay > 0.0005 ? audio.videoDelay : 0;
}

/**
 * Encodes the numbered frames into H.264 at the exact source frame rate and carries over every
 * audio and subtitle stream of the source, untouched where the container allows (else audio as AAC
 * 192k, text subtitles in the container's text format; picture subtitles MP4 cannot hold are
 * dropped), at full length. Returns what became of each stream. The output appears only when
 * complete; a failure leaves nothing at `output`.
 */
export async function assembleVideo(opts: AssembleOptions, ffmpeg: FfmpegFactory = ffmpegFactory()): Promise<{ streams: StreamReport[] }> {
  const output = path.resolve(opts.output);
  const container = containerFor(opts.output);
  // Checked before any work, so a bad rate fails at once rather than after the frame checks.
  rateText(opts.frameRate);
  const framesDir = path.resolve(opts.framesDir);
  if (opts.audioFrom && path.resolve(opts.audioFrom) === output) {
    throw new MediaInputError(`{output} "${opts.output}" is the input video itself; choose another file name.`);
  }
  if (!(Number.isInteger(opts.frameCount) && opts.frameCount > 0)) throw new RangeError(`frameCount must be at least 1 (got ${opts.frameCount})`);
  await checkFrames(framesDir, 1, opts.frameCount);
  const source = await streamSource(opts.audioFrom, opts.output, container, ffmpeg);
  const carried = carriedStreams(source);
  // Only an input that gives the output a stream is read; the delay below matters only then.
  const audio = carried.length > 0 ? source : undefined;
  await fs.mkdir(path.dirname(output), { recursive: true });
  // A crashed earlier assembly leaves a hidden partial video next to the output; tidy it away.
  await removeStaleTemps(output);

  const variable = opts.timestamps !== undefined && !isConstantRate(opts.timestamps, opts.frameRate);
  if (variable && opts.timestamps!.pts.length !== opts.frameCount) {
    throw new Error(`Cannot assemble: ${opts.timestamps!.pts.length} timestamps for ${opts.frameCount} frames`);
  }
  // A variable-rate filter holds an expression as long as the clip's rate changes: it goes in a script file.
  const scratch = await fs.mkdtemp(path.join(tmpdir(), 'starry-assemble-'));
  try {
    await withAtomicOutput(output, async (tempPath) => {
      const encoding = await frameEncoding({ framesDir, first: 1, last: opts.frameCount, frameRate: opts.frameRate, timestamps: opts.timestamps, fromZero: false, scratch });
      const command = ffmpeg();
      command.input(framePattern(framesDir));
      addInputOptions(command, encoding.inputOptions);
      // ffmpeg starts each input at 0, so a source whose picture began after its sound needs the
      // frames pushed back by the same amount to stay in sync. (Variable-rate frames carry their own times.)
      if (!variable && audio && audio.videoDelay > 0.0005) addInputOptions(command, ['-itsoffset', audio.videoDelay.toFixed(6)]);
      if (audio) command.input(audio.file);
      addOutputOptions(command, [...encoding.outputOptions, ...sideStreamOptions(carried, container, 1), ...muxerOptions(container)]);
      command.output(tempPath);
      await runFfmpeg(command, `assembling "${opts.output}"`, opts.signal);
      await checkWritten(tempPath, opts.frameCount, carried, opts.output, ffmpeg);
    });
    return { streams: source?.streams ?? [] };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
