import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rgbToYuv, transferOriginalColors, yuvToRgb } from '../../src/engine/color';
import type { RgbImage } from '../../src/media/types';
import { assertFloat32Close } from '../helpers/float-bounds';

/** A deterministic image whose channels vary independently, kept inside [lo, hi]. */
function pattern(width: number, height: number, phase: number, lo = 0, hi = 1): RgbImage {
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = lo + (hi - lo) * (0.5 + 0.5 * Math.sin(0.37 * i + phase));
  return { width, height, data };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Channel `c` (0 Y, 1 U, 2 V) of every pixel. */
const channel = (image: { data: Float32Array }, c: number) => image.data.filter((_, i) => i % 3 === c);

test('RGB → YUV → RGB gives the image back, and grey has no chrominance', () => {
  const image = pattern(7, 5, 0.3);
  const back = yuvToRgb(rgbToYuv(image));
  // Two 3×3 colour matrices, each output three products and two sums (plus the matrices' own
  // float32 rounding): 12 roundings over Σ|M||x| ≤ 3.1 (the largest row of |M⁻¹|, 1 + 2.03, for
  // values in [0, 1]).
  assertFloat32Close(back.data, image.data, 12, 3.1, 'round trip');

  const grey: RgbImage = { width: 1, height: 1, data: Float32Array.from([0.4, 0.4, 0.4]) };
  const [y, u, v] = rgbToYuv(grey).data;
  assert.ok(Math.abs(y - 0.4) < 1e-6, 'the luminance of grey is its level');
  assert.ok(Math.abs(u) < 1e-6 && Math.abs(v) < 1e-6, 'grey has no chrominance');
});

test("original colours: the luminance is the stylized frame's, the chrominance the content's", () => {
  // Mid-range values with little chrominance keep every pixel inside the RGB cube: no clipping here.
  const stylized = pattern(8, 6, 1.1, 0.35, 0.65);
  const content = pattern(8, 6, 2.7, 0.4, 0.6);
  const out = transferOriginalColors(stylized, content);
  assert.ok(out.data.every((v) => v > 0 && v < 1), 'nothing was clipped in this case');
  const [outYuv, styledYuv, contentYuv] = [out, stylized, content].map(rgbToYuv);
  assert.ok(maxAbsDiff(channel(outYuv, 0), channel(styledYuv, 0)) < 1e-6, 'Y from the stylized frame');
  assert.ok(maxAbsDiff(channel(outYuv, 1), channel(contentYuv, 1)) < 1e-6, 'U from the content frame');
  assert.ok(maxAbsDiff(channel(outYuv, 2), channel(contentYuv, 2)) < 1e-6, 'V from the content frame');
  assert.ok(maxAbsDiff(out.data, stylized.data) > 0.01, 'the colours did change');
});

test('original colours stay in [0, 1] when a bright luminance meets a saturated colour, and are deterministic', () => {
  const stylized = pattern(6, 6, 0.2, 0.9, 1);
  const content: RgbImage = { width: 6, height: 6, data: new Float32Array(6 * 6 * 3).map((_, i) => (i % 3 === 0 ? 1 : 0)) };
  const out = transferOriginalColors(stylized, content);
  assert.ok(out.data.every((v) => v >= 0 && v <= 1), 'clipped to [0, 1]');
  assert.ok(out.data.some((v) => v === 1), 'this case needs the clip');
  assert.deepEqual(transferOriginalColors(stylized, content).data, out.data);
});

test('original colours refuse images of different sizes, naming both', () => {
  assert.throws(() => transferOriginalColors(pattern(4, 4, 0), pattern(4, 5, 0)), /stylized 4×4, content 4×5/);
});
