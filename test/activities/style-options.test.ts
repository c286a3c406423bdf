/**
 * The stylize activity's part of the neural-style options, on an engine that records what it is
 * given: which style images at which size and weight, and what becomes of the finished frame.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createStyleActivities } from '../../src/activities/style';
import { frameFingerprint } from '../../src/activities/fingerprint';
import { fileSha256 } from '../../src/common/hash';
import { rgbToYuv } from '../../src/engine/color';
import type { StyleEngine } from '../../src/engine/engine';
import { DEFAULT_SETTINGS, type StyleSettings } from '../../src/engine/settings';
import type { StylizeRequest, WeightedStyle } from '../../src/engine/stylize';
import { framePath, readImage, writePng } from '../../src/media';
import type { RgbImage } from '../../src/media/types';
import type { StylizeFrameInput } from '../../src/workflows/contract';
import { tempDir } from '../helpers/media-fixtures';

const SIZE = 32;

function pattern(width: number, height: number, phase: number, lo: number, hi: number): RgbImage {
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = lo + (hi - lo) * (0.5 + 0.5 * Math.sin(0.37 * i + phase));
  return { width, height, data };
}

/** The content frame: 32×24, mid-range colours. */
const content = pattern(SIZE, 24, 0.4, 0.3, 0.7);
/** What the fake optimisation "paints": another pattern of the same size. */
const painted = pattern(SIZE, 24, 2.1, 0.35, 0.65);

interface Loaded {
  key: string;
  styles: Array<{ width: number; height: number; weight: number }>;
}

/** An engine that reads the styles it is handed, records them, and returns `painted`. */
function recordingEngine(loaded: Loaded[]): StyleEngine {
  return {
    backend: { name: 'fake' },
    styleTargets: async (key: string, layers: readonly string[], load: () => Promise<RgbImage | readonly WeightedStyle[]>) => {
      const got = await load();
      const styles = 'data' in got ? [{ image: got, weight: 1 }] : got;
      loaded.push({ key, styles: styles.map(({ image, weight }) => ({ width: image.width, height: image.height, weight })) });
      return { layers, grams: [], dispose: () => {} };
    },
    stylize: async (req: StylizeRequest) => ({ image: painted, loss: 1, steps: req.settings.epochs * req.settings.stepsPerEpoch, resumedFromStep: 0 }),
  } as unknown as StyleEngine;
}

describe('stylizeFrame with the neural-style options', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let wide: string;
  let square: string;
  let runs = 0;

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-style-options'));
    wide = join(root, 'wide.png');
    square = join(root, 'square.png');
    await writePng(wide, pattern(80, 40, 0.1, 0, 1));
    await writePng(square, pattern(30, 30, 0.9, 0, 1));
  });
  after(() => cleanup?.());

  /** Stylizes frame 1 of a fresh render directory; returns what the engine was given and what was written. */
  async function run(settings: StyleSettings, styles: string[]) {
    const renderDir = join(root, `render-${++runs}`);
    await mkdir(join(renderDir, 'frames'), { recursive: true });
    await writePng(framePath(join(renderDir, 'frames'), 1), content);
    const loaded: Loaded[] = [];
    const { stylizeFrame } = createStyleActivities({ engine: recordingEngine(loaded), weightsId: 'w', paths: { workRoot: root, outputRoots: [] } });
    const input: StylizeFrameInput = { renderDir, style: styles[0], ...(styles.length > 1 ? { styles } : {}), frame: 1, frameCount: 1, settings };
    await new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(stylizeFrame, input);
    const styled = framePath(join(renderDir, 'styled'), 1);
    const sidecar = JSON.parse(await readFile(styled.replace(/\.png$/, '.json'), 'utf8')) as { fingerprint: string };
    return { loaded, written: await readImage(styled), fingerprint: sidecar.fingerprint };
  }

  const base: StyleSettings = { ...DEFAULT_SETTINGS, size: SIZE, epochs: 1, stepsPerEpoch: 1 };

  test("one style is read at --size, and its frame keeps the fingerprint it always had (the file's own hash)", async () => {
    const { loaded, fingerprint } = await run(base, [wide]);
    assert.deepEqual(loaded[0].styles, [{ width: SIZE, height: SIZE / 2, weight: 1 }]);
    assert.equal(fingerprint, frameFingerprint(await fileSha256(wide), 'w', base));
  });

  test('--style-scale sets the long side the style is read at, and the cache key follows it', async () => {
    const plain = await run(base, [wide]);
    const half = await run({ ...base, styleScale: 0.5 }, [wide]);
    const double = await run({ ...base, styleScale: 2 }, [wide]);
    assert.deepEqual(half.loaded[0].styles[0], { width: SIZE / 2, height: SIZE / 4, weight: 1 });
    assert.deepEqual(double.loaded[0].styles[0], { width: SIZE * 2, height: SIZE, weight: 1 });
    assert.equal(new Set([plain, half, double].map((r) => r.loaded[0].key)).size, 3, 'three sizes, three cache keys');
    assert.equal(new Set([plain, half, double].map((r) => r.fingerprint)).size, 3, 'three sizes, three frame fingerprints');
  });

  test('several styles are each read at --size and blended with their weights (equal by default)', async () => {
    const equal = await run(base, [wide, square]);
    assert.deepEqual(equal.loaded[0].styles, [
      { width: SIZE, height: SIZE / 2, weight: 0.5 },
      { width: SIZE, height: SIZE, weight: 0.5 },
    ]);
    const weighted = await run({ ...base, styleBlendWeights: [0.3, 0.7] }, [wide, square]);
    assert.deepEqual(
      weighted.loaded[0].styles.map((s) => s.weight),
      [0.3, 0.7],
    );
    const swapped = await run(base, [square, wide]);
    const single = await run(base, [wide]);
    const keys = [equal, weighted, swapped, single].map((r) => r.loaded[0].key);
    const fingerprints = [equal, weighted, swapped, single].map((r) => r.fingerprint);
    assert.equal(new Set(keys).size, 4, 'every blend has its own cache key');
    assert.equal(new Set(fingerprints).size, 4, 'every blend has its own frame fingerprint');
  });

  test("--original-colors writes the painted luminance with the content's colours; without it the painted frame as is", async () => {
    const plain = await run(base, [wide]);
    const kept = await run({ ...base, originalColors: true }, [wide]);
    // PNG holds 8 bits a channel: compare within a few quantisation steps.
    const within = (a: Float32Array, b: Float32Array, tolerance: number, what: string) => {
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
      assert.ok(worst <= tolerance, `${what}: off by ${worst}`);
    };
    within(plain.written.data, painted.data, 1 / 255, 'the plain frame is the painted one');
    const [outYuv, paintedYuv, contentYuv] = [kept.written, painted, content].map((image) => rgbToYuv(image).data);
    const channel = (data: Float32Array, c: number) => data.filter((_, i) => i % 3 === c);
    within(channel(outYuv, 0), channel(paintedYuv, 0), 2 / 255, 'Y is the painted frame’s');
    within(channel(outYuv, 1), channel(contentYuv, 1), 2 / 255, 'U is the content’s');
    within(channel(outYuv, 2), channel(contentYuv, 2), 2 / 255, 'V is the content’s');
    assert.notEqual(kept.fingerprint, plain.fingerprint);
  });
});
