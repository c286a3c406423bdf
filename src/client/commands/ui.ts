/**
 * `npm run ui`: the Temporal Web UI on a work directory's renders — finished, interrupted or
 * running — without a start-render: it opens the existing database with the embedded dev server
 * and keeps it up until Ctrl-C. A start-render started meanwhile asks for the server (the database
 * takes one server); the UI hands it over, points at that start-render's UI while it runs, and
 * opens the database again once it has exited.
 */
import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { processAlive } from '../../common/process';
import { join, resolve } from 'node:path';
import { UsageError } from '../../cli-common/errors';
import type { Io } from '../../cli-common/io';
import { WorkDirBusyError, handoverPath, readServerFile, startInspectServer } from '../server/embedded-server';
import { defaultWorkDir } from '../setup/render-options';
import { currentHolder } from '../server/server-lock';
import { advertisedSource, startWatchServer } from '../watch/server';

/** Resolves on Ctrl-C or SIGTERM. */
function stopRequested(): Promise<void> {
  return new Promise((res) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      res();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

const tick = () => new Promise((r) => setTimeout(r, 200));

async function uiAnswers(url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function uiCommand(opts: { workDir?: string }, io: Io, until: Promise<void> = stopRequested()): Promise<void> {
  const workDir = resolve(opts.workDir ?? defaultWorkDir());
  const dbDir = join(workDir, 'temporal');
  let stopping = false;
  void until.then(() => (stopping = true));
  const advert = await readServerFile(workDir);
  if (advert?.role === 'ui') {
    io.out(`Temporal UI ${advert.uiUrl}/namespaces/default/workflows (already served by npm run ui, pid ${advert.pid})`);
    return;
  }
  if (!existsSync(join(dbDir, 'dev.sqlite'))) {
    throw new UsageError(`no renders in ${workDir} yet (no start-render has run there); pass --work-dir`);
  }
  const source = advertisedSource(workDir);
  const watch = await startWatchServer({ workDir, source, commands: { workDir } });
  io.out(`watch the renders: ${watch.url}`);
  try {
    await serveUntilStopped(workDir, dbDir, io, () => stopping);
  } finally {
    await watch.close();
    source.close();
  }
}

/** Serves the work directory's database until stopped, handing it to a start-render while one runs. */
async function serveUntilStopped(workDir: string, dbDir: string, io: Io, stopped: () => boolean): Promise<void> {
  while (!stopped()) {
    const served = await readServerFile(workDir);
    if (served && served.role !== 'ui') {
      // A start-render (or a status, list) has the server: its UI shows the same database.
      if (served.role === 'render') io.out(`Temporal UI ${served.uiUrl}/namespaces/default/workflows (served by the start-render running here, pid ${served.pid}, while it runs)`);
      while (!stopped() && (await currentHolder(dbDir))?.pid === served.pid) await tick();
      continue;
    }
    let server;
    try {
      server = await startInspectServer(workDir, 'ui');
    } catch (err) {
      if (!(err instanceof WorkDirBusyError) || err.holder.role === 'ui') throw err;
      // Someone is starting the server right now: follow them once it is up, or try again when they let go.
      while (!stopped() && (await currentHolder(dbDir))?.pid === err.holder.pid && !(await readServerFile(workDir))) await tick();
      continue;
    }
    let requester: number | undefined;
    try {
      await uiAnswers(server.uiUrl);
      io.out(`Temporal UI ${server.uiUrl}/namespaces/default/workflows for the renders in ${workDir}; Ctrl-C to stop`);
      while (!stopped() && !existsSync(handoverPath(dbDir))) await tick();
      if (!stopped()) {
        io.out('a start-render needs this work directory’s server: handing it over');
        requester = await readFile(handoverPath(dbDir), 'utf8').then((t) => (JSON.parse(t) as { pid: number }).pid, () => undefined);
      }
    } finally {
      await rm(handoverPath(dbDir), { force: true });
      await server.stop().catch(() => undefined);
    }
    // Let the start-render take it (it polls), rather than taking it straight back.
    const deadline = Date.now() + 60_000;
    while (!stopped() && requester && processAlive(requester) && (await currentHolder(dbDir))?.pid !== requester && Date.now() < deadline) await tick();
  }
}

export function register(program: Command, io: Io): Command {
  return program
    .command('ui')
    .description("the Temporal Web UI on the work directory's renders (finished, interrupted or running) until Ctrl-C; no start-render needed")
    .addOption(new Option('--work-dir <dir>', 'work directory whose renders to show').env('STARRY_WORK_DIR'))
    .action(async (opts: { workDir?: string }) => uiCommand(opts, io));
}
