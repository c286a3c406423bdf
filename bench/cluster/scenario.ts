/**
 * The render the cluster bench runs: a generated clip through start-render --address, one media
 * worker and two style workers as separate processes, one style worker SIGKILLed while it holds a
 * frame that has a checkpoint; the render must still end with every frame, and the killed frame
 * must have been taken over and resumed.
 *
 * The kill does not depend on timing: both style workers run with STARRY_FAULTS=stall@K:S, so
 * whichever takes frame K stops at its step S on attempt 1 (still heartbeating) and holds it until
 * it is killed. The other worker meanwhile finishes the frames before K, so the kill always lands
 * mid-frame, with a checkpoint, after some frames are done, however fast or slow the machine is.
 */
import { Client, Connection } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
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
  log: (line: string) => void;
}

export interface ScenarioReport {
  frames: number;
  renderSeconds: number;
  /** From the start of the render to the moment the style worker was killed. */
  killedAfterSeconds: number;
  killed: { name: string; identity: string; frame: number; doneBefore: number };
  /** The killed frame as the result records it: the attempt that finished it and the step it resumed from. */
  killedFrame: { attempt: number | null; resumedFromStep: number };
  stats: RenderResult['stats'];
  video: { frames: number; durationSeconds: number; expectedSeconds: number; audio: string };
  workerStartSeconds: number;
}

const RATE = 25;
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

export async function runScenario(o: ScenarioOptions): Promise<ScenarioReport> {
  const inputs = join(o.dir, 'inputs');
  const workDir = join(o.dir, 'work');
  const outDir = join(o.dir, 'out');
  await Promise.all([inputs, workDir, outDir].map((d) => mkdir(d, { recursive: true })));
  const input = await makeClip({ path: join(inputs, 'clip.mp4'), width: 96, height: 64, rate: String(RATE), frames: o.frames, audio: true });
  const style = await makeStyleImage(join(inputs, 'style.png'), 48, 48);
  // A narrow VGG19 (every layer, few channels): with the bench's defaults a frame costs a second or two on one core.
  const weights = join(inputs, 'tiny-vgg19.h5');
  await writeVggH5(weights);
  const output = join(outDir, 'clip-starry.mp4');

  const server = ['--address', o.address, '--namespace', o.namespace];
  const t0 = performance.now();
  const media = startWorker([...server, '--queues', 'media', '--work-dir', workDir, '--output-root', outDir]);
  // Both carry the stall: which one takes the frame is the server's choice, and either will do.
  const faults = { STARRY_FAULTS: `stall@${STALLED_FRAME}:${STALL_STEP}` };
  const styleWorkers = ['style-a', 'style-b'].map((name) => {
    const proc = startWorker([...server, '--queues', 'style', '--work-dir', workDir, '--weights', weights, '--backend', o.backend], faults);
    return { name, proc, identity: sdkIdentity(proc) };
  });
  await Promise.all([media, ...styleWorkers.map((w) => w.proc)].map((p) => p.waitFor(/worker serving/)));
  const workerStartSeconds = (performance.now() - t0) / 1000;
  o.log(`workers serving: media (${sdkIdentity(media)}), ${styleWorkers.map((w) => `${w.name} (${w.identity})`).join(', ')} in ${workerStartSeconds.toFixed(1)} s`);

  const connection = await Connection.connect({ address: o.address });
  try {
    const client = new Client({ connection, namespace: o.namespace });
    const renderStart = performance.now();
    const render = startCli([
      'start-render', ...server,
      '-i', input, '-s', style, '-o', output, '--work-dir', workDir,
      '--size', String(o.size), '--epochs', String(o.epochs), '--steps-per-epoch', String(o.stepsPerEpoch),
      // A checkpoint every step: wherever the kill lands, the frame has one to resume from.
      '--checkpoint-every', '1', '--heartbeat-timeout', String(o.heartbeatTimeout), '--window', '2',
      // Chunked renders delete a chunk's stylized frames once its segment is encoded; the check counts them.
      '--keep-frames',
    ]);
    const renderId = (await render.waitFor(/render (\S+) on /))[1]!;
    const handle = client.workflow.getHandle(renderId);
    o.log(`render ${renderId} started: ${o.frames} frames, ${o.size} px, ${o.epochs}×${o.stepsPerEpoch} steps`);

    // The victim: whichever worker holds the stalled frame at its stall step, once the frames
    // before it are done. The stall holds it there (heartbeating) until the kill, so this comes.
    const frame = STALLED_FRAME;
    const kill = await pollUntil(
      `a style worker to stall in frame ${frame} at step ${STALL_STEP} with the ${frame - 1} frames before it done`,
      async () => {
        if (render.child.exitCode !== null) {
          throw new GiveUp(`start-render ended before a style worker stalled in frame ${frame} (STARRY_FAULTS not applied?). Its output:\n${render.output()}`);
        }
        const progress: RenderProgress = await handle.query(progressQuery);
        if (progress.done < frame - 1) return undefined;
        const held = frameHolder((await handle.describe()).raw, frame);
        if (held?.beat.step !== STALL_STEP) return undefined;
        const victim = styleWorkers.find((w) => w.identity === held.identity);
        if (!victim) throw new GiveUp(`frame ${frame} is held by ${held.identity}, not by one of this scenario's style workers`);
        const checkpoint = join(renderPaths(progress.renderDir).checkpoints, `frame_${String(frame).padStart(6, '0')}.ckpt`);
        return existsSync(checkpoint) ? { victim, doneBefore: progress.done, checkpointStep: held.beat.checkpointStep } : undefined;
      },
      600_000,
      250,
    );
    const { victim } = kill;
    victim.proc.child.kill('SIGKILL');
    const killedAfterSeconds = (performance.now() - renderStart) / 1000;
    await victim.proc.exited;
    o.log(
      `SIGKILLed ${victim.name} (${victim.identity}) holding frame ${frame} at step ${STALL_STEP} (checkpoint at step ${kill.checkpointStep}), ` +
        `${kill.doneBefore} frames done, ${killedAfterSeconds.toFixed(1)} s into the render`,
    );

    const exit = await render.exited;
    const renderSeconds = (performance.now() - renderStart) / 1000;
    if (exit.code !== 0) throw new Error(`start-render exited ${exit.code ?? exit.signal}:\n${render.output()}`);
    const result = (await handle.result()) as RenderResult;
    return {
      ...check(result, { frame, checkpointStep: kill.checkpointStep }, output, o),
      renderSeconds,
      killedAfterSeconds,
      killed: { name: victim.name, identity: victim.identity, frame, doneBefore: kill.doneBefore },
      workerStartSeconds,
      video: await probeVideo(output, o.frames),
    };
  } finally {
    await connection.close();
  }
}

/** Every frame stylized and on disk, none failed, and the killed frame finished on a later attempt. */
function check(result: RenderResult, killed: { frame: number; checkpointStep: number }, output: string, o: ScenarioOptions) {
  const killedFrame = killed.frame;
  const problems: string[] = [];
  if (result.total !== o.frames || result.done !== o.frames) problems.push(`${result.done}/${result.total} frames done, expected ${o.frames}`);
  if (result.stats.failures !== 0) problems.push(`${result.stats.failures} frame failure(s)`);
  const styled = renderPaths(result.renderDir).styled;
  const missing = Array.from({ length: o.frames }, (_, i) => i + 1).filter((k) => !existsSync(framePath(styled, k)));
  if (missing.length) problems.push(`stylized frames missing on disk: ${missing.join(', ')}`);
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
  return { frames: result.done, stats: result.stats, killedFrame: { attempt: note!.attempt, resumedFromStep: note!.resumedFromStep } };
}

/** Frames counted by decoding, duration and audio of the output; wrong ones fail the bench. */
async function probeVideo(output: string, frames: number): Promise<ScenarioReport['video']> {
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
