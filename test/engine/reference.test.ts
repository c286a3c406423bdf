/**
 * The engine against golden numbers computed by real Keras/TensorFlow (test/reference/): same
 * narrow VGG19-shaped weights, same images, the seed's loss and Adam. Loaded through the very path
 * production uses (HDF5 file → readVggWeights → Vgg19).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { adamUpdate } from '../../src/engine/adam';
import { selectBackend } from '../../src/engine/backend';
import { caffePreprocess, gramMatrix, totalVariation } from '../../src/engine/losses';
import { DEFAULT_SETTINGS, type StyleSettings } from '../../src/engine/settings';
import { computeStyleTargets, stylize } from '../../src/engine/stylize';
import { tf } from '../../src/engine/tf';
import { StepGraph } from '../../src/engine/step-graph';
import { Vgg19 } from '../../src/engine/vgg19';
import { PACKAGES } from '../../src/native/libtensorflow';
import { readVggWeights, type VggWeights } from '../../src/engine/weights';
import { engineBackends, nativeSkipReason } from '../helpers/backends';
import { adamStepMax, assertFloat32Close, conv3x3Chain } from '../helpers/float-bounds';
import { tempDir } from '../helpers/media-fixtures';
import { tinyVggLayerSpec, writeVggH5 } from '../helpers/tiny-vgg';

interface Encoded {
  shape: number[];
  data: number[];
}
const golden = JSON.parse(readFileSync(join(__dirname, '../reference/golden.json'), 'utf8'));
const tensorOf = (e: Encoded) => tf.tensor(e.data, e.shape);

/**
 * Chain lengths (test/helpers/float-bounds.ts) of the narrow VGG19: rounded operations behind one
 * output of `layer` — preprocessing (2), then each 3×3 convolution's 9·cin products and bias; ReLU
 * and max-pooling round nothing.
 */
function featureChain(layer: string): number {
  let n = 2;
  for (const conv of tinyVggLayerSpec()) {
    n += conv3x3Chain(conv.cin);
    if (conv.name === layer) return n;
  }
  throw new Error(`no layer ${layer}`);
}

/**
 * One optimisation step's gradient: the forward chain to the deepest layer used, the loss's
 * reductions (a Gram matrix sums H·W positions, a mean at most H·W·C values), and the backward pass
 * through the same convolutions again.
 */
function stepChain(settings: StyleSettings, height: number, width: number): number {
  const deepest = Math.max(...[...settings.styleLayers, ...settings.contentLayers].map(featureChain));
  return 2 * deepest + height * width + height * width * 3;
}

/** The same network on absolute values: its outputs bound Σ|terms| of every feature (ReLU and max-pool only shrink them). */
function absoluteWeights(weights: VggWeights): VggWeights {
  return new Map([...weights].map(([name, w]) => [name, { ...w, kernel: w.kernel.map(Math.abs), bias: w.bias.map(Math.abs) }]));
}

/**
 * Two runs of `settings.stepsPerEpoch` optimisation steps from the same start agree within float32
 * error. Losses: each is a sum of non-negative squares, so Σ|terms| is the loss, reached through
 * the step's forward chain. Images: the start plus each step's Adam update (at most
 * lr·adamStepMax(t) an element); every update comes from a gradient of `chain` roundings and Adam
 * passes a gradient's relative error on at most undiminished (∂ln u/∂ln g = ε/(|g|+ε) ≤ 1), so the
 * image after t steps is within the bound of t·chain roundings over |start| plus the steps taken.
 */
function assertStepsClose(
  actual: { losses: number[]; image: ArrayLike<number> },
  expected: { losses: number[]; image: ArrayLike<number> },
  settings: StyleSettings,
  chain: number,
  start: ArrayLike<number>,
): void {
  const steps = settings.stepsPerEpoch;
  expected.losses.forEach((loss, i) => assertFloat32Close([actual.losses[i]], [loss], (i + 1) * chain, loss, `loss before step ${i + 1}`));
  let moved = 0;
  for (let t = 1; t <= steps; t++) moved += settings.learningRate * adamStepMax(t, settings.beta1, settings.beta2);
  const absSum = Array.from(start, (v) => Math.abs(v) + moved);
  assertFloat32Close(actual.image, expected.image, steps * chain, absSum, `image after ${steps} steps`);
}

for (const backend of engineBackends()) {
  describe(`engine matches Keras on the ${backend} backend`, () => {
    let model: Vgg19;
    let absModel: Vgg19;
    let cleanup: () => Promise<void>;
    const settings: StyleSettings = { ...DEFAULT_SETTINGS, epochs: 1, stepsPerEpoch: 3 };
    const content = () => {
      const e: Encoded = golden.features.content_image;
      return { height: e.shape[1], width: e.shape[2], data: Float32Array.from(e.data) };
    };
    const style = () => {
      const e: Encoded = golden.features.style_image;
      return { height: e.shape[1], width: e.shape[2], data: Float32Array.from(e.data) };
    };

    before(async () => {
      assert.equal((await selectBackend(backend)).name, backend);
      const tmp = await tempDir('starry-ref');
      cleanup = tmp.cleanup;
      const path = join(tmp.dir, 'tiny.h5');
      await writeVggH5(path);
      const weights = await readVggWeights(path);
      model = Vgg19.fromWeights(weights);
      absModel = Vgg19.fromWeights(absoluteWeights(weights));
    });
    let graph: StepGraph | undefined;
    const stepGraph = async () => (graph ??= await StepGraph.load(PACKAGES.cpu));
    after(async () => {
      graph?.dispose();
      model?.dispose();
      absModel?.dispose();
      await cleanup?.();
    });

    test('caffe preprocessing', () => {
      const out = tf.tidy(() => caffePreprocess(tensorOf(golden.preprocess.input) as tf.Tensor4D).dataSync());
      // x·255 − mean: two roundings over |255·x| + |mean| ≤ |out| + 2·mean.
      const expected: number[] = golden.preprocess.output.data;
      assertFloat32Close(out, expected, 2, expected.map((v) => Math.abs(v) + 2 * 124), 'preprocess');
    });

    test('gram matrix', () => {
      const input = tensorOf(golden.gram.input) as tf.Tensor4D;
      const out = tf.tidy(() => gramMatrix(input).dataSync());
      // Each entry sums H·W products, then divides: Σ|terms| is the Gram matrix of |F|.
      const absGram = tf.tidy(() => gramMatrix(tf.abs(input)).dataSync());
      const [, h, w] = input.shape;
      input.dispose();
      assertFloat32Close(out, golden.gram.output.data, h * w + 1, absGram, 'gram');
    });

    test('Keras Adam (three updates with ε = 0.1), not tfjs Adam', () => {
      let value: tf.Tensor = tf.tensor1d(golden.adam.initial);
      const grad = tf.tensor1d(golden.adam.grad);
      let state = { step: 0, m: tf.zerosLike(value), v: tf.zerosLike(value) };
      for (let i = 0; i < 3; i++) {
        const next = adamUpdate(settings, value, grad, state);
        tf.dispose([value, state.m, state.v]);
        value = next.value;
        state = next.state as typeof state;
        // About ten roundings a step (m, v, bias corrections, sqrt, division, update) over the
        // value and the steps taken so far, each at most lr·adamStepMax(t).
        const expected: number[] = golden.adam.after_step[i];
        let moved = 0;
        for (let t = 1; t <= i + 1; t++) moved += settings.learningRate * adamStepMax(t, settings.beta1, settings.beta2);
        assertFloat32Close(value.dataSync(), expected, 10 * (i + 1), expected.map((v) => Math.abs(v) + moved), `adam step ${i + 1}`);
      }
      tf.dispose([value, grad, state.m, state.v]);
    });

    test('VGG19 features and style grams', () => {
      tf.tidy(() => {
        const x = caffePreprocess(tensorOf(golden.features.content_image) as tf.Tensor4D);
        const f = model.extract(x, ['block1_conv1', 'block5_conv2']);
        const abs = absModel.extract(tf.abs(x), ['block1_conv1', 'block5_conv2']);
        for (const layer of ['block1_conv1', 'block5_conv2'] as const) {
          assertFloat32Close(f[layer].dataSync(), golden.features[`content_${layer}`].data, featureChain(layer), abs[layer].dataSync(), layer);
        }
      });
      const targets = computeStyleTargets(model, style(), settings.styleLayers);
      // A Gram entry of features within δF each: ΣF·F over H·W positions moves by 2·|F|·δF per
      // term to first order, so its chain is twice the features' plus its own sum.
      const absTargets = tf.tidy(() => {
        const x = caffePreprocess(tf.tensor4d(style().data, [1, style().height, style().width, 3]));
        const abs = absModel.extract(tf.abs(x), settings.styleLayers);
        return settings.styleLayers.map((layer) => ({ gram: gramMatrix(abs[layer]).dataSync(), positions: abs[layer].shape[1] * abs[layer].shape[2] }));
      });
      settings.styleLayers.forEach((layer, i) => {
        const n = 2 * featureChain(layer) + absTargets[i].positions + 1;
        assertFloat32Close(targets.grams[i].dataSync(), golden.features.style_grams[layer].data, n, absTargets[i].gram, `gram ${layer}`);
      });
      targets.dispose();
    });

    test('total variation', () => {
      const image = tensorOf(golden.features.content_image) as tf.Tensor4D;
      const tv = tf.tidy(() => totalVariation(image).dataSync()[0]);
      // A sum of absolute differences: every term is non-negative, so Σ|terms| is the value itself.
      const [, h, w, c] = image.shape;
      image.dispose();
      assertFloat32Close([tv], [golden.steps.tv_weight_30.total_variation_before_step_1], 2 * h * w * c + 1, tv, 'total variation');
    });

    test('is deterministic: the same frame and settings give the same bits', async () => {
      const targets = computeStyleTargets(model, style(), settings.styleLayers);
      const graph = backend === 'node' ? await stepGraph() : undefined;
      for (const g of graph ? [undefined, graph] : [undefined]) {
        const a = await stylize(model, { content: content(), targets, settings, graph: g });
        const b = await stylize(model, { content: content(), targets, settings, graph: g });
        assert.deepEqual(a.image.data, b.image.data, g ? 'graph' : 'eager');
      }
      targets.dispose();
    });

    test('with a temporal term, the graph step (its `temporal` signature) follows the eager step', { skip: backend !== 'node' && 'the graph runs on node only' }, async () => {
      const run = { ...settings, stepsPerEpoch: 3 };
      const targets = computeStyleTargets(model, style(), run.styleLayers);
      const c = content();
      // Stay near the inverted frame on the top half of the pixels.
      const temporal = { warped: { ...c, data: c.data.map((v) => 1 - v) }, mask: new Float32Array(c.width * c.height).map((_, p) => (p < (c.width * c.height) / 2 ? 1 : 0)), weight: 1e5 };
      const results = [];
      for (const g of [undefined, await stepGraph()]) {
        const losses: number[] = [];
        const r = await stylize(model, { content: c, targets, settings: run, temporal, graph: g, onStep: (p) => void losses.push(p.loss) });
        results.push({ losses, image: r.image.data });
      }
      targets.dispose();
      const [eager, graphed] = results;
      // The temporal term adds one mean over H·W·C masked squares to the step's chain.
      const chain = stepChain(run, c.height, c.width) + c.height * c.width * 3;
      assertStepsClose(graphed, eager, run, chain, c.data);
      // The term is really there: the loss differs from the seed's for the same start.
      const plain: number[] = [];
      const t2 = computeStyleTargets(model, style(), run.styleLayers);
      await stylize(model, { content: c, targets: t2, settings: run, onStep: (p) => void plain.push(p.loss) });
      t2.dispose();
      assert.ok(Math.abs(eager.losses[0] - plain[0]) > 1e-3 * plain[0], `temporal loss ${eager.losses[0]} vs seed ${plain[0]}`);
    });

    // On the native backend the step also runs as one TensorFlow graph (step-graph.ts): same numbers.
    const modes = backend === 'node' ? (['eager', 'graph'] as const) : (['eager'] as const);
    for (const mode of modes)
    for (const [name, tvWeight, steps] of [
      ['tv_weight_0', 0, 3],
      ['tv_weight_30', 30, 1],
    ] as const) {
      test(`the optimisation follows Keras step for step (${name}, ${mode})`, async () => {
        const run = { ...settings, tvWeight, stepsPerEpoch: steps };
        const targets = computeStyleTargets(model, style(), run.styleLayers);
        const losses: number[] = [];
        const graph = mode === 'graph' ? await stepGraph() : undefined;
        const result = await stylize(model, { content: content(), targets, settings: run, graph, onStep: (p) => void losses.push(p.loss) });
        targets.dispose();
        const g = golden.steps[name];
        const expected = { losses: g.loss_before_step ?? [g.loss_before_step_1], image: (g[`image_after_step_${steps}`] as Encoded).data };
        assertStepsClose({ losses, image: result.image.data }, expected, run, stepChain(run, content().height, content().width), content().data);
      });
    }
  });
}

// Where native is required (CI) it must be there, not quietly left out of the runs above.
test('the native backend initialises here', { skip: nativeSkipReason() }, async () => {
  const selected = await selectBackend('node');
  assert.equal(selected.name, 'node');
  assert.match(selected.tensorflow?.version ?? '', /^2\.\d+\.\d+$/);
});
