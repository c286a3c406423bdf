import type { Command } from 'commander';
import { basename, dirname, extname, join } from 'node:path';
import { writeFileAtomic } from '../../common/atomic';
import { renderPaths } from '../../common/render-paths';
import { framePath } from '../../media';
import { createStyleRuntime } from '../../worker/engine';
import { localActivities } from '../../worker/local-activities';
import { UsageError } from '../../cli-common/errors';
import { wholeFlag } from '../../cli-common/flags';
import type { Io } from '../../cli-common/io';
import { contactSheet } from '../report/contact-sheet';
import { defaultLocalWorkers } from '../server/local-workers';
import { formatDuration } from '../report/progress';
import { buildRenderRequest, type RenderFlags } from '../setup/render-options';
import { chunkCount, chunkIndexOf, chunkRange, frameInputFor } from '../../workflows/contract';
import type { ChunkOptions } from '../../workflows/chunks';
import { DEFAULT_RUN_UP, type StyleSettings } from '../../engine/settings';
import { shareStylizedFrames } from '../setup/shared-frames';
import { engineOptions, renderOptions } from './options';

export interface PreviewOptions extends RenderFlags {
  weights?: string;
  backend?: string;
  cacheDir?: string;
  /** Comma-separated frame numbers (1-based); default first, middle and last. */
  frames?: string;
  /** Style workers the render would have on this machine; default as start-render. */
  localWorkers?: string;
}

export interface PreviewOutcome {
  sheet: string;
  frames: number[];
  frameCount: number;
  renderId: string;
  renderDir: string;
  /** Mean seconds per computed frame; null when every frame was already rendered. */
  secondsPerFrame: number | null;
  /** Seconds the whole render would take with `workers` (projectRenderSeconds); null without a measurement. */
  projectedSeconds: number | null;
  /** `--init prev-warped`: the render computes every frame again, in order. */
  coherent: boolean;
  workers: number;
  reused: number;
  backend: string;
}

/**
 * Seconds the render of the frames not yet rendered would take, from the seconds a previewed frame
 * took (from its content, every epoch). Independent frames (`--init content`): the others, shared
 * among the workers. Coherent ones (`--init prev-warped`): every frame again (they start from their
 * predecessors, which a preview's frames do not), each chunk's chain one frame at a time — its
 * first frame every epoch plus its run-up's later epochs, every other frame and lead-in the later
 * epochs, its ceiling (the stop rule ends most sooner: a bound, not an estimate) — with as many
 * chains at once as workers and open chunks allow.
 */
export function projectRenderSeconds(
  secondsPerFrame: number,
  { frameCount, previewed, workers, settings, chunks }: { frameCount: number; previewed: number; workers: number; settings: StyleSettings; chunks: ChunkOptions },
): number {
  if (settings.init !== 'prev-warped') return ((frameCount - previewed) * secondsPerFrame) / workers;
  const later = (settings.laterEpochs ?? settings.epochs) / settings.epochs;
  const count = chunkCount(frameCount, chunks.frames);
  let frames = 0; // in frames of every epoch
  for (let i = 0; i < count; i++) {
    const range = chunkRange(i, frameCount, chunks);
    const chain = range.last - range.leadFirst + 1;
    frames += 1 + Math.min(settings.runUp ?? DEFAULT_RUN_UP, chain - 1) * later + (chain - 1) * later;
  }
  return (frames * secondsPerFrame) / Math.max(1, Math.min(workers, chunks.open, count));
}

/** `out.mp4` → `out.preview.png`, next to the output. */
export function previewPath(output: string): string {
  return join(dirname(output), `${basename(output, extname(output))}.preview.png`);
}

/** The frames --frames names, checked syntactically; the range is checked once the frame count is known. */
export function parseFrameList(value: string): number[] {
  const items = value.split(',').map((s) => s.trim());
  const frames = items.map(Number);
  if (items.some((s) => s === '') || frames.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new UsageError(`--frames takes frame numbers from 1, separated by commas, e.g. --frames 1,120,240 (got "${value}")`);
  }
  return [...new Set(frames)].sort((a, b) => a - b);
}

/** First, middle and last. */
export function representativeFrames(frameCount: number): number[] {
  return [...new Set([1, Math.max(1, Math.floor((frameCount + 1) / 2)), frameCount])];
}

/**
 * `preview`: stylizes a few frames with exactly the render's settings, in the render's own
 * directory (so `start-render` with the same flags reuses them), writes a contact sheet next to
 * the output, and says how long a frame takes here and the whole video would take.
 */
export async function preview(opts: PreviewOptions, io: Io): Promise<PreviewOutcome> {
  const wanted = opts.frames === undefined ? undefined : parseFrameList(opts.frames);
  const request = await buildRenderRequest(opts);
  const style = await createStyleRuntime({ weights: opts.weights, backend: opts.backend, cacheDir: opts.cacheDir, log: io.out });
  try {
    const workers = wholeFlag(opts.localWorkers, '--local-workers', defaultLocalWorkers(style.engine.backend.name));
    const { settings, renderDir } = request;
    // renderDir is <work>/renders/<id>. The same rule as an embedded start-render: write only in the work directory and next to the output.
    const run = localActivities(style, { workRoot: dirname(dirname(renderDir)), outputRoots: [dirname(request.output)] });
    // The render's own index and chunks: same frames, same place; the render finds them done.
    const chunking = request.chunks;
    const { split } = await run.index({
      input: request.input,
      renderDir,
      size: settings.size,
      layers: [...settings.contentLayers, ...settings.styleLayers],
      framesPerChunk: chunking.frames,
    });
    // Frames renders of the same video, style and settings to other outputs made are reused here too.
    await shareStylizedFrames(request);
    const frames = wanted ?? representativeFrames(split.frameCount);
    const outside = frames.filter((f) => f > split.frameCount);
    if (outside.length) throw new UsageError(`--frames ${outside.join(', ')}: the video has ${split.frameCount} frames (1–${split.frameCount})`);

    const records = [];
    const overlap = settings.init === 'prev-warped' ? chunking.overlap : 0;
    const chunkOf = (frame: number) => chunkIndexOf(frame, chunking.frames);
    for (const frame of frames) {
      // Only the chunk that holds the frame is extracted, exactly as the render will extract it.
      const chunk = chunkOf(frame);
      const range = chunkRange(chunk, split.frameCount, { frames: chunking.frames, overlap });
      io.status(`preview: extracting frames ${range.leadFirst}-${range.last} for frame ${frame}`);
      await run.extractChunk({ input: request.input, renderDir, chunk, first: range.leadFirst, last: range.last, width: split.width, height: split.height });
      io.status(`preview: stylizing frame ${frame} (${records.length + 1} of ${frames.length})`);
      // A look at the frame, not a chain's start: no run-up (the render computes its chain starts again).
      records.push(await run.stylize(frameInputFor(request, settings, split.frameCount, { frame, chunk, alone: true })));
    }
    io.status('');
    const paths = renderPaths(renderDir);
    const sheet = previewPath(request.output);
    await writeFileAtomic(
      sheet,
      await contactSheet(frames.map((frame) => ({ frame, original: framePath(paths.chunk(chunkOf(frame)).frames, frame), stylized: framePath(paths.styled, frame) }))),
    );
    const computed = records.filter((r) => !r.reused);
    const secondsPerFrame = computed.length ? computed.reduce((s, r) => s + r.seconds, 0) / computed.length : null;
    const projectedSeconds =
      secondsPerFrame === null ? null : projectRenderSeconds(secondsPerFrame, { frameCount: split.frameCount, previewed: frames.length, workers, settings, chunks: { ...chunking, overlap } });
    return {
      sheet,
      frames,
      frameCount: split.frameCount,
      renderId: request.renderId,
      renderDir,
      secondsPerFrame,
      projectedSeconds,
      coherent: settings.init === 'prev-warped',
      workers,
      reused: records.length - computed.length,
      backend: style.engine.backend.name,
    };
  } finally {
    style.engine.dispose();
  }
}

export function describePreview(p: PreviewOutcome): string[] {
  const lines = [`preview: ${p.sheet}`, `  frames ${p.frames.join(', ')} of ${p.frameCount}: the original above, stylized below`];
  if (p.secondsPerFrame === null) {
    lines.push('  every one of these frames was already rendered with these settings, so nothing was measured');
  } else {
    const workers = `${p.workers} style worker${p.workers === 1 ? '' : 's'}`;
    lines.push(`  ${p.secondsPerFrame.toFixed(2)} s per frame on this machine (${p.backend} backend)`);
    const others = p.frameCount - p.frames.length;
    lines.push(
      p.coherent
        ? `  the whole video: at most ${formatDuration(p.projectedSeconds!)} for its ${p.frameCount} frame${p.frameCount === 1 ? '' : 's'} with ${workers}` +
            ` (prev-warped: start-render renders every frame in order, from its predecessor; a frame after a chain's first stops once it is back at the chain's loss, within the later epochs, which this counts: render ${p.renderId})`
        : `  the whole video: about ${formatDuration(p.projectedSeconds!)} for the other ${others} frame${others === 1 ? '' : 's'} with ${workers}` +
            ` (start-render with the same flags reuses these ${p.frames.length}: render ${p.renderId})`,
    );
  }
  return lines;
}

export function register(program: Command, io: Io): Command {
  return engineOptions(
    renderOptions(
      program
        .command('preview')
        .description(
          'stylize a few frames (first, middle, last) with exactly the render\'s settings, write a contact sheet next to the output, ' +
            'and say how long the whole video would take; start-render with the same flags reuses those frames',
        ),
      'start',
    )
      .option('--frames <list>', 'frame numbers to preview, e.g. 1,120,240 (default: first, middle and last)')
      .option('--local-workers <n>', 'style workers the render would run on this machine (default: as start-render)'),
  ).action(async (opts: PreviewOptions) => {
    for (const line of describePreview(await preview(opts, io))) io.out(line);
  });
}
