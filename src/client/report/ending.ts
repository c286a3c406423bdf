import { ApplicationFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { FAILURE_FIXES, RENDER_CANCELLED, type RenderProgress, type RenderResult } from '../../workflows/contract';
import { describeFailureReport, explainFailure, type FailureReport } from './failure';
import type { HintTarget } from './hints';
import { withFlags } from '../setup/render-option-values';

/** How a closed render ended, read from its result or its failure. */
export type Ending =
  | { state: 'done'; result: RenderResult }
  | { state: 'cancelled'; progress: RenderProgress | undefined; message: string }
  | { state: 'failed' | 'canceled' | 'terminated' | 'timed out'; message: string; failure?: FailureReport };

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
    return { state: 'failed', message: withFlags(cause?.message ?? err.message) };
  }
  throw err;
}

/**
 * How the render behind `result` ended: its result, or what its failure says. Given the render's
 * handle, a failure is explained (failure.ts): type, activity, frame and fix, read from its history.
 */
export async function settle(result: Promise<RenderResult>, explain?: { handle: WorkflowHandle; where: HintTarget }): Promise<Ending> {
  try {
    return { state: 'done', result: await result };
  } catch (err) {
    const ending = endingFromError(err);
    if (ending.state !== 'failed' || !explain) return ending;
    const failure = await explainFailure(err, explain.handle, explain.where);
    return failure ? { ...ending, message: `${failure.type}: ${failure.message}`, failure } : ending;
  }
}

/** The cancellation as status --json reports it beside the other failure types. */
export function cancelledFailure(message: string): FailureReport {
  return { type: RENDER_CANCELLED, message, fix: FAILURE_FIXES.renderCancelled.replace('{again}', 'run the same start-render command again') };
}

/** What a person reads for a render that has ended: one line, and for a failure where and what to do. */
export function describeEnding(id: string, e: Ending): string {
  switch (e.state) {
    case 'done':
      return `render ${id} finished: ${e.result.output}`;
    case 'cancelled': {
      const p = e.progress;
      const frames = p ? ` after ${p.done} of ${p.total} frames; the finished frames are kept in ${p.renderDir}` : '';
      // The type is in status --json (cancelledFailure); this line already says what to do.
      return `render ${id} was cancelled${frames} (run the same start-render command again to resume)`;
    }
    default: {
      const head = `render ${id} ${e.state === 'failed' ? 'failed' : `was ${e.state}`}: ${e.message}`;
      return e.state === 'failed' && e.failure ? [head, ...describeFailureReport(e.failure)].join('\n') : head;
    }
  }
}
