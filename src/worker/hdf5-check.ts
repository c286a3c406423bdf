import { open } from 'node:fs/promises';
import { WeightsError } from '../engine/weights';

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

function readAddress(buf: Buffer, at: number, size: number): bigint | undefined {
  if (at + size > buf.length) return undefined;
  let value = 0n;
  for (let i = size - 1; i >= 0; i--) value = (value << 8n) | BigInt(buf[at + i]);
  return value;
}

/**
 * The file's length and the length its HDF5 superblock records (base address + end-of-file
 * address), or undefined when it has no superblock this understands (the reader decides then).
 */
export async function hdf5Lengths(path: string): Promise<{ actual: number; recorded: bigint } | undefined> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    // The superblock sits at 0, 512, 1024, 2048, … (after a user block).
    for (let at = 0; at + 64 <= size || at === 0; at = at === 0 ? 512 : at * 2) {
      const buf = Buffer.alloc(96);
      const { bytesRead } = await handle.read(buf, 0, buf.length, at);
      if (bytesRead < SIGNATURE.length) return undefined;
      if (!buf.subarray(0, 8).equals(SIGNATURE)) continue;
      const version = buf[8];
      let offsets: number;
      let base: number;
      if (version === 0 || version === 1) {
        offsets = buf[13];
        base = version === 0 ? 24 : 28;
      } else if (version === 2 || version === 3) {
        offsets = buf[9];
        base = 12;
      } else {
        return undefined;
      }
      if (![2, 4, 8].includes(offsets)) return undefined;
      const baseAddress = readAddress(buf, base, offsets);
      const eof = readAddress(buf, base + 2 * offsets, offsets);
      if (baseAddress === undefined || eof === undefined) return undefined;
      return { actual: size, recorded: baseAddress + eof };
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

/**
 * Refuses a weights file shorter than its own HDF5 header says (an interrupted download or copy)
 * with one line, before the HDF5 library reads it and prints its diagnostics.
 */
export async function checkWeightsComplete(path: string): Promise<void> {
  let lengths;
  try {
    lengths = await hdf5Lengths(path);
  } catch {
    return; // Missing or unreadable: the weights reader says so.
  }
  if (lengths && BigInt(lengths.actual) < lengths.recorded) {
    throw new WeightsError(
      `weights file "${path}" is truncated: it has ${lengths.actual} bytes of the ${lengths.recorded} its HDF5 header records ` +
        '(an interrupted download or copy); download or copy it again, or delete it from the cache so the next run downloads it',
    );
  }
}
