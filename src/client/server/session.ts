/**
 * The server a command talks to: the cluster at --address, the embedded server of a start-render
 * running in the work directory, or — for commands that only look (status, list, ui) — the work
 * directory's own database, opened by a dev server this command starts and stops itself, so
 * finished and interrupted renders stay inspectable after start-render has exited.
 */
import type { Client } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_NAMESPACE, connectClient, type ServerOptions } from '../../cli-common/connection';
import { UsageError } from '../../cli-common/errors';
import { WorkDirBusyError, readServerFile, startInspectServer, type ServerAdvert } from './embedded-server';
import { defaultWorkDir } from '../setup/render-options';
import { waitOnHolder } from './server-lock';

export interface SessionOptions extends Partial<ServerOptions> {
  workDir?: string;
}

export interface Session {
  client: Client;
  /** Whether workers serve the renders here (a start-render, or a cluster): false when only looking at the database. */
  served: boolean;
  /** What to tell a person about a render that is not being served. */
  workDir: string;
  close(): Promise<void>;
}

/** The work directory has no database yet: no start-render ever ran there. */
export class NoRendersHereError extends UsageError {
  override name = 'UsageError';
}

async function connectTo(advert: ServerAdvert, workDir: string): Promise<Session> {
  const client = await connectClient({ address: advert.address, namespace: DEFAULT_NAMESPACE });
  // Older adverts carry no role: they were written by start-render.
  const served = advert.role === undefined || advert.role === 'render';
  return { client, served, workDir, close: () => client.connection.close() };
}

/**
 * A session for a command. `inspect`: when nothing serves the work directory, start its dev server
 * here (on the existing database) for the length of the command.
 */
export async function openSession(opts: SessionOptions, inspect: boolean): Promise<Session> {
  const workDir = resolve(opts.workDir ?? defaultWorkDir());
  if (opts.address) {
    const client = await connectClient({ ...opts, address: opts.address, namespace: opts.namespace ?? DEFAULT_NAMESPACE });
    return { client, served: true, workDir, close: () => client.connection.close() };
  }
  const advertised = await readServerFile(workDir);
  if (advertised) return connectTo(advertised, workDir);
  if (!inspect) {
    throw new UsageError(
      `no start-render is running in ${workDir}, so none of its renders is running now; run the render's start-render command to resume it ` +
        '(status and list work without it; pass --address for a cluster)',
    );
  }
  if (!existsSync(join(workDir, 'temporal', 'dev.sqlite'))) {
    throw new NoRendersHereError(`no renders in ${workDir} yet (no start-render has run there); pass --work-dir, or --address for a cluster`);
  }
  try {
    const server = await startInspectServer(workDir, 'inspect');
    return { client: server.client, served: false, workDir, close: () => server.stop() };
  } catch (err) {
    if (!(err instanceof WorkDirBusyError)) throw err;
    // A start-render (or the Web UI) took the work directory at the same moment: use its server.
    let advert: ServerAdvert | undefined;
    await waitOnHolder(join(workDir, 'temporal'), err.holder, async () => Boolean((advert = await readServerFile(workDir))), 60_000);
    if (!advert) throw err;
    return connectTo(advert, workDir);
  }
}
