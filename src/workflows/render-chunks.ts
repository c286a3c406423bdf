/*
 * CHANGING THIS WORKFLOW: read the comment at the top of render.ts and docs/changing-the-workflow.md.
 * Every line here is replayed against the histories of chunked renders in flight.
 */
import { allHandlersFinished, condition, continueAsNew, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { ChunkBook, type ChunkRecord, type ChunkWork } from './chunks';
import { styleQueueFor, type RenderProgress, type RenderRequest, type RenderResult } from './contract';
import { FrameLedger, type RenderState } from './ledger';
import { renderProgress } from './progress';
import { media, styleActivities } from './proxies';
import type { renderVideo } from './render';
import { endCancelled, type Steering } from './steering';

type FrameWork = Extract<ChunkWork, { kind: 'frame' }>;

/**
 * Renders a video chunk by chunk (chunks.ts): an index pass lists the frames, then chunks are
 * extracted, their frames stylized (in any order, or in order when each starts from the previous
 * one's result), each chunk encoded into a segment of the output and deleted, and the segments
 * joined with the audio at the end. Styling starts as soon as the first chunk is extracted; the disk
 * holds only the chunks open at once. Steering, failures and continue-as-new work as in render.ts.
 */
export async function renderInChunks(request: RenderRequest, carried: RenderState | undefined, steering: Steering): Promise<RenderResult> {
  const { limits } = request;
  const segmentsDir = `${request.renderDir}/segments`;
  let ledger = carried && FrameLedger.resume(carried, Date.now());
  let book = carried?.chunks && ChunkBook.resume(carried.chunks);
  const progress = (): RenderProgress => ({ ...renderProgress(request, steering, ledger), ...(book && { chunks: book.view(segmentsDir) }) });
  steering.listen(progress);

  if (!ledger || !book) {
    const layers = [...steering.settings.contentLayers, ...steering.settings.styleLayers];
    const index = await media.indexVideo.executeWithOptions({ summary: 'list the frames of the video' }, [
      { input: request.input, renderDir: request.renderDir, size: steering.settings.size, layers, framesPerChunk: request.chunks!.frames },
    ]);
    ledger = FrameLedger.start(index.split, steering.settings, steering.paused, Date.now());
    book = ChunkBook.start(index.split.frameCount, request.chunks!, steering.settings.init === 'prev-warped', index.reusedChunks);
  }
  const frames = ledger;
  const chunks = book;
  const video = frames.state.split;
  steering.phase = 'styling';

  const style = styleActivities(limits, styleQueueFor(steering.settings));
  /** A failure that ends the render (a chunk that cannot be extracted or encoded), raised by the main loop. */
  let fatal: unknown;
  /** Extracts and encodes running: a failed one leaves its chunk in its phase, so the chunks cannot tell. */
  let mediaRunning = 0;
  const guard = (work: Promise<void>) => {
    mediaRunning++;
    void work.catch((err: unknown) => void (fatal ??= err)).finally(() => void mediaRunning--);
  };
  /** Nothing of this run is in flight: after a fatal failure, every other activity has ended (its chunk may stay mid-phase). */
  const quiet = () => (fatal === undefined ? !chunks.busy : mediaRunning === 0 && !chunks.framesRunning);

  const extract = async (chunk: ChunkRecord) => {
    await media.extractChunk.executeWithOptions({ summary: `extract frames ${chunk.leadFirst}-${chunk.last} (chunk ${chunk.index + 1} of ${chunks.state.count})` }, [
      { input: request.input, renderDir: request.renderDir, chunk: chunk.index, first: chunk.leadFirst, last: chunk.last, width: video.width, height: video.height },
    ]);
    chunks.extracted(chunk.index);
  };

  const runFrame = async ({ chunk, frame, lead, previous }: FrameWork) => {
    chunks.frameStarted(chunk, frame);
    if (!lead) frames.started(frame, Date.now());
    try {
      const input = { renderDir: request.renderDir, style: request.style, ...(request.styles ? { styles: request.styles } : {}), frame, frameCount: video.frameCount, settings: steering.settings };
      const result = await style.stylizeFrame.executeWithOptions({ summary: `${lead ? 'lead-in ' : ''}frame ${frame} of ${video.frameCount}` }, [
        { ...input, checkpointEvery: limits.checkpointEvery, degradeAfterOoms: limits.degradeAfterOoms, chunk: chunk.index, lead, previous },
      ]);
      if (!lead && frames.record(result)) upsertMemo({ backend: frames.state.backends.join(', ') });
    } catch (err) {
      // A lead-in frame that fails only loses its cross-fade: the previous chunk keeps its own frames.
      if (!lead) frames.fail(frame, err, limits.frameAttempts);
    } finally {
      chunks.frameEnded(chunk);
      if (!lead) frames.ended(frame, Date.now());
    }
  };

  const encode = async ({ chunk, blendWith }: Extract<ChunkWork, { kind: 'encode' }>) => {
    chunks.encodeStarted(chunk);
    await media.encodeChunk.executeWithOptions({ summary: `encode frames ${chunk.first}-${chunk.last} (chunk ${chunk.index + 1} of ${chunks.state.count})` }, [
      {
        renderDir: request.renderDir,
        chunk: chunk.index,
        first: chunk.first,
        last: chunk.last,
        frameRate: video.frameRate,
        unstyled: chunks.skippedIn(chunk.first, chunk.last),
        blendWith,
        keepFrames: chunks.state.options.keepFrames,
      },
    ]);
    chunks.encoded(chunk.index);
  };

  /** New frames start only while not paused and fewer than the window (lead-ins included) are in flight. */
  const mayStartFrame = () => !steering.paused && chunks.framesInFlight < limits.window;
  const readyToEncode = () => chunks.nextEncode((first, last) => frames.unresolvedIn(first, last));

  /** A retried frame first, then the chunks' next frame. */
  const nextFrame = (): FrameWork | undefined => {
    if (!mayStartFrame()) return undefined;
    const retry = frames.takeRetry();
    if (retry !== undefined) {
      const chunk = chunks.chunkOf(retry)!;
      return { kind: 'frame', chunk, frame: retry, lead: false, previous: chunks.previousOf(chunk, retry) };
    }
    return chunks.nextFrame();
  };

  /** Starts everything that can start now; returns how many frames it started. */
  const startWhatCan = (): number => {
    let started = 0;
    for (;;) {
      const encoding = readyToEncode();
      if (encoding) {
        guard(encode(encoding));
        continue;
      }
      const opened = chunks.openNext();
      if (opened && 'extract' in opened) {
        guard(extract(opened.extract));
        continue;
      }
      if (opened) {
        frames.recordReused(opened.reusedFrames);
        continue;
      }
      const work = nextFrame();
      if (!work) return started;
      void runFrame(work);
      started++;
    }
  };

  const canStart = () => readyToEncode() !== undefined || chunks.canOpen || (mayStartFrame() && (frames.hasRetry || chunks.nextFrame() !== undefined));

  let startedThisRun = 0;
  for (;;) {
    startedThisRun += startWhatCan();
    // Wait for something to start, the end, a failure that stops the render, or a stall that needs a person.
    await condition(() => fatal !== undefined || steering.cancelled || chunks.done || canStart() || (!chunks.busy && !steering.paused));
    if (fatal !== undefined) {
      await condition(quiet);
      throw fatal;
    }
    if (steering.cancelled || chunks.done) break;
    if ((startedThisRun >= limits.framesPerRun || workflowInfo().continueAsNewSuggested) && (frames.hasRetry || chunks.framesLeft)) {
      // Keeps each run's history small; only with nothing in flight, so no result is lost.
      await condition(() => quiet() && allHandlersFinished());
      if (fatal !== undefined) throw fatal;
      if (steering.cancelled) break;
      await continueAsNew<typeof renderVideo>(request, { ...frames.carry(steering.settings, steering.paused), chunks: chunks.carry() });
    }
    if (canStart() || chunks.busy || steering.paused) continue;
    // Stalled: nothing runs and nothing can start, so failed frames hold a chunk back. A person decides.
    const decision = await steering.needsAttention();
    if (decision === 'cancel') break;
    if (decision === 'skip') chunks.skip(frames.takeFailed());
    else frames.retryFailed();
  }

  await condition(() => !chunks.busy);
  if (steering.cancelled) return endCancelled(request, steering, progress);

  steering.phase = 'assembling';
  const assembly = await media.joinChunks.executeWithOptions({ summary: 'join the segments and mux the audio' }, [
    { renderDir: request.renderDir, input: request.input, output: request.output, split: video, chunks: chunks.state.count },
  ]);
  steering.phase = 'done';
  await condition(allHandlersFinished);
  return {
    ...progress(),
    output: request.output,
    frameRate: video.frameRate,
    hasAudio: video.hasAudio,
    skipped: chunks.skipped.view(),
    streams: assembly.streams,
    elapsedSeconds: (Date.now() - frames.state.startedAt) / 1000,
    outputFingerprint: assembly.output,
  };
}
