/**
 * Workers trust no path: anyone who can start a workflow chooses the activities' inputs, so every
 * path a worker writes or deletes is checked against its own work root and output roots first.
 * Crafted inputs, straight to the activities (no server), must fail non-retryably and touch nothing.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createMediaActivities, type JoinInput } from '../../src/activities/chunks';
import { checkOutput, checkRenderDir, type PathPolicy } from '../../src/activities/paths';
import { COPY_BACKEND, createStyleActivities } from '../../src/activities/style';
import type { StyleEngine } from '../../src/engine/engine';
import { DEFAULT_SETTINGS } from '../../src/engine/settings';
import { framePath, writePng } from '../../src/media';
import { FAILURE_TYPES, type StylizeFrameInput } from '../../src/workflows/contract';
import { makeClip, tempDir } from '../helpers/media-fixtures';

const run = <A, R>(fn: (a: A) => Promise<R>, input: A): Promise<R> =>
  new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') }).run(fn, input) as Promise<R>;

/** Resolves to the failure; fails the test if the activity went ahead. */
const refused = (work: Promise<unknown>) => work.then(() => assert.fail('the activity should refuse the path'), (e: unknown) => e);

function assertNotAllowed(err: unknown, pattern: RegExp) {
  assert.ok(err instanceof ApplicationFailure, String(err));
  assert.equal(err.type, FAILURE_TYPES.pathNotAllowed);
  assert.equal(err.nonRetryable, true, 'never retried: the input will not change');
  assert.match(err.message, pattern);
}

describe('workers write only inside their work root and output roots', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let policy: PathPolicy;
  let clip: string;
  let style: string;
  let outside: string;

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-paths'));
    policy = { workRoot: join(root, 'work'), outputRoots: [join(root, 'out')] };
    outside = join(root, 'elsewhere');
    await mkdir(join(root, 'work', 'renders'), { recursive: true });
    await mkdir(outside);
    // A link inside the work root to a directory outside it.
    await symlink(outside, join(root, 'work', 'renders', 'link'));
    clip = await makeClip({ path: join(root, 'clip.mp4'), width: 32, height: 24, rate: '25', frames: 2 });
    style = join(root, 'style.png');
    await writePng(style, { width: 8, height: 8, data: new Float32Array(8 * 8 * 3).fill(0.5) });
  });
  after(() => cleanup?.());

  const badRenderDirs = () => [
    ['/etc', /render directory "\/etc" is not allowed .* inside the worker's work root/],
    [join(root, 'work', 'renders', '..', '..', 'elsewhere'), /is not allowed/],
    [join(root, 'work'), /is not allowed/],
    ['renders/relative', /must be an absolute path/],
    [join(root, 'work', 'renders', 'link', 'x'), /is not allowed/],
  ] as const;

  test('indexVideo and extractChunk refuse a render directory outside the work root, however it is spelt, and write nothing', async () => {
    const { indexVideo, extractChunk } = createMediaActivities(policy);
    for (const [renderDir, pattern] of badRenderDirs()) {
      assertNotAllowed(await refused(run(indexVideo, { input: clip, renderDir, size: 32, framesPerChunk: 10 })), pattern);
      assertNotAllowed(await refused(run(extractChunk, { input: clip, renderDir, chunk: 0, first: 1, last: 2, width: 32, height: 24 })), pattern);
    }
    assert.deepEqual(await readdir(outside), [], 'nothing was written through the link');
  });

  test('joinChunks refuses a render directory or an output outside what the operator allows', async () => {
    const { joinChunks } = createMediaActivities(policy);
    const renderDir = join(root, 'work', 'renders', 'ok');
    const split = { frameCount: 1, frameRate: { num: 25, den: 1 }, width: 32, height: 24, hasAudio: false, durationSeconds: 0.04 };
    const assemble = (over: Partial<JoinInput>) => refused(run(joinChunks, { renderDir, input: clip, output: join(root, 'out', 'x.mp4'), split, chunks: 1, ...over }));
    // The worker's setting by its key; the command line shows it as --output-root (flags-below-client.test.ts).
    assertNotAllowed(await assemble({ output: '/tmp/../etc/x.mp4' }), /output "\/tmp\/\.\.\/etc\/x\.mp4" is not allowed .* outputs must lie inside .* \(\{outputRoot\}, STARRY_OUTPUT_ROOT\)$/);
    assertNotAllowed(await assemble({ output: join(root, 'out', '..', 'elsewhere', 'x.mp4') }), /is not allowed/);
    assertNotAllowed(await assemble({ output: 'x.mp4' }), /must be an absolute path/);
    assertNotAllowed(await assemble({ renderDir: '/etc' }), /render directory "\/etc"/);
    assert.equal(existsSync(renderDir), false, 'nothing was made before the check');
    assert.deepEqual(await readdir(outside), []);
  });

  test('stylizeFrame refuses a render directory outside the work root and a frame that is not a frame number', async () => {
    const engine = { backend: { name: 'fake' } } as unknown as StyleEngine;
    for (const activities of [createStyleActivities({ engine, weightsId: 'w', paths: policy }), createStyleActivities({ paths: policy })]) {
      const input: StylizeFrameInput = { renderDir: '/etc', style, frame: 1, frameCount: 1, settings: { ...DEFAULT_SETTINGS } };
      for (const [renderDir, pattern] of badRenderDirs()) {
        assertNotAllowed(await refused(run(activities.stylizeFrame, { ...input, renderDir })), pattern);
        assertNotAllowed(await refused(run(activities.stylizeFrame, { ...input, renderDir, settings: { ...DEFAULT_SETTINGS, engine: 'copy' } })), pattern);
      }
      const renderDir = join(root, 'work', 'renders', 'ok');
      assertNotAllowed(await refused(run(activities.stylizeFrame, { ...input, renderDir, frame: -1 })), /frame -1 is not allowed/);
      assertNotAllowed(await refused(run(activities.stylizeFrame, { ...input, renderDir, frame: 1.5 })), /frame 1\.5 is not allowed/);
    }
    assert.deepEqual(await readdir(outside), []);
  });

  test('paths inside the roots are accepted as given, resolved', () => {
    assert.equal(checkRenderDir(policy, join(root, 'work', 'renders', 'a', '..', 'b')), join(root, 'work', 'renders', 'b'));
    assert.equal(checkOutput(policy, join(root, 'out', 'sub', 'x.mp4')), join(root, 'out', 'sub', 'x.mp4'));
    assert.equal(checkOutput(policy, join(root, 'work', 'x.mp4')), join(root, 'work', 'x.mp4'), 'the work root takes outputs too');
  });

  test('the copy engine passes a frame through, marked not stylized, and reuses it only for the same settings', async () => {
    const { stylizeFrame } = createStyleActivities({ paths: policy });
    const renderDir = join(root, 'work', 'renders', 'copy');
    await mkdir(join(renderDir, 'frames'), { recursive: true });
    await writePng(framePath(join(renderDir, 'frames'), 1), { width: 4, height: 4, data: new Float32Array(4 * 4 * 3).fill(0.25) });
    const input: StylizeFrameInput = { renderDir, style, frame: 1, frameCount: 1, settings: { ...DEFAULT_SETTINGS, engine: 'copy' } };
    const first = await run(stylizeFrame, input);
    assert.equal(first.backend, COPY_BACKEND);
    assert.equal(first.reused, false);
    assert.equal(first.steps, 0);
    const styled = framePath(join(renderDir, 'styled'), 1);
    assert.deepEqual(readFileSync(styled), readFileSync(framePath(join(renderDir, 'frames'), 1)), 'the frame, unchanged');
    const sidecar = JSON.parse(readFileSync(styled.replace(/\.png$/, '.json'), 'utf8'));
    assert.equal(sidecar.stylized, false);
    assert.equal((await run(stylizeFrame, input)).reused, true);
    // A vgg19 frame with otherwise equal settings does not take the copied frame as its own: it computes.
    const engine = {
      backend: { name: 'fake' },
      styleTargets: async () => ({}),
      stylize: async () => {
        throw new Error('would compute the frame');
      },
    } as unknown as StyleEngine;
    const vgg = createStyleActivities({ engine, weightsId: 'w', paths: policy });
    const err = await refused(run(vgg.stylizeFrame, { ...input, settings: { ...DEFAULT_SETTINGS, size: 4 } }));
    assert.match(String(err), /would compute the frame/);
    // And a copy-only worker refuses a frame that needs the style transfer.
    const copyOnly = await refused(run(stylizeFrame, { ...input, settings: { ...DEFAULT_SETTINGS } }));
    assert.ok(copyOnly instanceof ApplicationFailure && copyOnly.type === FAILURE_TYPES.invalidSettings, String(copyOnly));
  });
});
