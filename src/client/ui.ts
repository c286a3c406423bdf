/**
 * `npm run ui`: the Temporal Web UI on a work directory's renders — finished, interrupted or
 * running — without a start-render: it opens the existing database with the embedded dev server
 * and keeps it up until Ctrl-C. While a start-render serves the work directory, its UI is the one.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../cli-common/errors';
import type { Io } from '../cli-common/io';
import { readServerFile, startInspectServer } from './embedded-server';
import { defaultWorkDir } from './render-options';

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
  const advert = await readServerFile(workDir);
  if (advert) {
    const who = advert.role === 'ui' ? 'another npm run ui' : advert.role === 'inspect' ? 'a status or list command' : 'the start-render';
    io.out(`Temporal UI ${advert.uiUrl}/namespaces/default/workflows (served by ${who} running in ${workDir}, pid ${advert.pid}, while it runs)`);
    return;
  }
  if (!existsSync(join(workDir, 'temporal', 'dev.sqlite'))) {
    throw new UsageError(`no renders in ${workDir} yet (no start-render has run there); pass --work-dir`);
  }
  const server = await startInspectServer(workDir, 'ui');
  try {
    // The dev server answers gRPC first; its Web UI comes up a moment later. Print the address once it answers.
    await uiAnswers(server.uiUrl);
    io.out(`Temporal UI ${server.uiUrl}/namespaces/default/workflows for the renders in ${workDir}; Ctrl-C to stop`);
    await until;
  } finally {
    await server.stop().catch(() => undefined);
  }
}
