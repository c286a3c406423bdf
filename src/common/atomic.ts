import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { processAlive } from './process';

/**
 * A hidden sibling of `finalPath` for writing before an atomic rename.
 *
 * It lives in the same directory because rename is only atomic within one filesystem, and
 * it keeps the final extension last because ffmpeg and sharp choose the output format from it.
 * The pid lets a later process tell a crashed writer's leftovers from a live writer's file.
 */
export function tempPathFor(finalPath: string): string {
  const dir = path.dirname(finalPath);
  const base = path.basename(finalPath);
  const ext = path.extname(base);
  const random = randomBytes(6).toString('hex');
  return path.join(dir, `.${base}.${process.pid}.${random}.tmp${ext}`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Deletes temp siblings of `finalPath` (files or directories named by tempPathFor) whose writer
 * process has died, i.e. leftovers of a crash. Live writers' temps are kept. Pids are only
 * meaningful on one host, so processes on other machines sharing the directory are not seen.
 */
export async function removeStaleTemps(finalPath: string): Promise<void> {
  const dir = path.dirname(finalPath);
  const base = path.basename(finalPath);
  const pattern = new RegExp(`^\\.${escapeRegExp(base)}\\.(\\d+)\\.[0-9a-f]{12}\\.tmp${escapeRegExp(path.extname(base))}$`);
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (pid > 0 && pid !== process.pid && !processAlive(pid)) {
      await fs.rm(path.join(dir, name), { recursive: true, force: true });
    }
  }
}

/** Flushes a file's data to disk so that a rename never exposes a file whose bytes were lost in a crash. */
async function fsyncPath(p: string): Promise<void> {
  const handle = await fs.open(p, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Best effort: makes a rename durable; some platforms and filesystems refuse to fsync a directory. */
async function fsyncDir(dir: string): Promise<void> {
  try {
    await fsyncPath(dir);
  } catch {
    // Durability of the directory entry is a bonus; the data itself is already synced.
  }
}

/** Writes `data` to `finalPath` so that readers see either the old file or the complete new one. */
export async function writeFileAtomic(finalPath: string, data: Buffer | string): Promise<void> {
  // 'wx': the temp name is unique, so finding a file there means something is badly wrong.
  await withAtomicOutput(finalPath, (tempPath) => fs.writeFile(tempPath, data, { flag: 'wx' }));
}

/**
 * Runs `fn` with a temporary path and moves its result to `finalPath` only if it succeeds.
 * On failure the temporary file is deleted and `finalPath` is left untouched.
 */
export async function withAtomicOutput<T>(finalPath: string, fn: (tempPath: string) => Promise<T>): Promise<T> {
  const tempPath = tempPathFor(finalPath);
  try {
    const result = await fn(tempPath);
    const produced = await fs.stat(tempPath).then(() => true, () => false);
    if (!produced) throw new Error(`Nothing was written for "${finalPath}" (expected a file at "${tempPath}")`);
    // fn may have had another program write the file; make sure its bytes are on disk first.
    await fsyncPath(tempPath);
    await fs.rename(tempPath, finalPath);
    await fsyncDir(path.dirname(finalPath));
    return result;
  } catch (err) {
    await fs.rm(tempPath, { force: true });
    throw err;
  }
}
