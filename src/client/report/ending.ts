import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import { RENDER_CANCELLED, type RenderProgress, type RenderResult } from '../../workflows/contract';

/** How a closed render ended, read from its result or its failure. */
export type Ending =
  | { state: 'done'; result: RenderResult }
  | { state: 'cancelled'; progress: RenderProgress | undefined; message: string }
  | { state: 'failed' | 'canceled' | 'terminated' | 'timed out'; message: string };

export function endingFromError(err: unknown): Ending {
  if (err instanceof WorkflowFailedError) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure && cause.type === RENDER_CANCELLED) {
      return { state: 'cancelled', progress: cause.details?.[0] as RenderProgress | undefined, message: cause.message };
    }
    const name = cause?.name ?? '';
    if (name === 'CancelledFailure') return { state: 'canceled', message: cause?.message || 'cancelled' };
    if (name === 'TerminatedFailure') return { state: 'terminated', message: cause?.message || 'terminated' };
    if (name === 'TimeoutFailure') return { state: 'timed out', message: cause?.message || 'timed out' };
    return { state: 'failed', message: cause?.message ?? err.message };
  }
  throw err;
}

/** How the render behind `result` ended: its result, or what its failure says. */
export async function settle(result: Promise<RenderResult>): Promise<Ending> {
  try {
    return { state: 'done', result: await result };
  } catch (err) {
    return endingFromError(err);
  }
}

/** One line for a render that has ended. */
export function describeEnding(id: string, e: Ending): string {
  switch (e.state) {
    case 'done':
      return `render ${id} finished: ${e.result.output}`;
    case 'cancelled': {
      const p = e.progress;
      const frames = p ? ` after ${p.done} of ${p.total} frames; the finished frames are kept in ${p.renderDir}` : '';
      return `render ${id} was cancelled${frames} (run the same start-render command again to resume)`;
    }
    default:
      return `render ${id} ${e.state === 'failed' ? 'failed' : `was ${e.state}`}: ${e.message}`;
  }
}
