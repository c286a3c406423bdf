/**
 * The stylize activity in the coherent mode (`--init prev-warped`), on the real engine (narrow
 * generated VGG19, cpu backend): a frame starts from its predecessor's warped result with the later
 * epochs, its temporal guide is read back from disk on a retry exactly as computed, it is deleted
 * once the frame is done; a chain's first frame (or one whose predecessor has no result) is reached
 * through its run-up, which an attempt that dies resumes bit for bit.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createStyleActivities } from '../../src/activities/style';
import { renderPaths } from '../../src/common/render-paths';
import { StyleEngine } from '../../src/engine/engine';
import { encodeGuide, temporalGuide } from '../../src/engine/flow';
import { DEFAULT_SETTINGS, type StyleSettings } from '../../src/engine/settings';
import { framePath, readImage, writePng } from '../../src/media';
import type { FaultPlan } from '../../src/activities/faults';
import type { RgbImage } from '../../src/media/types';
import type { FrameRecord, StylizeFrameInput } from '../../src/workflows/contract';
import { tempDir } from '../helpers/media-fixtures';
import { movingSquare } from '../helpers/moving-scenes';
import { writeVggH5 } from '../helpers/tiny-vgg';

const SETTINGS: StyleSettings = { ...DEFAULT_SETTINGS, size: 48, epochs: 3, stepsPerEpoch: 2, init: 'prev-warped', temporalWeight: 1e4, laterEpochs: 1 };

/**
 * A render directory of one chunk whose content frames 1, 2, … are `frames`, the style picture, and
 * the tests' narrow generated network on the cpu backend.
 */
async function coherentFixture(name: string, frames: RgbImage[]) {
  const { dir: root, cleanup } = await tempDir(name);
  const weights = join(root, 'vgg.h5');
  await writeVggH5(weights);
  const engine = await StyleEngine.create({ weightsPath: weights, backend: 'cpu', warmUp: false });
  const renderDir = join(root, 'work', 'renders', 'r');
  const framesDir = renderPaths(renderDir).chunk(0).frames;
  await mkdir(framesDir, { recursive: true });
  await mkdir(renderPaths(renderDir).styled, { recursive: true });
  for (const [i, image] of frames.entries()) await writePng(framePath(framesDir, i + 1), image);
  const style = join(root, 'style.png');
  await writePng(style, movingSquare(40, 40, 5, 5, 20).image);
  return { root, cleanup, engine, renderDir, style };
}

/** The activity's input for `frame` of chunk 0 of `at`'s render, after frame `previous` when given. */
function frameInput(at: { renderDir: string; style: string }, frame: number, settings: StyleSettings, frameCount: number, previous?: number): StylizeFrameInput {
  return {
    renderDir: at.renderDir,
    style: at.style,
    frame,
    frameCount,
    settings,
    chunk: 0,
    checkpointEvery: 1,
    ...(previous !== undefined && { previous: { frame: previous, lead: false } }),
  };
}

describe('stylizeFrame, coherent mode (real engine)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let engine: StyleEngine;
  let renderDir: string;
  let style: string;
  let activity: ReturnType<typeof createStyleActivities>;
  const chunk = () => renderPaths(renderDir).chunk(0);
  const guideFile = () => join(chunk().flow, 'frame_000002.guide');
  const styledFile = (frame: number) => framePath(renderPaths(renderDir).styled, frame);

  before(async () => {
    // The square moves 3 px right a frame.
    ({ root, cleanup, engine, renderDir, style } = await coherentFixture('starry-coherent', [1, 2, 3].map((frame) => movingSquare(48, 36, 7 + 3 * frame, 10, 12).image)));
    activity = activityWith();
  });
  const activityWith = (faults?: FaultPlan) => createStyleActivities({ engine, weightsId: 'w', faults, paths: { workRoot: join(root, 'work'), outputRoots: [] } });
  after(async () => {
    engine?.dispose();
    await cleanup?.();
  });

  const input = (frame: number, previous?: number, settings = SETTINGS) => frameInput({ renderDir, style }, frame, settings, 3, previous);
  const run = (i: StylizeFrameInput, attempt = 1, use = activity): Promise<FrameRecord> =>
    new MockActivityEnvironment({ attempt }, { logger: new DefaultLogger('ERROR') }).run(use.stylizeFrame, i);
  /** Forgets a frame's result, so the next run computes it again. */
  const forget = async (frame = 2) => {
    await rm(styledFile(frame));
    await rm(styledFile(frame).replace(/\.png$/, '.json'));
  };
  const FULL = SETTINGS.epochs * SETTINGS.stepsPerEpoch;
  const LATER = SETTINGS.laterEpochs! * SETTINGS.stepsPerEpoch;

  test("a chain's first frame is reached through its run-up: frames 3 and 2 rendered backwards first, then gone", async () => {
    const first = await run(input(1));
    assert.equal(first.steps, FULL + 2 * LATER, 'frame 3 from its content, frames 2 and 1 warm');
    assert.equal(existsSync(renderPaths(renderDir).chunk(0).runUp), true);
    assert.deepEqual(await readdir(renderPaths(renderDir).chunk(0).runUp), [], 'the run-up results are deleted once the frame is done');
    const runUpResult = await readFile(styledFile(1));

    await forget(1);
    const fromContent = await run(input(1, undefined, { ...SETTINGS, runUp: 0 }));
    assert.equal(fromContent.steps, FULL, 'with --run-up 0 the first frame runs every epoch from its own content');
    assert.ok(!(await readFile(styledFile(1))).equals(runUpResult), 'and is another frame');
    // Frame 1 with its run-up again, for the tests below.
    await forget(1);
    assert.equal((await run(input(1))).reused, false);
    assert.ok((await readFile(styledFile(1))).equals(runUpResult), 'the run-up gives the same frame every time');
  });

  test('an attempt that dies in the run-up resumes after the run-up frame it finished, bit for bit', async () => {
    const whole = await readFile(styledFile(1));
    await forget(1);
    // Steps count across the run-up: 1..6 frame 3, 7..8 frame 2, 9..10 frame 1. Step 8 dies before its checkpoint.
    const dying = activityWith({
      onStep(frame, attempt, step) {
        if (frame === 1 && attempt === 1 && step === FULL + LATER) throw new Error('worker lost (injected)');
      },
    });
    await assert.rejects(run(input(1), 1, dying), /worker lost/);
    assert.equal(existsSync(styledFile(1)), false);
    const resumed = await run(input(1), 2);
    assert.equal(resumed.resumedFromStep, FULL + LATER - 1, "frame 3's result and frame 2's checkpoint at its step 1 were kept");
    assert.equal(resumed.steps, FULL + 2 * LATER);
    assert.ok((await readFile(styledFile(1))).equals(whole), 'the resumed run-up ends on the same bits');
  });

  test('frame 2 starts from frame 1 warped, runs the later epochs, and its guide is gone once it is done', async () => {
    const second = await run(input(2, 1));
    assert.equal(second.steps, SETTINGS.laterEpochs! * SETTINGS.stepsPerEpoch);
    assert.equal(existsSync(guideFile()), false);
  });

  test('a guide left by an earlier attempt is used as it is: the true one gives the same bits, another one other bits', async () => {
    const computed = await readFile(styledFile(2));
    const [prevContent, content, prevStyled] = await Promise.all([
      readImage(framePath(chunk().frames, 1)),
      readImage(framePath(chunk().frames, 2)),
      readImage(styledFile(1)),
    ]);
    const guide = await temporalGuide(prevContent, content, prevStyled);
    await forget();
    await mkdir(dirname(guideFile()), { recursive: true });
    await writeFile(guideFile(), encodeGuide(guide));
    await run(input(2, 1));
    assert.ok((await readFile(styledFile(2))).equals(computed), 'the cached guide reproduces the frame bit for bit');

    await forget();
    const untrusted = { warped: content, mask: new Float32Array(guide.mask.length) };
    await writeFile(guideFile(), encodeGuide(untrusted));
    await run(input(2, 1));
    assert.ok(!(await readFile(styledFile(2))).equals(computed), 'a different cached guide gives a different frame: it was read');
  });

  test('a predecessor without a result: the frame starts a chain again, through the run-up the chunk has room for', async () => {
    await rm(styledFile(1));
    // Frame 2's warm result is on disk, but it is not what a chain's first frame makes: not reused.
    const r = await run(input(2, 1));
    assert.equal(r.reused, false);
    assert.equal(r.steps, FULL + LATER, 'frame 3 from its content, then frame 2 warm: the chunk ends at frame 3');
  });
});

/**
 * The stop rule (settings.stopTolerance, this release's coherent renders): a still scene's warm
 * frames are done at once, their steps in the sidecar and the record; a resumed frame stops at the same step.
 */
// Warm frames by L-BFGS (this release's coherent renders) and by Adam (earlier releases', absent).
for (const laterOptimizer of ['lbfgs', undefined] as const) describe(`stylizeFrame, coherent mode with the stop rule, warm frames by ${laterOptimizer ?? 'adam'} (real engine)`, () => {
  // stopOn terms: the chain start records its terms too, and the still frames still cost nothing.
  const STOPPING: StyleSettings = { ...SETTINGS, temporalWeight: 1e3, stopTolerance: 1e-3, stopOn: 'terms', laterEpochs: 2, ...(laterOptimizer && { laterOptimizer }) };
  let root: string;
  let cleanup: () => Promise<void>;
  let engine: StyleEngine;
  let renderDir: string;
  let style: string;
  const activityWith = (faults?: FaultPlan) => createStyleActivities({ engine, weightsId: 'w', faults, paths: { workRoot: join(root, 'work'), outputRoots: [] } });
  const styledFile = (frame: number) => framePath(renderPaths(renderDir).styled, frame);
  const sidecarOf = async (frame: number) => JSON.parse(await readFile(styledFile(frame).replace(/\.png$/, '.json'), 'utf8'));
  const input = (frame: number, previous?: number) => frameInput({ renderDir, style }, frame, STOPPING, 4, previous);
  const run = (i: StylizeFrameInput, attempt = 1, use = activityWith()): Promise<FrameRecord> =>
    new MockActivityEnvironment({ attempt }, { logger: new DefaultLogger('ERROR') }).run(use.stylizeFrame, i);

  before(async () => {
    // Frames 1 and 2 are the same picture; the square has moved 6 px by frame 3 and 4.
    ({ root, cleanup, engine, renderDir, style } = await coherentFixture('starry-coherent-stop', [10, 10, 16, 16].map((x) => movingSquare(48, 36, x, 10, 12).image)));
  });
  after(async () => {
    engine?.dispose();
    await cleanup?.();
  });

  test('an identical frame costs 0 steps and keeps its predecessor\'s bits; its steps are in the sidecar and the record', async () => {
    const first = await run({ ...input(1), settings: { ...STOPPING, runUp: 0 } });
    const firstSidecar = await sidecarOf(1);
    assert.equal(first.steps, SETTINGS.epochs * SETTINGS.stepsPerEpoch);
    assert.ok(firstSidecar.target > 0 && firstSidecar.target === firstSidecar.styleContentLoss, "the chain's first frame sets its target");
    // And its terms apart (stopOn terms); tv weighs 0 here, so they add up to the target (float32: 1e-5 relative is ample for one addition).
    const { style: s0, content: c0 } = firstSidecar.targetTerms;
    assert.ok(s0 > 0 && c0 > 0 && Math.abs(s0 + c0 - firstSidecar.target) <= 1e-5 * firstSidecar.target, JSON.stringify(firstSidecar.targetTerms));
    const second = await run({ ...input(2, 1), settings: { ...STOPPING, runUp: 0 } });
    assert.equal(second.steps, 0);
    assert.equal((await sidecarOf(2)).steps, 0);
    assert.equal((await sidecarOf(2)).target, firstSidecar.target, 'the target is inherited');
    assert.deepEqual((await sidecarOf(2)).targetTerms, firstSidecar.targetTerms, 'and its terms');
    assert.ok((await readFile(styledFile(2))).equals(await readFile(styledFile(1))), 'the same PNG bits');
  });

  test('a moved square is optimised (its distrusted pixels earn steps), and a resumed frame ends on the same step and bits', async () => {
    const settings = { ...STOPPING, runUp: 0 };
    const whole = await run({ ...input(3, 2), settings });
    assert.ok(whole.steps > 0, `the disoccluded pixels earn steps (got ${whole.steps})`);
    const bits = await readFile(styledFile(3));
    await rm(styledFile(3));
    await rm(styledFile(3).replace(/\.png$/, '.json'));
    const dying = activityWith({
      onStep(frame, attempt, step) {
        if (frame === 3 && attempt === 1 && step === 2) throw new Error('worker lost (injected)');
      },
    });
    await assert.rejects(run({ ...input(3, 2), settings }, 1, dying), /worker lost/);
    // The checkpoint's header line says whose state follows (checkpoint.ts).
    const header = JSON.parse((await readFile(join(renderPaths(renderDir).checkpoints, 'frame_000003.ckpt'))).toString('latin1').split('\n')[0]);
    assert.equal('lbfgs' in header, laterOptimizer === 'lbfgs', "the warm frame's checkpoint is its optimiser's");
    const resumed = await run({ ...input(3, 2), settings }, 2);
    assert.equal(resumed.resumedFromStep, 1, 'resumed from the checkpoint of step 1');
    assert.equal(resumed.steps, whole.steps);
    assert.ok((await readFile(styledFile(3))).equals(bits), 'the same bits');
  });

  test('an identical frame after one that ran to its ceiling short of the target costs 0 steps too, and keeps its bits', async () => {
    const settings = { ...STOPPING, runUp: 0 };
    // Frame 3 (the square moved) ran to its ceiling: what a repeat of it inherits.
    const third = await sidecarOf(3);
    assert.equal(third.steps, STOPPING.laterEpochs! * STOPPING.stepsPerEpoch);
    if (!laterOptimizer) {
      // A coherent render of the release before (no laterOptimizer) keeps to its rule: nothing is scored for it.
      assert.equal(third.storedLoss, undefined);
      return;
    }
    // The PNG as stored scores differently from the float image optimised (8 bits on a tiny network), and the repeat starts from the PNG.
    assert.ok(third.storedLoss > 0 && third.storedLoss !== third.styleContentLoss, JSON.stringify(third));
    const fourth = await run({ ...input(4, 3), settings });
    assert.equal(fourth.steps, 0, 'nothing to recover: it starts where frame 3 ended');
    assert.ok((await readFile(styledFile(4))).equals(await readFile(styledFile(3))), 'the same PNG bits');
    assert.equal((await sidecarOf(4)).storedLoss, third.storedLoss, 'and scores the same');
  });
});

/**
 * A scene cut (settings.sceneCut, this release's coherent renders): the frame after it starts a new
 * chain from its content, as a chunk's first frame does, where a warm start would run its whole
 * ceiling from a guide that holds nothing of the previous shot.
 */
describe('stylizeFrame, coherent mode across a scene cut (real engine)', () => {
  const CUTTING: StyleSettings = { ...SETTINGS, temporalWeight: 1e3, stopTolerance: 1e-3, laterOptimizer: 'lbfgs', laterEpochs: 2, runUp: 0, sceneCut: 0.5 };
  const FULL = CUTTING.epochs * CUTTING.stepsPerEpoch;
  let root: string;
  let cleanup: () => Promise<void>;
  let engine: StyleEngine;
  let renderDir: string;
  let style: string;
  const activity = () => createStyleActivities({ engine, weightsId: 'w', paths: { workRoot: join(root, 'work'), outputRoots: [] } });
  const styledFile = (frame: number) => framePath(renderPaths(renderDir).styled, frame);
  const guideFile = (frame: number) => join(renderPaths(renderDir).chunk(0).flow, `frame_${String(frame).padStart(6, '0')}.guide`);
  const forget = async (frame: number) => {
    await rm(styledFile(frame));
    await rm(styledFile(frame).replace(/\.png$/, '.json'));
  };
  const input = (frame: number, previous?: number, settings = CUTTING) => frameInput({ renderDir, style }, frame, settings, 3, previous);
  const run = (i: StylizeFrameInput): Promise<FrameRecord> =>
    new MockActivityEnvironment({ attempt: 1 }, { logger: new DefaultLogger('ERROR') }).run(activity().stylizeFrame, i);

  before(async () => {
    // Frames 1 and 2: one shot, the square 3 px further right; frame 3, another shot (the second's negative).
    const shot = movingSquare(48, 36, 13, 10, 12).image;
    const frames = [movingSquare(48, 36, 10, 10, 12).image, shot, { ...shot, data: shot.data.map((v) => 1 - v) }];
    ({ root, cleanup, engine, renderDir, style } = await coherentFixture('starry-coherent-cut', frames));
  });
  after(async () => {
    engine?.dispose();
    await cleanup?.();
  });

  test("within a shot a frame starts warm; after a cut it is what a chain's first frame makes: the seed's steps, the same bits, reused as one", async () => {
    assert.equal((await run(input(1))).steps, FULL);
    const warm = await run(input(2, 1));
    assert.ok(warm.steps < FULL, `frame 2 started warm (${warm.steps} steps)`);

    const cut = await run(input(3, 2));
    assert.equal(cut.steps, FULL, 'the frame after the cut ran from its content');
    assert.equal(existsSync(guideFile(3)), false, "the cut's guide is not kept");
    const bits = await readFile(styledFile(3));
    // Its fingerprint is a chain start's: the frame asked for without a predecessor is this result.
    assert.equal((await run(input(3))).reused, true);
    await forget(3);
    await run(input(3));
    assert.deepEqual(await readFile(styledFile(3)), bits, 'a chain start from the same content gives the same bits');

    // Without the rule (a render of an earlier release) the same frame starts warm from the other shot's guide.
    await forget(3);
    const across = await run(input(3, 2, { ...CUTTING, sceneCut: undefined }));
    assert.ok(across.steps < FULL, `across the cut warm (${across.steps} steps)`);
    assert.notDeepEqual(await readFile(styledFile(3)), bits);
  });
});
