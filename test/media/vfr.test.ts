/**
 * Variable-frame-rate video (phones, screen recordings) must keep every frame's timing through
 * split and assembly: the picture shown at any moment is the one the source shows then, in step
 * with the sound.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assembleVideo, isConstantRate, ptsExpression, variableRateClock } from '../../src/media/assemble';
import { encodeSegment, indexFrames, joinSegments } from '../../src/media/chunks';
import { extractFrames, readFrameTimestamps } from '../../src/media/frames';
import { probeVideo } from '../../src/media/probe';
import {
  VFR_BEEPS,
  VFR_TICKS_PER_SECOND,
  beepOnsets,
  makeClip,
  makeSlowThenFastClip,
  makeVfrClip,
  probeStreams,
  readCodedFrames,
  shownAt,
  tempDir,
} from '../helpers/media-fixtures';

/** Evaluates a setpts expression the way ffmpeg does, for the few functions it uses. */
function evalPts(expr: string, n: number): number {
  const js = expr.replace(/if\(/g, 'IF(').replace(/lt\(/g, 'LT(');
  return new Function('N', 'IF', 'LT', `return ${js};`)(n, (c: number, a: number, b: number) => (c ? a : b), (x: number, y: number) => (x < y ? 1 : 0));
}

describe('frame timestamps', () => {
  it('turn into a setpts expression that gives every frame its own time', () => {
    const cases = [[0], [7], [0, 10], [0, 10, 20, 25, 30, 35, 100, 101, 102, 500], Array.from({ length: 1000 }, (_, i) => i * 512 + ((i * 7919) % 13))];
    for (const pts of cases) {
      const expr = ptsExpression(pts);
      assert.deepEqual(pts.map((_, n) => evalPts(expr, n)), pts);
    }
  });

  it('are written on the coarsest clock that holds them exactly, else on milliseconds', () => {
    // 10 and 30 fps segments on a 1/15360 clock: every time is a multiple of 1/30 s.
    assert.deepEqual(variableRateClock({ timeBase: { num: 1, den: 15360 }, pts: [0, 1536, 3072, 3584, 4096] }), {
      rate: { num: 30, den: 1 },
      pts: [0, 3, 6, 7, 8],
    });
    // Phone jitter on a 1/90000 clock: rounded to the millisecond, never two frames on one tick.
    assert.deepEqual(variableRateClock({ timeBase: { num: 1, den: 90000 }, pts: [0, 3003, 6011, 6050, 9007] }), {
      rate: { num: 1000, den: 1 },
      pts: [0, 33, 67, 68, 100],
    });
  });

  it('tell constant-rate video from variable-rate video', () => {
    const ntsc = { num: 30000, den: 1001 };
    assert.equal(isConstantRate({ timeBase: { num: 1, den: 30000 }, pts: [0, 1001, 2002, 3003] }, ntsc), true);
    // A 1/600 clock rounds 29.97 fps to whole ticks; still constant.
    assert.equal(isConstantRate({ timeBase: { num: 1, den: 600 }, pts: [0, 20, 40, 60, 80, 100] }, ntsc), true);
    assert.equal(isConstantRate({ timeBase: { num: 1, den: 30000 }, pts: [0, 1001, 2002, 6006] }, ntsc), false);
  });
});

describe('variable-frame-rate video', () => {
  let dir = '';
  let cleanup = async () => {};
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir('vfr-test'));
    await Promise.all([makeVfrClip(file('vfr.mp4')), makeClip({ path: file('ntsc.mp4'), width: 64, height: 48, frames: 12 })]);
  });
  after(() => cleanup());

  it('records each extracted frame’s source time next to the frames', async () => {
    const count = await extractFrames({ input: file('vfr.mp4'), outDir: file('vfr-frames'), width: 64, height: 48 });
    const ts = (await readFrameTimestamps(file('vfr-frames')))!;
    const source = await readCodedFrames(file('vfr.mp4'));
    assert.equal(count, 50);
    assert.equal(ts.pts.length, 50);
    const seconds = ts.pts.map((p) => (p * ts.timeBase.num) / ts.timeBase.den);
    assert.deepEqual(seconds.map((s) => s.toFixed(4)), source.map((f) => f.time.toFixed(4)));

    // A constant-rate clip's timestamps sit on its grid, so it is assembled at that exact rate as before.
    await extractFrames({ input: file('ntsc.mp4'), outDir: file('ntsc-frames'), width: 32, height: 24 });
    const ntsc = (await readFrameTimestamps(file('ntsc-frames')))!;
    assert.equal(ntsc.pts.length, 12);
    assert.equal(isConstantRate(ntsc, (await probeVideo(file('ntsc.mp4'))).frameRate), true);
    assert.equal(isConstantRate(ts, (await probeVideo(file('vfr.mp4'))).frameRate), false);
  });

  it('shows at every moment the frame the source shows then, in sync with the sound', async (t) => {
    const input = file('vfr.mp4');
    const info = await probeVideo(input);
    const framesDir = file('frames');
    const frameCount = await extractFrames({ input, outDir: framesDir, width: 64, height: 48 });
    const output = file('vfr-out.mp4');
    const timestamps = await readFrameTimestamps(framesDir);
    await assembleVideo({ framesDir, frameRate: info.frameRate, frameCount, timestamps, audioFrom: input, output });

    const [src, out] = await Promise.all([readCodedFrames(input), readCodedFrames(output)]);
    // Every frame once, in order.
    assert.deepEqual(out.map((f) => f.code), src.map((f) => f.code));

    // Each frame appears when its picture was taken, measured against the output's own sound.
    const offsets = out.map((f) => f.time - f.code / VFR_TICKS_PER_SECOND);
    const worst = Math.max(...offsets.map(Math.abs));
    t.diagnostic(`largest A/V offset over all ${out.length} frames: ${(worst * 1000).toFixed(2)} ms`);
    assert.ok(worst < 1 / 30, `a frame is ${(worst * 1000).toFixed(1)} ms off`);

    // Sampled through the clip, mid-frame: the same picture on screen in source and output.
    for (const at of [0.15, 0.65, 1.05, 1.45, 1.95, 2.25, 2.85]) {
      assert.equal(shownAt(out, at).code, shownAt(src, at).code, `at ${at} s`);
    }

    // At each beep of the output's soundtrack, the picture that belongs to that moment is on screen.
    const beeps = await beepOnsets(output);
    assert.equal(beeps.length, VFR_BEEPS.length);
    for (const [i, heard] of beeps.entries()) {
      assert.ok(Math.abs(heard - VFR_BEEPS[i]) < 0.005, `beep ${i} at ${heard}`);
      assert.equal(shownAt(out, heard).code, shownAt(src, VFR_BEEPS[i]).code, `picture at beep ${i}`);
    }

    // Total length within a frame of the source.
    const [srcProbe, outProbe] = await Promise.all([probeStreams(input), probeStreams(output)]);
    const duration = (p: typeof srcProbe) => Number(p.streams.find((s) => s.codec_type === 'video')!.duration);
    assert.ok(Math.abs(duration(outProbe) - duration(srcProbe)) <= 0.1 + 1e-6, `${duration(outProbe)} vs ${duration(srcProbe)}`);
    assert.equal(Number(outProbe.streams.find((s) => s.codec_type === 'video')!.nb_read_frames), 50);
  });
});

describe('an output lasts as long as its input', () => {
  let dir = '';
  let cleanup = async () => {};
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir('duration-test'));
    await Promise.all([
      makeSlowThenFastClip(file('slow-fast.mp4')),
      makeClip({ path: file('ntsc.mp4'), width: 64, height: 48, frames: 40, audio: true }),
    ]);
  });
  after(() => cleanup());

  const videoSeconds = async (f: string) => Number((await probeStreams(f)).streams.find((s) => s.codec_type === 'video')!.duration);

  // The input's length is its last frame's time plus that frame's own interval (the one before it):
  // its container's own figure cannot serve, as ffmpeg wrote the slow-then-fast input with the very
  // fault under test. Both a whole assembly and segments joined must match it within one frame.
  for (const [name, expectedSeconds] of [['slow-fast.mp4', 4.0], ['ntsc.mp4', (40 * 1001) / 30000]] as const) {
    it(`${name}: whole and joined from segments, within one frame of ${expectedSeconds.toFixed(4)} s`, async (t) => {
      const input = file(name);
      const info = await probeVideo(input);
      const framesDir = file(`${name}-frames`);
      const frameCount = await extractFrames({ input, outDir: framesDir, width: 64, height: 48 });
      const timestamps = (await readFrameTimestamps(framesDir))!;
      const seconds = timestamps.pts.map((p) => (p * timestamps.timeBase.num) / timestamps.timeBase.den);
      const lastInterval = seconds[frameCount - 1] - seconds[frameCount - 2];
      assert.ok(Math.abs(seconds[frameCount - 1] + lastInterval - seconds[0] - expectedSeconds) < 1e-3, 'the clip is the one described');

      const whole = file(`${name}-whole.mp4`);
      await assembleVideo({ framesDir, frameRate: info.frameRate, frameCount, timestamps, audioFrom: input, output: whole });
      const index = await indexFrames({ input });
      const cuts = [[1, 23], [24, 31], [32, frameCount]];
      const segments = [];
      for (const [first, last] of cuts) {
        const segment = file(`${name}-${first}.mp4`);
        await encodeSegment({ framesDir, first, last, timestamps: index, frameRate: info.frameRate, output: segment });
        segments.push(segment);
      }
      const joined = file(`${name}-joined.mp4`);
      await joinSegments({ segments, frameRate: info.frameRate, timestamps: index, frameCount, audioFrom: input, output: joined });

      for (const output of [whole, joined]) {
        const got = await videoSeconds(output);
        t.diagnostic(`${path.basename(output)}: ${got} s for ${expectedSeconds} s (last frame interval ${lastInterval.toFixed(4)} s)`);
        assert.ok(Math.abs(got - expectedSeconds) <= lastInterval + 1e-6, `${path.basename(output)} lasts ${got} s, the input ${expectedSeconds} s`);
      }
    });
  }
});
