/**
 * The option table is the one definition of every render option: its flags, --help, README's table,
 * the checks and the settings object all come from it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { program } from '../../src/client/cli';
import { RENDER_OPTIONS } from '../../src/client/setup/option-table';
import { flagAttribute, longFlag, optionsMarkdown, requestParts, optionValues } from '../../src/client/setup/render-option-values';
import { parseSettings, type RenderFlags } from '../../src/client/setup/render-options';
import { withOptionsTable } from '../../src/client/setup/readme-options';
import { DEFAULT_SETTINGS } from '../../src/engine/settings';
import { REPO } from '../helpers/processes';

const refused = (flags: RenderFlags, message: string) =>
  assert.throws(() => parseSettings(flags), (e: Error) => e.name === 'UsageError' && e.message === message, message);

test("README's table of render options is the one the table makes (npm run readme-options)", () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  assert.equal(readme, withOptionsTable(readme, optionsMarkdown()));
});

test('start-render, preview and every command that finds a render take each option of the table, as the table says', () => {
  for (const name of ['start-render', 'preview', 'status', 'set-epochs', 'pause', 'resume', 'cancel', 'retry-failed', 'skip-failed']) {
    const command = program.commands.find((c) => c.name() === name)!;
    for (const o of RENDER_OPTIONS) {
      const option = command.options.find((c) => c.long === longFlag(o));
      assert.ok(option, `${name} ${longFlag(o)}`);
      assert.equal(option.attributeName(), flagAttribute(o), `${name} ${longFlag(o)}`);
      assert.equal(option.defaultValue, o.showDefault ? String(o.default) : undefined, `${name} ${longFlag(o)}`);
      assert.deepEqual(option.argChoices, o.choices ? [...o.choices] : undefined);
    }
  }
});

test('the table is well formed: one entry per key and flag, identity only for settings, defaults that pass their own checks', () => {
  assert.equal(new Set(RENDER_OPTIONS.map((o) => o.key)).size, RENDER_OPTIONS.length);
  assert.equal(new Set(RENDER_OPTIONS.map(longFlag)).size, RENDER_OPTIONS.length);
  for (const o of RENDER_OPTIONS) assert.equal(o.identity !== undefined, o.into === 'settings', o.key);
  assert.deepEqual(optionValues({ init: 'prev-warped' }, 1).problems, []);
});

test("only options older than the table are in every id at their default: a new option must be 'unless-default'", () => {
  const always = RENDER_OPTIONS.filter((o) => o.identity === 'always').map((o) => o.key);
  // stopTolerance: in every coherent render of its release, to mark the stop rule and the relative temporal weight;
  // laterOptimizer: in every coherent render of its release, because earlier ones (without it) ran warm frames with --optimizer (option-table.ts);
  // sceneCut: likewise, because earlier ones (without it) ran warm across a scene cut.
  assert.deepEqual(always, ['stepsPerEpoch', 'styleWeight', 'contentWeight', 'tvWeight', 'learningRate', 'size', 'temporalWeight', 'laterEpochs', 'laterOptimizer', 'sceneCut', 'stopTolerance']);
});

test('at their defaults the options leave the settings exactly the fields they always were', () => {
  const { values } = optionValues({}, 1);
  assert.deepEqual(requestParts(values).settings, { ...DEFAULT_SETTINGS });
  const given = Object.fromEntries(RENDER_OPTIONS.filter((o) => o.showDefault).map((o) => [flagAttribute(o), String(o.default)]));
  assert.deepEqual(parseSettings(given).settings, { ...DEFAULT_SETTINGS }, 'given at their defaults, as commander passes them');
});

test('every problem is reported at once, each naming its flag', () => {
  refused({ epochs: 'many', window: '0', size: '8' }, [
    '--epochs must be a number (got "many")',
    '--size must be a whole number of pixels from 16 to 4096 (got 8)',
    '--window must be a whole number of at least 1 (got 0)',
  ].join('\n'));
  refused({ engine: 'gpu' }, '--engine must be one of vgg19, copy (got gpu)');
  refused({ init: 'prev-warped', chunkFrames: '4', overlap: '4' }, '--overlap must be less than --chunk-frames (got 4 and 4)');
  refused({ init: 'prev-warped', openChunks: '1' }, '--open-chunks must be a whole number of at least 2 (got 1)');
  refused({ window: '2001' }, '--window must be at most 2000 (Temporal caps pending activities per run)');
});

test('the coherent mode\'s options without it: one message naming them all, from the table', () => {
  refused({ laterEpochs: '2' }, '--temporal-weight, --later-epochs, --later-optimizer, --run-up, --scene-cut, --stop-tolerance and --stop-on apply to --init prev-warped only; add --init prev-warped or leave them out');
  refused({ init: 'content', temporalWeight: '1' }, '--temporal-weight, --later-epochs, --later-optimizer, --run-up, --scene-cut, --stop-tolerance and --stop-on apply to --init prev-warped only; add --init prev-warped or leave them out');
});

test('--style-blend-weights: one positive number per --style', () => {
  refused({ style: ['a', 'b', 'c'], styleBlendWeights: '1,2' }, '--style-blend-weights has 2 weights but 3 style images were given; give one weight per --style');
  refused({ style: 'a', styleBlendWeights: '1,2' }, '--style-blend-weights has 2 weights but 1 style image was given; give one weight per --style');
  for (const weights of ['1,0', '1,-2']) {
    assert.throws(
      () => parseSettings({ style: ['a', 'b'], styleBlendWeights: weights }),
      /^UsageError: --style-blend-weights must be numbers above 0, one per --style, e\.g\. 3,7 \(got /,
      weights,
    );
  }
});

test('--style-scale: above 0 and at most 4, and large enough for VGG19 at this --size', () => {
  for (const scale of ['0', '-1', '4.5']) refused({ styleScale: scale }, `--style-scale must be a number above 0 and at most 4 (got ${Number(scale)})`);
  assert.equal(parseSettings({ styleScale: '4' }).settings.styleScale, 4, 'the top of the range is allowed');
  refused(
    { size: '64', styleScale: '0.125' },
    '--style-scale 0.125 makes the style image 8 px on its long side at --size 64, but VGG19 layers down to block5_conv1 need at least 16; raise --style-scale or --size',
  );
});
