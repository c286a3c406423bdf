/**
 * The neural-style flags on the way into a render request: absent at their defaults (so earlier
 * renders keep their ids), normalised, and every style file part of the render's identity.
 */
import assert from 'node:assert/strict';
import { realpathSync, statSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildRenderRequest, parseSettings } from '../../src/client/setup/render-options';
import { fileSha256, sha256 } from '../../src/common/hash';
import { DEFAULT_RELATIVE_TEMPORAL_WEIGHT, DEFAULT_RUN_UP, DEFAULT_SCENE_CUT, DEFAULT_SETTINGS, DEFAULT_STOP_TOLERANCE } from '../../src/engine/settings';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';

test('without the new flags the settings are exactly the fields they always were', () => {
  const { settings } = parseSettings({});
  assert.deepEqual(settings, { ...DEFAULT_SETTINGS });
  assert.deepEqual(parseSettings({ styleScale: '1', styleBlendWeights: '4' }).settings, settings, 'given at their defaults, still absent');
});

test('the new flags land in the settings, weights normalised', () => {
  const { settings } = parseSettings({ style: ['a.jpg', 'b.jpg'], styleBlendWeights: '3, 7', styleScale: '0.5', originalColors: true });
  assert.deepEqual(settings.styleBlendWeights, [0.3, 0.7]);
  assert.equal(settings.styleScale, 0.5);
  assert.equal(settings.originalColors, true);
  assert.equal(parseSettings({ style: ['a.jpg', 'b.jpg'], styleBlendWeights: '1,1' }).settings.styleBlendWeights, undefined, 'equal is the default');
});

test('prev-warped: the temporal weight is relative (one default at every size) unless given, the stop rule is on, and --later-epochs defaults to a third', () => {
  const coherent = (flags: Parameters<typeof parseSettings>[0]) => parseSettings({ init: 'prev-warped', ...flags }).settings;
  assert.equal(coherent({ size: '96' }).temporalWeight, DEFAULT_RELATIVE_TEMPORAL_WEIGHT);
  assert.equal(coherent({}).temporalWeight, DEFAULT_RELATIVE_TEMPORAL_WEIGHT, 'the size enters where it is applied (temporalWeightFor)');
  assert.equal(coherent({ size: '192', temporalWeight: '1e5' }).temporalWeight, 1e5, 'given, it is taken as given');
  assert.equal(coherent({}).stopTolerance, DEFAULT_STOP_TOLERANCE);
  assert.equal(coherent({ epochs: '5' }).laterEpochs, 2);
  assert.equal(parseSettings({ size: '192' }).settings.temporalWeight, undefined, 'content init carries no temporal weight');
  assert.equal(parseSettings({ size: '192' }).settings.stopTolerance, undefined, 'nor a stop rule');
});

test('--run-up: absent at its default (ids of earlier coherent renders stay), prev-warped only, a whole number from 0', () => {
  const coherent = (flags: Parameters<typeof parseSettings>[0]) => parseSettings({ init: 'prev-warped', ...flags }).settings;
  assert.equal('runUp' in coherent({}), false);
  assert.equal('runUp' in coherent({ runUp: String(DEFAULT_RUN_UP) }), false);
  assert.equal(coherent({ runUp: '0' }).runUp, 0);
  assert.equal(coherent({ runUp: '5' }).runUp, 5);
  const refused = (flags: Parameters<typeof parseSettings>[0], message: RegExp) =>
    assert.throws(() => parseSettings(flags), (e: Error) => e.name === 'UsageError' && message.test(e.message));
  refused({ runUp: '2' }, /--temporal-weight, --later-epochs, --later-optimizer, --run-up, --scene-cut, --stop-tolerance and --stop-on apply to --init prev-warped only; add --init prev-warped or leave them out/);
  refused({ init: 'prev-warped', runUp: '1.5' }, /--run-up must be a whole number of frames from 0 \(got 1\.5\)/);
  refused({ init: 'prev-warped', runUp: '-1' }, /--run-up must be a whole number of frames from 0 \(got -1\)/);
});

test('--scene-cut: in every coherent render at its default too (earlier ones ran warm across a cut), prev-warped only, a share from 0 to 1', () => {
  const coherent = (flags: Parameters<typeof parseSettings>[0]) => parseSettings({ init: 'prev-warped', ...flags }).settings;
  assert.equal(coherent({}).sceneCut, DEFAULT_SCENE_CUT);
  assert.equal(coherent({ sceneCut: '0' }).sceneCut, 0);
  assert.equal(coherent({ sceneCut: '0.25' }).sceneCut, 0.25);
  assert.equal('sceneCut' in parseSettings({}).settings, false, 'content init has no chain to cut');
  const refused = (flags: Parameters<typeof parseSettings>[0], message: RegExp) =>
    assert.throws(() => parseSettings(flags), (e: Error) => e.name === 'UsageError' && message.test(e.message));
  refused({ sceneCut: '0.5' }, /--scene-cut, --stop-tolerance and --stop-on apply to --init prev-warped only/);
  refused({ init: 'prev-warped', sceneCut: '1.5' }, /--scene-cut must be a share from 0 to 1 \(got 1\.5\)/);
  refused({ init: 'prev-warped', sceneCut: '-0.1' }, /--scene-cut must be a share from 0 to 1 \(got -0\.1\)/);
});

test('bad weights and scales are usage errors naming the flag', () => {
  const refused = (flags: Parameters<typeof parseSettings>[0], message: RegExp) =>
    assert.throws(() => parseSettings(flags), (e: Error) => e.name === 'UsageError' && message.test(e.message));
  refused({ style: ['a', 'b'], styleBlendWeights: '3,x' }, /^--style-blend-weights must be comma-separated numbers above 0, one per --style, e\.g\. 3,7 \(got "3,x"\)$/);
  refused({ style: ['a', 'b'], styleBlendWeights: '3,,7' }, /--style-blend-weights must be comma-separated numbers/);
  refused({ style: ['a', 'b'], styleBlendWeights: '3' }, /^--style-blend-weights has 1 weight but 2 style images were given; give one weight per --style$/);
  refused({ style: ['a', 'b'], styleBlendWeights: '0,0' }, /^--style-blend-weights must be numbers above 0/);
  refused({ style: 'a', styleScale: '5' }, /^--style-scale must be a number above 0 and at most 4 \(got 5\)$/);
  refused({ style: 'a', styleScale: 'big' }, /^--style-scale must be a number \(got "big"\)$/);
});

describe('render requests with several styles', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let files: { input: string; output: string; a: string; b: string; c: string };

  before(async () => {
    ({ dir, cleanup } = await tempDir('starry-style-flags'));
    files = {
      input: await makeClip({ path: join(dir, 'clip.mp4'), width: 32, height: 32, rate: '25', frames: 2 }),
      output: join(dir, 'out.mp4'),
      a: await makeStyleImage(join(dir, 'a.png'), 32, 32),
      b: await makeStyleImage(join(dir, 'b.png'), 40, 24),
      c: join(dir, 'c.png'),
    };
  });
  after(() => cleanup?.());

  test('one --style makes the request it always made; several add `styles`, the first staying `style`', async () => {
    const single = await buildRenderRequest({ input: files.input, style: files.a, output: files.output });
    assert.equal(single.style, files.a);
    assert.equal('styles' in single, false);
    // The identity as releases before these flags wrote it: a one-style render keeps its id.
    const { epochs: _epochs, ...settings } = single.settings;
    const stat = statSync(files.input);
    const identity = JSON.stringify({
      input: [realpathSync(files.input), stat.size, stat.mtimeMs],
      style: await fileSha256(files.a),
      settings,
      output: files.output,
    });
    assert.equal(single.renderId, `clip-${sha256(identity).slice(0, 10)}`);

    const blend = await buildRenderRequest({ input: files.input, style: [files.a, files.b], output: files.output });
    assert.equal(blend.style, files.a);
    assert.deepEqual(blend.styles, [files.a, files.b]);
    assert.notEqual(blend.renderId, single.renderId);
  });

  test("the id of a blend follows every style's content and the weights", async () => {
    const flags = { input: files.input, output: files.output };
    await copyFile(files.b, files.c);
    const withB = await buildRenderRequest({ ...flags, style: [files.a, files.b] });
    const withCopyOfB = await buildRenderRequest({ ...flags, style: [files.a, files.c] });
    assert.equal(withCopyOfB.renderId, withB.renderId, 'the same images under another name: the same render');
    await makeStyleImage(files.c, 24, 40);
    const withOther = await buildRenderRequest({ ...flags, style: [files.a, files.c] });
    assert.notEqual(withOther.renderId, withB.renderId, 'another second style: another render');
    const weighted = await buildRenderRequest({ ...flags, style: [files.a, files.b], styleBlendWeights: '3,7' });
    assert.notEqual(weighted.renderId, withB.renderId);
  });
});

test('--optimizer: absent for adam (ids of earlier renders stay), lbfgs in the settings, anything else refused', () => {
  assert.equal(parseSettings({ optimizer: 'adam' }).settings.optimizer, undefined);
  assert.deepEqual(parseSettings({ optimizer: 'adam' }).settings, parseSettings({}).settings);
  assert.equal(parseSettings({ optimizer: 'lbfgs' }).settings.optimizer, 'lbfgs');
  assert.throws(
    () => parseSettings({ optimizer: 'sgd' }),
    (e: Error) => e.name === 'UsageError' && /^--optimizer must be one of adam, lbfgs \(got sgd\)$/.test(e.message),
  );
});
