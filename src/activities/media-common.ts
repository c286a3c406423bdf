/** What the index, extract, encode and join activities share: heartbeats while ffmpeg runs, input errors, the probe. */
import { ApplicationFailure } from '@temporalio/common';
import { DEFAULT_SETTINGS, describeSettingProblem } from '../engine/settings';
import { frameSizeFor } from '../engine/frame-size';
import { MediaInputError, probeVideo, type VideoInfo } from '../media';
import type { Size } from '../media/geometry';
import { FAILURE_TYPES } from '../workflows/contract';
import { activityScope } from './scope';

/** Heartbeats while a long ffmpeg run is going, so a dead media worker is noticed. */
export async function withHeartbeat<T>(work: Promise<T>): Promise<T> {
  const scope = activityScope();
  const timer = setInterval(() => scope.heartbeat(), 5_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** A bad input file is the user's to fix, never retried; anything else is rethrown as it is. */
export function nonRetryable(err: unknown): never {
  if (err instanceof MediaInputError) throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.mediaInput);
  throw err;
}

/**
 * Probes the input and the size its frames are computed at, refusing — before anything is decoded —
 * a size VGG19's layers cannot take: every frame would fail the same way, after hours of work on the others.
 */
export async function probeForRender(input: string, size: number, layers?: string[]): Promise<{ info: VideoInfo; frame: Size }> {
  const info = await probeVideo(input).catch(nonRetryable);
  const { frame, problem } = frameSizeFor(info.displayWidth, info.displayHeight, size, layers ?? [...DEFAULT_SETTINGS.contentLayers, ...DEFAULT_SETTINGS.styleLayers]);
  if (problem) throw ApplicationFailure.nonRetryable(describeSettingProblem(problem), FAILURE_TYPES.invalidSettings);
  return { info, frame };
}
