/**
 * Chunked rendering must give the same video as the single pass: the same pictures for every
 * frame, whatever the chunk boundaries, and the same frame times once the segments are joined.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { assembleVideo } from '../../src/media/assemble';
import { ffmpegFactory, ffmpegPaths, type FfmpegFactory } from '../../src/media/binaries';
import { encodeSegment, extractFrameRange, indexFrames, joinSegments, segmentStarts } from '../../src/media/chunks';
import { extractFrames, framePath, listFrameCount, readFrameTimestamps, type FrameTimestamps } from '../../src/media/frames';
import { blendImages } from '../../src/media/image';
import { probeVideo } from '../../src/media/probe';
import { makeClip, makeVfrClip, probeStreams, tempDir } from '../helpers/media-fixtures';

const run = promisify(execFile);

/** Every video frame's pts_time and the video stream's duration, as ffprobe reads them. */
async function videoTimes(file: string): Promise<{ pts: string[]; duration: string; formatDuration: string }> {
  const { stdout } = await run(ffmpegPaths().ffprobe, [
    '-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts_time:stream=duration:format=duration', '-of', 'json', file,
  ]);
  const probe = JSON.parse(stdout) as { frames: Array<{ pts_time: string }>; streams: Array<{ duration: string }>; format: { duration: string } };
  return { pts: probe.frames.map((f) => f.pts_time), duration: probe.streams[0].duration, formatDuration: probe.format.duration };
}

/** The ranges a clip of `count` frames is cut into: a short first chunk, one starting mid-GOP, the rest. */
function chunkRanges(count: number): Array<[number, number]> {
  const a = Math.floor(count / 3);
  const b = a + Math.floor(count / 4) + 1;
  return [[1, a], [a + 1, b], [b + 1, count]];
}

async function pixels(file: string): Promise<Buffer> {
  return sharp(file).raw().toBuffer();
}

describe('chunked extraction', () => {
  let dir = '';
  let cleanup = async () => {};
  const file = (name: string) => path.join(dir, name);
  /** name -> [clip, frame width, height]; B-frames (x264's default) and short GOPs so ranges start mid-GOP. */
  const clips: Record<string, { input: string; width: number; height: number }> = {};

  before(async () => {
    ({ dir, cleanup } = await tempDir('chunks-test'));
    await Promise.all([
      makeClip({ path: file('ntsc.mp4'), width: 96, height: 64, frames: 45, audio: true }).then((input) => (clips.cfr = { input, width: 48, height: 32 })),
      makeVfrClip(file('vfr.mp4')).then((input) => (clips.vfr = { input, width: 64, height: 48 })),
      // Matroska stores pts, not decode times: its seek works differently from MP4's.
      makeClip({ path: file('pal.mkv'), width: 64, height: 48, rate: '25', frames: 40, audio: true }).then((input) => (clips.mkv = { input, width: 64, height: 48 })),
    ]);
  });
  after(() => cleanup());

  for (const name of ['cfr', 'vfr', 'mkv']) {
    it(`${name}: every chunk equals the whole extraction pixel for pixel, and the index equals its timestamps`, async () => {
      const { input, width, height } = clips[name];
      const fullDir = file(`${name}-full`);
      const count = await extractFrames({ input, outDir: fullDir, width, height });
      const timestamps = await indexFrames({ input });
      assert.deepEqual(timestamps, await readFrameTimestamps(fullDir));
      for (const [first, last] of chunkRanges(count)) {
        const outDir = file(`${name}-${first}`);
        assert.equal(await extractFrameRange({ input, outDir, width, height, first, last, timestamps }), last - first + 1);
        const names = (await readdir(outDir)).filter((n) => n.endsWith('.png')).sort();
        assert.deepEqual(names, Array.from({ length: last - first + 1 }, (_, k) => path.basename(framePath(outDir, first + k))));
        for (let i = first; i <= last; i++) {
          assert.ok((await pixels(framePath(outDir, i))).equals(await pixels(framePath(fullDir, i))), `${name} frame ${i} differs`);
        }
      }
    });
  }

  it('seeks for a late range and stops at its last frame: one ffmpeg run, not a decode of the whole video', async () => {
    const { input, width, height } = clips.cfr;
    const timestamps = await indexFrames({ input });
    const runs: string[][] = [];
    const recording: FfmpegFactory = (source) => {
      const command = ffmpegFactory()(source);
      command.on('start', (line: string) => runs.push(line.split(' ')));
      return command;
    };
    assert.equal(await extractFrameRange({ input, outDir: file('late-range'), width, height, first: 30, last: 33, timestamps }, recording), 4);
    assert.equal(runs.length, 1);
    const args = runs[0];
    const seconds = Number(args[args.indexOf('-ss') + 1]);
    // Aimed before the first wanted frame (29 frames in), but not at the start.
    assert.ok(seconds > 0 && seconds < (29 * 1001) / 30000, `seeks to ${seconds}`);
    assert.ok(args.indexOf('-ss') < args.indexOf('-i'));
    assert.equal(args.filter((a) => a === '-frames:v').length, 2);
  });

  it('reuses a complete chunk and redoes one with other bounds or a missing frame', async () => {
    const { input, width, height } = clips.cfr;
    const timestamps = await indexFrames({ input });
    const outDir = file('reuse');
    await extractFrameRange({ input, outDir, width, height, first: 20, last: 30, timestamps });
    const marker = await readFile(path.join(outDir, '.extract.json'), 'utf8');
    // A reused extraction is left as it is: a file of ours placed in it survives.
    await writeFile(path.join(outDir, 'witness'), '');
    assert.equal(await extractFrameRange({ input, outDir, width, height, first: 20, last: 30, timestamps }), 11);
    assert.ok(existsSync(path.join(outDir, 'witness')));
    assert.equal(await readFile(path.join(outDir, '.extract.json'), 'utf8'), marker);

    await run('rm', [framePath(outDir, 25)]);
    assert.equal(await extractFrameRange({ input, outDir, width, height, first: 20, last: 30, timestamps }), 11);
    assert.ok(existsSync(framePath(outDir, 25)));
    assert.ok(!existsSync(path.join(outDir, 'witness')));

    assert.equal(await extractFrameRange({ input, outDir, width, height, first: 21, last: 22, timestamps }), 2);
    assert.equal(await listFrameCount(outDir), 2);
    assert.ok(existsSync(framePath(outDir, 21)) && !existsSync(framePath(outDir, 20)));
    assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.tmp')), []);
  });

  it('refuses a bad range, and timestamps that are not the video\'s, with a clear error', async () => {
    const { input, width, height } = clips.cfr;
    const timestamps = await indexFrames({ input });
    const n = timestamps.pts.length;
    const outDir = file('bad');
    for (const [first, last] of [[10, 9], [0, 5], [40, n + 1], [1.5, 3]]) {
      await assert.rejects(extractFrameRange({ input, outDir, width, height, first, last, timestamps }), (err: Error) => {
        assert.ok(err instanceof RangeError);
        assert.match(err.message, new RegExp(`Frame range .* of this video's ${n} frames: give whole numbers with 1 <= first <= last <= ${n}`));
        return true;
      });
    }
    const shifted: FrameTimestamps = { ...timestamps, pts: timestamps.pts.map((p) => p + 7) };
    await assert.rejects(extractFrameRange({ input, outDir, width, height, first: 30, last: 35, timestamps: shifted }), /instead of 6 \(pts .*index it again with indexFrames/);
    assert.ok(!existsSync(outDir));
  });
});

describe('segments', () => {
  let dir = '';
  let cleanup = async () => {};
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir('segments-test'));
    await Promise.all([
      makeClip({ path: file('ntsc.mp4'), width: 64, height: 48, frames: 40, audio: true }),
      makeClip({ path: file('late.mp4'), width: 64, height: 48, rate: '25', frames: 30, audio: true, videoDelay: 0.2 }),
      makeVfrClip(file('vfr.mp4')),
    ]);
  });
  after(() => cleanup());

  for (const [name, ext] of [['ntsc.mp4', '.mp4'], ['late.mp4', '.mov'], ['vfr.mp4', '.mp4'], ['vfr.mp4', '.mkv']] as const) {
    it(`${name} -> ${ext}: joined segments have the single pass's frame count, frame times, duration and audio`, async () => {
      const input = file(name);
      const info = await probeVideo(input);
      const framesDir = file(`${name}-frames`);
      const frameCount = await extractFrames({ input, outDir: framesDir, width: 64, height: 48 });
      const timestamps = (await readFrameTimestamps(framesDir))!;
      const single = file(`${name}-single${ext}`);
      const singleReport = await assembleVideo({ framesDir, frameRate: info.frameRate, frameCount, timestamps, audioFrom: input, output: single });

      const segments: string[] = [];
      for (const [first, last] of chunkRanges(frameCount)) {
        const segment = file(`${name}-${first}.mp4`);
        await encodeSegment({ framesDir, first, last, timestamps, frameRate: info.frameRate, output: segment });
        // Each segment plays by itself: all its frames, spaced as in the source.
        const own = await videoTimes(segment);
        assert.equal(own.pts.length, last - first + 1);
        const { num, den } = timestamps.timeBase;
        own.pts.forEach((t, k) => {
          const source = ((timestamps.pts[first - 1 + k] - timestamps.pts[first - 1]) * num) / den;
          assert.ok(Math.abs(Number(t) - Number(own.pts[0]) - source) < 1e-5, `${name} frame ${first + k} at ${t}`);
        });
        segments.push(segment);
      }
      const joined = file(`${name}-joined${ext}`);
      const report = await joinSegments({ segments, frameRate: info.frameRate, timestamps, frameCount, audioFrom: input, output: joined });
      assert.deepEqual(report, singleReport);

      const [a, b] = await Promise.all([videoTimes(single), videoTimes(joined)]);
      assert.equal(b.pts.length, frameCount);
      assert.deepEqual(b.pts, a.pts);
      assert.equal(b.duration, a.duration);
      assert.equal(b.formatDuration, a.formatDuration);
      const [pa, pb] = await Promise.all([probeStreams(single), probeStreams(joined)]);
      const audio = (p: typeof pa) => p.streams.filter((s) => s.codec_type === 'audio').map((s) => [s.codec_name, s.duration, s.start_time]);
      assert.equal(audio(pb).length, 1);
      assert.deepEqual(audio(pb), audio(pa));
    });
  }

  it('places segments at exact microseconds that never drift, however many there are', () => {
    const ntsc = { num: 30000, den: 1001 };
    const counts = Array.from({ length: 1000 }, () => 7);
    const timestamps = { timeBase: { num: 1, den: 30000 }, pts: Array.from({ length: 7000 }, (_, i) => i * 1001) };
    const starts = segmentStarts(counts, ntsc, timestamps);
    starts.forEach((us, k) => assert.ok(Math.abs(us - (k * 7 * 1001 * 1e6) / 30000) <= 0.5));
  });

  it('refuses segments that do not add up to the video, and a Matroska segment', async () => {
    const input = file('ntsc.mp4');
    const framesDir = file('ntsc.mp4-frames');
    const frameCount = await extractFrames({ input, outDir: framesDir, width: 64, height: 48 });
    const timestamps = (await readFrameTimestamps(framesDir))!;
    const frameRate = { num: 30000, den: 1001 };
    const part = file('part.mp4');
    await encodeSegment({ framesDir, first: 1, last: 10, timestamps, frameRate, output: part });
    await assert.rejects(
      joinSegments({ segments: [part], frameRate, timestamps, frameCount, output: file('short.mp4') }),
      new RegExp(`segments hold 10 frames \\(10\\), not the video's ${frameCount}`),
    );
    assert.ok(!existsSync(file('short.mp4')));
    await assert.rejects(encodeSegment({ framesDir, first: 1, last: 10, timestamps, frameRate, output: file('seg.mkv') }), /must be an \.mp4, \.m4v or \.mov/);
    await assert.rejects(encodeSegment({ framesDir, first: 5, last: frameCount + 1, timestamps, frameRate, output: file('x.mp4') }), RangeError);
  });
});

describe('blendImages', () => {
  it('mixes two images linearly, pixel by pixel', () => {
    const a = { width: 2, height: 1, data: Float32Array.from([0, 0.2, 1, 0.5, 0.5, 0.5]) };
    const b = { width: 2, height: 1, data: Float32Array.from([1, 0.6, 0, 0.5, 0.1, 0.9]) };
    const close = (x: Float32Array, y: number[]) => y.forEach((v, i) => assert.ok(Math.abs(x[i] - v) < 1e-6, `${x[i]} vs ${v}`));
    close(blendImages(a, b, 0).data, [0, 0.2, 1, 0.5, 0.5, 0.5]);
    close(blendImages(a, b, 1).data, [1, 0.6, 0, 0.5, 0.1, 0.9]);
    close(blendImages(a, b, 0.25).data, [0.25, 0.3, 0.75, 0.5, 0.4, 0.6]);
    assert.equal(blendImages(a, b, 0.5).width, 2);
    assert.notEqual(blendImages(a, b, 0).data, a.data);
  });

  it('refuses images of different sizes and a weight outside 0..1', () => {
    const a = { width: 2, height: 1, data: new Float32Array(6) };
    const b = { width: 1, height: 2, data: new Float32Array(6) };
    assert.throws(() => blendImages(a, b, 0.5), /2x1 and 1x2/);
    assert.throws(() => blendImages(a, a, 1.5), /weight/);
    assert.throws(() => blendImages(a, a, Number.NaN), /weight/);
  });
});
