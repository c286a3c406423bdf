/**
 * Every audio and subtitle stream of the input reaches the output when its container can hold it —
 * copied where possible, else re-encoded — and the result says exactly which was which.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeStreams } from '../../src/client/commands/start-render';
import { assembleVideo } from '../../src/media/assemble';
import { extractFrames } from '../../src/media/frames';
import { probeVideo } from '../../src/media/probe';
import { makeMultiStreamClip, probeStreams, streamMd5, tempDir } from '../helpers/media-fixtures';

describe('audio and subtitle streams', () => {
  let dir = '';
  let cleanup = async () => {};
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir('streams-test'));
    await Promise.all([
      makeMultiStreamClip(file('two-audio-subs.mkv'), ['aac', 'libmp3lame'], 'srt'),
      makeMultiStreamClip(file('two-audio-subs.mp4'), ['aac', 'aac'], 'mov_text'),
      makeMultiStreamClip(file('opus.mkv'), ['libopus']),
    ]);
  });
  after(() => cleanup());

  async function render(input: string, output: string) {
    const info = await probeVideo(input);
    const framesDir = `${output}.frames`;
    const frameCount = await extractFrames({ input, outDir: framesDir, width: 32, height: 24 });
    return assembleVideo({ framesDir, frameRate: info.frameRate, frameCount, audioFrom: input, output });
  }

  const kinds = async (f: string) =>
    (await probeStreams(f)).streams.map((s) => `${s.codec_type}:${s.codec_name}:${s.codec_type === 'video' ? '' : (s.tags?.language ?? '')}`);

  it('two audio tracks and subtitles into .mp4: audio copied, SubRip re-encoded to mov_text', async () => {
    const input = file('two-audio-subs.mkv');
    const { streams } = await render(input, file('out-a.mp4'));
    assert.deepEqual(
      streams.map((r) => [r.index, r.type, r.codec, r.action, r.to]),
      [
        [1, 'audio', 'aac', 'copied', undefined],
        [2, 'audio', 'mp3', 'copied', undefined],
        [3, 'subtitle', 'subrip', 're-encoded', 'mov_text'],
      ],
    );
    assert.deepEqual(await kinds(file('out-a.mp4')), ['video:h264:', 'audio:aac:eng', 'audio:mp3:fra', 'subtitle:mov_text:eng']);
    assert.equal(await streamMd5(file('out-a.mp4'), 'a:0'), await streamMd5(input, 'a:0'));
    assert.equal(await streamMd5(file('out-a.mp4'), 'a:1'), await streamMd5(input, 'a:1'));
  });

  it('two audio tracks and subtitles into .mkv: everything copied', async () => {
    const input = file('two-audio-subs.mkv');
    const { streams } = await render(input, file('out-b.mkv'));
    assert.deepEqual(streams.map((r) => r.action), ['copied', 'copied', 'copied']);
    assert.deepEqual(await kinds(file('out-b.mkv')), ['video:h264:', 'audio:aac:eng', 'audio:mp3:fra', 'subtitle:subrip:eng']);
    for (const spec of ['a:0', 'a:1', 's:0']) assert.equal(await streamMd5(file('out-b.mkv'), spec), await streamMd5(input, spec), spec);

    // mov_text from an MP4 is re-encoded for Matroska, which has no mov_text.
    const fromMp4 = await render(file('two-audio-subs.mp4'), file('out-c.mkv'));
    assert.deepEqual(fromMp4.streams.map((r) => `${r.codec} ${r.action}${r.to ? ` ${r.to}` : ''}`), ['aac copied', 'aac copied', 'mov_text re-encoded subrip']);
    assert.deepEqual(await kinds(file('out-c.mkv')), ['video:h264:', 'audio:aac:eng', 'audio:aac:fra', 'subtitle:subrip:eng']);
  });

  it('Opus into .mp4 is reported re-encoded to AAC, and the summary line says so', async () => {
    const { streams } = await render(file('opus.mkv'), file('out-d.mp4'));
    assert.deepEqual(streams, [{ index: 1, type: 'audio', codec: 'opus', language: 'eng', action: 're-encoded', to: 'aac', reason: '.mp4 cannot hold opus audio' }]);
    assert.deepEqual(await kinds(file('out-d.mp4')), ['video:h264:', 'audio:aac:eng']);
    assert.equal(describeStreams(streams), 'audio #1 opus (eng) re-encoded to aac (.mp4 cannot hold opus audio)');
  });

  it('the summary line names every stream and what became of it', () => {
    assert.equal(
      describeStreams([
        { index: 1, type: 'audio', codec: 'aac', action: 'copied' },
        { index: 2, type: 'subtitle', codec: 'hdmv_pgs_subtitle', action: 'dropped', reason: '.mp4 cannot hold hdmv_pgs_subtitle subtitles, and they are pictures, not text' },
      ]),
      'audio #1 aac copied; subtitle #2 hdmv_pgs_subtitle dropped (.mp4 cannot hold hdmv_pgs_subtitle subtitles, and they are pictures, not text)',
    );
    assert.equal(describeStreams([]), 'no audio or subtitles in the input');
  });
});
