import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StyleEngine } from '../../src/engine/engine';
import { DEFAULT_SETTINGS, InvalidSettingsError, type StyleSettings } from '../../src/engine/settings';
import { stopDecision, type OptimisationCheckpoint, type StopRule, type TemporalConstraint } from '../../src/engine/stylize';
import type { RgbImage } from '../../src/media/types';
import { engineBackends } from '../helpers/backends';
import { tempDir } from '../helpers/media-fixtures';
import { contentImageFormula, styleImageFormula, writeVggH5 } from '../helpers/tiny-vgg';

const settings: StyleSettings = { ...DEFAULT_SETTINGS, epochs: 3, stepsPerEpoch: 2, learningRate: 0.05 };
const frame = (shift: number): RgbImage => {
  const data = contentImageFormula(20, 24).map((v, i) => (v + 0.01 * shift * Math.sin(i)) % 1);
  return { width: 24, height: 20, data };
};
const styleImage: RgbImage = { width: 16, height: 18, data: styleImageFormula(18, 16) };
/** A guide as flow.ts would give one: another image to stay near, trusted on the left two thirds. */
const guide = (weight: number): TemporalConstraint => {
  const warped = { width: 24, height: 20, data: frame(7).data.map((v) => 1 - v) };
  const mask = new Float32Array(24 * 20).map((_, p) => (p % 24 < 16 ? 1 : 0));
  return { warped, mask, weight };
};
/** Mean over the trusted pixels of (x − warped)². */
const distanceToGuide = (image: RgbImage, g: TemporalConstraint) => {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < image.data.length; i++) {
    const m = g.mask[Math.floor(i / 3)];
    sum += m * (image.data[i] - g.warped.data[i]) ** 2;
    n += m;
  }
  return sum / n;
};

for (const backend of engineBackends()) describe(`stylize on ${backend}`, () => {
  let engine: StyleEngine;
  let cleanup: () => Promise<void>;
  const targets = () => engine.styleTargets('style', settings.styleLayers, async () => styleImage);

  before(async () => {
    const tmp = await tempDir('starry-engine');
    cleanup = tmp.cleanup;
    const weightsPath = join(tmp.dir, 'tiny.h5');
    await writeVggH5(weightsPath);
    engine = await StyleEngine.create({ weightsPath, backend });
    assert.equal(engine.backend.name, backend);
    assert.equal(engine.stepMode, backend === 'node' ? 'graph' : 'eager', 'native steps run as one TensorFlow graph');
  });
  after(async () => {
    engine?.dispose();
    await cleanup?.();
  });

  test('is deterministic: the same frame and settings give the same bits', async () => {
    const a = await engine.stylize({ content: frame(1), targets: await targets(), settings });
    const b = await engine.stylize({ content: frame(1), targets: await targets(), settings });
    assert.deepEqual(a.image.data, b.image.data);
    assert.notDeepEqual(a.image.data, frame(1).data, 'the optimisation changed the image');
    assert.ok(a.image.data.every((v) => v >= 0 && v <= 1), 'pixels stay in [0, 1]');
  });

  test('leaks no tensors: the count after frame 1 equals the count after frame 5', async () => {
    await engine.stylize({ content: frame(0), targets: await targets(), settings });
    const afterFirst = engine.tensorCount();
    for (let k = 1; k < 5; k++) await engine.stylize({ content: frame(k), targets: await targets(), settings });
    assert.equal(engine.tensorCount(), afterFirst);
  });

  test('resuming from an epoch checkpoint gives the uninterrupted result bit for bit', async () => {
    const checkpoints: OptimisationCheckpoint[] = [];
    const full = await engine.stylize({
      content: frame(2),
      targets: await targets(),
      settings,
      onCheckpoint: (c) => void checkpoints.push(c),
    });
    assert.deepEqual(
      checkpoints.map((c) => c.step),
      [2, 4],
      'one checkpoint per epoch boundary, none after the last step',
    );
    const resumed = await engine.stylize({ content: frame(2), targets: await targets(), settings, resumeFrom: checkpoints[0] });
    assert.equal(resumed.resumedFromStep, 2);
    assert.deepEqual(resumed.image.data, full.image.data);
  });

  test('cancellation checkpoints the current step, then stops; resuming from it loses nothing', async () => {
    const controller = new AbortController();
    const saved: OptimisationCheckpoint[] = [];
    await assert.rejects(
      engine.stylize({
        content: frame(3),
        targets: await targets(),
        settings,
        signal: controller.signal,
        onStep: (p) => {
          if (p.step === 3) controller.abort();
        },
        onCheckpoint: (c) => void saved.push(c),
      }),
      { name: 'AbortError' },
    );
    assert.deepEqual(
      saved.map((c) => c.step),
      [2, 3],
      'the epoch checkpoint, then the step in flight when cancelled',
    );
    const resumed = await engine.stylize({ content: frame(3), targets: await targets(), settings, resumeFrom: saved[1] });
    const full = await engine.stylize({ content: frame(3), targets: await targets(), settings });
    assert.deepEqual(resumed.image.data, full.image.data);
  });

  test('yields to the event loop between steps, so heartbeats and signals get through', async () => {
    let ticks = 0;
    let stepsWithoutTick = 0;
    let scheduled = false;
    await engine.stylize({
      content: frame(4),
      targets: await targets(),
      settings,
      onStep: () => {
        if (scheduled && ticks === 0) stepsWithoutTick++;
        ticks = 0;
        scheduled = true;
        setImmediate(() => ticks++);
      },
    });
    assert.equal(stepsWithoutTick, 0);
  });

  test('an out-of-memory failure mid-optimisation releases every tensor the attempt held', async () => {
    const t = await targets();
    const before = engine.tensorCount();
    await assert.rejects(
      engine.stylize({
        content: frame(5),
        targets: t,
        settings,
        onStep: (p) => {
          if (p.step === 3) throw new Error('OOM when allocating tensor with shape[1,20,24,64]');
        },
      }),
      /OOM when allocating/,
    );
    assert.equal(engine.tensorCount(), before);
  });

  test('the start-up warm-up step leaves no tensors behind', async () => {
    const before = engine.tensorCount();
    await engine.warmUp();
    assert.equal(engine.tensorCount(), before);
  });

  test('init: the optimisation starts from the given image (init = content frame gives the same bits as no init)', async () => {
    const plain = await engine.stylize({ content: frame(1), targets: await targets(), settings });
    const same = await engine.stylize({ content: frame(1), init: frame(1), targets: await targets(), settings });
    assert.deepEqual(same.image.data, plain.image.data);
    const other = await engine.stylize({ content: frame(1), init: guide(0).warped, targets: await targets(), settings });
    assert.notDeepEqual(other.image.data, plain.image.data);
  });

  test('a temporal term of weight 0 with a zero mask changes no bit', async () => {
    const plain = await engine.stylize({ content: frame(1), targets: await targets(), settings });
    const zero = { ...guide(0), mask: new Float32Array(24 * 20) };
    const withZero = await engine.stylize({ content: frame(1), temporal: zero, targets: await targets(), settings });
    assert.deepEqual(withZero.image.data, plain.image.data);
  });

  test('the temporal term pulls trusted pixels towards the warped image, the more the heavier it weighs', async () => {
    const distances: number[] = [];
    for (const weight of [0, 1e5, 1e7]) {
      const g = guide(weight);
      const r = await engine.stylize({ content: frame(1), temporal: g, targets: await targets(), settings });
      distances.push(distanceToGuide(r.image, g));
    }
    assert.ok(distances[0] > distances[1] && distances[1] > distances[2], `distances ${distances.join(', ')}`);
  });

  test('with init and a temporal term: deterministic, resumes bit for bit, leaks no tensors', async () => {
    const run = (extra: object = {}) =>
      targets().then((t) => engine.stylize({ content: frame(2), init: guide(0).warped, temporal: guide(1e3), targets: t, settings, ...extra }));
    const checkpoints: OptimisationCheckpoint[] = [];
    const full = await run({ onCheckpoint: (c: OptimisationCheckpoint) => void checkpoints.push(c) });
    const again = await run();
    assert.deepEqual(again.image.data, full.image.data);
    const before = engine.tensorCount();
    const resumed = await run({ resumeFrom: checkpoints[0] });
    assert.equal(resumed.resumedFromStep, 2);
    assert.deepEqual(resumed.image.data, full.image.data);
    for (let k = 0; k < 3; k++) await run();
    assert.equal(engine.tensorCount(), before);
  });

  describe('the stop rule (warm frames)', () => {
    const rule = (target: number, minSteps = 0): StopRule => ({ target, tolerance: 1e-3, window: 3, minSteps });
    const allTrusted = (warped: RgbImage): TemporalConstraint => ({ warped, mask: new Float32Array(24 * 20).fill(1), weight: 10 });

    test('an identical frame costs 0 steps and changes nothing: its start is at its chain\'s target', async () => {
      const first = await engine.stylize({ content: frame(1), targets: await targets(), settings, measureStyleContent: true });
      assert.ok(Number.isFinite(first.styleContentLoss) && first.styleContentLoss > 0);
      const again = await engine.stylize({ content: frame(1), targets: await targets(), settings, init: first.image, temporal: allTrusted(first.image), stop: rule(first.styleContentLoss) });
      assert.equal(again.steps, 0);
      assert.deepEqual(again.image.data, first.image.data, 'the same bits');
      // Without the stop rule the same warm frame runs on and moves away from it.
      const unstopped = await engine.stylize({ content: frame(1), targets: await targets(), settings, init: first.image, temporal: allTrusted(first.image) });
      assert.equal(unstopped.steps, 6);
      assert.notDeepEqual(unstopped.image.data, first.image.data);
    });

    test("measureStyleContent scores an image as stylize scores its result, and a start at that score with nothing distrusted stops at once", async () => {
      const first = await engine.stylize({ content: frame(1), targets: await targets(), settings, measureStyleContent: true });
      // The same ops on the same image: the same float32 bits.
      assert.equal(engine.measureStyleContent({ content: frame(1), image: first.image, targets: await targets(), settings }), first.styleContentLoss);
      // An 8-bit copy scores otherwise; a start from it with that score as `settled` and an unreachable target stops before its first step.
      const stored = { ...first.image, data: Float32Array.from(first.image.data, (v) => Math.round(v * 255) / 255) };
      const settled = engine.measureStyleContent({ content: frame(1), image: stored, targets: await targets(), settings });
      assert.notEqual(settled, first.styleContentLoss);
      const again = await engine.stylize({ content: frame(1), targets: await targets(), settings, init: stored, temporal: allTrusted(stored), stop: { ...rule(settled / 1e6), settled } });
      assert.equal(again.steps, 0);
      assert.deepEqual(again.image.data, stored.data);
      const unsettled = await engine.stylize({ content: frame(1), targets: await targets(), settings, init: stored, temporal: allTrusted(stored), stop: rule(settled / 1e6) });
      assert.ok(unsettled.steps > 0, 'without it, the unreachable target runs it on');
      const before = engine.tensorCount();
      engine.measureStyleContent({ content: frame(1), image: stored, targets: await targets(), settings });
      assert.equal(engine.tensorCount(), before, 'and leaves no tensors');
    });

    test('a frame above its target runs until it is there or stops changing, within the ceiling', async () => {
      const first = await engine.stylize({ content: frame(1), targets: await targets(), settings, measureStyleContent: true });
      // Frame 2 starts from its own content, far above frame 1's loss: the ceiling or the tolerance ends it, not the target.
      const r = await engine.stylize({ content: frame(2), targets: await targets(), settings, init: frame(2), temporal: allTrusted(frame(2)), stop: { ...rule(first.styleContentLoss / 1e6), tolerance: 0 } });
      assert.equal(r.steps, 6, 'far above the target and never quite still: the ceiling');
      const loose = await engine.stylize({ content: frame(2), targets: await targets(), settings, init: frame(2), temporal: allTrusted(frame(2)), stop: { ...rule(0), tolerance: 10 } });
      assert.equal(loose.steps, 3, 'a tolerance every change meets stops once the window (3 losses) is full');
    });

    test('a distrusted region earns its minimum steps even at the target, and only its pixels move', async () => {
      const first = await engine.stylize({ content: frame(1), targets: await targets(), settings, measureStyleContent: true });
      // The right quarter distrusted (disoccluded): the global loss is at the target, the patch still needs its steps.
      const mask = new Float32Array(24 * 20).map((_, p) => (p % 24 < 18 ? 1 : 0));
      const r = await engine.stylize({ content: frame(1), targets: await targets(), settings, init: first.image, temporal: { warped: first.image, mask, weight: 10 }, stop: rule(first.styleContentLoss, 4) });
      assert.equal(r.steps, 4);
      let movedTrusted = 0;
      let movedPatch = 0;
      for (let i = 0; i < r.image.data.length; i++) {
        if (r.image.data[i] === first.image.data[i]) continue;
        if (mask[Math.floor(i / 3)] === 1) movedTrusted++;
        else movedPatch++;
      }
      assert.equal(movedTrusted, 0, 'trusted pixels keep their bits: steps at the target do not drift the look');
      assert.ok(movedPatch > 0, 'the distrusted patch was optimised');
    });

    test('with terms: a chain start reports its style and content apart, and a warm frame whose sum is back but whose content is not runs on', async () => {
      const first = await engine.stylize({ content: frame(1), targets: await targets(), settings, measureStyleContent: true });
      const terms = first.styleContentTerms!;
      assert.ok(terms.style > 0 && terms.content > 0, 'both terms measured');
      // The seed's tv weight is 0 here, so the terms add up to the sum (float32, two reductions: relative 1e-5 is ample).
      assert.ok(Math.abs(terms.style + terms.content - first.styleContentLoss) <= 1e-5 * first.styleContentLoss);
      // The identical frame still costs 0 steps: both terms are at the chain start's.
      const same = await engine.stylize({ content: frame(1), targets: await targets(), settings, init: first.image, temporal: allTrusted(first.image), stop: { ...rule(first.styleContentLoss), terms } });
      assert.equal(same.steps, 0);
      // A target whose sum is met but whose content share is far below this image's: the sum alone stops at once, the terms do not.
      const skewed = { style: terms.style + terms.content * 0.9, content: terms.content * 0.1 };
      const bySum = await engine.stylize({ content: frame(1), targets: await targets(), settings, init: first.image, temporal: allTrusted(first.image), stop: rule(first.styleContentLoss) });
      const byTerms = await engine.stylize({ content: frame(1), targets: await targets(), settings, init: first.image, temporal: allTrusted(first.image), stop: { ...rule(first.styleContentLoss), terms: skewed } });
      assert.equal(bySum.steps, 0);
      assert.ok(byTerms.steps > 0, 'the content term is above its target: the frame is not done');
    });

    test('stopDecision: with terms, the target needs the sum and each term; the terms are asked for only when the sum is there', () => {
      const r: StopRule = { target: 10, tolerance: 0, window: 3, minSteps: 0, terms: { style: 8, content: 2 } };
      let asked = 0;
      const termsNow = (t: { style: number; content: number }) => () => (asked++, t);
      assert.equal(stopDecision(r, 0, 11, 11, [], termsNow({ style: 8, content: 3 })), 'all');
      assert.equal(asked, 0, 'above the sum: no terms measured');
      assert.equal(stopDecision(r, 0, 10, 10, [], termsNow({ style: 7, content: 3 })), 'all', 'sum at target, content above its own');
      assert.equal(stopDecision(r, 0, 10, 10, [], termsNow({ style: 8, content: 2 })), 'stop');
      assert.equal(stopDecision({ ...r, terms: undefined }, 0, 10, 10, [], termsNow({ style: 7, content: 3 })), 'stop', 'without terms: the sum');
      assert.equal(stopDecision({ ...r, minSteps: 2 }, 0, 10, 10, [], termsNow({ style: 7, content: 3 })), 'all', 'before the minimum steps, not at target: every pixel');
      assert.equal(stopDecision({ ...r, minSteps: 2 }, 0, 10, 10, [], termsNow({ style: 8, content: 2 })), 'untrusted');
    });

    test("stopDecision: a start no higher than its predecessor's end (settled), with nothing distrusted, stops before its first step", () => {
      const r: StopRule = { target: 10, tolerance: 1e-3, window: 3, minSteps: 0, settled: 12 };
      assert.equal(stopDecision(r, 0, 12, 12, []), 'stop', 'above the target, but where its predecessor ended');
      assert.equal(stopDecision(r, 0, 12.5, 12.5, []), 'all', 'higher than its predecessor ended: something to recover');
      assert.equal(stopDecision(r, 1, 12, 12, [12.5]), 'all', 'only before the first step: once running, the target');
      assert.equal(stopDecision({ ...r, minSteps: 2 }, 0, 12, 12, []), 'all', 'distrusted pixels earn their steps first');
      assert.equal(stopDecision({ ...r, settled: undefined }, 0, 12, 12, []), 'all', 'without it, the target');
    });

    test('resumes bit for bit from any checkpoint: the stop decision depends on checkpointed state only', async () => {
      const warm = { content: frame(2), targets: await targets(), settings, init: frame(1), temporal: allTrusted(frame(1)), stop: { ...rule(0), tolerance: 0.05 } };
      const checkpoints: OptimisationCheckpoint[] = [];
      const whole = await engine.stylize({ ...warm, checkpointEvery: 1, onCheckpoint: (c) => void checkpoints.push(c) });
      assert.ok(checkpoints.length > 0 && checkpoints.some((c) => (c.recent ?? []).length > 0), 'checkpoints carry the recent losses');
      for (const c of checkpoints) {
        const resumed = await engine.stylize({ ...warm, resumeFrom: c });
        assert.equal(resumed.steps, whole.steps, `resumed from step ${c.step}`);
        assert.deepEqual(resumed.image.data, whole.image.data, `resumed from step ${c.step}`);
      }
    });
  });

  test('an init or temporal guide of another size is refused, saying which', async () => {
    const small: RgbImage = { width: 12, height: 10, data: new Float32Array(12 * 10 * 3) };
    await assert.rejects(engine.stylize({ content: frame(1), init: small, targets: await targets(), settings }), /init image is 12×10 .*frame 24×20/);
    await assert.rejects(
      engine.stylize({ content: frame(1), temporal: { ...guide(1), mask: new Float32Array(5) }, targets: await targets(), settings }),
      /temporal mask has 5 values/,
    );
  });

  test('a frame too small for block5 is refused with the fix', async () => {
    const tiny: RgbImage = { width: 8, height: 8, data: new Float32Array(8 * 8 * 3) };
    await assert.rejects(engine.stylize({ content: tiny, targets: await targets(), settings }), (err: unknown) => {
      assert.ok(err instanceof InvalidSettingsError, `an InvalidSettingsError, not ${String(err)}`);
      assert.match(err.message, /at least 16 pixels.*raise \{size\}$/);
      return true;
    });
  });
});
