import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../common/atomic';
import { LBFGS_HISTORY, type LbfgsArrays } from '../engine/lbfgs';
import type { OptimizerName } from '../engine/settings';
import type { OptimisationCheckpoint } from '../engine/stylize';

/**
 * On-disk checkpoint: a JSON header line (fingerprint, step, sizes) followed by the raw
 * little-endian float32 image, Adam m and Adam v — exact state, so a resumed frame is bit-identical.
 * An L-BFGS checkpoint (header `lbfgs`) holds the image, then its state's arrays in lbfgsArrays' order.
 */
export interface CheckpointHeader {
  fingerprint: string;
  step: number;
  elements: number;
  /** --optimizer lbfgs: how many curvature pairs follow, and whether the last accepted point does. */
  lbfgs?: { pairs: number; started: boolean };
  /** A stopping frame's recent losses (OptimisationCheckpoint.recent); JSON keeps doubles exact. */
  recent?: number[];
}

/** The L-BFGS state's arrays in file order: the Hessian scale, the last accepted point (image, gradient, loss, direction, step length), the pairs (s, y, ρ). */
function lbfgsArrays(s: LbfgsArrays): Float32Array[] {
  const b = s.base;
  const base = b ? [b.image, b.grad, b.loss, b.direction, b.t] : [];
  return [s.hdiag, ...base, ...s.pairs.flatMap((p) => [p.s, p.y, p.rho])];
}

/**
 * About how many bytes a frame's checkpoint takes before one is written (the disk estimate), from
 * the layout below: Adam's image and two moments, or L-BFGS's image, last point (image, gradient,
 * direction) and `history` curvature pairs (s, y) — RGB float32 images; the scalars are left out.
 */
export function checkpointBytes(optimizer: OptimizerName | undefined, width: number, height: number, history = LBFGS_HISTORY): number {
  const images = optimizer === 'lbfgs' ? 1 + 3 + 2 * history : 3;
  return images * 3 * Float32Array.BYTES_PER_ELEMENT * width * height;
}

export async function writeCheckpoint(path: string, fingerprint: string, c: OptimisationCheckpoint): Promise<void> {
  const header: CheckpointHeader = { fingerprint, step: c.step, elements: c.image.length, ...(c.recent && { recent: c.recent }) };
  if ('lbfgs' in c) header.lbfgs = { pairs: c.lbfgs.pairs.length, started: c.lbfgs.base !== undefined };
  const head = Buffer.from(`${JSON.stringify(header)}\n`);
  const arrays = 'lbfgs' in c ? [c.image, ...lbfgsArrays(c.lbfgs)] : [c.image, c.m, c.v];
  const body = arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
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
  if (header.fingerprint !== fingerprint) return undefined;
  const n = header.elements;
  const lbfgs = header.lbfgs;
  // Element counts of the arrays after the header, in file order (see writeCheckpoint).
  const lengths = lbfgs
    ? [n, 1, ...(lbfgs.started ? [n, n, 1, n, 1] : []), ...Array.from({ length: lbfgs.pairs }, () => [n, n, 1]).flat()]
    : [n, n, n];
  if (buf.length !== newline + 1 + 4 * lengths.reduce((a, b) => a + b, 0)) return undefined;
  let offset = newline + 1;
  // Copy into fresh, aligned buffers: the file's data starts at an arbitrary byte offset.
  const parts = lengths.map((len) => {
    const part = new Float32Array(new Uint8Array(buf.subarray(offset, offset + 4 * len)).buffer);
    offset += 4 * len;
    return part;
  });
  const recent = header.recent && { recent: header.recent };
  if (!lbfgs) return { step: header.step, image: parts[0], m: parts[1], v: parts[2], ...recent };
  const [image, hdiag, ...rest] = parts;
  const [baseImage, grad, loss, direction, t] = lbfgs.started ? rest.splice(0, 5) : [];
  const base = lbfgs.started ? { image: baseImage, grad, loss, direction, t } : undefined;
  const pairs = Array.from({ length: lbfgs.pairs }, (_, i) => ({ s: rest[3 * i], y: rest[3 * i + 1], rho: rest[3 * i + 2] }));
  return { step: header.step, image, lbfgs: { step: header.step, pairs, hdiag, base }, ...recent };
}
