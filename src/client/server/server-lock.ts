/**
 * One embedded dev server per work directory: its database is one SQLite file that only one server
 * may open. Whoever starts the server (a start-render, a `status` or `list` looking at finished
 * renders, `npm run ui`) first takes this lock, atomically, so two commands started at the same
 * moment never both start a server; the other one learns who holds it and for what.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { processAlive } from '../../common/process';

/** What the holder runs the server for. */
export type ServerRole = 'render' | 'inspect' | 'ui';

export interface ServerHolder {
  pid: number;
  role: ServerRole;
  /** The render a start-render holder renders. */
  renderId?: string;
  /** For messages: e.g. "clip.mp4 → out.mp4". */
  label?: string;
}

export const lockPath = (dbDir: string) => join(dbDir, 'server.lock');

async function readHolder(path: string): Promise<ServerHolder | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ServerHolder;
  } catch {
    return undefined;
  }
}

/** The live holder of the lock, if any. */
export async function currentHolder(dbDir: string): Promise<ServerHolder | undefined> {
  const holder = await readHolder(lockPath(dbDir));
  return holder && processAlive(holder.pid) ? holder : undefined;
}

/**
 * Takes the lock for this process, or returns who holds it. A lock left by a process that died
 * (SIGKILL) is broken. The file appears complete or not at all (written aside, then hard-linked).
 */
export async function tryLock(dbDir: string, owner: Omit<ServerHolder, 'pid'>): Promise<{ held: false } | { held: true; holder: ServerHolder }> {
  const path = lockPath(dbDir);
  const mine: ServerHolder = { pid: process.pid, ...owner };
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}`;
  await writeFile(aside, JSON.stringify(mine), { flag: 'wx' });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await link(aside, path);
        return { held: false };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readHolder(path);
      if (holder && processAlive(holder.pid)) return { held: true, holder };
      // Left by a process that is gone: move it away (only one breaker wins the rename) and try again.
      const stale = `${path}.stale.${process.pid}.${randomBytes(6).toString('hex')}`;
      const moved = await rename(path, stale).then(() => true, () => false);
      if (moved) {
        // Between reading and moving, another process may have broken it and taken it: give it back.
        const taken = await readHolder(stale);
        if (taken && processAlive(taken.pid)) await link(stale, path).catch(() => undefined);
        await rm(stale, { force: true });
      }
    }
    const holder = await readHolder(path);
    return { held: true, holder: holder ?? { pid: 0, role: 'inspect' } };
  } finally {
    await rm(aside, { force: true });
  }
}

/** Releases the lock if this process holds it. */
export async function unlock(dbDir: string): Promise<void> {
  const holder = await readHolder(lockPath(dbDir));
  if (holder?.pid === process.pid) await rm(lockPath(dbDir), { force: true });
}

/**
 * Waits (polling, bounded) while `holder` still holds the lock and `until` has not happened; true
 * when `until` happened, false when the holder let go or died first, or time ran out.
 */
export async function waitOnHolder(dbDir: string, holder: ServerHolder, until: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await until()) return true;
    const now = await currentHolder(dbDir);
    if (!now || now.pid !== holder.pid) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
