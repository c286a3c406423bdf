import { rm } from 'node:fs/promises';
import sharp from 'sharp';

/** What the watch page shows about a finished frame (its `.view.json`, beside the frame's PNG). */
export interface FrameView {
  frame: number;
  steps: number;
  seconds: number;
  attempt: number;
  /** The worker process that wrote it, as Temporal names workers by default (pid@host). */
  worker: string;
  backend: string;
  degraded: boolean;
  /** False when the frame is its original (copy engine): the page shows one picture. */
  stylized: boolean;
  finishedAt: string;
}

/** Long side of a frame's thumbnail on the watch page: small enough that a page of them weighs little. */
export const THUMB_LONG_SIDE = 192;

/**
 * The files kept beside a frame's PNG for the watch page (frame_000042.png → frame_000042.thumb.webp,
 * .orig.webp for its original, .view.json for its record), made once when the frame is written and
 * deleted with it, so no page load reads a full-size PNG.
 */
export function thumbnailPaths(png: string) {
  const stem = png.replace(/\.png$/, '');
  return { thumb: `${stem}.thumb.webp`, original: `${stem}.orig.webp`, view: `${stem}.view.json` };
}

/**
 * A small WebP of `source` (any image sharp reads) at `target`, long side at most THUMB_LONG_SIDE.
 * Written in place, not through a temporary file: readers go by the frame's `.view.json`, written
 * (atomically) after its thumbnails, and a copy render makes one per frame in milliseconds.
 */
export async function writeThumbnail(source: string, target: string, longSide = THUMB_LONG_SIDE): Promise<void> {
  await sharp(source)
    .resize({ width: longSide, height: longSide, fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 70, effort: 0 })
    .toFile(target);
}

/** Deletes a frame's thumbnails and record, if any. */
export async function removeThumbnails(png: string): Promise<void> {
  const { thumb, original, view } = thumbnailPaths(png);
  await Promise.all([thumb, original, view].map((file) => rm(file, { force: true })));
}
