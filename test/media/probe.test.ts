import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ffmpegFactory, ffmpegPaths } from '../../src/media/binaries';
import { MediaInputError, parseFrameRate, probeVideo } from '../../src/media/probe';
import { withFlags } from '../../src/client/setup/render-option-values';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';

describe('ffmpegPaths', () => {
  it('lets FFMPEG_PATH and FFPROBE_PATH override the bundled binaries', () => {
    assert.deepEqual(ffmpegPaths({ FFMPEG_PATH: '/opt/ff/ffmpeg', FFPROBE_PATH: '/opt/ff/ffprobe' }), {
      ffmpeg: '/opt/ff/ffmpeg',
      ffprobe: '/opt/ff/ffprobe',
    });
    const bundled = ffmpegPaths({});
    assert.match(bundled.ffmpeg, /ffmpeg(\.exe)?$/);
    assert.match(bundled.ffprobe, /ffprobe(\.exe)?$/);
  });

  it('reports an unusable ffprobe as an environment problem, not a bad input', async () => {
    const { dir, cleanup } = await tempDir('probe-env');
    try {
      const clip = await makeClip({ path: path.join(dir, 'c.mp4'), width: 16, height: 16, frames: 2 });
      const broken = ffmpegFactory({ FFMPEG_PATH: '/nonexistent/ffmpeg', FFPROBE_PATH: '/nonexistent/ffprobe' });
      await assert.rejects(probeVideo(clip, broken), (err: unknown) => {
        assert.ok(!(err instanceof MediaInputError));
        assert.match((err as Error).message, /Could not run ffprobe/);
        return true;
      });
    } finally {
      await cleanup();
    }
  });
});

describe('parseFrameRate', () => {
  it('keeps the exact fraction, reduced', () => {
    assert.deepEqual(parseFrameRate('30000/1001'), { num: 30000, den: 1001 });
    assert.deepEqual(parseFrameRate('60/2'), { num: 30, den: 1 });
    assert.deepEqual(parseFrameRate('25'), { num: 25, den: 1 });
  });

  it('rejects the placeholders ffprobe uses for unknown rates', () => {
    assert.equal(parseFrameRate('0/0'), undefined);
    assert.equal(parseFrameRate('25/0'), undefined);
    assert.equal(parseFrameRate('N/A'), undefined);
    assert.equal(parseFrameRate(undefined), undefined);
  });
});

describe('probeVideo', () => {
  let dir = '';
  let cleanup = async () => {};
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir('probe-test'));
    await Promise.all([
      makeClip({ path: file('ntsc-audio.mp4'), width: 100, height: 75, rate: '30000/1001', frames: 12, audio: true }),
      makeClip({ path: file('silent.mp4'), width: 64, height: 48, rate: '25', frames: 10 }),
      makeClip({ path: file('rot90.mp4'), width: 64, height: 48, frames: 10, rotate: 90 }),
      makeClip({ path: file('rot180.mp4'), width: 64, height: 48, frames: 10, rotate: 180 }),
      makeClip({ path: file('rot270.mp4'), width: 64, height: 48, frames: 10, rotate: 270 }),
      makeClip({ path: file('sound.m4a'), width: 0, height: 0, frames: 10, audioOnly: true }),
      makeClip({ path: file('clip.mkv'), width: 64, height: 48, rate: '24000/1001', frames: 11, audio: true, audioCodec: 'pcm_s16le' }),
      makeStyleImage(file('still.png'), 40, 30),
      writeFile(file('notes.mp4'), 'this is a text file, not a video\n'),
    ]);
  });
  after(() => cleanup());

  it('reads an NTSC clip with audio exactly', async () => {
    const info = await probeVideo(file('ntsc-audio.mp4'));
    assert.deepEqual(info.frameRate, { num: 30000, den: 1001 });
    assert.equal(info.frameCount, 12);
    assert.equal(info.width, 100);
    assert.equal(info.height, 75);
    assert.equal(info.rotation, 0);
    assert.equal(info.displayWidth, 100);
    assert.equal(info.displayHeight, 75);
    assert.equal(info.hasAudio, true);
    assert.equal(info.audioCodec, 'aac');
    assert.ok(Math.abs(info.durationSeconds - (12 * 1001) / 30000) < 1e-3, `duration ${info.durationSeconds}`);
    assert.match(info.formatName, /mp4/);
  });

  it('reports a clip without audio', async () => {
    const info = await probeVideo(file('silent.mp4'));
    assert.equal(info.hasAudio, false);
    assert.equal(info.audioCodec, undefined);
    assert.deepEqual(info.frameRate, { num: 25, den: 1 });
    assert.equal(info.frameCount, 10);
  });

  it('reads rotation and swaps the display size for quarter turns', async () => {
    const r90 = await probeVideo(file('rot90.mp4'));
    assert.equal(r90.rotation, 90);
    assert.deepEqual([r90.width, r90.height, r90.displayWidth, r90.displayHeight], [64, 48, 48, 64]);
    const r270 = await probeVideo(file('rot270.mp4'));
    assert.equal(r270.rotation, 270);
    assert.deepEqual([r270.displayWidth, r270.displayHeight], [48, 64]);
    const r180 = await probeVideo(file('rot180.mp4'));
    assert.equal(r180.rotation, 180);
    assert.deepEqual([r180.displayWidth, r180.displayHeight], [64, 48]);
  });

  it('counts frames when the container does not store the count (mkv)', async () => {
    const info = await probeVideo(file('clip.mkv'));
    assert.equal(info.frameCount, 11);
    assert.deepEqual(info.frameRate, { num: 24000, den: 1001 });
    assert.equal(info.audioCodec, 'pcm_s16le');
  });

  it('rejects an audio-only file as having no video stream', async () => {
    await assert.rejects(probeVideo(file('sound.m4a')), (err: unknown) => {
      assert.ok(err instanceof MediaInputError);
      assert.match(err.message, /sound\.m4a" has no video stream/);
      // Media names the setting by its key; the person reads the flag (the command line renders it).
      assert.match(err.message, /\{input\}/);
      assert.match(withFlags(err.message), /--input/);
      return true;
    });
  });

  it('rejects a text file named .mp4 with ffprobe\'s reason', async () => {
    await assert.rejects(probeVideo(file('notes.mp4')), (err: unknown) => {
      assert.ok(err instanceof MediaInputError);
      assert.match(withFlags(err.message), /notes\.mp4" is not a readable video file \(ffprobe: .+\)\. Give --input a video/);
      return true;
    });
  });

  it('says so when the file does not exist', async () => {
    await assert.rejects(probeVideo(file('missing.mp4')), (err: unknown) => {
      assert.ok(err instanceof MediaInputError);
      assert.match(err.message, /missing\.mp4" does not exist/);
      return true;
    });
  });

  it('rejects a directory and a still image', async () => {
    await assert.rejects(probeVideo(dir), MediaInputError);
    await assert.rejects(probeVideo(file('still.png')), /still image/);
  });
});
