import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';

/**
 * Identity of a finished video, cheap even for a file of many gigabytes: its size and a hash of its
 * first and last mebibyte (an encoder's output differs there: headers, index, the last frames).
 * Recorded when the video is assembled, so a later run can tell its own output from a file that
 * replaced it.
 */
export interface OutputFingerprint {
  size: number;
  /** sha256 of the size, the first MiB and the last MiB. */
  headTail: string;
}

const SPAN = 1 << 20;

export async function fingerprintFile(path: string): Promise<OutputFingerprint> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const hash = createHash('sha256').update(`${size}:`);
    const read = async (position: number, length: number) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, position);
      hash.update(buf.subarray(0, bytesRead));
    };
    await read(0, Math.min(SPAN, size));
    if (size > SPAN) await read(Math.max(SPAN, size - SPAN), size - Math.max(SPAN, size - SPAN));
    return { size, headTail: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}

export type OutputVerdict = 'own' | 'missing' | 'replaced';

/** Whether the file at `path` is still the video fingerprinted as `expected`. */
export async function checkOutput(path: string, expected: OutputFingerprint): Promise<OutputVerdict> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) return 'missing';
  if (st.size !== expected.size) return 'replaced';
  return (await fingerprintFile(path)).headTail === expected.headTail ? 'own' : 'replaced';
}

export function sameFingerprint(a: OutputFingerprint | undefined, b: OutputFingerprint | undefined): boolean {
  return a !== undefined && b !== undefined && a.size === b.size && a.headTail === b.headTail;
}
