/**
 * Steering a running render against a real Temporal dev server and real workers: pause/resume,
 * setEpochs (signal and update), cancel (signal and Temporal cancellation), the progress query and
 * its per-frame records, two style workers sharing one render, and the Web UI.
 *
 * Renders are held without sleeps: the media worker runs throughout, style workers are started only
 * when a test wants frames computed, so "frames in flight" (scheduled, not yet computed) stay put
 * until the test lets them go.
 */
import { ApplicationFailure, WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import assert from 'node:assert/strict';
import { renderPaths } from '../../src/common/render-paths';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { buildRenderRequest, type RenderFlags } from '../../src/client/setup/render-options';
import { startOrAttach } from '../../src/client/commands/start-render';
import { framePath } from '../../src/media';
import {
  RENDER_CANCELLED,
  TASK_QUEUES,
  cancelRenderSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
  retryFailedSignal,
  setEpochsSignal,
  updateEpochs,
  type RenderProgress,
  type RenderRequest,
  type RenderResult,
} from '../../src/workflows/contract';
import type { renderVideo } from '../../src/workflows/render';
import { makeClip } from '../helpers/media-fixtures';
import { startWorkerProcess } from '../helpers/processes';
import { TINY_RENDER, useRenderEnv } from '../helpers/render-env';
import { readHistory, readStyled, waitFor, waitForProgress } from '../helpers/steering';

/** Steps per epoch of every render here. */
const SPE = Number(TINY_RENDER.stepsPerEpoch);

type Handle = WorkflowHandle<typeof renderVideo>;

describe('steering a render (real server, real workers)', () => {
  // Workflow tasks, split and assemble run throughout; style workers only when a test lets frames run.
  const fx = useRenderEnv('starry-steer');
  const clips = new Map<number, string>();
  let outputs = 0;

  async function clip(frames: number): Promise<string> {
    if (!clips.has(frames)) {
      clips.set(frames, await makeClip({ path: join(fx.root, `clip${frames}.mp4`), width: 32, height: 24, rate: '25', frames }));
    }
    return clips.get(frames)!;
  }

  /**
   * A new render of a `frames`-frame clip with its own id and work directory: the clip is copied to
   * a new name, since renders of the same input, style and settings share stylized frames.
   */
  async function request(frames: number, flags: RenderFlags = {}): Promise<RenderRequest> {
    const n = ++outputs;
    const input = join(fx.root, `in${n}.mp4`);
    await copyFile(await clip(frames), input);
    return buildRenderRequest({ ...TINY_RENDER, ...flags, input, style: fx.style, output: join(fx.root, `out${n}.mp4`), workDir: fx.env.workDir });
  }

  async function start(frames: number, flags: RenderFlags = {}): Promise<{ req: RenderRequest; handle: Handle }> {
    const req = await request(frames, flags);
    return { req, handle: await startOrAttach(fx.env.server.env.client, req, { output: req.output }) };
  }

  /** Started with `pause` in its first workflow task, so no frame can start before the test resumes it. */
  async function startPaused(frames: number, flags: RenderFlags = {}): Promise<{ req: RenderRequest; handle: Handle }> {
    const req = await request(frames, flags);
    const handle = await fx.env.server.env.client.workflow.signalWithStart<typeof renderVideo>('renderVideo', {
      workflowId: req.renderId,
      taskQueue: TASK_QUEUES.media,
      args: [req],
      memo: { output: req.output },
      signal: pauseSignal,
      signalArgs: [],
    });
    return { req, handle };
  }

  /** A style worker for this test only, stopped when the test ends (pass or fail). */
  async function styleWorkers(t: TestContext, identity?: string) {
    const w = await fx.env.startWorkers(['style'], { identity, ownConnection: identity !== undefined });
    t.after(() => w.stop());
    return w;
  }

  async function cancelledProgress(handle: Handle): Promise<RenderProgress> {
    const err = await handle.result().then(
      () => assert.fail('the render should end cancelled'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof WorkflowFailedError, String(err));
    const cause = err.cause;
    assert.ok(cause instanceof ApplicationFailure, String(cause));
    assert.equal(cause.type, RENDER_CANCELLED);
    assert.match(cause.message, /render cancelled on request after \d+ of \d+ frames; the finished frames are kept in/);
    return cause.details?.[0] as RenderProgress;
  }

  test('paused from the start: no frame starts while paused, signals sent while paused apply, resume finishes', async (t) => {
    const { req, handle } = await startPaused(5);
    const held = await waitForProgress(handle, (p) => p.phase === 'styling', 'the split to finish');
    assert.equal(held.paused, true);
    assert.deepEqual(held.inFlight, []);
    assert.equal(held.total, 5);
    assert.equal((await handle.describe()).memo?.state, 'paused', 'list and the Web UI see the pause in the memo');

    await styleWorkers(t);
    // Signals while paused: a valid epochs change, an invalid one, a second pause.
    await handle.signal(setEpochsSignal, 2);
    await handle.signal(setEpochsSignal, 0);
    await handle.signal(pauseSignal);
    const stillHeld = await waitForProgress(handle, (p) => p.settings.epochs === 2, 'the epochs signal');
    assert.equal(stillHeld.paused, true);
    assert.equal(stillHeld.done, 0);
    assert.deepEqual(stillHeld.inFlight, []);
    assert.deepEqual((await readHistory(handle)).frames, [], 'no stylizeFrame was scheduled while paused');

    await handle.signal(resumeSignal);
    const result = await handle.result();
    assert.equal(result.done, 5);
    assert.equal(result.paused, false);
    assert.equal(result.phase, 'done');
    const { sidecars } = await readStyled(req.renderDir);
    assert.deepEqual(sidecars.map((s) => s.steps), [4, 4, 4, 4, 4], 'every frame used the epochs set while paused');
  });

  test('pause with frames in flight: they finish, none starts until resume', async (t) => {
    const { handle } = await start(6);
    await waitForProgress(handle, (p) => p.inFlight.length === 2, 'two frames in flight (window 2, no style worker yet)');
    await handle.signal(pauseSignal);
    await waitForProgress(handle, (p) => p.paused, 'the pause');
    await styleWorkers(t);
    const paused = await waitForProgress(handle, (p) => p.done === 2 && p.inFlight.length === 0, 'the frames in flight to finish');
    assert.equal(paused.paused, true);
    assert.equal(paused.phase, 'styling');
    assert.ok(paused.etaSeconds !== null && paused.etaSeconds > 0, 'while paused, the ETA is the time left once resumed');

    const history = await readHistory(handle);
    const pauseAt = history.signals.find((s) => s.name === 'pause')!.eventId;
    assert.deepEqual(history.frames.map((f) => f.frame), [1, 2]);
    assert.ok(history.frames.every((f) => f.scheduledEventId < pauseAt && f.completed), 'only the two frames in flight ran, and finished');

    await handle.signal(resumeSignal);
    const result = await handle.result();
    assert.equal(result.done, 6);
    const after = await readHistory(handle);
    assert.ok(
      after.frames.filter((f) => f.frame > 2).every((f) => f.scheduledEventId > after.signals.find((s) => s.name === 'resume')!.eventId),
      'frames 3… were scheduled only after resume',
    );
  });

  test('setEpochs racing frame completion: each frame uses the epochs it started with; frames started after the acknowledgement use the new value', async (t) => {
    const { req, handle } = await start(10, { epochs: '1' });
    await waitForProgress(handle, (p) => p.inFlight.length === 2, 'frames 1 and 2 in flight');
    await styleWorkers(t);
    // Races frames 1 and 2 completing (and frames 3… being scheduled as they do).
    const settings = await handle.executeUpdate(updateEpochs, { args: [3] });
    assert.equal(settings.epochs, 3);
    const atAck = await handle.query(progressQuery);
    const startedByAck = atAck.done + atAck.inFlight.length; // frames start in order here: 1…startedByAck
    assert.ok(startedByAck < 10, 'some frames had not started when the update was acknowledged');
    const result = await handle.result();
    assert.equal(result.done, 10);
    assert.equal(result.settings.epochs, 3);

    const history = await readHistory(handle);
    const updateAt = history.updatesAccepted[0].eventId;
    const { sidecars } = await readStyled(req.renderDir);
    assert.equal(sidecars.length, 10);
    for (const s of sidecars) {
      const scheduled = history.frames.find((f) => f.frame === s.frame)!;
      assert.ok(s.steps === 1 * SPE || s.steps === 3 * SPE, `frame ${s.frame}: ${s.steps} steps is neither the old nor the new epochs`);
      assert.equal(s.steps, scheduled.epochs * SPE, `frame ${s.frame} ran with the epochs it was scheduled with`);
      if (scheduled.scheduledEventId > updateAt) assert.equal(s.steps, 3 * SPE, `frame ${s.frame} was scheduled after the update`);
      if (s.frame > startedByAck) assert.equal(s.steps, 3 * SPE, `frame ${s.frame} started after the acknowledgement`);
    }
    assert.equal(sidecars[0].steps, 1 * SPE, 'frame 1 was in flight at the update and kept the old epochs');
    assert.equal(sidecars[1].steps, 1 * SPE, 'frame 2 was in flight at the update and kept the old epochs');
  });

  test('invalid epochs: the update is refused with a clear error, the signal is ignored, the run is unharmed', async (t) => {
    const { req, handle } = await startPaused(3, { epochs: '2' });
    await waitForProgress(handle, (p) => p.phase === 'styling', 'the split');
    for (const bad of [0, -1, 1.5, 1001]) {
      await assert.rejects(handle.executeUpdate(updateEpochs, { args: [bad] }), (err: unknown) => {
        assert.ok(err instanceof WorkflowUpdateFailedError, String(err));
        assert.match(err.cause?.message ?? '', new RegExp(`^epochs must be a whole number from 1 to 1000 \\(got ${bad}\\)$`));
        return true;
      });
    }
    for (const bad of [0, -3, 2.5, 'many', null]) await handle.signal(setEpochsSignal, bad as number);
    await handle.signal(setEpochsSignal, 1); // a valid one after them, to know the invalid ones were processed
    await waitForProgress(handle, (p) => p.settings.epochs === 1, 'the valid signal');
    await handle.signal(setEpochsSignal, 2);
    await waitForProgress(handle, (p) => p.settings.epochs === 2, 'the epochs back at 2');
    const history = await readHistory(handle);
    assert.equal(history.updatesAccepted.length, 0, 'a refused update leaves no trace in the history');

    await styleWorkers(t);
    await handle.signal(resumeSignal);
    const result = await handle.result();
    assert.equal(result.done, 3);
    assert.equal(result.failedFrames.count, 0);
    assert.deepEqual((await readStyled(req.renderDir)).sidecars.map((s) => s.steps), [4, 4, 4]);
    await assert.rejects(handle.executeUpdate(updateEpochs, { args: [3] }), /workflow execution already completed|already completed/i);
  });

  async function assertCancelledCleanly(req: RenderRequest, handle: Handle, cancelName: string | undefined) {
    const p = await cancelledProgress(handle);
    assert.equal(p.phase, 'cancelled');
    assert.equal(p.done, 2, 'the two frames in flight finished');
    assert.equal(p.total, 8);
    assert.deepEqual(p.inFlight, []);
    const { pngs, sidecars } = await readStyled(req.renderDir);
    assert.deepEqual(pngs, [1, 2], 'the finished frames stay on disk');
    assert.deepEqual(sidecars.map((s) => s.frame), [1, 2]);
    assert.equal(existsSync(req.output), false, 'no video is written');
    const history = await readHistory(handle);
    assert.deepEqual(history.frames.map((f) => [f.frame, f.completed]), [[1, true], [2, true]], 'no frame was started or interrupted by the cancel');
    if (cancelName) {
      const at = history.signals.find((s) => s.name === cancelName)!.eventId;
      assert.ok(history.frames.every((f) => f.scheduledEventId < at));
    }
    const described = await handle.describe();
    assert.equal(described.status.name, 'FAILED');
    assert.equal(described.memo?.state, 'cancelled');
  }

  test('cancelRender: stops scheduling, frames in flight finish and stay on disk, the workflow ends RenderCancelled with its progress', async (t) => {
    const { req, handle } = await start(8);
    await waitForProgress(handle, (p) => p.inFlight.length === 2, 'two frames in flight');
    await handle.signal(cancelRenderSignal);
    const cancelling = await waitForProgress(handle, (p) => p.cancelling, 'the cancel to be seen');
    assert.deepEqual(cancelling.inFlight, [1, 2]);
    await styleWorkers(t);
    await assertCancelledCleanly(req, handle, 'cancelRender');
  });

  test('a Temporal cancellation request (handle.cancel) is handled the same way', async (t) => {
    const { req, handle } = await start(8);
    await waitForProgress(handle, (p) => p.inFlight.length === 2, 'two frames in flight');
    await handle.cancel();
    await waitForProgress(handle, (p) => p.cancelling, 'the cancel to be seen');
    await styleWorkers(t);
    await assertCancelledCleanly(req, handle, undefined);
  });

  test('progress: totals, settings, ETA, stats, and per-frame records for failed and retried frames', async (t) => {
    const { req, handle } = await startPaused(6, { frameAttempts: '2' });
    // Paused: no frame starts, but the first chunk is extracted.
    await waitForProgress(handle, (p) => p.chunks?.open[0]?.phase === 'styling', 'the first chunk extracted');
    // Frame 3's input vanishes (a non-retryable error: it fails at once); frame 5's sidecar path is
    // blocked by a directory (a retryable error) until the test clears it after the first attempt.
    const frame3 = framePath(renderPaths(req.renderDir).chunk(0).frames, 3);
    await rename(frame3, `${frame3}.aside`);
    const blocker = join(req.renderDir, 'styled', 'frame_000005.json');
    await mkdir(blocker, { recursive: true });
    await writeFile(join(blocker, 'keep'), 'x');

    await styleWorkers(t);
    await handle.signal(resumeSignal);
    await waitFor(
      () => handle.describe(),
      (d) => (d.raw.pendingActivities ?? []).some((a) => (a.attempt ?? 1) >= 2 && a.lastFailure),
      'frame 5 to fail its first attempt',
    );
    await rm(blocker, { recursive: true });

    const attention = await waitForProgress(handle, (p) => p.phase === 'needs-attention', 'needs-attention');
    assert.equal(attention.done, 5);
    assert.deepEqual(attention.failedFrames.ranges, [[3, 3]]);
    assert.equal(attention.failedFrames.errors.length, 1);
    assert.deepEqual(attention.failedFrames.errors[0].sample, [3]);
    assert.match(attention.failedFrames.errors[0].error, /MediaInputError: .*frame_000003\.png" does not exist/);
    assert.equal(attention.etaSeconds, 0, 'nothing is left to render until the failed frame is retried');
    assert.equal((await handle.describe()).memo?.state, 'needs-attention');

    await rename(`${frame3}.aside`, frame3);
    await handle.signal(retryFailedSignal);
    const result: RenderResult = await handle.result();
    assert.equal(result.done, 6);
    assert.deepEqual(result.failedFrames, { count: 0, ranges: [], rangesOmitted: 0, errors: [] });
    assert.equal(result.total, 6);
    assert.equal(result.etaSeconds, 0);
    assert.deepEqual(result.backends, ['wasm']);
    assert.equal(result.settings.epochs, 1);
    assert.equal(result.renderDir, req.renderDir);
    assert.ok(result.meanSecondsPerFrame !== null && result.meanSecondsPerFrame > 0);
    assert.equal(result.stats.computed, 6);
    assert.equal(result.stats.retried, 1, 'frame 5 finished on its second attempt');
    assert.equal(result.stats.failures, 1, 'frame 3 ran out of attempts once');
    assert.equal(result.stats.resumed, 0);
    assert.ok(result.stats.busySeconds > 0);
    assert.ok(result.stats.minSeconds! <= result.stats.maxSeconds!);
    // Only notable frames get a record: 3 (failed once, then retried) and 5 (second attempt).
    assert.deepEqual(
      result.notable.map((n) => ({ frame: n.frame, attempt: n.attempt, failures: n.failures, degraded: n.degraded, steps: n.steps })),
      [
        { frame: 5, attempt: 2, failures: 0, degraded: false, steps: SPE },
        { frame: 3, attempt: 1, failures: 1, degraded: false, steps: SPE },
      ],
    );
    assert.equal(result.notableOmitted, 0);
  });

  test('two style worker processes share one render; no frame is computed twice', async (t) => {
    const workRoot = { workRoot: fx.env.workDir };
    const processes = [await startWorkerProcess(fx.env.server.address, fx.env.weightsPath, workRoot), await startWorkerProcess(fx.env.server.address, fx.env.weightsPath, workRoot)];
    t.after(async () => {
      for (const p of processes) p.child.kill('SIGTERM');
      await Promise.all(processes.map((p) => p.exited));
    });
    const { req, handle } = await start(8, { window: '4' });
    const result = await handle.result();
    assert.equal(result.done, 8);
    assert.equal(result.reused, 0);
    const history = await readHistory(handle);
    const frames = history.frames.map((f) => f.frame).sort((x, y) => x - y);
    assert.deepEqual(frames, [1, 2, 3, 4, 5, 6, 7, 8], 'each frame was scheduled exactly once');
    assert.ok(history.frames.every((f) => f.completed && f.result?.reused === false && f.attempt === 1), 'each completed once, computed, on its first attempt');
    const identities = new Set(history.frames.map((f) => f.identity));
    assert.deepEqual(
      [...identities].map((id) => Number(id?.split('@')[0])).sort(),
      processes.map((p) => p.child.pid).sort(),
      'both worker processes computed frames',
    );
    const { pngs, sidecars } = await readStyled(req.renderDir);
    assert.deepEqual(pngs, frames);
    assert.deepEqual(sidecars.map((s) => s.frame), frames);
  });

  test('the Web UI answers on 127.0.0.1', async () => {
    assert.match(fx.env.server.uiUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await waitFor(() => fetch(fx.env.server.uiUrl), (r) => r.status === 200, 'the UI to answer 200', 15_000);
    assert.equal(res.status, 200);
  });
});
