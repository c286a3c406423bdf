/**
 * The embedded Temporal dev server starts on a busy machine (every core held by a CPU-bound
 * process, as when the engine warms up beside other renders), starts again on other ports when one
 * it was given was taken meanwhile (start-render's, and status', list's and ui's own), and when it
 * truly cannot start the user reads one line: what the server last said, and what to do.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedServer, startInspectServer } from '../../src/client/server/embedded-server';
import { findTemporalCli } from '../../src/client/server/temporal-cli';
import { tempDir } from '../helpers/media-fixtures';
import { startProcess, stopAllProcesses } from '../helpers/processes';

describe('the embedded server’s start', () => {
  let root: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-server-start'));
  });
  after(async () => {
    stopAllProcesses();
    await cleanup?.();
  });

  test('starts and serves with every core busy', async () => {
    // One spinning process per core and one more: the server competes for every core.
    const hogs = Array.from({ length: availableParallelism() + 1 }, () => startProcess(process.execPath, ['-e', 'for(;;);']));
    try {
      const server = await startEmbeddedServer(join(root, 'busy'));
      try {
        const ns = await server.env.client.workflowService.describeNamespace({ namespace: 'default' });
        assert.equal(ns.namespaceInfo?.name, 'default');
      } finally {
        await server.stop();
      }
    } finally {
      for (const hog of hogs) hog.child.kill('SIGKILL');
      await Promise.all(hogs.map((h) => h.exited));
    }
  });

  /** A stand-in `temporal` CLI: a shell script that says something and then does `then`. */
  async function fakeCli(name: string, then: string): Promise<string> {
    const path = join(root, `${name}.sh`);
    await writeFile(path, `#!/bin/sh\necho "starting dev server"\necho "Error: unable to start server: listen tcp 127.0.0.1: bind: address already in use" >&2\n${then}\n`, { mode: 0o755 });
    return path;
  }

  /**
   * The real CLI, except that its first start finds its port taken (as when another process bound it
   * between our pick and the server's bind), saying so as the CLI does; the ports it was given are kept in `<name>.first`.
   */
  async function portTakenOnce(name: string): Promise<{ cli: string; firstArgs: () => Promise<string> }> {
    const real = findTemporalCli();
    assert.ok(real, 'the temporal CLI (TEMPORAL_CLI_PATH or PATH)');
    const first = join(root, `${name}.first`);
    const cli = join(root, `${name}.sh`);
    await writeFile(
      cli,
      `#!/bin/sh\nif [ ! -e '${first}' ]; then\n  echo "$@" > '${first}'\n  echo "Error: can't set frontend port: listen tcp 127.0.0.1: bind: address already in use" >&2\n  exit 1\nfi\nexec '${real}' "$@"\n`,
      { mode: 0o755 },
    );
    return { cli, firstArgs: () => readFile(first, 'utf8') };
  }

  for (const [who, start] of [
    ['start-render', (dir: string, env: NodeJS.ProcessEnv) => startEmbeddedServer(dir, env).then((s) => ({ address: s.address, client: s.env.client, stop: s.stop }))],
    ['ui (and status, list)', (dir: string, env: NodeJS.ProcessEnv) => startInspectServer(dir, 'ui', env)],
  ] as const) {
    test(`${who}: a port taken between our pick and the server's bind is given up for others, and the server serves`, async () => {
      const name = who.split(' ')[0];
      const { cli, firstArgs } = await portTakenOnce(name);
      const server = await start(join(root, `taken-${name}`), { ...process.env, TEMPORAL_CLI_PATH: cli });
      try {
        const ns = await server.client.workflowService.describeNamespace({ namespace: 'default' });
        assert.equal(ns.namespaceInfo?.name, 'default');
        const refused = /--port (\d+)/.exec(await firstArgs())?.[1];
        assert.ok(refused, 'the first start was given a port');
        assert.notEqual(server.address, `127.0.0.1:${refused}`, 'started again on another port');
      } finally {
        await server.stop();
      }
    });
  }

  test('a server that exits at once: one line with its last word and what to do', async () => {
    const cli = await fakeCli('exits', 'exit 1');
    await assert.rejects(startEmbeddedServer(join(root, 'exits'), { ...process.env, TEMPORAL_CLI_PATH: cli }), (err: Error) => {
      assert.equal(err.name, 'UsageError', err.message);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      assert.match(err.message, /exited as it started; its log ends: Error: unable to start server: listen tcp 127\.0\.0\.1: bind: address already in use/);
      assert.match(err.message, /server\.log\); fix what it says, or run `temporal server start-dev` yourself and pass --address/);
      return true;
    });
  });

  test('a server that never answers: the window it had, its last word, and what to do', async () => {
    const cli = await fakeCli('silent', 'exec sleep 600');
    const env = { ...process.env, TEMPORAL_CLI_PATH: cli, STARRY_SERVER_START_SECONDS: '2' };
    await assert.rejects(startEmbeddedServer(join(root, 'silent'), env), (err: Error) => {
      assert.equal(err.name, 'UsageError', err.message);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      assert.match(err.message, /did not answer within 2 s; its log ends: Error: unable to start server/);
      assert.match(err.message, /STARRY_SERVER_START_SECONDS/);
      return true;
    });
    // The lock is released: the work directory can start a real server at once.
    const server = await startEmbeddedServer(join(root, 'silent'));
    await server.stop();
  });
});
