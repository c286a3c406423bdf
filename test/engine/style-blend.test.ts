/**
 * Blended style targets (several --style): each layer's target is Σ wᵢ·Gramᵢ, as in neural-style.
 * The blend is the same arithmetic on every backend, so one backend is enough here.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StyleEngine } from '../../src/engine/engine';
import { DEFAULT_SETTINGS } from '../../src/engine/settings';
import { computeBlendedStyleTargets, computeStyleTargets, type StyleTargets } from '../../src/engine/stylize';
import type { RgbImage } from '../../src/media/types';
import { engineBackends } from '../helpers/backends';
import { assertFloat32Close } from '../helpers/float-bounds';
import { tempDir } from '../helpers/media-fixtures';
import { contentImageFormula, styleImageFormula, writeVggH5 } from '../helpers/tiny-vgg';

const layers = DEFAULT_SETTINGS.styleLayers;
const styleA: RgbImage = { width: 16, height: 18, data: styleImageFormula(18, 16) };
// Another size on purpose: a Gram matrix is C×C whatever the image's size.
const styleB: RgbImage = { width: 24, height: 20, data: contentImageFormula(20, 24) };

async function gramsOf(targets: StyleTargets): Promise<Float32Array[]> {
  try {
    return await Promise.all(targets.grams.map(async (g) => (await g.data()) as Float32Array));
  } finally {
    targets.dispose();
  }
}

const backend = engineBackends().includes('node') ? 'node' : 'cpu';

describe(`blended style targets on ${backend}`, () => {
  let engine: StyleEngine;
  let cleanup: () => Promise<void>;

  before(async () => {
    const tmp = await tempDir('starry-blend');
    cleanup = tmp.cleanup;
    const weightsPath = join(tmp.dir, 'tiny.h5');
    await writeVggH5(weightsPath);
    engine = await StyleEngine.create({ weightsPath, backend, warmUp: false });
  });
  after(async () => {
    engine?.dispose();
    await cleanup?.();
  });

  test("weights 1, 0 give the first style's targets bit for bit, and one style alone is computeStyleTargets", async () => {
    const single = await gramsOf(computeStyleTargets(engine.model, styleA, layers));
    const blended = await gramsOf(
      computeBlendedStyleTargets(engine.model, [{ image: styleA, weight: 1 }, { image: styleB, weight: 0 }], layers),
    );
    assert.deepEqual(blended, single);
    assert.deepEqual(await gramsOf(computeBlendedStyleTargets(engine.model, [{ image: styleA, weight: 1 }], layers)), single);
  });

  test('blending is linear: w·Gram(a) + (1−w)·Gram(b) for each layer', async () => {
    const a = await gramsOf(computeStyleTargets(engine.model, styleA, layers));
    const b = await gramsOf(computeStyleTargets(engine.model, styleB, layers));
    const w = 0.3;
    const blended = await gramsOf(
      computeBlendedStyleTargets(engine.model, [{ image: styleA, weight: w }, { image: styleB, weight: 1 - w }], layers),
    );
    assert.equal(blended.length, layers.length);
    for (let l = 0; l < layers.length; l++) {
      assert.notDeepEqual(a[l], b[l], `the two styles differ at ${layers[l]}`);
      // The same Gram matrices, weighted and added in float32: three roundings (the weight to
      // float32, its product, the sum) over w·|a| + (1−w)·|b|.
      const expected = Array.from(a[l], (v, i) => w * v + (1 - w) * b[l][i]);
      const absSum = Array.from(a[l], (v, i) => w * Math.abs(v) + (1 - w) * Math.abs(b[l][i]));
      assertFloat32Close(blended[l], expected, 3, absSum, layers[l]);
    }
  });

  test('the engine caches a blend under its key and leaks no tensors computing one', async () => {
    const before = engine.tensorCount();
    const load = async () => [
      { image: styleA, weight: 0.5 },
      { image: styleB, weight: 0.5 },
    ];
    const first = await engine.styleTargets('blend-key', layers, load);
    let loads = 0;
    const again = await engine.styleTargets('blend-key', layers, async () => {
      loads++;
      return load();
    });
    assert.equal(again, first, 'the cached targets are reused');
    assert.equal(loads, 0, 'the styles are not read again');
    assert.equal(engine.tensorCount() - before, layers.length, 'only the blended Gram matrices stay');
  });
});
