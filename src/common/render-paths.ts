import { join } from 'node:path';

/** Where a render keeps its intermediate files, all under its own directory. */
export function renderPaths(renderDir: string) {
  return {
    frames: join(renderDir, 'frames'),
    styled: join(renderDir, 'styled'),
    checkpoints: join(renderDir, 'checkpoints'),
    /** Links to the frames the encoder reads, rebuilt for each assembly. */
    assembly: join(renderDir, 'assembly'),
    /** Written once the output video is in place; `clean` deletes only directories that have it. */
    finished: join(renderDir, 'finished.json'),
    /** Chunked renders: every frame's timestamp, from the index pass (too large for workflow state). */
    index: join(renderDir, 'index.json'),
    /** Chunked renders: one encoded segment per chunk, joined into the output at the end. */
    segments: join(renderDir, 'segments'),
    segment: (index: number) => join(renderDir, 'segments', `segment_${chunkNumber(index)}.mp4`),
    /** Chunked renders: a chunk's working files, deleted once its segment is encoded (unless --keep-frames). */
    chunk: (index: number) => chunkPaths(join(renderDir, 'chunks', chunkNumber(index))),
  };
}

/** Chunk index 0 is chunk_0001 on disk, like frames, 1-based. */
function chunkNumber(index: number): string {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`chunk index must be a whole number from 0 (got ${index})`);
  return String(index + 1).padStart(4, '0');
}

function chunkPaths(dir: string) {
  return {
    dir,
    /** Its content frames, lead-in included, named by their index in the whole video. */
    frames: join(dir, 'frames'),
    /** Its lead-in frames' stylized results, which the previous chunk cross-fades into its last frames. */
    lead: join(dir, 'lead'),
    /** Cross-faded and unstylized frames, and the links the segment encoder reads. */
    assembly: join(dir, 'assembly'),
    /** Optical flow between consecutive frames, kept so a retried frame reuses it. */
    flow: join(dir, 'flow'),
    /** A chain start's run-up frames (settings.runUp), kept until its first frame is done. */
    runUp: join(dir, 'run-up'),
  };
}
