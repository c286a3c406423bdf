/*
 * CHANGING THIS WORKFLOW: read the comment at the top of render.ts and docs/changing-the-workflow.md.
 * Every line here is replayed against the histories of renders in flight.
 */
import { allHandlersFinished, condition, continueAsNew, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { ChunkBook, type ChunkRecord } from './chunks';
import { frameInputFor, styleQueueFor, type RenderProgress, type RenderRequest, type RenderResult } from './contract';
import { FrameLedger, type RenderState } from './ledger';
import { canStartWork, nextStep, nextWork, type EncodeWork, type FrameWork } from './plan';
import { renderProgress } from './progress';
import { media, styleActivities } from './proxies';
import type { renderVideo } from './render';
import { endCancelled, type Steering } from './steering';

/**
 * Renders a video chunk by chunk (chunks.ts): an index pass lists the frames, then chunks are
 * extracted, their frames stylized (in any order, or in order when each starts from the previous
 * one's result), each chunk encoded into a segment of the output and deleted, and the segments
 * joined with the audio at the end. Styling starts as soon as the first chunk is extracted; the disk
 * holds only the chunks open at once. What starts next is decided in plan.ts; this file does it.
 */
export async function renderInChunks(request: RenderRequest, carried: RenderState | undefined, steering: Steering): Promise<RenderResult> {
  const render = await ChunkedRender.begin(request, carried, steering);
  await render.runChunks();
  if (steering.cancelled) return endCancelled(request, steering, render.progress);
  return render.join();
}

/** One workflow run of a render: its books, and the activities it starts and waits for. */
class ChunkedRender {
  /** A failure that ends the render (a chunk that cannot be extracted or encoded), raised by the loop. */
  private fatal: unknown;
  /** Extracts and encodes running: a failed one leaves its chunk in its phase, so the chunks cannot tell. */
  private mediaRunning = 0;
  private startedThisRun = 0;
  private readonly style: ReturnType<typeof styleActivities>;

  private constructor(
    private readonly request: RenderRequest,
    private readonly steering: Steering,
    private readonly frames: FrameLedger,
    private readonly chunks: ChunkBook,
    readonly progress: () => RenderProgress,
  ) {
    this.style = styleActivities(request.limits, styleQueueFor(steering.settings));
  }

  /** Answers the progress query from the start; a first run lists the frames, a later one goes on from what was carried. */
  static async begin(request: RenderRequest, carried: RenderState | undefined, steering: Steering): Promise<ChunkedRender> {
    const segmentsDir = `${request.renderDir}/segments`;
    let ledger = carried && FrameLedger.resume(carried, Date.now());
    let book = carried?.chunks && ChunkBook.resume(carried.chunks);
    const progress = (): RenderProgress => ({ ...renderProgress(request, steering, ledger), ...(book && { chunks: book.view(segmentsDir) }) });
    steering.listen(progress);
    if (!ledger || !book) {
      const layers = [...steering.settings.contentLayers, ...steering.settings.styleLayers];
      const index = await media.indexVideo.executeWithOptions({ summary: 'list the frames of the video' }, [
        { input: request.input, renderDir: request.renderDir, size: steering.settings.size, layers, framesPerChunk: request.chunks.frames },
      ]);
      ledger = FrameLedger.start(index.split, steering.settings, steering.paused, Date.now());
      book = ChunkBook.start(index.split.frameCount, request.chunks, steering.settings.init === 'prev-warped', index.reusedChunks);
    }
    steering.phase = 'styling';
    return new ChunkedRender(request, steering, ledger, book, progress);
  }

  private get video() {
    return this.frames.state.split;
  }

  /** Starts, waits and steers until every chunk is encoded or the render is cancelled; continues as new on the way. */
  async runChunks(): Promise<void> {
    const { steering, chunks, frames } = this;
    for (;;) {
      this.startWhatCan();
      // Wait for something to start, the end, a failure that stops the render, or a stall that needs a person.
      await condition(() => this.fatal !== undefined || steering.cancelled || chunks.done || this.canStart() || (!chunks.busy && !steering.paused));
      const step = nextStep({
        failed: this.fatal !== undefined,
        cancelled: steering.cancelled,
        done: chunks.done,
        runFull: this.startedThisRun >= this.request.limits.framesPerRun || workflowInfo().continueAsNewSuggested,
        framesLeft: frames.hasRetry || chunks.framesLeft,
        canStart: this.canStart(),
        busy: chunks.busy,
        paused: steering.paused,
      });
      if (step === 'fail') {
        await condition(() => this.quiet());
        throw this.fatal;
      }
      if (step === 'end') break;
      if (step === 'continue-as-new' && !(await this.continueAsNew())) break;
      if (step !== 'needs-attention') continue;
      const decision = await steering.needsAttention();
      if (decision === 'cancel') break;
      if (decision === 'skip') chunks.skip(frames.takeFailed());
      else frames.retryFailed();
    }
    await condition(() => !this.chunks.busy);
  }

  /** Keeps each run's history small; only with nothing in flight, so no result is lost. False when cancelled meanwhile. */
  private async continueAsNew(): Promise<false> {
    await condition(() => this.quiet() && allHandlersFinished());
    if (this.fatal !== undefined) throw this.fatal;
    if (this.steering.cancelled) return false;
    const { frames, chunks, steering } = this;
    return continueAsNew<typeof renderVideo>(this.request, { ...frames.carry(steering.settings, steering.paused), chunks: chunks.carry() });
  }

  /** New frames start only while not paused and fewer than the window (lead-ins included) are in flight. */
  private mayStartFrame(): boolean {
    return !this.steering.paused && this.chunks.framesInFlight < this.request.limits.window;
  }

  private canStart(): boolean {
    return canStartWork(this.chunks, this.frames, this.mayStartFrame());
  }

  /** Starts everything plan.ts's nextWork says can start now. */
  private startWhatCan(): void {
    for (let work = nextWork(this.chunks, this.frames, this.mayStartFrame()); work; work = nextWork(this.chunks, this.frames, this.mayStartFrame())) {
      if (work.kind === 'encode') this.guard(this.encode(work));
      else if (work.kind === 'extract') this.guard(this.extract(work.chunk));
      else if (work.kind === 'reused') this.frames.recordReused(work.frames);
      else {
        void this.runFrame(work);
        this.startedThisRun++;
      }
    }
  }

  /** A chunk's extraction or encoding that fails ends the render: the loop raises it. */
  private guard(work: Promise<void>): void {
    this.mediaRunning++;
    void work.catch((err: unknown) => void (this.fatal ??= err)).finally(() => void this.mediaRunning--);
  }

  /** Nothing of this run is in flight: after a fatal failure, every other activity has ended (its chunk may stay mid-phase). */
  private quiet(): boolean {
    return this.fatal === undefined ? !this.chunks.busy : this.mediaRunning === 0 && !this.chunks.framesRunning;
  }

  private async extract(chunk: ChunkRecord): Promise<void> {
    const { request, video } = this;
    await media.extractChunk.executeWithOptions({ summary: `extract frames ${chunk.leadFirst}-${chunk.last} (chunk ${chunk.index + 1} of ${this.chunks.state.count})` }, [
      { input: request.input, renderDir: request.renderDir, chunk: chunk.index, first: chunk.leadFirst, last: chunk.last, width: video.width, height: video.height },
    ]);
    this.chunks.extracted(chunk.index);
  }

  /** Runs one frame (or a lead-in frame, which only a cross-fade needs) and books its result or failure. */
  private async runFrame({ chunk, frame, lead, previous }: FrameWork): Promise<void> {
    const { chunks, frames, video } = this;
    chunks.frameStarted(chunk, frame);
    if (!lead) frames.started(frame, Date.now());
    try {
      const input = frameInputFor(this.request, this.steering.settings, video.frameCount, { frame, chunk: chunk.index, lead, previous });
      const result = await this.style.stylizeFrame.executeWithOptions({ summary: `${lead ? 'lead-in ' : ''}frame ${frame} of ${video.frameCount}` }, [input]);
      // Shown by `list` and the Web UI; workers on a cluster are only known once they report.
      if (!lead && frames.record(result)) upsertMemo({ backend: frames.state.backends.join(', ') });
    } catch (err) {
      // A lead-in frame that fails only loses its cross-fade: the previous chunk keeps its own frames.
      if (!lead) frames.fail(frame, err, this.request.limits.frameAttempts);
    } finally {
      chunks.frameEnded(chunk);
      if (!lead) frames.ended(frame, Date.now());
    }
  }

  private async encode({ chunk, blendWith }: EncodeWork): Promise<void> {
    const { chunks, request } = this;
    chunks.encodeStarted(chunk);
    await media.encodeChunk.executeWithOptions({ summary: `encode frames ${chunk.first}-${chunk.last} (chunk ${chunk.index + 1} of ${chunks.state.count})` }, [
      {
        renderDir: request.renderDir,
        chunk: chunk.index,
        first: chunk.first,
        last: chunk.last,
        frameRate: this.video.frameRate,
        unstyled: chunks.skippedIn(chunk.first, chunk.last),
        blendWith,
        keepFrames: chunks.state.options.keepFrames,
      },
    ]);
    chunks.encoded(chunk.index);
  }

  /** Joins the segments with the audio into the output and reports the render. */
  async join(): Promise<RenderResult> {
    const { request, steering, video } = this;
    steering.phase = 'assembling';
    const assembly = await media.joinChunks.executeWithOptions({ summary: 'join the segments and mux the audio' }, [
      { renderDir: request.renderDir, input: request.input, output: request.output, split: video, chunks: this.chunks.state.count },
    ]);
    steering.phase = 'done';
    await condition(allHandlersFinished);
    return {
      ...this.progress(),
      output: request.output,
      frameRate: video.frameRate,
      hasAudio: video.hasAudio,
      skipped: this.chunks.skipped.view(),
      streams: assembly.streams,
      elapsedSeconds: (Date.now() - this.frames.state.startedAt) / 1000,
      outputFingerprint: assembly.output,
    };
  }
}
