/**
 * Where a render stands when no worker serves it (its start-render has exited): the progress query
 * needs a worker, so this reads the latest run's history instead — what the run was handed, the
 * split's frame count and the frames completed since.
 */
import { defaultPayloadConverter, type WorkflowHandle } from '@temporalio/client';
import { FrameSet, chunkRange, type IndexResult, type RenderRequest, type StylizeFrameInput } from '../../workflows/contract';
import type { RenderState } from '../../workflows/ledger';

type Payload = Parameters<typeof defaultPayloadConverter.fromPayload>[0];
const decode = <T>(p: unknown): T | undefined => (p ? defaultPayloadConverter.fromPayload<T>(p as Payload) : undefined);

export interface InterruptedProgress {
  renderId: string;
  renderDir: string | undefined;
  input: string | undefined;
  output: string | undefined;
  /** Frames finished (stylized or reused) so far. */
  done: number;
  /** Frames in the video; null before the split finished. */
  total: number | null;
  runs: number;
}

export async function interruptedProgress(handle: WorkflowHandle): Promise<InterruptedProgress> {
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const startArgs = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  const request = decode<RenderRequest>(startArgs[0]);
  const carried = decode<RenderState>(startArgs[1]);
  let done = carried?.done ?? 0;
  let total: number | null = carried?.split.frameCount ?? null;
  const typeOf = new Map<number, string>();
  for (const e of events) {
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) {
      // A chunk's lead-in frames are extra work, not frames of the video done.
      const lead = decode<StylizeFrameInput>(scheduled.input?.payloads?.[0])?.lead === true;
      typeOf.set(Number(e.eventId), lead ? 'lead-in' : (scheduled.activityType?.name ?? ''));
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (!completed) continue;
    const type = typeOf.get(Number(completed.scheduledEventId));
    if (type === 'stylizeFrame') done++;
    if (type === 'indexVideo') total = decode<IndexResult>(completed.result?.payloads?.[0])?.split.frameCount ?? total;
    // Frames of chunks an earlier run encoded count as done.
    if (type === 'indexVideo' && request?.chunks) done += reusedFrames(decode<IndexResult>(completed.result?.payloads?.[0]), request.chunks.frames);
  }
  return {
    renderId: handle.workflowId,
    renderDir: request?.renderDir,
    input: request?.input,
    output: request?.output,
    done,
    total,
    runs: (carried?.runs ?? 0) + 1,
  };
}

function reusedFrames(index: IndexResult | undefined, framesPerChunk: number): number {
  if (!index) return 0;
  let frames = 0;
  for (const number of FrameSet.unpack(index.reusedChunks)) {
    const { first, last } = chunkRange(number - 1, index.split.frameCount, { frames: framesPerChunk, overlap: 0 });
    frames += last - first + 1;
  }
  return frames;
}

export function describeInterrupted(p: InterruptedProgress): string {
  const frames = p.total === null ? 'the video was not split yet' : `${p.done} of ${p.total} frames done`;
  return `render ${p.renderId} is interrupted (${frames}): no start-render is serving it. Run the same start-render command again to resume it; nothing is lost`;
}
