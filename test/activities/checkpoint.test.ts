import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkpointBytes, writeCheckpoint } from '../../src/activities/checkpoint';
import { LBFGS_HISTORY } from '../../src/engine/lbfgs';
import { tempDir } from '../helpers/media-fixtures';

/**
 * The disk estimate's size of a checkpoint (checkpointBytes) against the files writeCheckpoint
 * writes: it counts the images, leaving out the header line and L-BFGS's scalars, which are a few
 * hundred bytes whatever the frame's size.
 */
test('a checkpoint is about the size the disk estimate counts, for Adam and for a full L-BFGS history', async () => {
  const { dir, cleanup } = await tempDir('starry-checkpoint-size');
  try {
    const [width, height] = [40, 30];
    const img = () => new Float32Array(width * height * 3);
    const one = () => new Float32Array(1);
    const sizeOf = async (name: string, c: Parameters<typeof writeCheckpoint>[2]) => {
      await writeCheckpoint(join(dir, name), 'fp', c);
      return (await stat(join(dir, name))).size;
    };
    const adam = await sizeOf('adam.ckpt', { step: 3, image: img(), m: img(), v: img() });
    const pairs = Array.from({ length: LBFGS_HISTORY }, () => ({ s: img(), y: img(), rho: one() }));
    const base = { image: img(), grad: img(), loss: one(), direction: img(), t: one() };
    const lbfgs = await sizeOf('lbfgs.ckpt', { step: 30, image: img(), lbfgs: { step: 30, pairs, hdiag: one(), base } });
    const scalarsAndHeader = 1000;
    for (const [written, estimate] of [[adam, checkpointBytes('adam', width, height)], [lbfgs, checkpointBytes('lbfgs', width, height)]]) {
      assert.ok(written >= estimate && written - estimate < scalarsAndHeader, `written ${written} B, estimated ${estimate} B`);
    }
    assert.equal(checkpointBytes(undefined, width, height), checkpointBytes('adam', width, height), 'absent is Adam');
  } finally {
    await cleanup();
  }
});
