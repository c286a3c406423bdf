import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { removeThumbnails, thumbnailPaths, writeThumbnail, THUMB_LONG_SIDE } from '../../src/media';
import { tempDir } from '../helpers/media-fixtures';

test('a frame’s thumbnail is a small WebP beside it, long side at most THUMB_LONG_SIDE, and goes with removeThumbnails', async () => {
  const { dir, cleanup } = await tempDir('starry-thumb');
  try {
    const png = join(dir, 'frame_000042.png');
    await sharp({ create: { width: 512, height: 288, channels: 3, background: { r: 200, g: 40, b: 90 } } }).png().toFile(png);
    const paths = thumbnailPaths(png);
    assert.deepEqual(paths, { thumb: join(dir, 'frame_000042.thumb.webp'), original: join(dir, 'frame_000042.orig.webp'), view: join(dir, 'frame_000042.view.json') });
    await writeThumbnail(png, paths.thumb);
    const meta = await sharp(paths.thumb).metadata();
    assert.equal(meta.format, 'webp');
    assert.deepEqual([meta.width, meta.height], [THUMB_LONG_SIDE, Math.round((THUMB_LONG_SIDE * 288) / 512)]);
    // A frame smaller than a thumbnail is not enlarged.
    const small = join(dir, 'frame_000001.png');
    await sharp({ create: { width: 32, height: 24, channels: 3, background: '#000' } }).png().toFile(small);
    await writeThumbnail(small, thumbnailPaths(small).thumb);
    assert.equal((await sharp(thumbnailPaths(small).thumb).metadata()).width, 32);

    await writeFile(paths.view, '{}');
    await removeThumbnails(png);
    assert.ok(!existsSync(paths.thumb) && !existsSync(paths.view), 'thumbnail and record deleted');
    assert.ok(existsSync(png), 'the frame itself is not touched');
  } finally {
    await cleanup();
  }
});
