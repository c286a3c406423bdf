import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { computeFlow, decodeGuide, encodeGuide, loadOpenCv, temporalGuide, warpImage } from '../../src/engine/flow';
import { h264RoundTrip } from '../helpers/media-fixtures';
import { movingSquare, translated, videoScene, withSensorNoise } from '../helpers/moving-scenes';

/** Mean endpoint error against a uniform true motion, away from the border (where content enters). */
function meanEpe(flow: { width: number; height: number; dx: Float32Array; dy: Float32Array }, tx: number, ty: number, margin: number): number {
  let sum = 0;
  let n = 0;
  for (let y = margin; y < flow.height - margin; y++) {
    for (let x = margin; x < flow.width - margin; x++) {
      const p = y * flow.width + x;
      sum += Math.hypot(flow.dx[p] - tx, flow.dy[p] - ty);
      n++;
    }
  }
  return sum / n;
}

describe('optical flow', () => {
  for (const [tx, ty] of [
    [2, -1],
    [0.5, 0.25],
    [3.7, 1.3],
  ]) {
    test(`recovers a translation by (${tx}, ${ty}) px with a mean endpoint error under 0.1 px`, async () => {
      const from = translated(128, 96, 0, 0);
      const to = translated(128, 96, tx, ty);
      const flow = await computeFlow(from, to);
      const epe = meanEpe(flow, tx, ty, 8);
      assert.ok(epe < 0.1, `mean EPE ${epe.toFixed(4)} px`);
      // And the reverse flow is the opposite motion.
      assert.ok(meanEpe(await computeFlow(to, from), -tx, -ty, 8) < 0.1);
    });
  }

  test('is deterministic: the same frames give the same bits', async () => {
    const a = translated(96, 64, 0, 0);
    const b = translated(96, 64, 1.5, 0.5);
    const [f, g] = [await computeFlow(a, b), await computeFlow(a, b)];
    assert.deepEqual(f.dx, g.dx);
    assert.deepEqual(f.dy, g.dy);
  });

  test('loading OpenCV leaves the process-wide error handlers as they were', async () => {
    const count = () => process.listeners('uncaughtException').length + process.listeners('unhandledRejection').length;
    const before = count();
    await loadOpenCv();
    assert.equal(count(), before);
  });

  test('refuses frames of different sizes, naming both', async () => {
    await assert.rejects(computeFlow(translated(32, 24, 0, 0), translated(24, 32, 0, 0)), /32×24 and 24×32/);
  });

  test('warping the earlier frame along the backward flow reproduces the later frame', async () => {
    const prev = translated(128, 96, 0, 0);
    const next = translated(128, 96, 2.5, -1);
    const warped = warpImage(prev, await computeFlow(next, prev));
    let err = 0;
    let n = 0;
    for (let y = 8; y < 88; y++) for (let x = 8; x < 120; x++) for (let c = 0; c < 3; c++, n++) err += Math.abs(warped.data[(y * 128 + x) * 3 + c] - next.data[(y * 128 + x) * 3 + c]);
    assert.ok(err / n < 0.01, `mean |warped − next| ${(err / n).toFixed(4)}`);
  });
});

describe('temporal guide', () => {
  // A 24-px square moves 6 px right over a static background: the strip it leaves is disoccluded.
  const [W, H, side] = [96, 64, 24];
  const prev = movingSquare(W, H, 30, 20, side);
  const next = movingSquare(W, H, 36, 20, side);

  test('marks the strip the moving square uncovered as untrusted, and trusts the static background far from it', async () => {
    const strip = (mask: Float32Array) => {
      let trusted = 0;
      for (let y = next.top; y < next.top + side; y++) for (let x = prev.left; x < next.left; x++) trusted += mask[y * W + x];
      return trusted / (side * (next.left - prev.left));
    };
    const guide = await temporalGuide(prev.image, next.image, prev.image);
    // The rest are pixels where square and background happen to look alike (within 0.08 per channel).
    assert.ok(strip(guide.mask) < 0.1, `${(100 * strip(guide.mask)).toFixed(1)}% of the uncovered strip trusted`);
    // Why the photometric test: Farnebäck's smooth flow passes the paper's two tests on much of the strip.
    const paperOnly = await temporalGuide(prev.image, next.image, prev.image, { photometricThreshold: Infinity });
    assert.ok(strip(paperOnly.mask) > 0.1, `paper's tests alone trust ${(100 * strip(paperOnly.mask)).toFixed(1)}% of the strip`);
    // Background at least a flow window (15 px) away from the square's old and new places, and 4 px
    // in from the frame's edge: Farnebäck's flow wobbles there by a few hundredths of a pixel per
    // pixel, which the paper's motion-boundary test (|∇ŵ|² > 0.002) rightly distrusts.
    let far = 0;
    let trusted = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const near = x >= prev.left - 15 && x < next.left + side + 15 && y >= prev.top - 15 && y < prev.top + side + 15;
        const edge = x < 4 || y < 4 || x >= W - 4 || y >= H - 4;
        if (near || edge) continue;
        far++;
        trusted += guide.mask[y * W + x];
      }
    }
    assert.ok(trusted / far > 0.95, `${((100 * trusted) / far).toFixed(1)}% of the far background trusted`);
  });

  test('untrusted pixels of the warped image are the content frame; trusted ones follow the motion', async () => {
    const guide = await temporalGuide(prev.image, next.image, prev.image);
    let checkedTrusted = 0;
    for (let p = 0; p < W * H; p++) {
      for (let c = 0; c < 3; c++) {
        const got = guide.warped.data[3 * p + c];
        const content = next.image.data[3 * p + c];
        if (guide.mask[p] === 0) assert.equal(got, content);
        else if (Math.abs(got - content) > 0.14) assert.fail(`trusted pixel ${p} warped to ${got}, frame has ${content}`);
      }
      checkedTrusted += guide.mask[p];
    }
    assert.ok(checkedTrusted > (W * H) / 2);
  });

  test('a still background under sensor noise keeps the previous stylized pixels exactly; without snapping it is resampled', async () => {
    // Camera-like frames: the object moves 2.5 px, every pixel gets its own noise (σ 2.5/255).
    const scenes = [0, 1].map((t) => videoScene(W, H, t));
    const [a, b] = scenes.map((s, t) => withSensorNoise(s.image, 2.5, 7 + t));
    const styled = translated(W, H, 0.3, 0.7);
    // Background 4 px or more from the object's old and new places (the still test looks 2 px around).
    const background: number[] = [];
    const [s0, s1] = scenes;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const near = x >= s0.left - 4 && x < s1.left + s1.side + 4 && y >= s0.top - 4 && y < s1.top + s1.side + 4;
        if (!near) background.push(y * W + x);
      }
    }
    const kept = (guide: { warped: { data: Float32Array }; mask: Float32Array }) =>
      background.filter((p) => guide.mask[p] === 1 && [0, 1, 2].every((c) => guide.warped.data[3 * p + c] === styled.data[3 * p + c])).length / background.length;
    const snapped = kept(await temporalGuide(a, b, styled));
    assert.ok(snapped > 0.95, `${(100 * snapped).toFixed(1)}% of the background kept exactly`);
    const resampled = kept(await temporalGuide(a, b, styled, { stillThreshold: 0, stillRatio: 0 }));
    assert.ok(resampled < 0.5, `without snapping ${(100 * resampled).toFixed(1)}% kept exactly`);
  });

  /**
   * Two camera-like frames of size w×h (the object moves 2.5 px; sensor noise; an H.264 round trip,
   * which re-encodes the blocks around the moving object, so the decoded background next to it
   * changes by more than the still threshold although nothing there moved), and what fraction of a
   * set of pixels a guide keeps exactly at the previous stylized frame's own pixel.
   */
  async function cameraPair(w: number, h: number) {
    const scenes = [0, 1].map((t) => videoScene(w, h, t));
    const [a, b] = await h264RoundTrip(scenes.map((s, t) => withSensorNoise(s.image, 2.5, 11 + t)), 23);
    const styled = translated(w, h, 0.3, 0.7);
    const [s0, s1] = scenes;
    const pixels = (inside: (x: number, y: number) => boolean) => {
      const out: number[] = [];
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (inside(x, y)) out.push(y * w + x);
      return out;
    };
    /** Pixels at most d px outside the box around the object's old and new places. */
    const around = (x: number, y: number, d: number) => x >= s0.left - d && x < s1.left + s1.side + d && y >= s0.top - d && y < s1.top + s1.side + d;
    const kept = (guide: { warped: { data: Float32Array }; mask: Float32Array }, of: number[]) =>
      of.filter((p) => guide.mask[p] === 1 && [0, 1, 2].every((c) => guide.warped.data[3 * p + c] === styled.data[3 * p + c])).length / of.length;
    const onObject = pixels((x, y) => x >= s1.left && x < s1.left + s1.side && y >= s1.top && y < s1.top + s1.side);
    return { a, b, styled, pixels, around, kept, onObject };
  }

  test('a still background beside a moving object in H.264 video keeps the previous stylized pixels; without the still ratio it restarts', async () => {
    const { a, b, styled, pixels, around, kept } = await cameraPair(W, H);
    const band = pixels((x, y) => around(x, y, 8) && !around(x, y, 2));
    // The in-place rule off: this is the still ratio's own share.
    const withRatio = kept(await temporalGuide(a, b, styled, { inPlaceThreshold: 0 }), band);
    const thresholdOnly = kept(await temporalGuide(a, b, styled, { stillRatio: 0, inPlaceThreshold: 0 }), band);
    assert.ok(withRatio > 0.7, `${(100 * withRatio).toFixed(1)}% of the band kept exactly`);
    assert.ok(thresholdOnly < withRatio - 0.15, `without the ratio ${(100 * thresholdOnly).toFixed(1)}% kept, with it ${(100 * withRatio).toFixed(1)}%`);
  });

  test('background the flow leaves untrusted next to a moving object keeps the previous stylized pixel where it did not change in place', async () => {
    const { a, b, styled, pixels, around, kept } = await cameraPair(W, H);
    // The 2 px next to the object's old and new places: the flow carries its motion there.
    const nearest = pixels((x, y) => around(x, y, 2) && !around(x, y, 0));
    const inPlace = kept(await temporalGuide(a, b, styled), nearest);
    const without = kept(await temporalGuide(a, b, styled, { inPlaceThreshold: 0 }), nearest);
    assert.ok(inPlace > 0.4, `${(100 * inPlace).toFixed(1)}% of the nearest band kept exactly`);
    assert.ok(without < inPlace - 0.2, `without the in-place rule ${(100 * without).toFixed(1)}% kept, with it ${(100 * inPlace).toFixed(1)}%`);
  });

  test('the moving object itself is not held in place by the in-place rule', async () => {
    // At 256×170 the object is 68 px and moves 2.5 px: its texture is explained better by the flow.
    const { a, b, styled, kept, onObject } = await cameraPair(256, 170);
    const held = kept(await temporalGuide(a, b, styled), onObject);
    assert.ok(held < 0.01, `${(100 * held).toFixed(2)}% of the object's pixels held in place`);
  });

  // Sub-pixel motion of smooth texture can fall under the still threshold itself; these motions do not.
  for (const [tx, ty] of [
    [1, 0.5],
    [1.5, 0],
  ]) {
    test(`texture moving (${tx}, ${ty}) px, under the most flow a still pixel may carry, is warped along the motion, not held still`, async () => {
      const a = translated(W, H, 0, 0);
      const b = translated(W, H, tx, ty);
      const styled = translated(W, H, 5, 3);
      const guide = await temporalGuide(a, b, styled);
      let held = 0;
      for (let p = 0; p < W * H; p++) if ([0, 1, 2].every((c) => guide.warped.data[3 * p + c] === styled.data[3 * p + c])) held++;
      assert.ok(held / (W * H) < 0.005, `${((100 * held) / (W * H)).toFixed(1)}% of the moving frame held still`);
    });
  }

  test('encodes to bytes and decodes to exactly the same guide; refuses truncated bytes', async () => {
    const guide = await temporalGuide(prev.image, next.image, translated(W, H, 0, 0));
    const bytes = encodeGuide(guide);
    const back = decodeGuide(bytes);
    assert.equal(back.warped.width, W);
    assert.equal(back.warped.height, H);
    assert.deepEqual(back.warped.data, guide.warped.data);
    assert.deepEqual(back.mask, guide.mask);
    // A Buffer at an odd offset, as a slice of a larger read may be.
    const odd = Buffer.concat([Buffer.from([1]), bytes]).subarray(1);
    assert.deepEqual(decodeGuide(odd).mask, guide.mask);
    assert.throws(() => decodeGuide(bytes.subarray(0, bytes.length - 4)), /truncated\?\); delete it/);
    assert.throws(() => decodeGuide(Buffer.from('not a guide')), /not a temporal guide/);
  });
});
