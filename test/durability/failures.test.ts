/**
 * Out of memory and failed frames against a real server: the retry policy, the degraded mode, and a
 * render that finishes every other frame and waits for retry-failed or skip-failed.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildRenderRequest, type RenderFlags } from '../../src/client/setup/render-options';
import { startOrAttach } from '../../src/client/commands/start-render';
import { framePath, readImage } from '../../src/media';
import { retryFailedSignal, skipFailedSignal } from '../../src/workflows/contract';
import { makeClip, probeStreams } from '../helpers/media-fixtures';
import { TINY_RENDER, useRenderEnv } from '../helpers/render-env';
import { waitForProgress } from '../helpers/steering';
import { renderPaths } from '../../src/common/render-paths';

const TINY: RenderFlags = { ...TINY_RENDER, epochs: '2' };

describe('out of memory and failed frames', () => {
  const fx = useRenderEnv('starry-failures', { styleSize: [40, 40] });

  async function start(name: string, flags: RenderFlags = {}) {
    const input = await makeClip({ path: join(fx.root, `${name}.mp4`), width: 48, height: 36, rate: '25', frames: 4, audio: true });
    const request = await buildRenderRequest({ ...TINY, ...flags, input, style: fx.style, output: join(fx.root, `${name}.out.mp4`), workDir: fx.env.workDir });
    return { request, handle: await startOrAttach(fx.env.server.env.client, request, {}) };
  }

  test('out of memory is retried with backoff, and from the second failure on the frame runs at reduced size', async () => {
    const workers = await fx.env.startWorkers(['style'], { faults: 'oom@2*2' });
    const { request, handle } = await start('oom');
    const r = await handle.result();
    await workers.stop();
    assert.equal(r.done, 4);
    assert.equal(r.failedFrames.count, 0);
    const note = r.notable.find((n) => n.frame === 2);
    assert.equal(note?.attempt, 3, 'two out-of-memory attempts, then a third that finished');
    assert.equal(note?.degraded, true);
    assert.equal(r.stats.degraded, 1);
    assert.ok(!r.notable.some((n) => n.frame !== 2 && n.degraded), 'only the frame that ran out of memory is degraded');
    const styled = await readImage(framePath(join(request.renderDir, 'styled'), 2));
    assert.deepEqual([styled.width, styled.height], [32, 24], 'a degraded frame is scaled back to full size');
  });

  test('a frame that exhausts its attempts does not sink the render; retry-failed renders it again', async () => {
    const workers = await fx.env.startWorkers(['style'], { faults: 'oom@3*2' });
    const { handle } = await start('retry', { frameAttempts: '2' });
    const waiting = await waitForProgress(handle, (p) => p.phase === 'needs-attention', 'needs-attention', 120_000);
    assert.equal(waiting.done, 3, 'every other frame finished');
    assert.equal(waiting.failedFrames.count, 1);
    assert.deepEqual(waiting.failedFrames.ranges, [[3, 3]]);
    assert.match(waiting.failedFrames.errors[0].error, /OutOfMemory: frame 3 of 4, attempt 2: out of memory/);
    await handle.signal(retryFailedSignal);
    const r = await handle.result();
    await workers.stop();
    assert.equal(r.done, 4);
    assert.equal(r.skipped.count, 0);
    const note = r.notable.find((n) => n.frame === 3);
    assert.equal(note?.failures, 1);
  });

  test('a corrupt frame fails fast, on its first attempt; once repaired, retry-failed finishes it', async () => {
    const { request, handle } = await start('corrupt');
    // No style worker yet: the first chunk is extracted and its frames wait.
    await waitForProgress(handle, (p) => p.chunks?.open[0]?.phase === 'styling', 'the first chunk extracted', 120_000);
    const frame2 = framePath(renderPaths(request.renderDir).chunk(0).frames, 2);
    const original = await readFile(frame2);
    await writeFile(frame2, 'not a png');
    const workers = await fx.env.startWorkers(['style']);
    const waiting = await waitForProgress(handle, (p) => p.phase === 'needs-attention', 'needs-attention', 120_000);
    assert.deepEqual(waiting.failedFrames.ranges, [[2, 2]]);
    assert.match(waiting.failedFrames.errors[0].error, /MediaInputError: frame 2, attempt 1: .*frame_000002\.png" is not a readable image/);
    await writeFile(frame2, original);
    await handle.signal(retryFailedSignal);
    const r = await handle.result();
    await workers.stop();
    assert.equal(r.done, 4);
  });

  test('skip-failed assembles anyway with the unstylized frame and says so in the result', async () => {
    const workers = await fx.env.startWorkers(['style'], { faults: 'oom@2*9' });
    const { request, handle } = await start('skip', { frameAttempts: '1' });
    await waitForProgress(handle, (p) => p.phase === 'needs-attention', 'needs-attention', 120_000);
    await handle.signal(skipFailedSignal);
    const r = await handle.result();
    await workers.stop();
    assert.deepEqual(r.skipped, { count: 1, ranges: [[2, 2]], rangesOmitted: 0 });
    assert.equal(r.done, 3);
    const out = await probeStreams(request.output);
    assert.equal(Number(out.streams.find((s) => s.codec_type === 'video')!.nb_read_frames), 4);
  });
});
