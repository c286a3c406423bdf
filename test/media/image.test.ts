import assert from 'node:assert/strict';
import { readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { MediaInputError } from '../../src/media/errors';
import { imageSize, readImage, writePng } from '../../src/media/image';
import { withFlags } from '../../src/client/setup/render-option-values';
import type { RgbImage } from '../../src/media/types';
import { makeStyleImage, tempDir } from '../helpers/media-fixtures';

describe('image I/O', () => {
  let dir = '';
  let cleanup = async () => {};
  const file = (name: string) => path.join(dir, name);

  before(async () => {
    ({ dir, cleanup } = await tempDir('image-test'));
    await makeStyleImage(file('style.png'), 120, 80);
  });
  after(() => cleanup());

  it('round-trips through writePng and readImage within one 8-bit step', async () => {
    const width = 7;
    const height = 5;
    const data = new Float32Array(width * height * 3);
    for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1000) / 999;
    await writePng(file('roundtrip.png'), { width, height, data });
    const back = await readImage(file('roundtrip.png'));
    assert.deepEqual([back.width, back.height, back.data.length], [width, height, data.length]);
    for (let i = 0; i < data.length; i++) assert.ok(Math.abs(back.data[i] - data[i]) <= 0.5 / 255 + 1e-6, `value ${i}`);
    const meta = await sharp(file('roundtrip.png')).metadata();
    assert.deepEqual([meta.format, meta.channels, meta.depth, meta.isPalette], ['png', 3, 'uchar', false]);
    assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.tmp')), []);
  });

  it('clamps values the optimiser pushed out of range', async () => {
    const img: RgbImage = { width: 2, height: 1, data: new Float32Array([-0.5, 1.7, Number.NaN, 0.5, 1, 0]) };
    await writePng(file('clamped.png'), img);
    const raw = await sharp(file('clamped.png')).raw().toBuffer();
    assert.deepEqual([...raw], [0, 255, 0, 128, 255, 0]);
    await assert.rejects(writePng(file('bad.png'), { width: 3, height: 3, data: new Float32Array(5) }), RangeError);
  });

  it('resizes so the long side matches, down or up', async () => {
    const down = await readImage(file('style.png'), { longSide: 60 });
    assert.deepEqual([down.width, down.height], [60, 40]);
    const up = await readImage(file('style.png'), { longSide: 240 });
    assert.deepEqual([up.width, up.height], [240, 160]);
    assert.equal(up.data.length, 240 * 160 * 3);
    for (const v of up.data) assert.ok(v >= 0 && v <= 1);
  });

  it('flattens transparency onto white and gives grey images three channels', async () => {
    // Left pixel fully transparent red, right pixel opaque blue.
    const rgba = Buffer.from([255, 0, 0, 0, 0, 0, 255, 255]);
    await sharp(rgba, { raw: { width: 2, height: 1, channels: 4 } }).png().toFile(file('alpha.png'));
    const img = await readImage(file('alpha.png'));
    assert.deepEqual([...img.data].map((v) => Math.round(v * 255)), [255, 255, 255, 0, 0, 255]);

    await sharp(Buffer.from([0, 128, 255]), { raw: { width: 3, height: 1, channels: 1 } }).png().toFile(file('grey.png'));
    const grey = await readImage(file('grey.png'));
    assert.deepEqual([...grey.data].map((v) => Math.round(v * 255)), [0, 0, 0, 128, 128, 128, 255, 255, 255]);
  });

  it('converts 16-bit and CMYK files to 8-bit sRGB', async () => {
    await sharp(file('style.png')).toColourspace('rgb16').png().toFile(file('deep.png'));
    assert.equal((await sharp(file('deep.png')).metadata()).depth, 'ushort');
    await sharp(file('style.png')).toColourspace('cmyk').jpeg({ quality: 95 }).toFile(file('print.jpg'));
    assert.equal((await sharp(file('print.jpg')).metadata()).space, 'cmyk');
    const reference = await readImage(file('style.png'));
    for (const name of ['deep.png', 'print.jpg']) {
      const img = await readImage(file(name));
      assert.deepEqual([img.width, img.height, img.data.length], [120, 80, 120 * 80 * 3]);
      let diff = 0;
      for (let i = 0; i < img.data.length; i++) diff += Math.abs(img.data[i] - reference.data[i]);
      // CMYK cannot hold the pattern's most saturated colours, so that round trip is only roughly equal.
      assert.ok(diff / img.data.length < (name === 'deep.png' ? 1 / 255 : 0.15), `${name}: ${diff / img.data.length}`);
    }
  });

  it('turns photos upright per EXIF orientation', async () => {
    // Orientation 6: the stored 40x20 picture is shown turned a quarter clockwise, 20x40.
    await sharp(file('style.png')).resize(40, 20, { fit: 'fill' }).jpeg().withMetadata({ orientation: 6 }).toFile(file('phone.jpg'));
    assert.equal((await sharp(file('phone.jpg')).metadata()).orientation, 6);
    assert.deepEqual(await imageSize(file('phone.jpg')), { width: 20, height: 40 });
    const img = await readImage(file('phone.jpg'));
    assert.deepEqual([img.width, img.height], [20, 40]);
  });

  it('explains a missing or non-image style file', async () => {
    await writeFile(file('notes.png'), 'plain text');
    for (const name of ['notes.png', 'missing.jpg']) {
      await assert.rejects(readImage(file(name), { longSide: 64 }), (err: unknown) => {
        assert.ok(err instanceof MediaInputError);
        assert.ok(err.message.includes(file(name)), err.message);
        assert.match(withFlags(err.message), /Give --style a JPEG or PNG image/);
        return true;
      });
    }
    await assert.rejects(imageSize(file('notes.png')), MediaInputError);
    await assert.rejects(readImage(file('notes.png'), { hint: 'Re-run the split.' }), /Re-run the split\./);
  });
});
