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

/**
 * A frame of a clip that looks like video rather than a test card: a static background with detail
 * at several scales (the smooth texture plus fine grain, as foliage or fabric would give) and a
 * textured object that moves `speed` px a frame to the right and a third of that down, at sub-pixel
 * positions (its texture is evaluated at exact coordinates, not resampled). The background is
 * static so that "pixels whose input did not change" are the whole frame but the object's path.
 */
export function videoScene(width: number, height: number, t: number, speed = 2.5): SquareScene {
  const side = Math.round(height / 2.5);
  const left = Math.round(width * 0.15) + speed * t;
  const top = Math.round(height * 0.25) + (speed / 3) * t;
  const image = imageOf(width, height, (x, y, c) => {
    const inside = x >= left && x < left + side && y >= top && y < top + side;
    if (inside) return texture(x - left, y - top, c, 2.5) * 0.6 + 0.35;
    const grain = 0.06 * Math.sin(1.9 * x + 0.7 * Math.sin(0.5 * y) + c) * Math.cos(1.3 * y - 0.4 * x + 0.8 * c);
    return texture(x, y, c) * 0.75 + grain + 0.05;
  });
  return { image, left, top, side };
}

/** A seeded normal deviate generator (mulberry32 + Box–Muller): the same seed, the same noise, on every machine. */
export function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let r = Math.imul(s ^ (s >>> 15), 1 | s);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/**
 * What a camera adds to `image`: independent Gaussian noise of `sigma255` (in 0..255 units) on every
 * channel of every pixel, then 8-bit quantisation. Each frame of a clip needs its own `seed`: sensor
 * noise is what makes a static background differ from one frame to the next.
 */
export function withSensorNoise(image: RgbImage, sigma255: number, seed: number): RgbImage {
  const normal = gaussian(seed);
  const data = new Float32Array(image.data.length);
  for (let i = 0; i < data.length; i++) {
    const v = image.data[i] + (sigma255 / 255) * normal();
    data[i] = Math.round(255 * Math.min(1, Math.max(0, v))) / 255;
  }
  return { width: image.width, height: image.height, data };
}
