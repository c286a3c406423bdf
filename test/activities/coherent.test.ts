/**
 * The stylize activity in the coherent mode (`--init prev-warped`), on the real engine (narrow
 * generated VGG19, cpu backend): a frame starts from its predecessor's warped result with the later
 * epochs, its temporal guide is read back from disk on a retry exactly as computed, it is deleted
 * once the frame is done, and a frame whose predecessor has no result starts from its content.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createStyleActivities } from '../../src/activities/style';
import { renderPaths } from '../../src/common/render-paths';
import { StyleEngine } from '../../src/engine/engine';
import { encodeGuide, temporalGuide } from '../../src/engine/flow';
import { DEFAULT_SETTINGS, type StyleSettings } from '../../src/engine/settings';
import { framePath, readImage, writePng } from '../../src/media';
import type { FrameRecord, StylizeFrameInput } from '../../src/workflows/contract';
import { tempDir } from '../helpers/media-fixtures';
import { movingSquare } from '../helpers/moving-scenes';
import { writeVggH5 } from '../helpers/tiny-vgg';

const SETTINGS: StyleSettings = { ...DEFAULT_SETTINGS, size: 48, epochs: 3, stepsPerEpoch: 2, init: 'prev-warped', temporalWeight: 1e4, laterEpochs: 1 };

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
    ({ dir: root, cleanup } = await tempDir('starry-coherent'));
    const weights = join(root, 'vgg.h5');
    await writeVggH5(weights);
    engine = await StyleEngine.create({ weightsPath: weights, backend: 'cpu', warmUp: false });
    renderDir = join(root, 'work', 'renders', 'r');
    await mkdir(chunk().frames, { recursive: true });
    await mkdir(renderPaths(renderDir).styled, { recursive: true });
    // Frame 2 is frame 1 with the square moved 3 px right.
    await writePng(framePath(chunk().frames, 1), movingSquare(48, 36, 10, 10, 12).image);
    await writePng(framePath(chunk().frames, 2), movingSquare(48, 36, 13, 10, 12).image);
    style = join(root, 'style.png');
    await writePng(style, movingSquare(40, 40, 5, 5, 20).image);
    activity = createStyleActivities({ engine, weightsId: 'w', paths: { workRoot: join(root, 'work'), outputRoots: [] } });
  });
  after(async () => {
    engine?.dispose();
    await cleanup?.();
  });

  const input = (frame: number, previous?: number): StylizeFrameInput => ({
    renderDir,
    style,
    frame,
    frameCount: 2,
    settings: SETTINGS,
    chunk: 0,
    ...(previous !== undefined && { previous: { frame: previous, lead: false } }),
  });
  const run = (i: StylizeFrameInput): Promise<FrameRecord> =>
    new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(activity.stylizeFrame, i);
  /** Forgets frame 2's result, so the next run computes it again. */
  const forget = async () => {
    await rm(styledFile(2));
    await rm(styledFile(2).replace(/\.png$/, '.json'));
  };

  test('frame 2 starts from frame 1 warped, runs the later epochs, and its guide is gone once it is done', async () => {
    const first = await run(input(1));
    assert.equal(first.steps, SETTINGS.epochs * SETTINGS.stepsPerEpoch, 'the first frame of a chain runs every epoch');
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

  test('a predecessor without a result: the frame starts from its content with every epoch', async () => {
    await rm(styledFile(1));
    // Frame 2's warm result is on disk, but it is not what a start from the content makes: not reused.
    const r = await run(input(2, 1));
    assert.equal(r.reused, false);
    assert.equal(r.steps, SETTINGS.epochs * SETTINGS.stepsPerEpoch);
  });
});
