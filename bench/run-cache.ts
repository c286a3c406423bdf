/**
 * The coherence bench's content-init run, kept between bench runs. It is the seed's frame-by-frame
 * optimisation of the clip (at 512 px, 30 of a run's 45 minutes) and deterministic on the CPU, so a
 * run that changes only the warm modes need not repeat it. The key hashes everything the run reads:
 * the input frames' bytes, the settings, the weights, the backend, and every file of the code it
 * runs (ENGINE_CODE, the step graph included, and the installed packages' lock file);
 * `--coherence-fresh` ignores the cache (and refreshes it).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/common/atomic';
import { defaultCacheDir } from '../src/common/cache-dir';
import { fileSha256, sha256 } from '../src/common/hash';
import type { RgbImage } from '../src/media/types';

/** Under the per-user cache, beside the VGG19 weights and libtensorflow (STARRY_CACHE_DIR moves it). */
const CACHE_DIR = join(defaultCacheDir(), 'bench-coherence');

/** The code content-init runs: the engine and what it imports, and the package versions. flow.ts is the warm modes' only. */
const ENGINE_CODE = ['src/engine', 'src/native', 'src/media', 'src/common', 'package-lock.json'];
const NOT_CONTENT_INIT = new Set([join('src', 'engine', 'flow.ts')]);
const SYNTHETIC_WEIGHTS_SOURCE = join('test', 'helpers', 'tiny-vgg.ts');

/** What a cached run holds: its frames and whatever plain JSON goes with them (loss traces, terms). */
export interface CachedRun<Extra> {
  styled: RgbImage[];
  extra: Extra;
}

/**
 * What identifies the VGG19 weights a run loads: the bytes of a given file, or for the bench's
 * synthetic weights the source that generates them (an HDF5 file written twice differs in its
 * timestamps, not its weights).
 */
export async function weightsKey(file: string | undefined): Promise<string> {
  return file ? fileSha256(file) : `synthetic ${sha256(await readFile(SYNTHETIC_WEIGHTS_SOURCE, 'utf8'))}`;
}

/** The files under `paths` (each a file or a directory, searched all the way down), sorted. */
async function filesUnder(paths: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  const walk = async (path: string): Promise<void> => {
    if (!(await stat(path)).isDirectory()) {
      files.push(path);
      return;
    }
    for (const name of await readdir(path)) await walk(join(path, name));
  };
  for (const path of paths) await walk(path);
  return files.filter((f) => !NOT_CONTENT_INIT.has(f)).sort();
}

/** A key over `parts` (strings, bytes and frames) and the code content-init runs (ENGINE_CODE). */
export async function runKey(parts: (string | Uint8Array | RgbImage)[]): Promise<string> {
  const hash = createHash('sha256');
  for (const part of parts) {
    if (typeof part === 'string' || part instanceof Uint8Array) hash.update(part);
    else hash.update(`${part.width}x${part.height}`).update(Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength));
    hash.update('\0');
  }
  for (const file of await filesUnder(ENGINE_CODE)) hash.update(file).update(await readFile(file));
  return hash.digest('hex').slice(0, 32);
}

/** The run under `key`, computed by `compute` when it is not cached (or `fresh`). */
export async function cachedRun<Extra>(key: string, fresh: boolean, compute: () => Promise<CachedRun<Extra>>): Promise<CachedRun<Extra> & { fromCache: boolean }> {
  const [meta, pixels] = [join(CACHE_DIR, `${key}.json`), join(CACHE_DIR, `${key}.f32`)];
  if (!fresh) {
    const found = await read<Extra>(meta, pixels);
    if (found) return { ...found, fromCache: true };
  }
  const run = await compute();
  await mkdir(CACHE_DIR, { recursive: true });
  await writeFileAtomic(pixels, Buffer.concat(run.styled.map((f) => Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength))));
  // The JSON last: it is what says the entry is whole.
  await writeFileAtomic(meta, JSON.stringify({ sizes: run.styled.map((f) => [f.width, f.height]), extra: run.extra }));
  return { ...run, fromCache: false };
}

async function read<Extra>(meta: string, pixels: string): Promise<CachedRun<Extra> | undefined> {
  let entry: { sizes: [number, number][]; extra: Extra };
  let bytes: Buffer;
  try {
    entry = JSON.parse(await readFile(meta, 'utf8'));
    bytes = await readFile(pixels);
  } catch {
    return undefined;
  }
  const floats = entry.sizes.reduce((n, [w, h]) => n + w * h * 3, 0);
  if (bytes.length !== floats * 4) return undefined;
  // Copy: a Buffer from readFile may sit at an offset that is not 4-byte aligned.
  const all = new Float32Array(floats);
  Buffer.from(all.buffer).set(bytes);
  let at = 0;
  const styled = entry.sizes.map(([width, height]) => {
    const data = all.slice(at, at + width * height * 3);
    at += data.length;
    return { width, height, data };
  });
  return { styled, extra: entry.extra };
}
