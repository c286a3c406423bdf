import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { removeStaleTemps, tempPathFor, withAtomicOutput, writeFileAtomic } from '../../src/common/atomic';
import { assembleVideo, containerFor } from '../../src/media/assemble';
import { MediaInputError } from '../../src/media/errors';
import { extractFrames, framePath } from '../../src/media/frames';
import { scaledSize } from '../../src/media/geometry';
import { probeVideo } from '../../src/media/probe';
import type { FrameRate } from '../../src/media/types';
import { deadPid, decodeFrame, makeClip, meanAbsDiff, probeStreams, streamMd5, tempDir } from '../helpers/media-fixtures';

const NTSC: FrameRate = { num: 30000, den: 1001 };

function stream(probe: Awaited<ReturnType<typeof probeStreams>>, type: string) {
  return probe.streams.find((s) => s.codec_type === type);
}

/** Distinct flat colours per frame, so a dropped, duplicated or shifted frame cannot pass for the right one. */
function frameColour(k: number): [number, number, number] {
  return [(37 * k + 20) % 256, (255 - 29 * k) & 255, (90 * k + 60) % 256];
}

describe('assembleVideo', () => {
  let dir = '';
  let cleanup = async () => {};
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir('assemble-test'));
    await Promise.all([
      makeClip({ path: file('ntsc.mp4'), width: 100, height: 75, frames: 24, audio: true }),
      makeClip({ path: file('silent.mp4'), width: 64, height: 48, rate: '25', frames: 10 }),
      makeClip({ path: file('late.mp4'), width: 64, height: 48, rate: '25', frames: 10, audio: true, videoDelay: 0.2 }),
      makeClip({ path: file('pcm.mkv'), width: 64, height: 48, rate: '25', frames: 10, audio: true, audioCodec: 'pcm_s16le' }),
    ]);
  });
  after(() => cleanup());

  it('round-trips frames, exact rate, duration and untouched audio', async () => {
    const input = file('ntsc.mp4');
    const info = await probeVideo(input);
    const size = scaledSize(info.displayWidth, info.displayHeight, 64);
    const framesDir = file('ntsc-frames');
    const frameCount = await extractFrames({ input, outDir: framesDir, ...size });
    const output = file('out/ntsc-styled.mp4');
    await assembleVideo({ framesDir, frameRate: info.frameRate, frameCount, audioFrom: input, output });

    const [src, out] = await Promise.all([probeStreams(input), probeStreams(output)]);
    const srcVideo = stream(src, 'video')!;
    const outVideo = stream(out, 'video')!;
    assert.equal(Number(outVideo.nb_read_frames), frameCount);
    assert.equal(outVideo.r_frame_rate, '30000/1001');
    assert.equal(outVideo.avg_frame_rate, '30000/1001');
    assert.deepEqual([outVideo.codec_name, outVideo.pix_fmt, outVideo.width, outVideo.height], ['h264', 'yuv420p', 64, 48]);
    const frameSeconds = NTSC.den / NTSC.num;
    assert.ok(Math.abs(Number(outVideo.duration) - Number(srcVideo.duration)) <= frameSeconds, `${outVideo.duration} vs ${srcVideo.duration}`);

    const srcAudio = stream(src, 'audio')!;
    const outAudio = stream(out, 'audio')!;
    assert.equal(outAudio.codec_name, 'aac');
    assert.equal(outAudio.sample_rate, srcAudio.sample_rate);
    assert.equal(outAudio.channels, srcAudio.channels);
    assert.equal(outAudio.duration, srcAudio.duration);
    assert.equal(await streamMd5(output, 'a:0'), await streamMd5(input, 'a:0'));

    // Frame k of the video is frame k+1 of the folder, give or take 4:2:0 and H.264 losses.
    const nearest: number[] = [];
    for (const k of [0, 11, 23]) {
      const decoded = await decodeFrame(output, k);
      const diffs = await Promise.all(
        [0, 11, 23].map(async (j) => meanAbsDiff(decoded, { data: await sharp(framePath(framesDir, j + 1)).raw().toBuffer() })),
      );
      nearest.push([0, 11, 23][diffs.indexOf(Math.min(...diffs))]);
      assert.ok(diffs[[0, 11, 23].indexOf(k)] < 16, `frame ${k}: ${diffs}`);
    }
    assert.deepEqual(nearest, [0, 11, 23]);

    // faststart puts the index (moov) before the media data (mdat).
    const bytes = await readFile(output);
    assert.ok(bytes.indexOf('moov') < bytes.indexOf('mdat'));
    assert.deepEqual((await readdir(file('out'))).sort(), ['ntsc-styled.mp4']);
  });

  it('keeps every frame in order with faithful colour', async () => {
    const framesDir = file('flat-frames');
    await mkdir(framesDir);
    const count = 8;
    for (let k = 0; k < count; k++) {
      const [r, g, b] = frameColour(k);
      await sharp({ create: { width: 32, height: 24, channels: 3, background: { r, g, b } } }).png().toFile(framePath(framesDir, k + 1));
    }
    const output = file('flat.mkv');
    await assembleVideo({ framesDir, frameRate: { num: 24, den: 1 }, frameCount: count, output });
    const probe = await probeStreams(output);
    assert.equal(Number(stream(probe, 'video')!.nb_read_frames), count);
    assert.equal(stream(probe, 'audio'), undefined);
    for (let k = 0; k < count; k++) {
      const decoded = await decodeFrame(output, k);
      const [r, g, b] = frameColour(k);
      const expected = Buffer.alloc(decoded.data.length);
      for (let i = 0; i < expected.length; i += 3) expected.set([r, g, b], i);
      assert.ok(meanAbsDiff(decoded, { data: expected }) < 3, `frame ${k} colour`);
    }
  });

  it('keeps a picture that starts after its sound in sync', async () => {
    const input = file('late.mp4');
    const info = await probeVideo(input);
    assert.equal(info.videoStartSeconds, 0.2);
    const framesDir = file('late-frames');
    const frameCount = await extractFrames({ input, outDir: framesDir, width: 32, height: 24 });
    assert.equal(frameCount, 10);
    const output = file('late-out.mp4');
    await assembleVideo({ framesDir, frameRate: info.frameRate, frameCount, audioFrom: input, output });
    const probe = await probeStreams(output);
    const video = stream(probe, 'video')!;
    assert.equal(Number(video.nb_read_frames), 10);
    assert.ok(Math.abs(Number(video.start_time) - Number(stream(probe, 'audio')!.start_time) - 0.2) < 0.002, video.start_time);
  });

  it('writes no audio when the input has none', async () => {
    const input = file('silent.mp4');
    const info = await probeVideo(input);
    const framesDir = file('silent-frames');
    const frameCount = await extractFrames({ input, outDir: framesDir, width: 32, height: 24 });
    const output = file('silent-out.mov');
    // assembleVideo probes audioFrom itself and finds there is nothing to carry.
    await assembleVideo({ framesDir, frameRate: info.frameRate, frameCount, audioFrom: input, output });
    const probe = await probeStreams(output);
    assert.equal(stream(probe, 'audio'), undefined);
    assert.equal(stream(probe, 'video')!.r_frame_rate, '25/1');
    assert.equal(Number(stream(probe, 'video')!.nb_read_frames), 10);
  });

  it('re-encodes audio to AAC only where the container cannot hold it', async () => {
    const input = file('pcm.mkv');
    const info = await probeVideo(input);
    assert.equal(info.audioCodec, 'pcm_s16le');
    const framesDir = file('pcm-frames');
    const frameCount = await extractFrames({ input, outDir: framesDir, width: 32, height: 24 });
    const common = { framesDir, frameRate: info.frameRate, frameCount, audioFrom: input };

    await assembleVideo({ ...common, output: file('pcm-out.mp4') });
    const mp4Audio = stream(await probeStreams(file('pcm-out.mp4')), 'audio')!;
    assert.equal(mp4Audio.codec_name, 'aac');
    assert.equal(mp4Audio.bit_rate !== undefined, true);

    await assembleVideo({ ...common, output: file('pcm-out.mkv') });
    assert.equal(stream(await probeStreams(file('pcm-out.mkv')), 'audio')!.codec_name, 'pcm_s16le');
    assert.equal(await streamMd5(file('pcm-out.mkv'), 'a:0'), await streamMd5(input, 'a:0'));
  });

  it('leaves nothing at the output path when assembly fails', async () => {
    const empty = file('empty-frames');
    await mkdir(empty);
    const outDir = file('fail-out');
    await mkdir(outDir);
    const output = path.join(outDir, 'video.mp4');
    await assert.rejects(assembleVideo({ framesDir: empty, frameRate: NTSC, frameCount: 3, output }), /frame 1 of 3 is missing/);
    assert.deepEqual(await readdir(outDir), []);

    // A frame ffmpeg cannot decode fails inside ffmpeg, after it has started writing the temp file.
    const broken = file('broken-frames');
    await mkdir(broken);
    for (let k = 1; k <= 3; k++) {
      await sharp({ create: { width: 16, height: 16, channels: 3, background: '#808080' } }).png().toFile(framePath(broken, k));
    }
    await writeFile(framePath(broken, 2), 'not a png');
    await writeFile(output, 'previous render');
    await assert.rejects(assembleVideo({ framesDir: broken, frameRate: NTSC, frameCount: 3, output }), /ffmpeg failed while assembling/);
    assert.deepEqual(await readdir(outDir), ['video.mp4']);
    assert.equal(await readFile(output, 'utf8'), 'previous render');
  });

  it('rejects unsupported output extensions and odd frame sizes clearly', async () => {
    assert.throws(() => containerFor('out.avi'), (err: unknown) => err instanceof MediaInputError && /\.mp4/.test(err.message));
    await assert.rejects(
      assembleVideo({ framesDir: file('flat-frames'), frameRate: NTSC, frameCount: 1, output: file('x.webm') }),
      MediaInputError,
    );
    const odd = file('odd-frames');
    await mkdir(odd);
    await sharp({ create: { width: 15, height: 9, channels: 3, background: '#123456' } }).png().toFile(framePath(odd, 1));
    await assert.rejects(assembleVideo({ framesDir: odd, frameRate: NTSC, frameCount: 1, output: file('odd.mp4') }), /even width and height/);
    assert.ok(!existsSync(file('odd.mp4')));
  });
});

describe('atomic output', () => {
  let dir = '';
  let cleanup = async () => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir('atomic-test'));
  });
  after(() => cleanup());

  it('names temp files as hidden siblings that keep the final extension', () => {
    const temp = tempPathFor('/renders/out.final.mp4');
    assert.equal(path.dirname(temp), '/renders');
    assert.match(path.basename(temp), new RegExp(`^\\.out\\.final\\.mp4\\.${process.pid}\\.[0-9a-f]+\\.tmp\\.mp4$`));
    assert.notEqual(tempPathFor('/renders/out.mp4'), tempPathFor('/renders/out.mp4'));
  });

  it('moves the result into place only on success', async () => {
    const target = path.join(dir, 'result.txt');
    await writeFileAtomic(target, 'first');
    await assert.rejects(
      withAtomicOutput(target, async (temp) => {
        await writeFile(temp, 'half-written');
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await readFile(target, 'utf8'), 'first');
    await assert.rejects(withAtomicOutput(target, async () => 'wrote nothing'), /Nothing was written/);
    const value = await withAtomicOutput(target, async (temp) => {
      await writeFile(temp, 'second');
      return 42;
    });
    assert.equal(value, 42);
    assert.equal(await readFile(target, 'utf8'), 'second');
    assert.deepEqual(await readdir(dir), ['result.txt']);
  });

  it('removes only the temps of writers that died', async () => {
    const target = path.join(dir, 'video.mp4');
    const crashed = path.join(dir, `.video.mp4.${deadPid()}.0123456789ab.tmp.mp4`);
    const live = tempPathFor(target);
    const unrelated = path.join(dir, `.other.mp4.${deadPid()}.0123456789ab.tmp.mp4`);
    await Promise.all([crashed, live, unrelated].map((f) => writeFile(f, 'partial')));
    await removeStaleTemps(target);
    assert.ok(!existsSync(crashed));
    assert.ok(existsSync(live));
    assert.ok(existsSync(unrelated));
  });
});
