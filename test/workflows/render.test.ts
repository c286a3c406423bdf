/**
 * The whole product against a real Temporal dev server and real ffmpeg: split, stylize every frame
 * on a real worker running the engine (narrow generated VGG19, wasm backend), assemble with audio.
 */
import { defaultPayloadConverter } from '@temporalio/client';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, test } from 'node:test';
import { buildRenderRequest, type RenderFlags } from '../../src/client/setup/render-options';
import { describeResult, startOrAttach } from '../../src/client/commands/start-render';
import { COPY_BACKEND } from '../../src/activities/style';
import { COPY_STYLE_QUEUE } from '../../src/workflows/contract';
import { readStyled } from '../helpers/steering';
import { computeStyleTargets } from '../../src/engine/stylize';
import { framePath, quantise, readImage } from '../../src/media';
import { renderPaths } from '../../src/common/render-paths';
import type { RenderResult } from '../../src/workflows/contract';
import { decodeFrame, makeClip, meanAbsDiff, probeStreams } from '../helpers/media-fixtures';
import { TINY_RENDER, useRenderEnv } from '../helpers/render-env';

/** Means of size×size blocks per channel: the low frequencies a video codec keeps. */
function blockMeans(img: { width: number; height: number; data: Uint8Array }, size: number): { data: Buffer } {
  const bw = Math.floor(img.width / size);
  const bh = Math.floor(img.height / size);
  const out = Buffer.alloc(bw * bh * 3);
  for (let by = 0; by < bh; by++)
    for (let bx = 0; bx < bw; bx++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (let y = 0; y < size; y++)
          for (let x = 0; x < size; x++) sum += img.data[((by * size + y) * img.width + bx * size + x) * 3 + c];
        out[(by * bw + bx) * 3 + c] = Math.round(sum / (size * size));
      }
  return { data: out };
}

const TINY: RenderFlags = { ...TINY_RENDER, epochs: '2', stepsPerEpoch: '3', framesPerRun: '3' };

describe('render workflow (real server, real ffmpeg)', () => {
  const fx = useRenderEnv('starry-render', { queues: ['media', 'style'], styleSize: [48, 40] });

  async function render(name: string, clip: Parameters<typeof makeClip>[0], flags: RenderFlags = {}) {
    if (!existsSync(clip.path)) await makeClip(clip);
    const request = await buildRenderRequest({
      ...TINY,
      ...flags,
      input: clip.path,
      style: fx.style,
      output: join(fx.root, `${name}.out.mp4`),
      workDir: fx.env.workDir,
    });
    const handle = await startOrAttach(fx.env.server.env.client, request, {});
    const result: RenderResult = await handle.result();
    return { request, handle, result };
  }

  test('stylizes every frame, keeps rate, duration and audio in sync, and matches the engine frame for frame', async () => {
    const input = join(fx.root, 'awkward.mp4');
    // A large learning rate makes the stylization obvious even after a few steps on a tiny frame.
    const { request, result } = await render(
      'awkward',
      { path: input, width: 100, height: 75, rate: '30000/1001', frames: 8, audio: true },
      { learningRate: '0.3' },
    );

    assert.equal(result.total, 8);
    assert.equal(result.done, 8);
    assert.deepEqual(result.frameRate, { num: 30000, den: 1001 });
    assert.deepEqual(result.backends, ['wasm']);
    assert.ok(result.runs >= 3, `8 frames at 3 per run must continue as new at least twice (runs: ${result.runs})`);
    // Each run's history grows by about 6 events a frame (5.5–6.3 measured), so the default 1000 frames
    // per run stay far below Temporal's 10,240-event warning.
    const client = fx.env.server.env.client;
    for await (const run of client.workflow.list({ query: `WorkflowId = '${request.renderId}'` })) {
      const history = await client.workflow.getHandle(request.renderId, run.runId).fetchHistory();
      assert.ok(history.events!.length <= 7 * 3 + 30, `run ${run.runId}: ${history.events!.length} events for at most 3 frames`);
    }

    const src = await probeStreams(input);
    const out = await probeStreams(request.output);
    const video = out.streams.find((s) => s.codec_type === 'video')!;
    const audio = out.streams.find((s) => s.codec_type === 'audio');
    assert.equal(Number(video.nb_read_frames), 8);
    assert.equal(video.r_frame_rate, '30000/1001');
    assert.equal(video.codec_name, 'h264');
    assert.equal(video.pix_fmt, 'yuv420p');
    assert.deepEqual([video.width, video.height], [32, 24]);
    assert.ok(audio, 'the original audio is muxed back');
    assert.equal(audio.codec_name, 'aac');
    const frameSeconds = 1001 / 30000;
    const srcDuration = Number(src.format.duration);
    assert.ok(Math.abs(Number(out.format.duration) - srcDuration) <= frameSeconds, `duration ${out.format.duration} vs ${srcDuration}`);
    assert.ok(
      Math.abs(Number(video.duration) - Number(audio.duration)) <= frameSeconds + 0.025,
      `video ${video.duration}s and audio ${audio.duration}s stay in sync`,
    );

    // Frame k of the video is the engine's own output for frame k, up to H.264. The encoder drops the
    // pixel-level texture of a 32×24 frame, so frames are compared as 4×4 block means.
    const { engine } = fx.env.style;
    const settings = request.settings;
    const styleImage = await readImage(fx.style, { longSide: settings.size });
    const targets = computeStyleTargets(engine.model, styleImage, settings.styleLayers);
    const checked = [1, 4, 8];
    const direct = new Map<number, { data: Buffer }>();
    const source = new Map<number, { data: Buffer }>();
    try {
      for (const k of checked) {
        const content = await readImage(framePath(renderPaths(request.renderDir).chunk(0).frames, k));
        const out = await engine.stylize({ content, targets, settings });
        const styledPng = await readImage(framePath(join(request.renderDir, 'styled'), k));
        assert.deepEqual(quantise(styledPng), quantise(out.image), `frame ${k} on disk is the engine's output, bit for bit`);
        direct.set(k, blockMeans({ ...out.image, data: quantise(out.image) }, 4));
        source.set(k, blockMeans({ ...content, data: quantise(content) }, 4));
      }
    } finally {
      targets.dispose();
    }
    for (const k of checked) {
      const decoded = blockMeans(await decodeFrame(request.output, k - 1), 4);
      const codecError = meanAbsDiff(decoded, direct.get(k)!);
      assert.ok(codecError < 8, `frame ${k}: video differs from the engine by ${codecError.toFixed(2)}/255`);
      assert.ok(meanAbsDiff(decoded, source.get(k)!) > codecError, `frame ${k} of the video is stylized, not the input`);
      for (const j of checked.filter((j) => j !== k)) {
        assert.ok(meanAbsDiff(decoded, direct.get(j)!) > codecError, `video frame ${k} is closer to engine frame ${k} than ${j}`);
      }
    }
    assert.deepEqual(
      readdirSync(fx.root).filter((f) => f.includes('.tmp')),
      [],
      'no temporary output is left beside the result',
    );
  });

  test('running the same render again reports the finished result instead of rendering again', async () => {
    const input = join(fx.root, 'again.mp4');
    const first = await render('again', { path: input, width: 64, height: 48, rate: '25', frames: 3, audio: false });
    const second = await startOrAttach(fx.env.server.env.client, first.request, {});
    assert.equal(second.workflowId, first.handle.workflowId);
    const described = await second.describe();
    assert.equal(described.runId, (await first.handle.describe()).runId, 'no second run was started');
    assert.equal((await second.result()).done, 3);

    // The Web UI reads each activity's summary: frames are named, not a list of identical rows.
    const history = await first.handle.fetchHistory();
    const summaries = history
      .events!.filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => defaultPayloadConverter.fromPayload<string>(e.userMetadata!.summary! as Parameters<typeof defaultPayloadConverter.fromPayload>[0]));
    assert.deepEqual(summaries, [
      'list the frames of the video',
      'extract frames 1-3 (chunk 1 of 1)',
      'frame 1 of 3',
      'frame 2 of 3',
      'frame 3 of 3',
      'encode frames 1-3 (chunk 1 of 1)',
      'join the segments and mux the audio',
    ]);
  });

  test('rendering the same video, style and settings to another output reuses every stylized frame kept with --keep-frames', async () => {
    const clip = { path: join(fx.root, 'reuse.mp4'), width: 64, height: 48, rate: '25', frames: 3, audio: true };
    const first = await render('reuse-a', clip);
    const second = await render('reuse-b', clip);
    assert.notEqual(second.request.renderId, first.request.renderId, 'another output is another render');
    assert.equal(basename(second.request.renderDir), second.request.renderId, 'the work directory is named by the render id');
    assert.equal(basename(first.request.renderDir), first.request.renderId);
    assert.equal(first.result.reused, 0);
    assert.equal(second.result.reused, 3);
    assert.ok(existsSync(second.request.output));
  });

  test('--engine copy: every frame passes through unstylized on copy workers, labelled so in progress, result and memo', async () => {
    const copyWorkers = await fx.env.startWorkers(['style'], { engine: 'copy', ownConnection: true });
    try {
      const clip = { path: join(fx.root, 'copy.mp4'), width: 64, height: 48, rate: '25', frames: 6, audio: true };
      const { request, handle, result } = await render('copy', clip, { engine: 'copy', framesPerRun: '4' });
      const stylized = await buildRenderRequest({ ...TINY, input: clip.path, style: fx.style, output: request.output, workDir: fx.env.workDir });
      assert.notEqual(request.renderId, stylized.renderId, 'a copy render is another render than the stylized one');
      assert.notEqual(request.renderDir, stylized.renderDir);

      assert.equal(result.done, 6);
      assert.equal(result.runs, 2, 'continue-as-new carries the engine');
      assert.equal(result.stylized, false);
      assert.equal(result.engine, 'copy');
      assert.deepEqual(result.backends, [COPY_BACKEND]);
      assert.equal(result.settings.engine, 'copy');
      const memo = (await handle.describe()).memo;
      assert.equal(memo?.stylized, false);
      assert.equal(memo?.engine, 'copy');
      assert.match(describeResult(result, request.renderDir)[0], /NOT STYLIZED/);

      // Every frame went to the copy workers' queue, none to the style transfer's.
      const history = await handle.fetchHistory();
      const queues = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'stylizeFrame').map((e) => e.activityTaskScheduledEventAttributes!.taskQueue!.name);
      assert.ok(queues.length > 0 && queues.every((q) => q === COPY_STYLE_QUEUE), queues.join(','));
      const { sidecars } = await readStyled(request.renderDir);
      assert.equal(sidecars.length, 6);

      // The video is the input's frames, in order, with the audio and timing kept.
      const out = await probeStreams(request.output);
      const src = await probeStreams(clip.path);
      assert.equal(Number(out.streams.find((st) => st.codec_type === 'video')!.nb_read_frames), 6);
      assert.ok(out.streams.some((st) => st.codec_type === 'audio'), 'the audio is kept');
      assert.ok(Math.abs(Number(out.format.duration) - Number(src.format.duration)) <= 0.04 + 0.025);
      for (const k of [1, 6]) {
        const content = await readImage(framePath(renderPaths(request.renderDir).chunk(0).frames, k));
        const decoded = blockMeans(await decodeFrame(request.output, k - 1), 4);
        assert.ok(meanAbsDiff(decoded, blockMeans({ ...content, data: quantise(content) }, 4)) < 8, `frame ${k} is the input's frame ${k}`);
      }
    } finally {
      await copyWorkers.stop();
    }
  });

  test('--init prev-warped: frames in order from the warped previous result, fewer steps after each chunk\'s first, lead-ins cross-faded', async () => {
    const clip = { path: join(fx.root, 'coherent.mp4'), width: 64, height: 48, rate: '25', frames: 7, audio: true };
    const { request, result, handle } = await render('coherent', clip, { init: 'prev-warped', laterEpochs: '1', chunkFrames: '3', overlap: '1', window: '4', framesPerRun: '100' });
    assert.equal(result.done, 7);
    assert.equal(result.chunks?.sequential, true);
    const spe = Number(TINY.stepsPerEpoch);
    // Chunk 1 reaches frame 1 through its run-up: frame 3 from its content (2 epochs), frames 2 and 1
    // warm (1 epoch each at most: a warm frame stops when done). Every later frame starts warm (at
    // most 1 epoch), chunks 2 and 3 from the lead-in frame (3 and 6) each renders first, through its
    // own run-up. The sidecars hold the steps taken, and the render's stats their sum with the lead-ins'.
    const { sidecars } = await readStyled(request.renderDir);
    assert.deepEqual(sidecars.map((s) => s.frame), [1, 2, 3, 4, 5, 6, 7]);
    assert.ok(sidecars[0].steps >= 2 * spe && sidecars[0].steps <= 4 * spe, `frame 1: ${sidecars[0].steps} steps`);
    for (const s of sidecars.slice(1)) assert.ok(s.steps >= 0 && s.steps <= spe, `frame ${s.frame}: ${s.steps} steps`);
    const ownSteps = sidecars.reduce((sum, s) => sum + s.steps, 0);
    assert.ok(result.stats.steps! >= ownSteps, `the stats count every frame computed, the lead-ins too (${result.stats.steps} against the frames' own ${ownSteps})`);
    const paths = renderPaths(request.renderDir);
    for (const [chunk, lead] of [[1, 3], [2, 6]]) {
      assert.ok(existsSync(framePath(paths.chunk(chunk).lead, lead)), `chunk ${chunk + 1} rendered lead-in frame ${lead}`);
    }
    // Each warm frame's temporal guide is kept for a retry only until the frame is done.
    assert.deepEqual(readdirSync(paths.chunk(0).flow), []);
    // And a run-up's frames until the chain's first frame is done.
    assert.deepEqual(readdirSync(paths.chunk(0).runUp), []);
    const history = await handle.fetchHistory();
    const scheduled = history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'stylizeFrame');
    assert.equal(scheduled.length, 7 + 2, 'seven frames and two lead-in frames');
    const out = await probeStreams(request.output);
    assert.equal(Number(out.streams.find((s) => s.codec_type === 'video')!.nb_read_frames), 7);
  });

  test('a video without audio gives a video without audio', async () => {
    const { request, result } = await render('silent', { path: join(fx.root, 'silent.mp4'), width: 64, height: 48, rate: '24', frames: 4 });
    assert.equal(result.hasAudio, false);
    const out = await probeStreams(request.output);
    assert.equal(out.streams.filter((s) => s.codec_type === 'audio').length, 0);
    assert.equal(out.streams.find((s) => s.codec_type === 'video')!.r_frame_rate, '24/1');
  });

  test('a single-frame video', async () => {
    const { request, result } = await render('single', { path: join(fx.root, 'single.mp4'), width: 40, height: 40, rate: '25', frames: 1, audio: true });
    assert.equal(result.total, 1);
    const out = await probeStreams(request.output);
    assert.equal(Number(out.streams.find((s) => s.codec_type === 'video')!.nb_read_frames), 1);
  });

  test('a portrait video with rotation metadata comes out upright', async () => {
    const { request } = await render('portrait', {
      path: join(fx.root, 'portrait.mp4'),
      width: 64,
      height: 36,
      rate: '30',
      frames: 3,
      rotate: 90,
      audio: true,
    });
    const out = await probeStreams(request.output);
    const video = out.streams.find((s) => s.codec_type === 'video')!;
    assert.ok(video.height > video.width, `portrait output expected, got ${video.width}×${video.height}`);
    assert.equal(video.tags?.rotate, undefined, 'the rotation is applied to the pixels, not left as metadata');
    assert.ok(existsSync(request.output));
    assert.ok(existsSync(join(request.renderDir, 'finished.json')), 'the work directory is marked finished for clean');
  });
});
