import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  contentImageFormula,
  gramInputFormula,
  loadH5wasm,
  styleImageFormula,
  tinyVggBias,
  tinyVggKernel,
  tinyVggLayerSpec,
  vgg19LayerNames,
  writeVggH5,
} from './tiny-vgg';

interface GoldenTensor {
  shape: number[];
  data: number[];
}

interface GoldenSubset {
  weights: { l: number; name: string; cin: number; cout: number; kernel: GoldenTensor; bias: GoldenTensor }[];
  gram: { input: GoldenTensor };
  preprocess: { input: GoldenTensor };
  features: { content_image: GoldenTensor; style_image: GoldenTensor };
}

const golden = JSON.parse(readFileSync(join(__dirname, '..', 'reference', 'golden.json'), 'utf8')) as GoldenSubset;

function assertBitEqual(actual: Float32Array, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) assert.fail(`${what}[${i}]: ${actual[i]} !== ${expected[i]} (golden)`);
  }
}

function asStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map((v) => String(v));
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>, (v) => String(v));
  throw new Error(`not a string list: ${String(value)}`);
}

test('layer spec is VGG19 without top with the narrow widths', () => {
  const spec = tinyVggLayerSpec();
  assert.equal(spec.length, 16);
  assert.deepEqual(spec[0], { l: 0, name: 'block1_conv1', block: 1, conv: 1, cin: 3, cout: 4 });
  assert.deepEqual(spec[2], { l: 2, name: 'block2_conv1', block: 2, conv: 1, cin: 4, cout: 6 });
  assert.deepEqual(spec[4], { l: 4, name: 'block3_conv1', block: 3, conv: 1, cin: 6, cout: 8 });
  assert.deepEqual(spec[13], { l: 13, name: 'block5_conv2', block: 5, conv: 2, cin: 8, cout: 8 });
  assert.deepEqual(
    spec.map((s) => s.name),
    golden.weights.map((w) => w.name),
  );
  const names = vgg19LayerNames();
  assert.equal(names.length, 22);
  assert.equal(names[0], 'input_1');
  assert.equal(names[3], 'block1_pool');
  assert.equal(names[21], 'block5_pool');
});

test('kernel and bias formulas equal the Keras reference weights bit for bit', () => {
  for (const w of golden.weights) {
    assert.deepEqual(w.kernel.shape, [3, 3, w.cin, w.cout]);
    assertBitEqual(tinyVggKernel(w.l, w.cin, w.cout), w.kernel.data, `${w.name} kernel`);
    assertBitEqual(tinyVggBias(w.l, w.cout), w.bias.data, `${w.name} bias`);
  }
});

test('image formulas equal the Keras reference inputs bit for bit', () => {
  assert.deepEqual(golden.features.content_image.shape, [1, 20, 24, 3]);
  assert.deepEqual(golden.features.style_image.shape, [1, 18, 16, 3]);
  assertBitEqual(contentImageFormula(20, 24), golden.features.content_image.data, 'content image');
  assertBitEqual(styleImageFormula(18, 16), golden.features.style_image.data, 'style image');
  assertBitEqual(contentImageFormula(2, 2), golden.preprocess.input.data, 'preprocess input');
  assertBitEqual(gramInputFormula(24), golden.gram.input.data, 'gram input');
});

for (const layout of ['legacy', 'keras2'] as const) {
  test(`writeVggH5 '${layout}' layout reads back with h5wasm`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiny-vgg-'));
    const path = join(dir, `vgg19_${layout}.h5`);
    try {
      await writeVggH5(path, { layout });
      const h5 = await loadH5wasm();
      const f = new h5.File(path, 'r');
      try {
        assert.deepEqual(asStrings(f.attrs['layer_names'].value), vgg19LayerNames());
        assert.equal(f.attrs['backend'].value, 'tensorflow');
        assert.equal(f.attrs['keras_version'].value, '2.x');

        for (const name of ['input_1', 'block1_pool', 'block5_pool']) {
          const g = f.get(name);
          assert.ok(g instanceof h5.Group, `${name} is a group`);
          assert.deepEqual(asStrings(g.attrs['weight_names'].value), [], `${name} has no weights`);
        }

        for (const { l, name, cin, cout } of tinyVggLayerSpec()) {
          const g = f.get(name);
          assert.ok(g instanceof h5.Group, `${name} is a group`);
          const weightNames = asStrings(g.attrs['weight_names'].value);
          const expectedNames =
            layout === 'legacy' ? [`${name}_W_1:0`, `${name}_b_1:0`] : [`${name}/kernel:0`, `${name}/bias:0`];
          assert.deepEqual(weightNames, expectedNames);

          const k = f.get(`${name}/${weightNames[0]}`);
          const b = f.get(`${name}/${weightNames[1]}`);
          assert.ok(k instanceof h5.Dataset && b instanceof h5.Dataset, `${name} datasets`);
          assert.deepEqual(k.shape, [3, 3, cin, cout]);
          assert.deepEqual(b.shape, [cout]);
          assert.equal(k.dtype, '<f');
          assert.ok(k.value instanceof Float32Array && b.value instanceof Float32Array);
          assert.deepEqual(k.value, tinyVggKernel(l, cin, cout));
          assert.deepEqual(b.value, tinyVggBias(l, cout));
        }
        if (layout === 'keras2') {
          const inner = f.get('block3_conv2/block3_conv2');
          assert.ok(inner instanceof h5.Group);
          assert.deepEqual(inner.keys().sort(), ['bias:0', 'kernel:0']);
        } else {
          const g = f.get('block3_conv2');
          assert.ok(g instanceof h5.Group);
          assert.deepEqual(g.keys().sort(), ['block3_conv2_W_1:0', 'block3_conv2_b_1:0']);
        }
      } finally {
        f.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('writeVggH5 accepts custom widths and generators', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tiny-vgg-'));
  const path = join(dir, 'custom.h5');
  try {
    await writeVggH5(path, {
      widths: [2, 3, 2, 2, 1],
      kernel: (l, cin, cout) => new Float32Array(9 * cin * cout).fill(l),
      bias: (l, cout) => new Float32Array(cout).fill(-l),
    });
    const h5 = await loadH5wasm();
    const f = new h5.File(path, 'r');
    try {
      const k = f.get('block5_conv4/block5_conv4_W_1:0');
      const b = f.get('block5_conv4/block5_conv4_b_1:0');
      assert.ok(k instanceof h5.Dataset && b instanceof h5.Dataset);
      assert.deepEqual(k.shape, [3, 3, 1, 1]);
      assert.deepEqual(Array.from(k.value as Float32Array), new Array(9).fill(15));
      assert.deepEqual(Array.from(b.value as Float32Array), [-15]);
      const k0 = f.get('block2_conv1/block2_conv1_W_1:0');
      assert.ok(k0 instanceof h5.Dataset);
      assert.deepEqual(k0.shape, [3, 3, 2, 3]);
    } finally {
      f.close();
    }
    await assert.rejects(
      writeVggH5(join(dir, 'bad.h5'), { kernel: () => new Float32Array(1) }),
      /kernel generator gave 1 values/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
