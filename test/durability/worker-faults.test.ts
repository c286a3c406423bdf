/**
 * Real process faults against a real server: style workers are separate processes that get
 * SIGKILLed mid-frame (several times, also in a coherent render's run-up) or SIGTERMed, and the
 * render still completes with frames bit-identical to an uninterrupted render, losing at most one
 * epoch per crash.
 */
import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { buildRenderRequest, type RenderFlags } from '../../src/client/setup/render-options';
import { readSnapshot } from '../../src/client/report/progress';
import { startOrAttach } from '../../src/client/commands/start-render';
import { framePath, quantise, readImage } from '../../src/media';
import type { RenderResult } from '../../src/workflows/contract';
import { makeClip } from '../helpers/media-fixtures';
import { startWorkerProcess, type Proc } from '../helpers/processes';
import { TINY_RENDER, useRenderEnv } from '../helpers/render-env';
import { waitFor } from '../helpers/steering';

const FRAMES = 6;
const STEPS_PER_EPOCH = 4;
const SETTINGS: RenderFlags = { ...TINY_RENDER, epochs: '3', stepsPerEpoch: String(STEPS_PER_EPOCH), heartbeatTimeout: '6' };

async function styledPixels(renderDir: string): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  for (let k = 1; k <= FRAMES; k++) frames.push(quantise(await readImage(framePath(join(renderDir, 'styled'), k))));
  return frames;
}

describe('worker faults (real processes)', () => {
  const fx = useRenderEnv('starry-faults', { styleSize: [40, 40] });
  let input: string;
  let reference: Buffer[];

  before(async () => {
    input = await makeClip({ path: join(fx.root, 'clip.mp4'), width: 48, height: 36, rate: '25', frames: FRAMES, audio: true });
    // Same video under other names: each render gets its own work directory (nothing to reuse).
    for (const name of ['killed', 'terminated', 'coherent', 'coherent-killed']) await copyFile(input, join(fx.root, `${name}.mp4`));
    // The uninterrupted render every faulty one is compared with.
    const styleWorker = await fx.env.startWorkers(['style']);
    const request = await buildRenderRequest({ ...SETTINGS, input, style: fx.style, output: join(fx.root, 'reference.mp4'), workDir: fx.env.workDir });
    await (await startOrAttach(fx.env.server.env.client, request, {})).result();
    await styleWorker.stop();
    reference = await styledPixels(request.renderDir);
  });

  test('SIGKILL mid-frame, three times: frames are bit-identical, finished frames are never recomputed, each crash loses less than an epoch', async () => {
    const kills = [
      { frame: 2, step: 6 },
      { frame: 4, step: 11 },
      { frame: 5, step: 3 },
    ];
    const request = await buildRenderRequest({
      ...SETTINGS,
      input: join(fx.root, 'killed.mp4'),
      style: fx.style,
      output: join(fx.root, 'killed.out.mp4'),
      workDir: fx.env.workDir,
    });
    const r = await renderKilled(request, kills);
    assert.deepEqual(await styledPixels(request.renderDir), reference, 'every frame equals the uninterrupted render, bit for bit');
    assert.equal(r.stats.retried, kills.length);
  });

  test('--init prev-warped: SIGKILL in a chain\'s run-up, frames bit-identical, the run-up resumed from its checkpoint', async () => {
    const coherent: RenderFlags = { ...SETTINGS, init: 'prev-warped', laterEpochs: '2' };
    const uninterrupted = await buildRenderRequest({ ...coherent, input: join(fx.root, 'coherent.mp4'), style: fx.style, output: join(fx.root, 'coherent.out.mp4'), workDir: fx.env.workDir });
    const styleWorker = await fx.env.startWorkers(['style']);
    await (await startOrAttach(fx.env.server.env.client, uninterrupted, {})).result();
    await styleWorker.stop();
    const coherentReference = await styledPixels(uninterrupted.renderDir);

    // Frame 1 runs its run-up first: frame 4 from its content (steps 1..12), then frames 3, 2 and 1
    // warm. The warm frames of this clip stop when done (before step 6 of theirs), so the SIGKILL falls
    // in the run-up's first stage; a SIGKILL inside a warm frame that is still optimising, and its
    // bit-identical resume, is test/activities/coherent.test.ts's (the stop rule's own state resumes).
    const kills = [{ frame: 1, step: 6 }];
    const request = await buildRenderRequest({ ...coherent, input: join(fx.root, 'coherent-killed.mp4'), style: fx.style, output: join(fx.root, 'coherent-killed.out.mp4'), workDir: fx.env.workDir });
    await renderKilled(request, kills);
    assert.deepEqual(await styledPixels(request.renderDir), coherentReference, 'every frame equals the uninterrupted render, bit for bit');
  });

  /**
   * Runs the render on style workers with `kills` injected, a new worker after each SIGKILL; checks
   * each kill happened once, and that each killed frame finished on its second attempt from its
   * last epoch checkpoint (steps counted across a run-up), the others on their first.
   */
  async function renderKilled(request: Awaited<ReturnType<typeof buildRenderRequest>>, kills: { frame: number; step: number }[]): Promise<RenderResult> {
    const faults = kills.map((k) => `kill@${k.frame}:${k.step}`).join(',');
    const handle = await startOrAttach(fx.env.server.env.client, request, {});
    let finished = false;
    const result: Promise<RenderResult> = handle.result().finally(() => (finished = true));
    let killed = 0;
    while (!finished) {
      const worker: Proc = await startWorkerProcess(fx.env.server.address, fx.env.weightsPath, { faults, workRoot: fx.env.workDir });
      const exit = await Promise.race([worker.exited, result.then(() => undefined)]);
      if (exit) {
        assert.equal(exit.signal, 'SIGKILL', `worker died of something else:\n${worker.output()}`);
        killed++;
      } else {
        worker.child.kill('SIGTERM');
        await worker.exited;
      }
    }
    const r = await result;
    assert.equal(killed, kills.length, 'each injected SIGKILL happened once, and the worker was restarted after each');
    assert.equal(r.done, FRAMES);
    const notable = new Map(r.notable.map((n) => [n.frame, n]));
    for (const k of kills) {
      const note = notable.get(k.frame);
      assert.ok(note, `frame ${k.frame} is recorded`);
      assert.equal(note.attempt, 2, `frame ${k.frame} finished on its second attempt`);
      const lastCheckpoint = Math.floor(k.step / STEPS_PER_EPOCH) * STEPS_PER_EPOCH;
      assert.equal(note.resumedFromStep, lastCheckpoint, `frame ${k.frame} resumed from its last epoch checkpoint`);
      assert.ok(k.step - note.resumedFromStep < STEPS_PER_EPOCH, 'the crash lost less than one epoch');
    }
    for (let frame = 1; frame <= FRAMES; frame++) {
      if (!kills.some((k) => k.frame === frame)) assert.equal(notable.get(frame), undefined, `frame ${frame} ran once, on its first attempt`);
    }
    return r;
  }

  test('SIGTERM: the worker checkpoints the step in flight, exits cleanly, and another worker continues the frame from there', async () => {
    const request = await buildRenderRequest({
      ...SETTINGS,
      heartbeatTimeout: '600',
      input: join(fx.root, 'terminated.mp4'),
      style: fx.style,
      output: join(fx.root, 'terminated.out.mp4'),
      workDir: fx.env.workDir,
    });
    const handle = await startOrAttach(fx.env.server.env.client, request, {});
    const worker = await startWorkerProcess(fx.env.server.address, fx.env.weightsPath, { faults: 'stall@3:7', workRoot: fx.env.workDir });
    await waitFor(() => readSnapshot(handle), (snap) => snap.live.some((f) => f.frame === 3 && f.step === 7), 'frame 3 at step 7', 120_000);
    worker.child.kill('SIGTERM');
    const exit = await worker.exited;
    assert.equal(exit.code, 0, `clean exit expected:\n${worker.output()}`);
    const header = JSON.parse((await readFile(join(request.renderDir, 'checkpoints', 'frame_000003.ckpt'))).toString('utf8').split('\n')[0]);
    assert.equal(header.step, 7, 'the step in flight was checkpointed, not just the epoch boundary');

    // The heartbeat timeout is 10 minutes: finishing now proves the frame was handed over at once.
    const next = await fx.env.startWorkers(['style']);
    const r = await handle.result();
    await next.stop();
    const note = r.notable.find((n) => n.frame === 3);
    assert.equal(note?.resumedFromStep, 7);
    assert.deepEqual(await styledPixels(request.renderDir), reference);
  });
});
