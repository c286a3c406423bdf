import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFaults, NO_FAULTS } from '../../src/activities/faults';
import { degradedSize } from '../../src/activities/style';
import { isOutOfMemory } from '../../src/engine/oom';

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
