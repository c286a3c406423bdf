import { test } from 'node:test';
import assert from 'node:assert/strict';
import { h264RoundTrip } from '../helpers/media-fixtures';
import { videoScene, withSensorNoise } from '../helpers/moving-scenes';

test('videoScene: the background is identical from frame to frame and the object moves', () => {
  const [a, b] = [videoScene(48, 32, 0), videoScene(48, 32, 1)];
  assert.ok(b.left > a.left && b.top > a.top, 'the object moves right and down');
  let still = 0;
  let moved = 0;
  for (let p = 0; p < 48 * 32; p++) {
    const same = [0, 1, 2].every((c) => a.image.data[3 * p + c] === b.image.data[3 * p + c]);
    if (same) still++;
    else moved++;
  }
  assert.ok(still > moved && moved > 0, `still ${still}, changed ${moved}`);
});

test('withSensorNoise: repeatable for a seed, different across seeds, σ as asked, 8-bit', () => {
  const clean = videoScene(64, 64, 0).image;
  const a = withSensorNoise(clean, 2.5, 1);
  assert.deepEqual(a.data, withSensorNoise(clean, 2.5, 1).data);
  assert.notDeepEqual(a.data, withSensorNoise(clean, 2.5, 2).data);
  let sq = 0;
  for (let i = 0; i < a.data.length; i++) {
    sq += (255 * (a.data[i] - clean.data[i])) ** 2;
    assert.ok(Math.abs(Math.round(a.data[i] * 255) - a.data[i] * 255) < 1e-4, `value ${a.data[i]} is not on the 8-bit grid`);
  }
  // Quantisation adds a uniform error of variance 1/12 (in 0..255 units).
  const sigma = Math.sqrt(sq / a.data.length);
  assert.ok(Math.abs(sigma - Math.sqrt(2.5 ** 2 + 1 / 12)) < 0.1, `σ ${sigma}`);
});

test('h264RoundTrip: the same frames back, close to but not exactly the originals', async () => {
  const frames = [0, 1, 2].map((t) => videoScene(48, 32, t).image);
  const back = await h264RoundTrip(frames, 23);
  assert.equal(back.length, 3);
  for (const [t, f] of back.entries()) {
    assert.equal(f.width, 48);
    assert.equal(f.height, 32);
    let diff = 0;
    for (let i = 0; i < f.data.length; i++) diff += Math.abs(f.data[i] - frames[t].data[i]);
    const mean = (255 * diff) / f.data.length;
    assert.ok(mean > 0.1 && mean < 12, `frame ${t}: mean |Δ| ${mean.toFixed(2)}/255`);
  }
  await assert.rejects(h264RoundTrip([videoScene(47, 32, 0).image], 23), /even sizes/);
});
