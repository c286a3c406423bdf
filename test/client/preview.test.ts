/**
 * `preview` stylizes a few frames with the render's settings into the render's own directory and
 * writes a contact sheet; `start-render` with the same flags then reuses those frames instead of
 * computing them again. Real CLI, real ffmpeg, real dev server.
 */
import assert from 'node:assert/strict';
import { renderPaths } from '../../src/common/render-paths';
import { statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { sheetLayout } from '../../src/client/report/contact-sheet';
import { describePreview, projectRenderSeconds } from '../../src/client/commands/preview';
import { buildRenderRequest } from '../../src/client/setup/render-options';
import { DEFAULT_SETTINGS } from '../../src/engine/settings';
import { framePath } from '../../src/media';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { tinyWeights } from '../helpers/render-env';
import { readStyled } from '../helpers/steering';
import { runCli } from '../helpers/processes';


const cli = runCli;

test("a coherent render's projection is a bound: warm frames stop early, the projection counts their ceiling", () => {
  const outcome = { sheet: 's.png', frames: [1], frameCount: 10, renderId: 'r', renderDir: 'd', secondsPerFrame: 2, projectedSeconds: 60, workers: 1, reused: 0, backend: 'node' };
  const whole = (coherent: boolean) => describePreview({ ...outcome, coherent }).find((l) => l.includes('the whole video'))!;
  assert.match(whole(true), /the whole video: at most 1m00s for its 10 frames .*stops once it is back at the chain.s loss/);
  assert.match(whole(false), /the whole video: about /);
});

test('the projection: independent frames share the workers; coherent ones run again in order, chains in parallel', () => {
  const chunks = { frames: 300, open: 3, overlap: 4, keepFrames: false };
  const content = { ...DEFAULT_SETTINGS };
  const coherent = { ...DEFAULT_SETTINGS, init: 'prev-warped' as const, laterEpochs: 2 };
  // Independent: the 597 other frames, 10 s each, over 2 workers.
  assert.equal(projectRenderSeconds(10, { frameCount: 600, previewed: 3, workers: 2, settings: content, chunks }), 2985);
  // Coherent, 600 frames in two chunks: chunk 1's chain is 300 frames, chunk 2's 304 with its lead-in;
  // each chain's first frame every epoch (1), its run-up of 3 and its other frames 2/5 of one.
  const chains = 1 + 3 * 0.4 + 299 * 0.4 + (1 + 3 * 0.4 + 303 * 0.4);
  assert.ok(Math.abs(projectRenderSeconds(10, { frameCount: 600, previewed: 3, workers: 2, settings: coherent, chunks }) - (chains * 10) / 2) < 1e-9);
  assert.ok(Math.abs(projectRenderSeconds(10, { frameCount: 600, previewed: 3, workers: 8, settings: coherent, chunks }) - (chains * 10) / 2) < 1e-9, 'two chains: two workers at a time');
  // One chunk: one chain, whatever the workers; a chunk of 2 frames has room for a run-up of 1.
  assert.ok(Math.abs(projectRenderSeconds(10, { frameCount: 2, previewed: 1, workers: 4, settings: coherent, chunks }) - (1 + 0.4 + 0.4) * 10) < 1e-9);
  assert.ok(Math.abs(projectRenderSeconds(10, { frameCount: 2, previewed: 1, workers: 4, settings: { ...coherent, runUp: 0 }, chunks }) - (1 + 0.4) * 10) < 1e-9);
});

describe('preview (real processes)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let files: string[];
  let flags: string[];
  let env: NodeJS.ProcessEnv;
  let workDir: string;
  let input: string;
  let style: string;
  let output: string;
  const settings = { epochs: '1', stepsPerEpoch: '3', size: '32' };

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-preview'));
    const weights = await tinyWeights(root);
    style = await makeStyleImage(join(root, 'style.png'), 40, 32);
    input = await makeClip({ path: join(root, 'clip.mp4'), width: 32, height: 24, rate: '25', frames: 7, audio: true });
    output = join(root, 'out.mp4');
    workDir = join(root, 'work');
    files = ['-i', input, '-s', style, '-o', output];
    flags = ['--weights', weights, '--backend', 'wasm', '--epochs', settings.epochs, '--steps-per-epoch', settings.stepsPerEpoch, '--size', settings.size, '--local-workers', '1'];
    env = { STARRY_WORK_DIR: workDir };
  });
  after(() => cleanup?.());

  test('bad --frames: one line, exit 2', { timeout: 240_000 }, async () => {
    const syntax = await cli(['preview', ...files, ...flags, '--frames', '1,x'], env);
    assert.equal(syntax.code, 2);
    assert.equal(syntax.stderr.trim(), 'error: --frames takes frame numbers from 1, separated by commas, e.g. --frames 1,120,240 (got "1,x")');
    const range = await cli(['preview', ...files, ...flags, '--frames', '2,99'], env);
    assert.equal(range.code, 2);
    assert.match(range.stderr.trim().split('\n').at(-1)!, /^error: --frames 99: the video has 7 frames \(1–7\)$/);
  });

  test('first, middle and last: a contact sheet, the time per frame and the projection; the render reuses those frames', { timeout: 240_000 }, async () => {
    const p = await cli(['preview', ...files, ...flags], env);
    assert.equal(p.code, 0, p.stderr);
    const sheet = join(root, 'out.preview.png');
    assert.match(p.stdout, new RegExp(`^preview: ${sheet.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(p.stdout, /frames 1, 4, 7 of 7: the original above, stylized below/);
    assert.match(p.stdout, /\d+\.\d\d s per frame on this machine \(wasm backend\)/);
    assert.match(p.stdout, /the whole video: about \S+ for the other 4 frames with 1 style worker/);

    // The sheet: three columns, each the original frame above its stylized image.
    const { renderDir, renderId } = await buildRenderRequest({ input, style, output, workDir, ...settings });
    const layout = sheetLayout(3, 32, 24);
    const meta = await sharp(sheet).metadata();
    assert.deepEqual([meta.width, meta.height], [layout.width, layout.height]);
    for (const [i, frame] of [1, 4, 7].entries()) {
      const { left, top } = layout.origin(i);
      const tile = (y: number) => sharp(sheet).extract({ left, top: y, width: 32, height: 24 }).removeAlpha().raw().toBuffer();
      const raw = (file: string) => sharp(file).removeAlpha().raw().toBuffer();
      // Only the chunk holding each frame was extracted (one 300-frame chunk here).
      assert.ok((await tile(top)).equals(await raw(framePath(renderPaths(renderDir).chunk(0).frames, frame))), `frame ${frame}'s original`);
      assert.ok((await tile(top + 24 + 8)).equals(await raw(framePath(join(renderDir, 'styled'), frame))), `frame ${frame} stylized`);
    }

    const previewed = (await readStyled(renderDir)).pngs;
    assert.deepEqual(previewed, [1, 4, 7]);
    const mtimes = previewed.map((f) => statSync(framePath(join(renderDir, 'styled'), f)).mtimeMs);

    // The render with the same flags: those three frames are reused, not computed again (and kept, to check).
    const r = await cli(['start-render', ...files, ...flags, '--keep-frames'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Wrote .*out\.mp4\n {2}7 frames at 25\/1 fps/);
    assert.match(r.stdout, /\(3 frames reused from earlier work\)/);
    assert.ok(r.stdout.includes(`work files: ${renderDir}\n`), 'the work directory is the one the preview filled');
    assert.equal(basename(renderDir), renderId, 'and it is named by the render id');
    assert.deepEqual(
      previewed.map((f) => statSync(framePath(join(renderDir, 'styled'), f)).mtimeMs),
      mtimes,
      'the previewed frames were not written again',
    );
    assert.deepEqual((await readStyled(renderDir)).pngs, [1, 2, 3, 4, 5, 6, 7]);

    // A second preview finds every frame rendered and says so.
    const again = await cli(['preview', ...files, ...flags, '--frames', '2,3'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already rendered with these settings, so nothing was measured/);
  });
});
