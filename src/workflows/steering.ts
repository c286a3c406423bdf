/**
 * What a person steers while a render runs — settings for frames not yet started, pause, cancel,
 * the needs-attention decision — and the memo `list` and the Web UI read. The handlers only change
 * this state; the workflow's loop (render.ts) waits on it.
 */
import { ApplicationFailure, allHandlersFinished, condition, setHandler, upsertMemo } from '@temporalio/workflow';
import {
  cancelRenderSignal,
  pauseSignal,
  RENDER_CANCELLED,
  progressQuery,
  resumeSignal,
  retryFailedSignal,
  setEpochsSignal,
  skipFailedSignal,
  updateEpochs,
  workersSignal,
  type RenderMemoState,
  type RenderPhase,
  type RenderProgress,
  type RenderRequest,
} from './contract';
import type { StyleSettings } from '../engine/settings';
import { epochsError } from './validation';

export class Steering {
  private cancelRequested = false;
  private decision: 'retry' | 'skip' | undefined;
  private memoState: RenderMemoState;
  /** The last workersSignal text, so a repeated one changes nothing. */
  private workersNote = '';

  constructor(
    public settings: StyleSettings,
    public paused: boolean,
    public phase: RenderPhase,
  ) {
    this.memoState = paused ? 'paused' : 'running';
  }

  /** A cancelRender signal or a Temporal cancellation request has arrived. */
  get cancelled(): boolean {
    return this.cancelRequested;
  }

  requestCancel(): void {
    this.cancelRequested = true;
  }

  /** Registers the signal, update and query handlers; `progress` answers the query. */
  listen(progress: () => RenderProgress): void {
    setHandler(progressQuery, progress);
    setHandler(setEpochsSignal, (epochs) => {
      // A signal cannot answer; invalid values are dropped so they never reach a frame.
      if (epochsError(epochs) === undefined) this.changeEpochs(epochs);
    });
    setHandler(updateEpochs, (epochs) => this.changeEpochs(epochs), {
      validator: (epochs) => {
        const error = epochsError(epochs);
        if (error) throw new Error(error);
        if (!this.canStillChange()) throw new Error(`the render is ${this.phase}; every frame has already started`);
      },
    });
    setHandler(retryFailedSignal, () => void (this.decision = 'retry'));
    setHandler(skipFailedSignal, () => void (this.decision = 'skip'));
    setHandler(pauseSignal, () => {
      if (!this.canStillChange()) return;
      this.paused = true;
      if (this.phase !== 'needs-attention') this.setMemoState('paused');
    });
    setHandler(resumeSignal, () => {
      this.paused = false;
      if (this.phase !== 'needs-attention' && this.canStillChange()) this.setMemoState('running');
    });
    // Once the video is being assembled every frame is done: a cancel would only throw the result away.
    setHandler(cancelRenderSignal, () => void (this.canStillChange() && this.requestCancel()));
    // Only a render that received this signal issues the memo command: histories without it replay as before.
    setHandler(workersSignal, (text) => {
      if (text === this.workersNote) return;
      this.workersNote = text;
      upsertMemo({ workers: text || null });
    });
  }

  /** Shown in the progress: where the render is and what it was told. */
  view(): Pick<RenderProgress, 'phase' | 'paused' | 'cancelling' | 'settings'> {
    const cancelling = this.cancelled && this.phase !== 'cancelled' && this.canStillChange();
    return { phase: this.phase, paused: this.paused, cancelling, settings: this.settings };
  }

  /** Waits in needs-attention for retry-failed, skip-failed or a cancel; then styling resumes (or ends). */
  async needsAttention(): Promise<'retry' | 'skip' | 'cancel'> {
    this.phase = 'needs-attention';
    this.setMemoState('needs-attention');
    this.decision = undefined;
    await condition(() => this.decision !== undefined || this.cancelled);
    if (this.cancelled) return 'cancel';
    this.setMemoState(this.paused ? 'paused' : 'running');
    this.phase = 'styling';
    return this.decision!;
  }

  /** Marks the render cancelled once the frames in flight have finished; the caller ends the workflow. */
  async endCancelled(): Promise<void> {
    this.phase = 'cancelled';
    this.setMemoState('cancelled');
    await condition(allHandlersFinished);
  }

  private canStillChange(): boolean {
    return this.phase === 'splitting' || this.phase === 'styling' || this.phase === 'needs-attention';
  }

  private changeEpochs(epochs: number): StyleSettings {
    this.settings = { ...this.settings, epochs };
    return this.settings;
  }

  private setMemoState(next: RenderMemoState): void {
    if (next === this.memoState) return;
    this.memoState = next;
    upsertMemo({ state: next });
  }
}

/** Ends the workflow cancelled, with the final progress in the failure's details. */
export async function endCancelled(request: RenderRequest, steering: Steering, progress: () => RenderProgress): Promise<never> {
  await steering.endCancelled();
  const p = progress();
  throw ApplicationFailure.create({
    type: RENDER_CANCELLED,
    nonRetryable: true,
    message:
      `render cancelled on request after ${p.done} of ${p.total} frames; the finished frames are kept in ` +
      `${request.renderDir} and running the same start-render command again resumes from them`,
    details: [p],
  });
}
