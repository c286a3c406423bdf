import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../common/atomic';
import type { OptimisationCheckpoint } from '../engine/stylize';

/**
 * On-disk checkpoint: a JSON header line (fingerprint, step, sizes) followed by the raw
 * little-endian float32 image, Adam m and Adam v — exact state, so a resumed frame is bit-identical.
 */
export interface CheckpointHeader {
  fingerprint: string;
  step: number;
  elements: number;
  /** A stopping frame's recent losses (OptimisationCheckpoint.recent); JSON keeps doubles exact. */
  recent?: number[];
}

export async function writeCheckpoint(path: string, fingerprint: string, c: OptimisationCheckpoint): Promise<void> {
  const header: CheckpointHeader = { fingerprint, step: c.step, elements: c.image.length, ...(c.recent && { recent: c.recent }) };
  const head = Buffer.from(`${JSON.stringify(header)}\n`);
  const body = [c.image, c.m, c.v].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  await writeFileAtomic(path, Buffer.concat([head, ...body]));
}

/** The checkpoint at `path` if it exists and belongs to this trajectory; otherwise undefined. */
export async function readCheckpoint(path: string, fingerprint: string): Promise<OptimisationCheckpoint | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch {
    return undefined;
  }
  const newline = buf.indexOf(0x0a);
  if (newline < 0) return undefined;
  let header: CheckpointHeader;
  try {
    header = JSON.parse(buf.subarray(0, newline).toString('utf8'));
  } catch {
    return undefined;
  }
  const bytes = header.elements * 4;
  if (header.fingerprint !== fingerprint || buf.length !== newline + 1 + 3 * bytes) return undefined;
  const body = buf.subarray(newline + 1);
  // Copy into fresh, aligned buffers: the file's data starts at an arbitrary byte offset.
  const part = (i: number) => new Float32Array(new Uint8Array(body.subarray(i * bytes, (i + 1) * bytes)).buffer);
  return { step: header.step, image: part(0), m: part(1), v: part(2), ...(header.recent && { recent: header.recent }) };
}
