/**
 * Which render wrote which video, kept in the work directory (outside renders/, so `clean` leaves
 * it): lets start-render tell, before any work, whether an existing file at --output is its own
 * finished video or something it must not overwrite without --overwrite.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../../common/atomic';
import { sha256 } from '../../common/hash';
import { fingerprintFile, sameFingerprint, type OutputFingerprint } from '../../common/output-fingerprint';
import { existsSync } from 'node:fs';

export interface OutputRecord {
  output: string;
  renderId: string;
  fingerprint: OutputFingerprint;
  recordedAt: string;
}

const recordPath = (workDir: string, output: string) => join(workDir, 'outputs', `${sha256(output).slice(0, 20)}.json`);

export async function readOutputRecord(workDir: string, output: string): Promise<OutputRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(recordPath(workDir, output), 'utf8')) as OutputRecord;
    return record.output === output ? record : undefined;
  } catch {
    return undefined;
  }
}

export async function writeOutputRecord(workDir: string, renderId: string, output: string, fingerprint: OutputFingerprint): Promise<void> {
  await mkdir(join(workDir, 'outputs'), { recursive: true });
  const record: OutputRecord = { output, renderId, fingerprint, recordedAt: new Date().toISOString() };
  await writeFileAtomic(recordPath(workDir, output), JSON.stringify(record));
}

/**
 * Who the file at `output` belongs to: nobody (no file), the render recorded as having written it
 * (when the file is still that video), or unknown.
 */
export async function ownerOfOutput(workDir: string, output: string): Promise<{ exists: false } | { exists: true; renderId?: string }> {
  if (!existsSync(output)) return { exists: false };
  const record = await readOutputRecord(workDir, output);
  if (!record) return { exists: true };
  const now = await fingerprintFile(output).catch(() => undefined);
  return { exists: true, renderId: sameFingerprint(now, record.fingerprint) ? record.renderId : undefined };
}
