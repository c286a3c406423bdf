import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseBackendChoice, selectBackend } from '../../src/engine/backend';
import { VGG19_CONV_NAMES } from '../../src/engine/vgg19-architecture';
import { readVggWeights, WeightsError } from '../../src/engine/weights';
import { ensureVggWeights, VGG19_NOTOP } from '../../src/engine/weights-cache';
import { tempDir } from '../helpers/media-fixtures';
import { withFlags } from '../../src/client/setup/render-option-values';
import { loadH5wasm, tinyVggKernel, writeVggH5 } from '../helpers/tiny-vgg';

describe('VGG19 weights', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => ({ dir, cleanup } = await tempDir('starry-weights')));
  after(() => cleanup?.());

  test('reads the official legacy layout and the newer Keras 2 layout alike, names from the attributes', async () => {
    const legacy = join(dir, 'legacy.h5');
    const keras2 = join(dir, 'keras2.h5');
    await writeVggH5(legacy, { layout: 'legacy' });
    await writeVggH5(keras2, { layout: 'keras2' });
    const a = await readVggWeights(legacy);
    const b = await readVggWeights(keras2);
    assert.deepEqual([...a.keys()], [...VGG19_CONV_NAMES]);
    assert.deepEqual(a, b);
    assert.deepEqual(a.get('block1_conv1')!.kernelShape, [3, 3, 3, 4]);
    assert.deepEqual(a.get('block3_conv2')!.kernel, tinyVggKernel(5, 8, 8));
  });

  test('refuses a file that is not HDF5', async () => {
    const path = join(dir, 'not.h5');
    await writeFile(path, 'hello');
    await assert.rejects(readVggWeights(path), (e: Error) => e instanceof WeightsError && /not a VGG19 weights file: not an HDF5 file/.test(e.message));
  });

  test('refuses an HDF5 file of another network, naming the missing layer', async () => {
    const path = join(dir, 'other.h5');
    const h5 = await loadH5wasm();
    const f = new h5.File(path, 'w');
    f.create_attribute('layer_names', ['dense_1'], [1], 'A8');
    f.create_group('dense_1');
    f.close();
    await assert.rejects(readVggWeights(path), /layer "block1_conv1" is missing.*vgg19_weights_tf_dim_ordering_tf_kernels_notop\.h5/);
  });

  test('refuses kernels whose shapes do not chain like VGG19', async () => {
    // block2_conv1 must take block1's 4 channels; give it a kernel for 5.
    const broken = join(dir, 'broken.h5');
    await writeVggH5(broken, { widths: [4, 6, 8, 8, 8] });
    const h5 = await loadH5wasm();
    const f = new h5.File(broken, 'a');
    const group = f.get('block2_conv1') as InstanceType<typeof h5.Group>;
    group.create_dataset({ name: 'wrong_kernel', data: new Float32Array(3 * 3 * 5 * 6), shape: [3, 3, 5, 6] });
    group.delete_attribute('weight_names');
    group.create_attribute('weight_names', ['wrong_kernel', 'block2_conv1_b_1:0'], [2], 'A20');
    f.close();
    await assert.rejects(readVggWeights(broken), /block2_conv1" has kernel \[3,3,5,6\].*expected \[3,3,4,N\]/);
  });

  test('download: verified against its md5 and renamed into place; a bad download leaves nothing', async () => {
    const payload = Buffer.from('pretend weights');
    const source = { fileName: 'w.h5', url: 'https://example.invalid/w.h5', md5: createHash('md5').update(payload).digest('hex') };
    const fetchImpl = (async () => new Response(payload)) as typeof fetch;
    const cacheDir = join(dir, 'cache');
    const file = await ensureVggWeights({ cacheDir, source, fetchImpl });
    assert.deepEqual(await readFile(file.path), payload);
    assert.equal(file.md5, source.md5);
    let fetched = 0;
    await ensureVggWeights({ cacheDir, source, fetchImpl: (async () => (fetched++, new Response(payload))) as typeof fetch });
    assert.equal(fetched, 0, 'a verified cached file is not downloaded again');

    const badDir = join(dir, 'bad-cache');
    await assert.rejects(
      ensureVggWeights({ cacheDir: badDir, source: { ...source, md5: '0'.repeat(32) }, fetchImpl }),
      /md5 .* expected 0{32}.*put it at .*w\.h5/,
    );
    assert.deepEqual(readdirSync(badDir), [], 'no partial download is left in the cache');
  });

  test('offline with no cached file: says where to put the file', async () => {
    const offline = (async () => {
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    await assert.rejects(
      ensureVggWeights({ cacheDir: join(dir, 'offline'), fetchImpl: offline }),
      (e: Error) => e.message.includes('fetch failed') && e.message.includes(VGG19_NOTOP.url) && withFlags(e.message).includes('(or pass --weights PATH)'),
    );
    assert.equal(existsSync(join(dir, 'offline', VGG19_NOTOP.fileName)), false);
  });
});

describe('backend selection', () => {
  test('auto picks the best backend that works here and says why it skipped the others', async () => {
    const chosen = await selectBackend('auto');
    assert.ok(['node-gpu', 'node', 'wasm', 'cpu'].includes(chosen.name));
    if (chosen.name === 'wasm') assert.match(chosen.skipped.join(';'), /node-gpu: .*node: /);
  });
  test('an unknown backend name is refused with the valid ones', () => {
    assert.throws(() => parseBackendChoice('gpu'), /use one of auto, node-gpu, node, wasm, cpu/);
  });
  test('cpu can always be chosen explicitly', async () => {
    assert.equal((await selectBackend('cpu')).tfjsName, 'cpu');
  });
});
