/** What the index, extract, encode and join activities share: heartbeats while ffmpeg runs, input errors, the probe. */
import { ApplicationFailure } from '@temporalio/common';
import { DEFAULT_SETTINGS } from '../engine/settings';
import { frameSizeFor } from '../engine/frame-size';
import { MediaInputError, probeVideo, type VideoInfo } from '../media';
import type { Size } from '../media/geometry';
import { FAILURE_TYPES } from '../workflows/contract';
import { readdir, stat, statfs } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { activityScope } from './scope';

/** Heartbeats while a long ffmpeg run is going, so a dead media worker is noticed. */
export async function withHeartbeat<T>(work: Promise<T>): Promise<T> {
  const scope = activityScope();
  const timer = setInterval(() => scope.heartbeat(), 5_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** A bad input file is the user's to fix, never retried; anything else is rethrown as it is. */
export function nonRetryable(err: unknown): never {
  if (err instanceof MediaInputError) throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.mediaInput);
  throw err;
}

/**
 * Probes the input and the size its frames are computed at, refusing — before anything is decoded —
 * a size VGG19's layers cannot take: every frame would fail the same way, after hours of work on the others.
 */
export async function probeForRender(input: string, size: number, layers?: string[]): Promise<{ info: VideoInfo; frame: Size }> {
  const info = await probeVideo(input).catch(nonRetryable);
  const { frame, problem } = frameSizeFor(info.displayWidth, info.displayHeight, size, layers ?? [...DEFAULT_SETTINGS.contentLayers, ...DEFAULT_SETTINGS.styleLayers]);
  if (problem) throw ApplicationFailure.nonRetryable(problem.message, FAILURE_TYPES.invalidSettings);
  return { info, frame };
}

/** True for a write that failed because its filesystem is full: Node's ENOSPC, or ffmpeg saying so. */
export function isDiskFull(err: unknown): boolean {
  if ((err as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC') return true;
  return err instanceof Error && /No space left on device|ENOSPC/i.test(err.message);
}

const MB = 1024 * 1024;
/** Whole kB below 100 kB (a small frame's need would read "0.0 MB"), else MB. */
const megabytes = (bytes: number) => (bytes < 100 * 1024 ? `${Math.ceil(bytes / 1024)} kB` : `${(bytes / MB).toFixed(bytes < 10 * MB ? 1 : 0)} MB`);

/** Bytes free to this process on the filesystem holding `dir` (its nearest existing ancestor). */
async function freeBytes(dir: string): Promise<number | undefined> {
  for (let d = dir; ; d = dirname(d)) {
    try {
      const fs = await statfs(d);
      return fs.bavail * fs.bsize;
    } catch {
      if (dirname(d) === d) return undefined;
    }
  }
}

/**
 * Runs `work`; a full disk becomes one DiskFull line: where, how much is free there, and how much
 * `need` says the work takes (worked out only then, from what is on disk). Retryable: once space is
 * freed an attempt (or the same start-render) goes on from what is already written.
 */
export async function failOnDiskFull<T>(work: Promise<T>, dir: string, need: () => Promise<{ bytes: number; what: string }>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    if (!isDiskFull(err)) throw err;
    throw await diskFullFailure(dir, need);
  }
}

/** The DiskFull failure for `dir`: how much is free there and how much `need` says the work takes. */
export async function diskFullFailure(dir: string, need: () => Promise<{ bytes: number; what: string }>): Promise<ApplicationFailure> {
  const [free, needed] = await Promise.all([freeBytes(dir), need().catch(() => undefined)]);
  const freeText = free === undefined ? '' : ` (${megabytes(free)} free)`;
  const needText = needed ? `: ${needed.what} needs about ${megabytes(needed.bytes)}` : '';
  return ApplicationFailure.retryable(`no space left on the disk of ${dir}${freeText}${needText}`, FAILURE_TYPES.diskFull);
}

/** Mean size of the PNGs in `dir` (frames written so far), or `fallback` when there are none. */
export async function meanPngBytes(dir: string, fallback: number): Promise<number> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.endsWith('.png'));
  if (names.length === 0) return fallback;
  const sizes = await Promise.all(names.map((n) => stat(join(dir, n)).then((s) => s.size, () => 0)));
  const written = sizes.filter((s) => s > 0);
  return written.length ? written.reduce((a, b) => a + b, 0) / written.length : fallback;
}
