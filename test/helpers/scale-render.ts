/**
 * A long render through a real dev server and real workers with the copy engine: the proof at scale
 * that `npm test` runs at 3,000 frames and `npm run bench -- --only scale` at 20,000. It reads back
 * every run's history from the server, the output's frames (each frame's brightness encodes its
 * number, so a frame lost, doubled or out of order shows), and samples the render's disk use.
 */
import type { Client } from '@temporalio/client';
import { execFile } from 'node:child_process';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildRenderRequest, type RenderFlags } from '../../src/client/setup/render-options';
import { startEmbeddedServer } from '../../src/client/server/embedded-server';
import { startOrAttach } from '../../src/client/commands/start-render';
import { ffmpegPaths } from '../../src/media';
import { createWorkers, runWorkers } from '../../src/worker/workers';
import type { RenderResult } from '../../src/workflows/contract';
import { makeClip, makeStyleImage } from './media-fixtures';

const run = promisify(execFile);

/** Brightness of frame n (0-based) of the generated clip: far apart for neighbours, so a swap or a copy shows. */
export const levelOf = (n: number) => 16 + ((n * 37) % 220);

/** A clip whose frame n is flat grey at levelOf(n), with a tone. */
export async function makeCountingClip(path: string, frames: number, rate = 25): Promise<string> {
  const seconds = (frames / rate).toFixed(6);
  const video = `color=c=black:s=32x24:r=${rate},trim=end_frame=${frames},geq=lum='16+mod(N*37\\,220)':cb=128:cr=128,format=yuv420p`;
  await run(ffmpegPaths().ffmpeg, [
    '-v', 'error', '-y',
    '-f', 'lavfi', '-i', video,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
    '-map', '0:v', '-map', '1:a', '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-c:a', 'aac', '-b:a', '64k', path,
  ], { maxBuffer: 1 << 26 });
  return path;
}

/** Mean brightness of every frame of a video, in order. */
export async function frameLevels(path: string): Promise<number[]> {
  const { stdout } = await run(
    ffmpegPaths().ffmpeg,
    ['-v', 'error', '-i', path, '-map', '0:v:0', '-vf', 'signalstats,metadata=print:key=lavfi.signalstats.YAVG:file=-', '-f', 'null', '-'],
    { maxBuffer: 1 << 28 },
  );
  return [...stdout.matchAll(/YAVG=([\d.]+)/g)].map((m) => Number(m[1]));
}

interface DiskUse {
  bytes: number;
  /** Frame images (content, stylized, encoder links). */
  frames: number;
  /** Extracted content frames and their bytes: what a whole split would hold for every frame. */
  contentFrames: number;
  contentBytes: number;
}

/** What is on disk under `path`. */
async function diskUse(path: string): Promise<DiskUse> {
  const s = await lstat(path).catch(() => undefined);
  const total: DiskUse = { bytes: 0, frames: 0, contentFrames: 0, contentBytes: 0 };
  if (!s) return total;
  if (!s.isDirectory()) {
    const frame = /frame_\d+\.png$/.test(path);
    const content = frame && s.isFile() && /[/\\]chunks[/\\]\d+[/\\]frames[/\\]/.test(path);
    return { bytes: s.size, frames: frame ? 1 : 0, contentFrames: content ? 1 : 0, contentBytes: content ? s.size : 0 };
  }
  for (const name of await readdir(path).catch(() => [] as string[])) {
    const u = await diskUse(join(path, name));
    total.bytes += u.bytes;
    total.frames += u.frames;
    total.contentFrames += u.contentFrames;
    total.contentBytes += u.contentBytes;
  }
  return total;
}

/** Events in each run of a workflow, first run first, following continue-as-new. */
export async function historyEventsPerRun(client: Client, workflowId: string, firstRunId: string): Promise<number[]> {
  const counts: number[] = [];
  let runId: string | undefined = firstRunId;
  while (runId) {
    const history: Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>> = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    counts.push(events.length);
    runId = events[events.length - 1]?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return counts;
}

export interface ScaleReport {
  result: RenderResult;
  input: string;
  output: string;
  eventsPerRun: number[];
  peakDiskBytes: number;
  /** Most frame images (content, stylized, links) on disk at once. */
  peakFrameFiles: number;
  /** Mean size of an extracted frame: a whole split would take frameCount times this. */
  meanContentFrameBytes: number;
  seconds: number;
  /** Seconds from the start until the first frame was done (styling starts once the first chunk is extracted). */
  firstFrameSeconds: number;
}

/**
 * Renders a generated clip of `frames` frames with the copy engine: the counting clip (32×24, each
 * frame its own grey level) by default, or with `textured` a testsrc2 clip of that size, whose
 * frames weigh what real frames do on disk.
 */
export async function renderAtScale(
  dir: string,
  frames: number,
  flags: Partial<RenderFlags> = {},
  textured?: { width: number; height: number },
): Promise<ScaleReport> {
  const input = textured
    ? await makeClip({ path: join(dir, `textured-${frames}.mp4`), ...textured, rate: '25', frames, audio: true })
    : await makeCountingClip(join(dir, `count-${frames}.mp4`), frames);
  const style = await makeStyleImage(join(dir, 'style.png'), 16, 16);
  const output = join(dir, `count-${frames}-out.mp4`);
  const workDir = join(dir, 'work');
  const server = await startEmbeddedServer(workDir);
  try {
    const request = await buildRenderRequest({ input, style, output, workDir, engine: 'copy', size: '32', window: '16', ...flags });
    const workers = await createWorkers({
      connection: server.env.nativeConnection,
      queues: ['media', 'style'],
      engine: 'copy',
      paths: { workRoot: workDir, outputRoots: [dir] },
      styleConcurrency: request.limits.window,
    });
    const running = runWorkers(workers);
    try {
      const started = performance.now();
      const handle = await startOrAttach(server.env.client, request, {});
      let peakDiskBytes = 0;
      let peakFrameFiles = 0;
      let contentBytes = 0;
      let contentFrames = 0;
      let firstFrameSeconds = NaN;
      let finished = false;
      const result = handle.result().finally(() => (finished = true));
      while (!finished) {
        const use = await diskUse(request.renderDir);
        peakDiskBytes = Math.max(peakDiskBytes, use.bytes);
        peakFrameFiles = Math.max(peakFrameFiles, use.frames);
        contentBytes += use.contentBytes;
        contentFrames += use.contentFrames;
        if (Number.isNaN(firstFrameSeconds)) {
          const p = await handle.query('progress').catch(() => undefined) as { done?: number } | undefined;
          if (p?.done) firstFrameSeconds = (performance.now() - started) / 1000;
        }
        await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 200))]);
      }
      const done = (await result) as RenderResult;
      const seconds = (performance.now() - started) / 1000;
      const description = await handle.describe();
      const first = await server.env.client.workflow.getHandle(request.renderId).describe();
      const firstRunId = (first.raw.workflowExecutionInfo?.firstRunId as string | undefined) ?? description.runId;
      const eventsPerRun = await historyEventsPerRun(server.env.client, request.renderId, firstRunId);
      return { result: done, input, output, eventsPerRun, peakDiskBytes, peakFrameFiles, meanContentFrameBytes: contentFrames ? contentBytes / contentFrames : 0, seconds, firstFrameSeconds };
    } finally {
      for (const w of workers) w.shutdown();
      await running;
    }
  } finally {
    await server.stop();
  }
}
