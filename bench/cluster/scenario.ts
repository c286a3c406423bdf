/**
 * The renders the cluster bench runs, each a copy of one generated clip through start-render
 * --address, with one media worker and two style workers as separate processes:
 *
 * 1. undisturbed: the reference;
 * 2. one style worker SIGKILLed while it holds a frame that has a checkpoint: the render must still
 *    end with every frame, the killed frame taken over and resumed from its checkpoint;
 * 3. a frame held in flight while the Temporal server is SIGKILLed and started again, then while
 *    PostgreSQL is restarted (immediate shutdown), then let go (outage.ts).
 *
 * Every stylized PNG of 2 and 3 must be byte-identical to 1's. Nothing depends on timing: the style
 * workers run with STARRY_FAULTS=stall@K:S, so whichever takes frame K stops at its step S on
 * attempt 1 (still heartbeating) and holds it until it is killed or the release file
 * (STARRY_STALL_RELEASE) exists. The other worker meanwhile finishes the frames before K, so the
 * faults land mid-frame, with a checkpoint, after some frames are done, however fast the machine. */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { renderPaths } from '../../src/common/render-paths';
import { framePath } from '../../src/media';
import { progressQuery, type RenderProgress, type RenderResult } from '../../src/workflows/contract';
import { makeClip, makeStyleImage, probeStreams } from '../../test/helpers/media-fixtures';
import { startCli, type Proc } from '../../test/helpers/processes';
import { frameHolder } from '../../test/helpers/steering';
import { writeVggH5 } from '../../test/helpers/tiny-vgg';
import { renderThroughOutages, type OutageReport } from './outage';
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

export interface KillReport {
  renderSeconds: number;
  /** From the start of the render to the moment the style worker was killed. */
  killedAfterSeconds: number;
  killed: { name: string; identity: string; frame: number; doneBefore: number };
  /** The killed frame as the result records it: the attempt that finished it and the step it resumed from. */
  killedFrame: { attempt: number | null; resumedFromStep: number };
  stats: RenderResult['stats'];
  video: { frames: number; durationSeconds: number; expectedSeconds: number; audio: string };
}

export interface ScenarioReport {
  frames: number;
  workerStartSeconds: number;
  /** The undisturbed render every other one is compared with. */
  referenceSeconds: number;
  kill: KillReport;
  outage: OutageReport;
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
async function startCluster(o: ScenarioOptions, client: Client): Promise<{ cluster: Cluster; workerStartSeconds: number }> {
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

/**
 * The renders: an undisturbed one (the release file there, nothing stalls), one whose stalled
 * frame's worker is SIGKILLed, and one that holds its frame through a Temporal server crash and a
 * PostgreSQL restart. Every stylized PNG of the last two must equal the undisturbed render's.
 */
export async function runScenario(o: ScenarioOptions): Promise<ScenarioReport> {
  const connection = await Connection.connect({ address: o.address });
  try {
    const client = new Client({ connection, namespace: o.namespace });
    const { cluster: c, workerStartSeconds } = await startCluster(o, client);
    await writeFile(c.release, '');
    const reference = await finishRender(await launchRender(c, 'reference', o.heartbeatTimeout));
    const wrong = checkComplete(reference.result, o.frames);
    if (wrong.length) throw new Error(`the undisturbed render is wrong:\n  ${wrong.join('\n  ')}`);
    await rm(c.release);
    o.log(`reference: ${o.frames} frames undisturbed in ${reference.seconds.toFixed(1)} s`);
    const kill = await renderWithKill(c);
    await sameFrames(kill.result, reference.result, o.frames, 'the render with the SIGKILL');
    // The killed worker's place is taken, so the outage render has two style workers too.
    await c.startStyleWorker('style-c');
    const outage = await renderThroughOutages(c);
    await sameFrames(outage.result, reference.result, o.frames, 'the render through the outages');
    return { frames: o.frames, workerStartSeconds, referenceSeconds: reference.seconds, kill: kill.report, outage: outage.report };
  } finally {
    await connection.close();
  }
}

/** The render whose stalled frame's worker is SIGKILLed: the frame is taken over and resumed from its checkpoint. */
async function renderWithKill(c: Cluster): Promise<{ result: RenderResult; report: KillReport }> {
  const r = await launchRender(c, 'killed', c.o.heartbeatTimeout);
  const frame = STALLED_FRAME;
  const stall = await waitForStall(c, r);
  const victim = stall.holder;
  victim.proc.child.kill('SIGKILL');
  const killedAfterSeconds = (performance.now() - r.started) / 1000;
  await victim.proc.exited;
  c.styleWorkers.splice(c.styleWorkers.indexOf(victim), 1);
  c.o.log(
    `SIGKILLed ${victim.name} (${victim.identity}) holding frame ${frame} at step ${STALL_STEP} (checkpoint at step ${stall.checkpointStep}), ` +
      `${stall.doneBefore} frames done, ${killedAfterSeconds.toFixed(1)} s into the render`,
  );
  const { result, seconds } = await finishRender(r);
  return {
    result,
    report: {
      ...check(result, { frame, checkpointStep: stall.checkpointStep }, r.output, c.o),
      renderSeconds: seconds,
      killedAfterSeconds,
      killed: { name: victim.name, identity: victim.identity, frame, doneBefore: stall.doneBefore },
      video: await probeVideo(r.output, c.o.frames),
    },
  };
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
async function sameFrames(result: RenderResult, reference: RenderResult, frames: number, what: string): Promise<void> {
  const differ: number[] = [];
  for (let k = 1; k <= frames; k++) {
    const [a, b] = await Promise.all([result, reference].map((r) => readFile(framePath(renderPaths(r.renderDir).styled, k))));
    if (!a!.equals(b!)) differ.push(k);
  }
  if (differ.length) throw new Error(`${what}: stylized frames ${differ.join(', ')} differ from the undisturbed render's`);
}

/** Every frame stylized and on disk, none failed, and the killed frame finished on a later attempt. */
function check(result: RenderResult, killed: { frame: number; checkpointStep: number }, output: string, o: ScenarioOptions) {
  const killedFrame = killed.frame;
  const problems = checkComplete(result, o.frames);
  const note = result.notable.find((n) => n.frame === killedFrame);
  if (!note || (note.attempt ?? 0) < 2) problems.push(`frame ${killedFrame} was not recorded as finished on a retry (${JSON.stringify(note)})`);
  // It was killed holding a checkpoint (one every step): the next attempt must start from it, not over.
  else if (note.resumedFromStep !== killed.checkpointStep) {
    problems.push(`frame ${killedFrame} resumed from step ${note.resumedFromStep}, expected its checkpoint at step ${killed.checkpointStep}`);
  }
  // At least: a frame whose step outlasts the heartbeat timeout on a starved machine is retried too, harmlessly.
  if (result.stats.retried < 1 || result.stats.resumed < 1) problems.push(`stats count ${result.stats.retried} retried and ${result.stats.resumed} resumed frames, expected at least 1 each`);
  if (result.output !== output) problems.push(`result names ${result.output}, expected ${output}`);
  if (problems.length) throw new Error(`the render through the cluster is wrong:\n  ${problems.join('\n  ')}`);
  return { stats: result.stats, killedFrame: { attempt: note!.attempt, resumedFromStep: note!.resumedFromStep } };
}

/** Frames counted by decoding, duration and audio of the output; wrong ones fail the bench. */
export async function probeVideo(output: string, frames: number): Promise<KillReport['video']> {
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
