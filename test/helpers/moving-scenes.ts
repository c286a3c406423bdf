/**
 * Generated frame sequences whose motion is known exactly, for testing optical flow and measuring
 * temporal coherence: a smooth texture evaluated at shifted coordinates (so sub-pixel shifts are
 * exact, not interpolated), and a textured square moving over a static textured background.
 */
import type { RgbImage } from '../../src/media/types';

/** A smooth, non-periodic-looking colour texture; `phase` picks a different one. */
export function texture(x: number, y: number, c: number, phase = 0): number {
  return (
    0.5 +
    0.2 * Math.sin(0.31 * x + 2 * Math.cos(0.17 * y + phase) + c) +
    0.18 * Math.cos(0.27 * y - 0.05 * x + 1.7 * c + phase) +
    0.07 * Math.sin(0.9 * x + 0.8 * y + c * 2.1 + phase)
  );
}

function imageOf(width: number, height: number, f: (x: number, y: number, c: number) => number): RgbImage {
  const data = new Float32Array(width * height * 3);
  for (let y = 0, i = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++, i++) data[i] = f(x, y, c);
  return { width, height, data };
}

/** The texture moved by (tx, ty): pixel (x, y) of frame 0 is at (x + tx, y + ty) here. */
export function translated(width: number, height: number, tx: number, ty: number): RgbImage {
  return imageOf(width, height, (x, y, c) => texture(x - tx, y - ty, c));
}

export interface SquareScene {
  image: RgbImage;
  /** Left/top edge of the square in this frame. */
  left: number;
  top: number;
  side: number;
}

/** A textured square of `side` px whose top-left corner is at (left, top), over a static background. */
export function movingSquare(width: number, height: number, left: number, top: number, side: number): SquareScene {
  const image = imageOf(width, height, (x, y, c) => {
    const inside = x >= left && x < left + side && y >= top && y < top + side;
    return inside ? texture(x - left, y - top, c, 2.5) * 0.6 + 0.35 : texture(x, y, c) * 0.8;
  });
  return { image, left, top, side };
}
