import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes a file or directory tree takes (apparent sizes; links are counted, not followed). */
export async function diskUsage(path: string): Promise<number> {
  let info;
  try {
    info = await lstat(path);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const name of await readdir(path).catch(() => [] as string[])) total += await diskUsage(join(path, name));
  return total;
}

/** 1536 → "1.5 KB", 3_500_000 → "3.3 MB": binary units, one decimal from KB on. */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}
