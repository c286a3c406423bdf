/**
 * `--original-colors` (jcjohnson/neural-style's `-original_colors 1`): keep the content frame's
 * colours by taking only the luminance from the stylized frame. Pure functions on RgbImage, in
 * float64 arithmetic, so they give the same bits on every backend and machine.
 *
 * YUV is BT.601's analogue form: Y = 0.299 R + 0.587 G + 0.114 B, U = 0.492 (B − Y),
 * V = 0.877 (R − Y). The inverse below is that definition solved exactly, not a second set of
 * rounded constants, so RGB → YUV → RGB returns the input (to float32 rounding).
 */
import type { RgbImage } from '../media/types';

const KR = 0.299;
const KG = 0.587;
const KB = 0.114;
const U_SCALE = 0.492;
const V_SCALE = 0.877;

/** YUV planes, interleaved like RgbImage: Y, U, V per pixel. */
export interface YuvImage {
  width: number;
  height: number;
  data: Float32Array;
}

export function rgbToYuv(image: RgbImage): YuvImage {
  const { data } = image;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += 3) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    const y = KR * r + KG * g + KB * b;
    out[i] = y;
    out[i + 1] = U_SCALE * (b - y);
    out[i + 2] = V_SCALE * (r - y);
  }
  return { width: image.width, height: image.height, data: out };
}

/** The exact inverse of rgbToYuv, without clipping: a YUV triple may lie outside the RGB cube. */
export function yuvToRgb(image: YuvImage): RgbImage {
  const { data } = image;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += 3) {
    const [r, g, b] = yuvPixelToRgb(data[i], data[i + 1], data[i + 2]);
    out[i] = r;
    out[i + 1] = g;
    out[i + 2] = b;
  }
  return { width: image.width, height: image.height, data: out };
}

function yuvPixelToRgb(y: number, u: number, v: number): [number, number, number] {
  const r = y + v / V_SCALE;
  const b = y + u / U_SCALE;
  const g = (y - KR * r - KB * b) / KG;
  return [r, g, b];
}

const clip01 = (v: number) => (v < 0 ? 0 : v > 1 ? 1 : v);

/**
 * The stylized frame's luminance (Y) with the content frame's chrominance (U, V), back in RGB and
 * clipped to [0, 1] — a stylized luminance under a saturated content colour can leave the cube.
 */
export function transferOriginalColors(stylized: RgbImage, content: RgbImage): RgbImage {
  if (stylized.width !== content.width || stylized.height !== content.height || stylized.data.length !== content.data.length) {
    throw new RangeError(
      `original colours need images of one size: stylized ${stylized.width}×${stylized.height}, content ${content.width}×${content.height}`,
    );
  }
  const styledYuv = rgbToYuv(stylized).data;
  const contentYuv = rgbToYuv(content).data;
  const out = new Float32Array(stylized.data.length);
  for (let i = 0; i < out.length; i += 3) {
    const [r, g, b] = yuvPixelToRgb(styledYuv[i], contentYuv[i + 1], contentYuv[i + 2]);
    out[i] = clip01(r);
    out[i + 1] = clip01(g);
    out[i + 2] = clip01(b);
  }
  return { width: stylized.width, height: stylized.height, data: out };
}
