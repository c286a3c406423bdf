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
  };
}
