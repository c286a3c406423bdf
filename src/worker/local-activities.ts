import { createMediaActivities, type ExtractChunkInput, type IndexInput } from '../activities/chunks';
import type { PathPolicy } from '../activities/paths';
import { createStyleActivities } from '../activities/style';
import type { FrameRecord, IndexResult, StylizeFrameInput } from '../workflows/contract';
import type { StyleRuntime } from './engine';

/**
 * The render's own index, chunk extraction and stylize activities, run in this process without a
 * server (for `preview`): the same code writes the same files under the render's directory, with the same
 * fingerprints, so the render that follows reuses what they made instead of computing it again.
 */
export function localActivities(style: StyleRuntime, paths: PathPolicy) {
  const media = createMediaActivities(paths);
  const frames = createStyleActivities({ ...style, paths });
  return {
    // Called directly: outside a worker the activities run with a local scope (activities/scope.ts).
    index: (input: IndexInput): Promise<IndexResult> => media.indexVideo(input),
    extractChunk: (input: ExtractChunkInput): Promise<number> => media.extractChunk(input),
    stylize: (input: StylizeFrameInput): Promise<FrameRecord> => frames.stylizeFrame(input),
  };
}
