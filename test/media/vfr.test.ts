/**
 * Variable-frame-rate video (phones, screen recordings) must keep every frame's timing through
 * split and assembly: the picture shown at any moment is the one the source shows then, in step
 * with the sound.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assembleVideo, isConstantRate, ptsExpression, variableRateClock } from '../../src/media/assemble';
import { extractFrames, readFrameTimestamps } from '../../src/media/frames';
import { probeVideo } from '../../src/media/probe';
import {
  VFR_BEEPS,
  VFR_TICKS_PER_SECOND,
  beepOnsets,
  makeClip,
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
