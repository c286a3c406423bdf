/**
 * The coherence bench's content-init run, kept between bench runs. It is the seed's frame-by-frame
 * optimisation of the clip (at 512 px, 30 of a run's 45 minutes) and deterministic on the CPU, so a
 * run that changes only the warm modes need not repeat it. The key hashes everything the run reads:
 * the input frames' bytes, the settings, the weights file's bytes, the backend and the engine's
 * source files; `--coherence-fresh` ignores the cache (and refreshes it).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RgbImage } from '../src/media/types';

const CACHE_DIR = join('node_modules', '.cache', 'starry-render', 'coherence');
const ENGINE_SOURCES = join('src', 'engine');
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
  if (file) return createHash('sha256').update(await readFile(file)).digest('hex');
  return `synthetic ${createHash('sha256').update(await readFile(SYNTHETIC_WEIGHTS_SOURCE)).digest('hex')}`;
}

/** A key over `parts` (strings, bytes and frames) and the engine's source files other than the flow's, which content-init does not use. */
export async function runKey(parts: (string | Uint8Array | RgbImage)[]): Promise<string> {
  const hash = createHash('sha256');
  for (const part of parts) {
    if (typeof part === 'string' || part instanceof Uint8Array) hash.update(part);
    else hash.update(`${part.width}x${part.height}`).update(Buffer.from(part.data.buffer, part.data.byteOffset, part.data.byteLength));
    hash.update('\0');
  }
  const sources = (await readdir(ENGINE_SOURCES)).filter((f) => f.endsWith('.ts') && f !== 'flow.ts').sort();
  for (const f of sources) hash.update(f).update(await readFile(join(ENGINE_SOURCES, f)));
  return hash.digest('hex').slice(0, 32);
}

/** The run under `key`, computed by `compute` when it is not cached (or `fresh`); written under a temporary name and renamed. */
export async function cachedRun<Extra>(key: string, fresh: boolean, compute: () => Promise<CachedRun<Extra>>): Promise<CachedRun<Extra> & { fromCache: boolean }> {
  const [meta, pixels] = [join(CACHE_DIR, `${key}.json`), join(CACHE_DIR, `${key}.f32`)];
  if (!fresh) {
    const found = await read<Extra>(meta, pixels);
    if (found) return { ...found, fromCache: true };
  }
  const run = await compute();
  await mkdir(CACHE_DIR, { recursive: true });
  const bytes = Buffer.concat(run.styled.map((f) => Buffer.from(f.data.buffer, f.data.byteOffset, f.data.byteLength)));
  await writeFile(`${pixels}.tmp`, bytes);
  await rename(`${pixels}.tmp`, pixels);
  // The JSON last: it is what says the entry is whole.
  await writeFile(`${meta}.tmp`, JSON.stringify({ sizes: run.styled.map((f) => [f.width, f.height]), extra: run.extra }));
  await rename(`${meta}.tmp`, meta);
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
