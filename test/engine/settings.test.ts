import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SETTINGS, normaliseBlendWeights, styleLongSide, validateSettings, type StyleSettings } from '../../src/engine/settings';

const base: StyleSettings = { ...DEFAULT_SETTINGS };

test('the defaults pass, with or without the neural-style options', () => {
  assert.deepEqual(validateSettings(base), []);
  assert.deepEqual(validateSettings({ ...base, originalColors: true, styleScale: 0.5, styleBlendWeights: [0.3, 0.7] }, 2), []);
  assert.deepEqual(validateSettings({ ...base, styleScale: 4 }), [], 'the top of the range is allowed');
});

test('--style-blend-weights: one positive number per --style, each message naming the flag', () => {
  assert.deepEqual(validateSettings({ ...base, styleBlendWeights: [0.5, 0.5] }, 3), [
    '--style-blend-weights has 2 weights but 3 style images were given; give one weight per --style',
  ]);
  assert.deepEqual(validateSettings({ ...base, styleBlendWeights: [0.5, 0.5] }), [
    '--style-blend-weights has 2 weights but 1 style image was given; give one weight per --style',
  ]);
  for (const weights of [[1, 0], [1, -2], [1, NaN], [1, Infinity]]) {
    const errors = validateSettings({ ...base, styleBlendWeights: weights }, 2);
    assert.equal(errors.length, 1, String(weights));
    assert.match(errors[0], /^--style-blend-weights must be numbers above 0, one per --style, e.g\. 3,7 \(got /);
  }
});

test('--style-scale: above 0 and at most 4, and large enough for VGG19 at this --size', () => {
  for (const scale of [0, -1, 4.5, NaN]) {
    assert.deepEqual(validateSettings({ ...base, styleScale: scale }), [`--style-scale must be a number above 0 and at most 4 (got ${scale})`]);
  }
  assert.deepEqual(validateSettings({ ...base, size: 64, styleScale: 0.125 }), [
    '--style-scale 0.125 makes the style image 8 px on its long side at --size 64, but VGG19 layers down to block5_conv1 need at least 16; raise --style-scale or --size',
  ]);
});

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
