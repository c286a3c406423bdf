import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { extractFrames, framePath, framePattern, listFrameCount } from '../../src/media/frames';
import { MediaInputError } from '../../src/media/errors';
import { scaledSize } from '../../src/media/geometry';
import { probeVideo } from '../../src/media/probe';
import { deadPid, makeClip, meanAbsDiff, tempDir } from '../helpers/media-fixtures';
import { waitFor } from '../helpers/steering';

async function rawPng(file: string) {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  return { data, info };
}

/** Names in `dir` that look like leftovers of an interrupted write. */
async function strays(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => /\.(tmp|old)(\.|$)/.test(n));
}

describe('framePath', () => {
  it('numbers frames from 1 with at least six digits', () => {
    assert.equal(framePath('/r/frames', 1), path.join('/r/frames', 'frame_000001.png'));
    assert.equal(framePath('/r/frames', 1234567), path.join('/r/frames', 'frame_1234567.png'));
    assert.throws(() => framePath('/r', 0), RangeError);
    assert.throws(() => framePath('/r', 1.5), RangeError);
  });

  it('escapes % in directory names for ffmpeg patterns', () => {
    assert.equal(framePattern('/r/100%'), path.join('/r/100%%', 'frame_%06d.png'));
  });
});

describe('extractFrames', () => {
  let dir = '';
  let cleanup = async () => {};
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir('frames-test'));
    await Promise.all([
      makeClip({ path: file('ntsc.mp4'), width: 100, height: 75, frames: 12, audio: true }),
      makeClip({ path: file('upright.mp4'), width: 64, height: 48, frames: 10 }),
      makeClip({ path: file('rot90.mp4'), width: 64, height: 48, frames: 10, rotate: 90 }),
      writeFile(file('notes.mp4'), 'not a video'),
    ]);
  });
  after(() => cleanup());

  it('writes one PNG per frame at exactly the requested size', async () => {
    const info = await probeVideo(file('ntsc.mp4'));
    const size = scaledSize(info.displayWidth, info.displayHeight, 64);
    const outDir = file('ntsc-frames');
    const count = await extractFrames({ input: file('ntsc.mp4'), outDir, ...size });
    assert.equal(count, info.frameCount);
    assert.equal(await listFrameCount(outDir), info.frameCount);
    for (const index of [1, count]) {
      const meta = await sharp(framePath(outDir, index)).metadata();
      assert.deepEqual([meta.format, meta.width, meta.height, meta.channels], ['png', 64, 48, 3]);
    }
    assert.ok(!existsSync(framePath(outDir, count + 1)));
    assert.deepEqual(await strays(dir), []);
  });

  it('turns rotated video upright: portrait frames, turned clockwise', async () => {
    const info = await probeVideo(file('rot90.mp4'));
    const rotated = await extractFrames({ input: file('rot90.mp4'), outDir: file('rot-frames'), width: info.displayWidth, height: info.displayHeight });
    const upright = await extractFrames({ input: file('upright.mp4'), outDir: file('upright-frames'), width: 64, height: 48 });
    assert.equal(rotated, 10);
    assert.equal(upright, 10);
    const portrait = await rawPng(framePath(file('rot-frames'), 4));
    assert.deepEqual([portrait.info.width, portrait.info.height], [48, 64]);
    // The same picture turned a quarter clockwise, and clearly not the other way.
    const source = framePath(file('upright-frames'), 4);
    const clockwise = await sharp(source).rotate(90).raw().toBuffer();
    const anticlockwise = await sharp(source).rotate(270).raw().toBuffer();
    assert.ok(meanAbsDiff(portrait, { data: clockwise }) < 3);
    assert.ok(meanAbsDiff(portrait, { data: anticlockwise }) > 30);
  });

  it('copes with % and spaces in directory names', async () => {
    const outDir = file('100% done/frames');
    assert.equal(await extractFrames({ input: file('upright.mp4'), outDir, width: 16, height: 12 }), 10);
    assert.equal(await listFrameCount(outDir), 10);
  });

  it('reuses a finished extraction without decoding again', async () => {
    const outDir = file('rerun-frames');
    const request = { input: file('upright.mp4'), outDir, width: 32, height: 24 };
    assert.equal(await extractFrames(request), 10);
    const before = await stat(framePath(outDir, 1));
    assert.equal(await extractFrames(request), 10);
    const after = await stat(framePath(outDir, 1));
    assert.equal(after.ino, before.ino);
    assert.equal(after.mtimeMs, before.mtimeMs);
  });

  it('replaces an extraction made for another size', async () => {
    const outDir = file('resize-frames');
    await extractFrames({ input: file('upright.mp4'), outDir, width: 32, height: 24 });
    assert.equal(await extractFrames({ input: file('upright.mp4'), outDir, width: 16, height: 12 }), 10);
    const meta = await sharp(framePath(outDir, 10)).metadata();
    assert.deepEqual([meta.width, meta.height], [16, 12]);
    assert.deepEqual(await strays(dir), []);
  });

  it('leaves neither output nor work directory when decoding fails', async () => {
    const outDir = file('failed-frames');
    await assert.rejects(extractFrames({ input: file('notes.mp4'), outDir, width: 32, height: 24 }), /ffmpeg failed while extracting frames/);
    assert.ok(!existsSync(outDir));
    assert.deepEqual(await strays(dir), []);
    await assert.rejects(extractFrames({ input: file('absent.mp4'), outDir, width: 32, height: 24 }), MediaInputError);
  });

  it('stops ffmpeg and cleans up when cancelled', async () => {
    const long = await makeClip({ path: file('long.mp4'), width: 320, height: 240, rate: '25', frames: 250 });
    const outDir = file('cancelled-frames');
    const controller = new AbortController();
    const run = extractFrames({ input: long, outDir, width: 320, height: 240, signal: controller.signal });
    // Abort once ffmpeg is demonstrably writing frames into its work directory (the deadline is
    // only for a run that never starts; a busy machine takes what it takes).
    await waitFor(
      async () => (await readdir(dir)).some((n) => n.startsWith('.cancelled-frames.') && existsSync(path.join(dir, n, 'frame_000001.png'))),
      (writing: boolean) => writing,
      'ffmpeg to write its first frame',
      120_000,
    );
    controller.abort(new Error('render cancelled'));
    await assert.rejects(run, /render cancelled/);
    assert.ok(!existsSync(outDir));
    assert.deepEqual(await strays(dir), []);

    const preAborted = AbortSignal.abort(new Error('already cancelled'));
    await assert.rejects(extractFrames({ input: long, outDir, width: 32, height: 24, signal: preAborted }), /already cancelled/);
    assert.deepEqual(await strays(dir), []);
  });

  it('clears work directories of crashed runs but never a directory it did not write', async () => {
    const stale = file(`.crash-frames.${deadPid()}.0123456789ab.tmp`);
    await mkdir(stale);
    await writeFile(path.join(stale, 'frame_000001.png'), 'partial');
    assert.equal(await extractFrames({ input: file('upright.mp4'), outDir: file('crash-frames'), width: 16, height: 12 }), 10);
    assert.ok(!existsSync(stale));

    const foreign = file('foreign');
    await mkdir(foreign);
    await writeFile(path.join(foreign, 'keep.txt'), 'mine');
    await assert.rejects(extractFrames({ input: file('upright.mp4'), outDir: foreign, width: 16, height: 12 }), /was not written by a frame extraction/);
    assert.ok(existsSync(path.join(foreign, 'keep.txt')));
  });
});
