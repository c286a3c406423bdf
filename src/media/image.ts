import { promises as fs } from 'node:fs';
import sharp from 'sharp';
import { writeFileAtomic } from '../common/atomic';
import { MediaInputError } from './errors';
import type { Size } from './geometry';
import type { RgbImage } from './types';

export interface ReadImageOptions {
  /** Resize (up or down) so the longer side has this many pixels, keeping the aspect ratio. */
  longSide?: number;
  /** The fix to suggest when the file is unusable; defaults to the advice for --style. */
  hint?: string;
}

const STYLE_HINT = 'Give {style} a JPEG or PNG image.';

/**
 * The file's bytes. Reading them ourselves tells "cannot read the file" (an fs error, with its
 * code) apart from "not an image" (sharp's complaint), which need different advice.
 */
async function readBytes(file: string, hint: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new MediaInputError(`"${file}" does not exist. ${hint}`);
    if (code === 'EISDIR') throw new MediaInputError(`"${file}" is a directory, not an image. ${hint}`);
    throw new MediaInputError(`"${file}" cannot be read (${code ?? String(err)}). ${hint}`);
  }
}

function notAnImage(file: string, err: unknown, hint: string): MediaInputError {
  const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
  return new MediaInputError(`"${file}" is not a readable image (${reason}). ${hint}`);
}

/**
 * Decodes an image to float RGB in [0, 1], the form the style engine works in. The picture is
 * turned upright per EXIF, transparency is flattened onto white (as the image would usually be
 * shown) and any colour space (grey, CMYK, 16-bit) is converted to 8-bit sRGB.
 */
export async function readImage(file: string, opts: ReadImageOptions = {}): Promise<RgbImage> {
  const hint = opts.hint ?? STYLE_HINT;
  let pipeline = sharp(await readBytes(file, hint))
    .autoOrient()
    .flatten({ background: '#ffffff' })
    .removeAlpha()
    .toColourspace('srgb');
  if (opts.longSide !== undefined) {
    if (!(Number.isInteger(opts.longSide) && opts.longSide > 0)) {
      throw new RangeError(`longSide must be a positive whole number (got ${opts.longSide})`);
    }
    pipeline = pipeline.resize({
      width: opts.longSide,
      height: opts.longSide,
      fit: 'inside',
      kernel: 'lanczos3',
      withoutEnlargement: false,
    });
  }
  let raw: { data: Buffer; info: sharp.OutputInfo };
  try {
    raw = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw notAnImage(file, err, hint);
  }
  const { width, height, channels } = raw.info;
  if (channels !== 3 || raw.data.length !== width * height * 3) {
    throw new Error(`Decoding "${file}" gave ${channels} channels and ${raw.data.length} bytes for ${width}x${height}`);
  }
  const data = new Float32Array(raw.data.length);
  for (let i = 0; i < raw.data.length; i++) data[i] = raw.data[i] / 255;
  return { width, height, data };
}

/** 8-bit RGB bytes from [0, 1] floats; out-of-range values (optimisers overshoot) are clamped. */
export function quantise(img: RgbImage): Buffer {
  const expected = img.width * img.height * 3;
  if (img.data.length !== expected) {
    throw new RangeError(`Image data has ${img.data.length} values, expected ${expected} for ${img.width}x${img.height} RGB`);
  }
  const bytes = Buffer.alloc(expected);
  for (let i = 0; i < expected; i++) {
    const v = img.data[i];
    // NaN becomes 0 rather than poisoning the PNG.
    bytes[i] = Math.round((v > 1 ? 1 : v > 0 ? v : 0) * 255);
  }
  return bytes;
}

/** Writes a lossless 8-bit RGB PNG; readers never see a half-written file. */
export async function writePng(file: string, img: RgbImage): Promise<void> {
  const png = await sharp(quantise(img), { raw: { width: img.width, height: img.height, channels: 3 } })
    .png({ compressionLevel: 6, adaptiveFiltering: false, palette: false })
    .toBuffer();
  await writeFileAtomic(file, png);
}

/** Size of an image as displayed, i.e. after its EXIF orientation is applied. */
export async function imageSize(file: string, hint = STYLE_HINT): Promise<Size> {
  const bytes = await readBytes(file, hint);
  try {
    const meta = await sharp(bytes).metadata();
    const oriented = meta.autoOrient ?? { width: meta.width, height: meta.height };
    if (!(oriented.width > 0 && oriented.height > 0)) throw new Error('no picture size');
    return { width: oriented.width, height: oriented.height };
  } catch (err) {
    throw notAnImage(file, err, hint);
  }
}

/** Resamples an image to exactly width×height (lanczos3); used to bring a reduced-size result back to full size. */
export async function resizeImage(img: RgbImage, width: number, height: number): Promise<RgbImage> {
  const { data, info } = await sharp(quantise(img), { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize({ width, height, fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const out = new Float32Array(info.width * info.height * 3);
  for (let i = 0; i < out.length; i++) out[i] = data[i] / 255;
  return { width: info.width, height: info.height, data: out };
}

/**
 * (1 - weightOfB) * a + weightOfB * b, pixel by pixel: cross-fades the frames two chunks both
 * rendered at their boundary, so the style does not jump where one chunk hands over to the next.
 */
export function blendImages(a: RgbImage, b: RgbImage, weightOfB: number): RgbImage {
  if (a.width !== b.width || a.height !== b.height || a.data.length !== b.data.length) {
    throw new RangeError(`Cannot blend images of different sizes (${a.width}x${a.height} and ${b.width}x${b.height})`);
  }
  if (!(weightOfB >= 0 && weightOfB <= 1)) throw new RangeError(`Blend weight must be from 0 to 1 (got ${weightOfB})`);
  const data = new Float32Array(a.data.length);
  for (let i = 0; i < data.length; i++) data[i] = a.data[i] + weightOfB * (b.data[i] - a.data[i]);
  return { width: a.width, height: a.height, data };
}
