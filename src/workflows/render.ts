/*
 * CHANGING THIS WORKFLOW: renders run for days, and every line here is replayed against the
 * histories of renders already in flight. A change that alters which commands the workflow issues,
 * or their order (a new activity, timer, memo upsert, a different window or chunk order), breaks
 * them unless it is guarded with `patched()` or shipped with worker versioning. `npm test` replays
 * recorded histories (test/replay/) and fails on such a change. Read docs/changing-the-workflow.md
 * before editing; re-record fixtures (npm run record-histories) only for new scenarios.
 */
import { CancellationScope } from '@temporalio/workflow';
import type { RenderRequest, RenderResult } from './contract';
import type { RenderState } from './ledger';
import { Steering } from './steering';
import { renderInChunks } from './render-chunks';

export type { RenderState } from './ledger';

/**
 * Renders one video chunk by chunk (render-chunks.ts): list its frames, then extract, stylize through
 * a bounded window of activities, and encode a few hundred frames at a time, and join the segments.
 * Deterministic orchestration only; all I/O lives in the activities, the bookkeeping in FrameLedger
 * (ledger.ts) and ChunkBook (chunks.ts), what a person steers in Steering (steering.ts).
 *
 * Steering: `setEpochs` / `updateEpochs` change the settings frames not yet started get; `pause`
 * and `resume` gate new frames; `cancelRender` (or a Temporal cancellation request) stops new
 * frames, lets the ones in flight finish and ends the workflow with a `RenderCancelled` failure
 * whose details hold the final progress.
 */
export async function renderVideo(request: RenderRequest, carried?: RenderState): Promise<RenderResult> {
  const steering = new Steering(carried?.settings ?? request.settings, carried?.paused ?? false, carried ? 'styling' : 'splitting');
  // A Temporal cancellation request is handled like the cancelRender signal: the body runs in a
  // non-cancellable scope so frames in flight are not interrupted, and it notices the request here.
  CancellationScope.current().cancelRequested.catch(() => steering.requestCancel());
  return CancellationScope.nonCancellable(() => renderInChunks(request, carried, steering));
}
