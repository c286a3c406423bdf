import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseFaults, NO_FAULTS, STALL_HEARTBEAT_MS } from '../../src/activities/faults';
import { degradedSize } from '../../src/activities/frame-plan';
import { createStyleActivities } from '../../src/activities/style';
import type { StyleEngine } from '../../src/engine/engine';
import { isOutOfMemory } from '../../src/engine/oom';
import { DEFAULT_SETTINGS, InvalidSettingsError } from '../../src/engine/settings';
import { framePath, writePng } from '../../src/media';
import { FAILURE_TYPES, type FrameRecord, type StylizeFrameInput } from '../../src/workflows/contract';
import { tempDir } from '../helpers/media-fixtures';

test('out-of-memory errors of every backend are recognised, others are not', () => {
  for (const message of [
    'OOM when allocating tensor with shape[1,512,512,64] and type float on /job:localhost/replica:0/task:0/device:GPU:0',
    'ResourceExhaustedError: failed to allocate memory',
    'RangeError: Array buffer allocation failed',
    'Aborted(OOM)',
    'WebAssembly.Memory.grow(): Maximum memory size exceeded',
  ]) {
    assert.equal(isOutOfMemory(new Error(message)), true, message);
  }
  for (const message of ['Input buffer contains unsupported image format', 'frame is 8×8, but VGG19 layers need 16 pixels']) {
    assert.equal(isOutOfMemory(new Error(message)), false, message);
  }
});

test('degraded size: full size until the threshold, then halved per further failure, never too small for VGG19', () => {
  assert.equal(degradedSize(512, 0, 2), undefined);
  assert.equal(degradedSize(512, 1, 2), undefined);
  assert.equal(degradedSize(512, 2, 2), 256);
  assert.equal(degradedSize(512, 3, 2), 128);
  assert.equal(degradedSize(512, 20, 2, 22), 22, 'the floor keeps the short side at 16 px');
});

test('fault injection is off unless asked for, and refuses what it cannot read', async () => {
  assert.equal(parseFaults(undefined), NO_FAULTS);
  assert.equal(parseFaults(' '), NO_FAULTS);
  assert.throws(() => parseFaults('explode@3'), /cannot read "explode@3"/);
  const plan = parseFaults('oom@2*2');
  const signal = new AbortController().signal;
  for (let i = 0; i < 2; i++) await assert.rejects(async () => plan.onStep(2, i + 1, 1, signal), /OOM when allocating/);
  assert.equal(await plan.onStep(2, 3, 1, signal), undefined, 'the third try is let through');
  assert.equal(await plan.onStep(1, 1, 1, signal), undefined, 'other frames are not touched');
});

test('a stalled frame heartbeats until its activity is cancelled, and only its own frame and attempt stall', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const plan = parseFaults('stall@3:5');
  const controller = new AbortController();
  let beats = 0;
  const heartbeat = () => beats++;
  assert.equal(await plan.onStep(3, 2, 5, controller.signal, heartbeat), undefined, 'attempt 2 goes through');
  assert.equal(await plan.onStep(3, 1, 4, controller.signal, heartbeat), undefined, 'step 4 goes through');
  let ended = false;
  const stalled = Promise.resolve(plan.onStep(3, 1, 5, controller.signal, heartbeat)).then(() => (ended = true));
  t.mock.timers.tick(STALL_HEARTBEAT_MS * 3);
  assert.equal(beats, 3, 'one heartbeat per interval while stalled');
  await Promise.resolve();
  assert.equal(ended, false, 'still stalled');
  controller.abort();
  await stalled;
  t.mock.timers.tick(STALL_HEARTBEAT_MS * 3);
  assert.equal(beats, 3, 'no heartbeats after the cancellation');
});

test('a stalled frame also goes on once its release file exists, and one that exists already does not stall it', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const { dir, cleanup } = await tempDir('starry-stall-release');
  t.after(cleanup);
  const release = join(dir, 'release');
  const plan = parseFaults('stall@3:5', release);
  const signal = new AbortController().signal;
  let beats = 0;
  let ended = false;
  const stalled = Promise.resolve(plan.onStep(3, 1, 5, signal, () => beats++)).then(() => (ended = true));
  t.mock.timers.tick(STALL_HEARTBEAT_MS * 2);
  await Promise.resolve();
  assert.equal(ended, false, 'stalled while the release file is missing');
  assert.equal(beats, 2);
  await writeFile(release, '');
  t.mock.timers.tick(STALL_HEARTBEAT_MS);
  await stalled;
  assert.equal(beats, 2, 'the tick that finds the file releases instead of heartbeating');
  assert.equal(await plan.onStep(3, 1, 5, signal, () => beats++), undefined, 'released at once when the file is there');
});

// The timeout only bounds a regression (no stall, so no heartbeat to wait for): it fails instead of hanging.
test('a copy frame stops at step 0 for a stall@K:0 fault, heartbeating, and is copied once released', { timeout: 60_000 }, async () => {
  const { dir, cleanup } = await tempDir('starry-copy-stall');
  try {
    const release = join(dir, 'release');
    const renderDir = join(dir, 'work', 'renders', 'copy');
    await mkdir(join(renderDir, 'frames'), { recursive: true });
    await writePng(framePath(join(renderDir, 'frames'), 1), { width: 4, height: 4, data: new Float32Array(4 * 4 * 3).fill(0.25) });
    const { stylizeFrame } = createStyleActivities({ paths: { workRoot: join(dir, 'work'), outputRoots: [] }, faults: parseFaults('stall@1:0', release) });
    const env = new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('ERROR') });
    const heartbeat = new Promise<void>((resolve) => env.once('heartbeat', () => resolve()));
    const input: StylizeFrameInput = { renderDir, style: join(dir, 'unused.png'), frame: 1, frameCount: 1, settings: { ...DEFAULT_SETTINGS, engine: 'copy' } };
    const done = env.run(stylizeFrame, input);
    // A copy frame heartbeats only while stalled: from here on it is held before its copy.
    await heartbeat;
    const styled = framePath(join(renderDir, 'styled'), 1);
    assert.equal(existsSync(styled), false, 'held before the copy');
    await writeFile(release, '');
    assert.equal(((await done) as FrameRecord).steps, 0);
    assert.equal(existsSync(styled), true);
  } finally {
    await cleanup();
  }
});

describe('stylizeFrame: which failures are retried', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let stylePath: string;

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-policies'));
    const image = { width: 20, height: 20, data: new Float32Array(20 * 20 * 3).fill(0.5) };
    stylePath = join(root, 'style.png');
    await writePng(stylePath, image);
    await mkdir(join(root, 'frames'));
    await writePng(framePath(join(root, 'frames'), 1), image);
  });
  after(() => cleanup?.());

  /** Runs frame 1 on an engine whose optimisation throws `err`; resolves to what the activity threw. */
  async function failureOf(err: Error): Promise<unknown> {
    const engine = {
      backend: { name: 'fake' },
      styleTargets: async () => ({}),
      stylize: async () => {
        throw err;
      },
    } as unknown as StyleEngine;
    const { stylizeFrame } = createStyleActivities({ engine, weightsId: 'w', paths: { workRoot: dirname(root), outputRoots: [] } });
    const input = { renderDir: root, style: stylePath, frame: 1, frameCount: 1, settings: { ...DEFAULT_SETTINGS, size: 20 } };
    // The activity's own failure log would only repeat what the assertions check.
    return new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(stylizeFrame, input).then(
      () => assert.fail('the frame should fail'),
      (e: unknown) => e,
    );
  }

  test('invalid settings fail at once, typed InvalidSettingsError, naming the frame and the fix', async () => {
    const err = await failureOf(new InvalidSettingsError('frame is 8×8, but VGG19 layers down to block5_conv1 need at least 16 pixels; raise --size'));
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, FAILURE_TYPES.invalidSettings);
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /^frame 1 of 1, attempt 1: invalid settings\. .*raise --size/);
  });

  test('a RangeError from elsewhere (a bad frame index, a short pixel buffer) is not reported as bad settings', async () => {
    const bug = new RangeError('Frame index must be a whole number from 1 (got 0)');
    const err = await failureOf(bug);
    assert.equal(err, bug, 'it reaches the retry policy as it is: retryable, with its own message');
  });

  test('out of memory is retryable, typed OutOfMemory', async () => {
    const err = await failureOf(new Error('OOM when allocating tensor with shape[1,20,20,64]'));
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, FAILURE_TYPES.outOfMemory);
    assert.equal(err.nonRetryable, false);
  });
});
