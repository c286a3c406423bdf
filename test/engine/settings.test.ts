import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normaliseBlendWeights, styleLongSide } from '../../src/engine/settings';

test('the style image is read at size × scale on its long side', () => {
  assert.equal(styleLongSide({}, 512), 512);
  assert.equal(styleLongSide({ styleScale: 0.5 }, 512), 256);
  assert.equal(styleLongSide({ styleScale: 1.5 }, 101), 152);
});

test('blend weights are normalised to sum 1; equal weights are the default and so absent', () => {
  assert.deepEqual(normaliseBlendWeights([3, 7]), [0.3, 0.7]);
  assert.deepEqual(normaliseBlendWeights([30, 70]), normaliseBlendWeights([3, 7]), 'the same blend, however written');
  assert.equal(normaliseBlendWeights([2, 2, 2]), undefined);
  assert.equal(normaliseBlendWeights([5]), undefined);
});
