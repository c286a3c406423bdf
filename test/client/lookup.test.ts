/**
 * Naming a render by its files: status, set-epochs, pause… find the render from --input/--style/
 * --output alone, accept a whole start-render command line (settings and render-only flags such as
 * --weights are ignored), keep finding it after set-epochs, and list the candidates when several
 * open renders match. Real dev server, real command line.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildRenderRequest, type RenderFlags } from '../../src/client/setup/render-options';
import { startOrAttach } from '../../src/client/commands/start-render';
import { makeClip } from '../helpers/media-fixtures';
import { TINY_RENDER, useRenderEnv } from '../helpers/render-env';
import { waitForProgress } from '../helpers/steering';
import { runCli } from '../helpers/processes';

const run = promisify(execFile);

const cli = (args: string[]) => runCli(args);

describe('finding a render by its files (real server, real command line)', () => {
  const fx = useRenderEnv('starry-lookup');

  async function start(flags: RenderFlags) {
    const request = await buildRenderRequest(flags);
    const memo = { input: request.input, style: request.style, output: request.output, startedAt: new Date().toISOString() };
    const handle = await startOrAttach(fx.env.server.env.client, request, memo);
    return { request, handle };
  }

  test('a whole start-render command line finds the render, before and after set-epochs changed its epochs', async () => {
    const input = await makeClip({ path: join(fx.root, 'walk.mp4'), width: 32, height: 24, rate: '25', frames: 6 });
    const output = join(fx.root, 'walk.out.mp4');
    const flags: RenderFlags = { ...TINY_RENDER, input, style: fx.style, output, workDir: fx.env.workDir };
    const { request, handle } = await start(flags);
    // No style worker: the first frames stay in flight, the render stays open.
    await waitForProgress(handle, (p) => p.inFlight.length === 2, 'two frames in flight');

    const address = ['--address', fx.env.server.address];
    const files = ['-i', input, '-s', fx.style, '-o', output];
    const startLine = [...files, '--epochs', '1', '--steps-per-epoch', '2', '--size', '32', '--window', '2',
      '--weights', join(fx.root, 'no-such-weights.h5'), '--backend', 'wasm', '--cache-dir', fx.root, '--local-workers', '2', '--detach', '-y'];

    const epochs = await cli(['set-epochs', ...startLine, ...address, '3']);
    assert.equal(epochs.code, 0, epochs.stderr);
    assert.match(epochs.stdout, new RegExp(`^render ${request.renderId}: frames not yet started will use 3 epochs`));

    // The line with the new epochs names the same render; so do the files alone.
    const paused = await cli(['pause', ...startLine.map((a) => (a === '1' ? '3' : a)), ...address]);
    assert.equal(paused.code, 0, paused.stderr);
    assert.match(paused.stdout, new RegExp(`^render ${request.renderId} paused`));
    const status = await cli(['status', '--json', ...files, ...address]);
    assert.equal(status.code, 0, status.stderr);
    const p = JSON.parse(status.stdout);
    assert.equal(p.renderId, request.renderId);
    assert.equal(p.paused, true);
    assert.equal(p.settings.epochs, 3);
    const byOutput = await cli(['status', '--json', '-o', output, ...address]);
    assert.equal(JSON.parse(byOutput.stdout).renderId, request.renderId);

    // The id does not depend on the epochs: start-render with the new value attaches to this render.
    assert.equal((await buildRenderRequest({ ...flags, epochs: '3' })).renderId, request.renderId);
    await handle.terminate('test over');
  });

  test('several open renders of the same files: listed, and asked for an id', async () => {
    const input = await makeClip({ path: join(fx.root, 'twice.mp4'), width: 32, height: 24, rate: '25', frames: 4 });
    const copy = join(fx.root, 'twice-copy.mp4');
    await copyFile(input, copy);
    const output = join(fx.root, 'twice.out.mp4');
    const base: RenderFlags = { ...TINY_RENDER, input, style: fx.style, output, workDir: fx.env.workDir };
    const a = await start(base);
    const b = await start({ ...base, size: '24' });
    assert.notEqual(a.request.renderId, b.request.renderId);
    const r = await cli(['pause', '-i', input, '-s', fx.style, '-o', output, '--address', fx.env.server.address]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^error: 2 open renders match --input .*twice\.mp4, --style .*style\.png, --output .*twice\.out\.mp4: /);
    assert.ok(r.stderr.includes(a.request.renderId) && r.stderr.includes(b.request.renderId), r.stderr);
    assert.match(r.stderr, /Give the id of the one you mean\n$/);
    const other = await cli(['status', '--json', '-i', copy, '--address', fx.env.server.address]);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /^error: no render of --input .*twice-copy\.mp4 on this server; npm run list shows recent renders\n$/);
    await a.handle.terminate('test over');
    await b.handle.terminate('test over');
  });
});
