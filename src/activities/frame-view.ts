import { hostname } from 'node:os';
import { writeFileAtomic } from '../common/atomic';
import { thumbnailPaths, writeThumbnail, type FrameView } from '../media';
import type { FrameRecord } from '../workflows/contract';

const WORKER = `${process.pid}@${hostname()}`;

/**
 * Writes a just-finished frame's thumbnails (stylized and original) and its record for the watch
 * page, once. A frame must never fail for its thumbnail: a problem is only logged.
 */
export async function writeFrameView(
  files: { styled: string; content: string },
  record: FrameRecord,
  opts: { stylized: boolean; warn: (message: string) => void },
): Promise<void> {
  const paths = thumbnailPaths(files.styled);
  try {
    await writeThumbnail(files.styled, paths.thumb);
    // A copied frame is its own original: one thumbnail serves both.
    if (opts.stylized) await writeThumbnail(files.content, paths.original);
    const view: FrameView = {
      frame: record.frame,
      steps: record.steps,
      seconds: record.seconds,
      attempt: record.attempt,
      worker: WORKER,
      backend: record.backend,
      degraded: record.degraded,
      stylized: opts.stylized,
      finishedAt: new Date().toISOString(),
    };
    await writeFileAtomic(paths.view, JSON.stringify(view));
  } catch (err) {
    opts.warn(`frame ${record.frame}: no thumbnail for the watch page (${err instanceof Error ? err.message : String(err)})`);
  }
}
