/** The index activity refuses a --size whose frames VGG19 cannot take, before decoding a single frame. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { frameSizeFor } from '../../src/engine/frame-size';
import { createMediaActivities } from '../../src/activities/chunks';
import { DEFAULT_SETTINGS } from '../../src/engine/settings';
import { makeClip, tempDir } from '../helpers/media-fixtures';

const LAYERS = [...DEFAULT_SETTINGS.contentLayers, ...DEFAULT_SETTINGS.styleLayers];

test('frame size check: names the frame, the minimum and the size that works', () => {
  assert.deepEqual(frameSizeFor(64, 48, 20, LAYERS), { frame: { width: 20, height: 16 } });
  const { frame, problem } = frameSizeFor(640, 480, 16, LAYERS);
  assert.deepEqual(frame, { width: 16, height: 12 });
  assert.equal(problem?.key, 'size');
  assert.equal(
    problem?.message,
    '{size} 16 makes 16×12 frames of this 640×480 video, but VGG19 down to block5_conv2 needs at least 16 pixels on each side; use {size} 20 or more',
  );
  // Shallower layers need less: block3_conv1 comes after two pools.
  assert.equal(frameSizeFor(640, 480, 16, ['block3_conv1']).problem, undefined);
  assert.match(frameSizeFor(4000, 10, 512, LAYERS).problem!.message, /too narrow for any \{size\}/);
});

describe('indexVideo', () => {
  let dir = '';
  let cleanup = async () => {};
  before(async () => {
    ({ dir, cleanup } = await tempDir('split-test'));
    await makeClip({ path: join(dir, 'wide.mp4'), width: 64, height: 48, rate: '25', frames: 2 });
  });
  after(() => cleanup());

  test('fails non-retryably on a size VGG19 cannot take, and writes nothing', async () => {
    const renderDir = join(dir, 'render');
    await assert.rejects(
      createMediaActivities({ workRoot: dir, outputRoots: [] }).indexVideo({ input: join(dir, 'wide.mp4'), renderDir, size: 16, layers: LAYERS, framesPerChunk: 10 }),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.nonRetryable &&
        err.type === 'InvalidSettingsError' &&
        /^\{size\} 16 makes 16×12 frames .* at least 16 pixels .* use \{size\} 20 or more$/.test(err.message),
    );
    assert.equal(existsSync(renderDir), false);
  });
});
