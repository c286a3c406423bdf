import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SCENE_CUT, DEFAULT_SETTINGS, isSceneCut, laterSettings, normaliseBlendWeights, stopRuleFor, styleLongSide } from '../../src/engine/settings';

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

test("a warm frame's stop rule holds each term only where the render says terms and its chain start recorded them", () => {
  const mask = new Float32Array(100).fill(1);
  const terms = { style: 8, content: 2 };
  assert.deepEqual(stopRuleFor({ stopTolerance: 1e-3, stopOn: 'terms' }, { loss: 10, terms }, mask, 20)?.terms, terms);
  // A render of the release before stopOn (absent), one that asks for the sum, and a chain an earlier release started (no terms): the sum.
  assert.equal(stopRuleFor({ stopTolerance: 1e-3 }, { loss: 10, terms }, mask, 20)?.terms, undefined);
  assert.equal(stopRuleFor({ stopTolerance: 1e-3, stopOn: 'sum' }, { loss: 10, terms }, mask, 20)?.terms, undefined);
  assert.equal(stopRuleFor({ stopTolerance: 1e-3, stopOn: 'terms' }, { loss: 10 }, mask, 20)?.terms, undefined);
  // Renders of the releases before the stop rule run every step.
  assert.equal(stopRuleFor({ stopOn: 'terms' }, { loss: 10, terms }, mask, 20), undefined);
});

test("a warm frame runs laterOptimizer; a coherent render without it (an earlier release's) runs optimizer, as it did", () => {
  const coherent = { ...DEFAULT_SETTINGS, init: 'prev-warped' as const, stopTolerance: 1e-3 };
  assert.equal(laterSettings({ ...coherent, laterOptimizer: 'lbfgs' }).optimizer, 'lbfgs');
  assert.equal(laterSettings({ ...coherent, optimizer: 'lbfgs', laterOptimizer: 'adam' }).optimizer, 'adam');
  assert.equal(laterSettings(coherent).optimizer, undefined, 'Adam, as the seed (absent)');
  assert.equal(laterSettings({ ...coherent, optimizer: 'lbfgs' }).optimizer, 'lbfgs');
  // Adam's warm learning rate is a quarter of the first frames' either way (L-BFGS has none).
  assert.equal(laterSettings({ ...coherent, laterOptimizer: 'adam' }).learningRate, coherent.learningRate / 4);
});

test("a warm frame's stop rule knows its predecessor's final loss (settled) in renders of this release only", () => {
  const mask = new Float32Array(100).fill(1);
  assert.equal(stopRuleFor({ stopTolerance: 1e-3, laterOptimizer: 'lbfgs' }, { loss: 10 }, mask, 20, 12)?.settled, 12);
  assert.equal(stopRuleFor({ stopTolerance: 1e-3, laterOptimizer: 'adam' }, { loss: 10 }, mask, 20, 12)?.settled, 12);
  // A coherent render of the release before (no laterOptimizer) resumes as it ran.
  assert.equal(stopRuleFor({ stopTolerance: 1e-3 }, { loss: 10 }, mask, 20, 12)?.settled, undefined);
  assert.equal(stopRuleFor({ stopTolerance: 1e-3, laterOptimizer: 'lbfgs' }, { loss: 10 }, mask, 20, NaN)?.settled, undefined, 'a predecessor that recorded none');
});

test('a warm frame is a scene cut when its flow is trusted on less than sceneCut of its pixels; never without it (0, or an earlier release)', () => {
  const mask = (trusted: number, of = 10) => Float32Array.from({ length: of }, (_, i) => (i < trusted ? 1 : 0));
  assert.equal(isSceneCut({ sceneCut: 0.5 }, mask(4)), true);
  assert.equal(isSceneCut({ sceneCut: 0.5 }, mask(5)), false, 'half trusted is no cut');
  assert.equal(isSceneCut({ sceneCut: DEFAULT_SCENE_CUT }, mask(0)), true);
  assert.equal(isSceneCut({ sceneCut: 0 }, mask(0)), false);
  assert.equal(isSceneCut({}, mask(0)), false);
});
