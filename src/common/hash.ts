import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

async function hashFile(path: string, algorithm: 'sha256' | 'md5'): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export const md5File = (path: string) => hashFile(path, 'md5');

const remembered = new Map<string, { key: string; hash: string }>();

/** Content hash of a file, remembered while its size and mtime stay the same. */
export async function fileSha256(path: string): Promise<string> {
  const st = await stat(path);
  const key = `${st.size}:${st.mtimeMs}`;
  const known = remembered.get(path);
  if (known?.key === key) return known.hash;
  const hash = await hashFile(path, 'sha256');
  remembered.set(path, { key, hash });
  return hash;
}
