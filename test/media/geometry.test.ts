import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { displaySize, normaliseRotation, scaledSize } from '../../src/media/geometry';

describe('scaledSize', () => {
  it('scales the long side down to the target, keeping aspect and even sides', () => {
    assert.deepEqual(scaledSize(1920, 1080, 512), { width: 512, height: 288 });
    assert.deepEqual(scaledSize(1080, 1920, 512), { width: 288, height: 512 });
    assert.deepEqual(scaledSize(100, 75, 64), { width: 64, height: 48 });
  });

  it('scales up too, like the seed script', () => {
    assert.deepEqual(scaledSize(100, 75, 512), { width: 512, height: 384 });
  });

  it('rounds each side to the nearest even number', () => {
    // 101x33 -> 100 x 32.67 -> 32
    assert.deepEqual(scaledSize(101, 33, 100), { width: 100, height: 32 });
    // 300x199 -> 200 x 132.67 -> 132 (nearest even to 132.67)
    assert.deepEqual(scaledSize(300, 199, 200), { width: 200, height: 132 });
    // An odd target cannot be honoured exactly.
    assert.deepEqual(scaledSize(1000, 1000, 511), { width: 512, height: 512 });
  });

  it('never goes below 2 pixels', () => {
    assert.deepEqual(scaledSize(1000, 1, 100), { width: 100, height: 2 });
  });

  it('rejects empty pictures and targets', () => {
    assert.throws(() => scaledSize(0, 10, 100), RangeError);
    assert.throws(() => scaledSize(10, 10, 0), RangeError);
  });
});

describe('normaliseRotation', () => {
  it('maps quarter turns, negative or beyond a full turn, to 0/90/180/270', () => {
    assert.equal(normaliseRotation(-90), 270);
    assert.equal(normaliseRotation(90), 90);
    assert.equal(normaliseRotation(-180), 180);
    assert.equal(normaliseRotation(450), 90);
    assert.equal(normaliseRotation(-0), 0);
    assert.equal(normaliseRotation(89.99), 90);
  });

  it('ignores angles that are not quarter turns', () => {
    assert.equal(normaliseRotation(45), 0);
    assert.equal(normaliseRotation(Number.NaN), 0);
  });
});

describe('displaySize', () => {
  it('swaps sides for quarter turns only', () => {
    assert.deepEqual(displaySize(64, 48, 90), { width: 48, height: 64 });
    assert.deepEqual(displaySize(64, 48, 270), { width: 48, height: 64 });
    assert.deepEqual(displaySize(64, 48, 180), { width: 64, height: 48 });
  });

  it('stretches non-square pixels before turning', () => {
    // DVD NTSC 4:3: 720x480 with 8:9 pixels shows as 640x480.
    assert.deepEqual(displaySize(720, 480, 0, 8 / 9), { width: 640, height: 480 });
    assert.deepEqual(displaySize(720, 480, 90, 8 / 9), { width: 480, height: 640 });
  });
});
