import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RunUpResults } from '../../src/activities/run-up';
import type { RgbImage } from '../../src/media/types';
import { tempDir } from '../helpers/media-fixtures';

let root: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir: root, cleanup } = await tempDir('starry-run-up'));
});
after(async () => {
  await cleanup?.();
});

// Values between the 8-bit levels: the image read back is not the one written.
const image: RgbImage = { width: 4, height: 2, data: Float32Array.from({ length: 24 }, (_, i) => (i + 0.3) / 24) };

test("a run-up frame's result is kept with its chain target, steps and its score as read back, for the attempt that resumes after it", async () => {
  const results = new RunUpResults(root, 0, 1, 'chain-fingerprint');
  const scored: RgbImage[] = [];
  const kept = await results.write(3, image, { chain: { loss: 12 }, steps: 40 }, (stored) => {
    scored.push(stored);
    return 7.5;
  });
  assert.equal(kept.settled, 7.5);
  assert.equal(scored.length, 1);
  assert.deepEqual(scored[0].data, kept.styled.data, 'scored on the image the next frame starts from');
  assert.ok(kept.styled.data.every((v) => Number.isInteger(Math.round(v * 255 * 1e4) / 1e4)), '8-bit values');
  assert.notDeepEqual(kept.styled.data, image.data);

  const again = await results.lastDone([3, 2]);
  assert.equal(again?.frame, 3);
  assert.equal(again?.settled, 7.5);
  assert.equal(again?.steps, 40);
  assert.equal(again?.chain?.loss, 12);
  assert.deepEqual(again?.styled.data, kept.styled.data);

  // Without a score (renders whose stop rule has no `settled`), none is kept; another chain's fingerprint finds nothing.
  await results.write(2, image, { steps: 50 });
  assert.equal((await results.lastDone([3, 2]))?.settled, undefined);
  assert.equal(await new RunUpResults(root, 0, 1, 'another chain').lastDone([3, 2]), undefined);
});
