/**
 * What the cluster bench's renders share (scenario.ts, outage.ts): the workers, all started with the
 * stall fault (STARRY_FAULTS=stall@K:S, released by the file STARRY_STALL_RELEASE names), a render
 * started through the real CLI on a copy of the clip, waiting for the stalled frame, and the checks.
 */
import { Client, type WorkflowHandle } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { renderPaths } from '../../src/common/render-paths';
import { framePath } from '../../src/media';
import { progressQuery, type RenderProgress, type RenderResult } from '../../src/workflows/contract';
import { makeClip, makeStyleImage, probeStreams } from '../../test/helpers/media-fixtures';
import { startCli, type Proc } from '../../test/helpers/processes';
import { frameHolder } from '../../test/helpers/steering';
import { writeVggH5 } from '../../test/helpers/tiny-vgg';
import { GiveUp, pollUntil } from './sys';

export interface ScenarioOptions {
  address: string;
  namespace: string;
  dir: string;
  frames: number;
  size: number;
  epochs: number;
  stepsPerEpoch: number;
  /** Seconds without a heartbeat before the server gives the killed worker's frame to another. */
  heartbeatTimeout: number;
  backend: string;
  /** Crashes the Temporal server and starts it again (same ports and database); seconds until it serves. */
  restartServer(): Promise<number>;
  /** The server stays down longer than the SDK retries a call: start-render must say it waits, then that it is back. */
  expectReconnect: boolean;
  /** Restarts PostgreSQL with an immediate shutdown; seconds until it accepts connections. */
  restartPostgres(): Promise<number>;
  log: (line: string) => void;
}


export interface VideoReport {
  frames: number;
  durationSeconds: number;
  expectedSeconds: number;
  audio: string;
}

export const RATE = 25;
/** The frame the victim holds when it is killed, and the step it stalls at (a checkpoint every step: step S-1's is on disk). */
export const STALLED_FRAME = 3;
export const STALL_STEP = 5;

function startWorker(args: string[], env: Record<string, string> = {}): Proc {
  return startCli(['worker', ...args], env);
}

/** The identity the SDK gives a worker that names none (pid@host): what the server records for its tasks. */
function sdkIdentity(proc: Proc): string {
  return `${proc.child.pid}@${hostname()}`;
}

export interface StyleWorker {
  name: string;
  proc: Proc;
  identity: string;
}

/** What the renders of one bench run share: the cluster's workers, the inputs and a client. */
export interface Cluster {
  o: ScenarioOptions;
  client: Client;
  inputs: string;
  style: string;
  workDir: string;
  outDir: string;
  /** The file that lets every stalled frame go on (STARRY_STALL_RELEASE): while it exists nothing stalls. */
  release: string;
  media: Proc;
  styleWorkers: StyleWorker[];
  startStyleWorker(name: string): Promise<StyleWorker>;
}

/** A render in flight: its start-render process and workflow. */
export interface RunningRender {
  name: string;
  proc: Proc;
  handle: WorkflowHandle;
  output: string;
  started: number;
}

/** Starts a render of a copy of the clip named `name` (its own render directory: nothing shared with the others). */
export async function launchRender(c: Cluster, name: string, heartbeatTimeout: number): Promise<RunningRender> {
  const input = join(c.inputs, `${name}.mp4`);
  await copyFile(join(c.inputs, 'clip.mp4'), input);
  const output = join(c.outDir, `${name}-starry.mp4`);
  const o = c.o;
  const started = performance.now();
  const proc = startCli([
    'start-render', '--address', o.address, '--namespace', o.namespace,
    '-i', input, '-s', c.style, '-o', output, '--work-dir', c.workDir,
    '--size', String(o.size), '--epochs', String(o.epochs), '--steps-per-epoch', String(o.stepsPerEpoch),
    // A checkpoint every step: wherever the kill lands, the frame has one to resume from.
    '--checkpoint-every', '1', '--heartbeat-timeout', String(heartbeatTimeout), '--window', '2',
    // Chunked renders delete a chunk's stylized frames once its segment is encoded; the checks compare them.
    '--keep-frames',
  ]);
  const renderId = (await proc.waitFor(/render (\S+) on /))[1]!;
  o.log(`render ${renderId} (${name}) started: ${o.frames} frames, ${o.size} px, ${o.epochs}×${o.stepsPerEpoch} steps`);
  return { name, proc, handle: c.client.workflow.getHandle(renderId), output, started };
}

/** Waits for start-render to succeed; the render's result and its seconds. */
export async function finishRender(r: RunningRender): Promise<{ result: RenderResult; seconds: number }> {
  const exit = await r.proc.exited;
  const seconds = (performance.now() - r.started) / 1000;
  if (exit.code !== 0) throw new Error(`start-render (${r.name}) exited ${exit.code ?? exit.signal}:\n${r.proc.output()}`);
  return { result: (await r.handle.result()) as RenderResult, seconds };
}

/**
 * Waits until a style worker holds the stalled frame at its stall step, with the frames before it
 * done and its checkpoint on disk. The stall holds it there (heartbeating) until released or
 * killed, so this comes, however fast or slow the machine is.
 */
export async function waitForStall(c: Cluster, r: RunningRender) {
  const frame = STALLED_FRAME;
  return pollUntil(
    `a style worker to stall in frame ${frame} at step ${STALL_STEP} with the ${frame - 1} frames before it done`,
    async () => {
      if (r.proc.child.exitCode !== null) {
        throw new GiveUp(`start-render ended before a style worker stalled in frame ${frame} (STARRY_FAULTS not applied?). Its output:\n${r.proc.output()}`);
      }
      const progress: RenderProgress = await r.handle.query(progressQuery);
      if (progress.done < frame - 1) return undefined;
      const held = frameHolder((await r.handle.describe()).raw, frame);
      if (held?.beat.step !== STALL_STEP) return undefined;
      const holder = c.styleWorkers.find((w) => w.identity === held.identity);
      if (!holder) throw new GiveUp(`frame ${frame} is held by ${held.identity}, not by one of this scenario's style workers`);
      const checkpoint = join(renderPaths(progress.renderDir).checkpoints, `frame_${String(frame).padStart(6, '0')}.ckpt`);
      return existsSync(checkpoint) ? { holder, doneBefore: progress.done, checkpointStep: held.beat.checkpointStep } : undefined;
    },
    600_000,
    250,
  );
}

/** The inputs, a media worker and two style workers (both with the stall fault), ready for renders. */
export async function startCluster(o: ScenarioOptions, client: Client): Promise<{ cluster: Cluster; workerStartSeconds: number }> {
  const inputs = join(o.dir, 'inputs');
  const workDir = join(o.dir, 'work');
  const outDir = join(o.dir, 'out');
  await Promise.all([inputs, workDir, outDir].map((d) => mkdir(d, { recursive: true })));
  await makeClip({ path: join(inputs, 'clip.mp4'), width: 96, height: 64, rate: String(RATE), frames: o.frames, audio: true });
  const style = await makeStyleImage(join(inputs, 'style.png'), 48, 48);
  // A narrow VGG19 (every layer, few channels): with the bench's defaults a frame costs a second or two on one core.
  const weights = join(inputs, 'tiny-vgg19.h5');
  await writeVggH5(weights);
  const release = join(o.dir, 'release-stalls');
  const server = ['--address', o.address, '--namespace', o.namespace];
  const t0 = performance.now();
  const media = startWorker([...server, '--queues', 'media', '--work-dir', workDir, '--output-root', outDir]);
  // All carry the stall: which one takes the frame is the server's choice, and any will do.
  const faults = { STARRY_FAULTS: `stall@${STALLED_FRAME}:${STALL_STEP}`, STARRY_STALL_RELEASE: release };
  const launchStyle = (name: string): StyleWorker => {
    const proc = startWorker([...server, '--queues', 'style', '--work-dir', workDir, '--weights', weights, '--backend', o.backend], faults);
    return { name, proc, identity: sdkIdentity(proc) };
  };
  const styleWorkers = ['style-a', 'style-b'].map(launchStyle);
  await Promise.all([media, ...styleWorkers.map((w) => w.proc)].map((p) => p.waitFor(/worker serving/)));
  const workerStartSeconds = (performance.now() - t0) / 1000;
  o.log(`workers serving: media (${sdkIdentity(media)}), ${styleWorkers.map((w) => `${w.name} (${w.identity})`).join(', ')} in ${workerStartSeconds.toFixed(1)} s`);
  const cluster: Cluster = {
    o, client, inputs, style, workDir, outDir, release, media, styleWorkers,
    async startStyleWorker(name) {
      const w = launchStyle(name);
      await w.proc.waitFor(/worker serving/);
      styleWorkers.push(w);
      return w;
    },
  };
  return { cluster, workerStartSeconds };
}

/** Every frame done and on disk, none failed. */
export function checkComplete(result: RenderResult, frames: number): string[] {
  const problems: string[] = [];
  if (result.total !== frames || result.done !== frames) problems.push(`${result.done}/${result.total} frames done, expected ${frames}`);
  if (result.stats.failures !== 0) problems.push(`${result.stats.failures} frame failure(s)`);
  const styled = renderPaths(result.renderDir).styled;
  const missing = Array.from({ length: frames }, (_, i) => i + 1).filter((k) => !existsSync(framePath(styled, k)));
  if (missing.length) problems.push(`stylized frames missing on disk: ${missing.join(', ')}`);
  return problems;
}

/** Every stylized PNG of `result` byte for byte the reference's (the CPU backends are deterministic). */
export async function sameFrames(result: RenderResult, reference: RenderResult, frames: number, what: string): Promise<void> {
  const differ: number[] = [];
  for (let k = 1; k <= frames; k++) {
    const [a, b] = await Promise.all([result, reference].map((r) => readFile(framePath(renderPaths(r.renderDir).styled, k))));
    if (!a!.equals(b!)) differ.push(k);
  }
  if (differ.length) throw new Error(`${what}: stylized frames ${differ.join(', ')} differ from the undisturbed render's`);
}

/** Frames counted by decoding, duration and audio of the output; wrong ones fail the bench. */
export async function probeVideo(output: string, frames: number): Promise<VideoReport> {
  const probe = await probeStreams(output);
  const video = probe.streams.find((s) => s.codec_type === 'video');
  const audio = probe.streams.find((s) => s.codec_type === 'audio');
  const counted = Number(video?.nb_read_frames);
  const durationSeconds = Number(video?.duration ?? probe.format.duration);
  const expectedSeconds = frames / RATE;
  const problems: string[] = [];
  if (counted !== frames) problems.push(`${counted} video frames decoded, expected ${frames}`);
  if (!(Math.abs(durationSeconds - expectedSeconds) < 1.5 / RATE)) problems.push(`video lasts ${durationSeconds} s, expected ${expectedSeconds} s`);
  if (!audio) problems.push('no audio stream (the input has one)');
  if (problems.length) throw new Error(`${output} is wrong:\n  ${problems.join('\n  ')}`);
  return { frames: counted, durationSeconds, expectedSeconds, audio: `${audio!.codec_name} ${Number(audio!.duration).toFixed(2)} s` };
}
