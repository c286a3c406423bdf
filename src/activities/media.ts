import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { assembleVideo, extractFrames, framePath, readFrameTimestamps } from '../media';
import { FAILURE_TYPES, FrameSet, type AssembleResult, type PackedFrames, type SplitResult } from '../workflows/contract';
import { nonRetryable, probeForRender, withHeartbeat } from './media-common';
import { checkOutput, checkRenderDir, renderPaths, type PathPolicy } from './paths';
import { writeFileAtomic } from '../common/atomic';
import { fingerprintFile } from '../common/output-fingerprint';
import { createChunkActivities } from './chunks';

export interface SplitInput {
  input: string;
  renderDir: string;
  size: number;
  /** The VGG19 layers the frames go through (the deepest sets the smallest frame); default: the default settings'. */
  layers?: string[];
}

export interface AssembleInput {
  renderDir: string;
  input: string;
  output: string;
  split: SplitResult;
  /** Frames to take unstylized (their stylization failed and the user chose to skip them), one by one: earlier releases. */
  unstyledFrames: number[];
  /** The same, packed (this release on); the two are combined. */
  unstyled?: PackedFrames;
}

/** Split and assemble; every path they write or delete is checked against `policy` first. */
export function createMediaActivities(policy: PathPolicy) {
  return {
    // Chunked renders (this release on); split and assemble serve renders started before.
    ...createChunkActivities(policy),
    async splitVideo({ input, renderDir: givenDir, size, layers }: SplitInput): Promise<SplitResult> {
      const renderDir = checkRenderDir(policy, givenDir);
      const { info, frame } = await probeForRender(input, size, layers);
      const { width, height } = frame;
      const frameCount = await withHeartbeat(extractFrames({ input, outDir: renderPaths(renderDir).frames, width, height })).catch(
        nonRetryable,
      );
      return {
        frameCount,
        frameRate: info.frameRate,
        width,
        height,
        hasAudio: info.hasAudio,
        durationSeconds: info.durationSeconds,
      };
    },

    async assembleVideo({ renderDir: givenDir, input, output: givenOutput, split, unstyledFrames, unstyled: packed }: AssembleInput): Promise<AssembleResult> {
      const renderDir = checkRenderDir(policy, givenDir);
      const output = checkOutput(policy, givenOutput);
      const paths = renderPaths(renderDir);
      const unstyled = FrameSet.unpack(packed);
      for (const frame of unstyledFrames ?? []) unstyled.add(frame);
      // The encoder reads one numbered sequence; links choose, per frame, the stylized or the original image.
      await rm(paths.assembly, { recursive: true, force: true });
      await mkdir(paths.assembly, { recursive: true });
      for (let frame = 1; frame <= split.frameCount; frame++) {
        const source = framePath(unstyled.has(frame) ? paths.frames : paths.styled, frame);
        if (!existsSync(source)) {
          throw ApplicationFailure.nonRetryable(
            `frame ${frame} has no image at ${source}; run the same start-render command again to render it`,
            FAILURE_TYPES.missingFrame,
          );
        }
        await symlink(source, framePath(paths.assembly, frame));
      }
      const { streams } = await withHeartbeat(
        assembleVideo({
          framesDir: paths.assembly,
          frameRate: split.frameRate,
          frameCount: split.frameCount,
          // Variable-rate video is written at its frames' own times, recorded when it was split.
          timestamps: await readFrameTimestamps(paths.frames),
          // Its audio and subtitle streams are carried over (assembleVideo reports what became of each).
          audioFrom: input,
          output,
        }),
      );
      // Recorded in the result: a later run tells this video from a file that has replaced it.
      const fingerprint = await fingerprintFile(output);
      // Marks the render's directory as finished, so `clean` may delete it (and nothing else).
      await writeFileAtomic(paths.finished, JSON.stringify({ output, frames: split.frameCount, unstyled: unstyled.pack(), fingerprint }));
      return { streams, output: fingerprint };
    },
  };
}
