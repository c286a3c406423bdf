/**
 * The native TensorFlow backend through the real CLI: `doctor` reports it, and one whole render
 * (embedded dev server, worker, real ffmpeg) runs on it. Where native is required (CI) and missing,
 * these fail rather than skip.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { Diagnosis } from '../../src/client/commands/doctor';
import { nvidiaDriverPresent } from '../../src/engine/backend';
import { packageDir, PACKAGES } from '../../src/native/libtensorflow';
import { nativeRequired, nativeSkipReason } from '../helpers/backends';
import { makeClip, makeStyleImage, probeStreams, tempDir } from '../helpers/media-fixtures';
import { startRenderEnv, tinyWeights } from '../helpers/render-env';
import { buildRenderRequest } from '../../src/client/setup/render-options';
import { startOrAttach } from '../../src/client/commands/start-render';
import { framePath, readImage } from '../../src/media';

const run = promisify(execFile);
/** CI builds the GPU package too (.ci/run); elsewhere it is tested where someone built it. */
const gpuSkipReason = () =>
  packageDir(PACKAGES.gpu) || nativeRequired() ? undefined : '@tensorflow/tfjs-node-gpu not built here (STARRY_NATIVE=gpu npm run native)';
const REPO = resolve(__dirname, '../..');
const CLI = resolve(REPO, 'src/client/cli.ts');
const cli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: REPO, env: { ...process.env, ...env }, maxBuffer: 1 << 24 });

describe('native backend', { skip: nativeSkipReason() }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir, cleanup } = await tempDir('starry-native'));
  });
  after(() => cleanup?.());

  test('doctor --json: auto picks node, names TensorFlow, its source and the device', async () => {
    const { stdout } = await cli(['doctor', '--json']);
    const d = JSON.parse(stdout) as Diagnosis;
    assert.equal(d.backend.chosen, 'node', `skipped: ${d.backend.skipped.join('; ')} ${d.backend.error ?? ''}`);
    assert.match(d.backend.tensorflow ?? '', /^2\.\d+\.\d+$/);
    assert.match(d.backend.device ?? '', /CPU|GPU/);
    assert.match(d.ffmpeg, /^ffmpeg version/);
    assert.equal(d.ok, true);
  });

  test('the GPU build, where built, says honestly whether it runs on a GPU', { skip: gpuSkipReason() }, async () => {
    const { stdout } = await cli(['doctor', '--json', '--backend', 'node-gpu']);
    const d = JSON.parse(stdout) as Diagnosis;
    assert.equal(d.backend.chosen, 'node-gpu', d.backend.error);
    assert.match(d.backend.tensorflow ?? '', /^2\.\d+\.\d+$/);
    if (nvidiaDriverPresent()) assert.equal(d.backend.device, 'GPU');
    else assert.match(d.backend.device ?? '', /^CPU \(GPU build, but TensorFlow found no usable GPU/);
  });

  test('doctor prints one screen that says which backend runs and why others were skipped', async () => {
    const { stdout } = await cli(['doctor', '--backend', 'wasm']);
    assert.match(stdout, /^backend +wasm on CPU, one thread/m);
    assert.match(stdout, /30-70x slower than native; npm run native/);
    assert.match(stdout, /^native cpu +@tensorflow\/tfjs-node: /m);
  });

  test('out of memory on node: retried with backoff, then the frame runs at reduced size and is scaled back', async () => {
    await mkdir(join(dir, 'oom'));
    const env = await startRenderEnv(join(dir, 'oom'), { backend: 'node' });
    try {
      assert.equal(env.style.engine.backend.name, 'node');
      const workers = await env.startWorkers(['media', 'style'], { faults: 'oom@2*2' });
      const input = await makeClip({ path: join(dir, 'oom.mp4'), width: 48, height: 36, rate: '25', frames: 3 });
      const style = await makeStyleImage(join(dir, 'oom-style.png'), 40, 40);
      const request = await buildRenderRequest({
        input, style, output: join(dir, 'oom', 'oom.out.mp4'), workDir: env.workDir,
        epochs: '1', stepsPerEpoch: '2', size: '32', window: '2', keepFrames: true,
      });
      const r = await (await startOrAttach(env.server.env.client, request, {})).result();
      await workers.stop();
      assert.equal(r.done, 3);
      assert.deepEqual(r.backends, ['node']);
      const note = r.notable.find((n) => n.frame === 2);
      assert.equal(note?.attempt, 3, 'two out-of-memory attempts, then a third that finished');
      assert.equal(note?.degraded, true);
      const styled = await readImage(framePath(join(request.renderDir, 'styled'), 2));
      assert.deepEqual([styled.width, styled.height], [32, 24], 'a degraded frame is scaled back to full size');
    } finally {
      await env.close();
    }
  });

  test('start-render renders a clip end to end on the node backend', async () => {
    const input = await makeClip({ path: join(dir, 'clip.mp4'), width: 48, height: 36, rate: '25', frames: 4, audio: true });
    const style = await makeStyleImage(join(dir, 'style.png'), 40, 40);
    const output = join(dir, 'out.mp4');
    const { stdout, stderr } = await cli(
      ['start-render', '-i', input, '-s', style, '-o', output, '--weights', await tinyWeights(dir), '--backend', 'node',
        '--epochs', '1', '--steps-per-epoch', '3', '--size', '48'],
      { STARRY_WORK_DIR: join(dir, 'work') },
    );
    assert.match(stdout + stderr, /tfjs backend: node \(CPU, TensorFlow 2\./);
    assert.ok(existsSync(output), 'the video was written');
    const video = (await probeStreams(output)).streams.find((s) => s.codec_type === 'video')!;
    assert.equal(Number(video.nb_frames), 4);
    assert.match(stdout, /^ +tfjs backend: node$/m, 'every frame was computed on node');
  });
});
