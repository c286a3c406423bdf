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
 * faults land mid-frame, with a checkpoint, after some frames are done, however fast the machine.
 */
import { Client, Connection } from '@temporalio/client';
import { rm, writeFile } from 'node:fs/promises';
import type { RenderResult } from '../../src/workflows/contract';
import { renderThroughOutages, type OutageReport } from './outage';
import {
  checkComplete, finishRender, launchRender, probeVideo, sameFrames, startCluster, STALL_STEP, STALLED_FRAME, waitForStall,
  type Cluster, type ScenarioOptions, type VideoReport,
} from './renders';

export type { ScenarioOptions } from './renders';

export interface KillReport {
  renderSeconds: number;
  /** From the start of the render to the moment the style worker was killed. */
  killedAfterSeconds: number;
  killed: { name: string; identity: string; frame: number; doneBefore: number };
  /** The killed frame as the result records it: the attempt that finished it and the step it resumed from. */
  killedFrame: { attempt: number | null; resumedFromStep: number };
  stats: RenderResult['stats'];
  video: VideoReport;
}

export interface ScenarioReport {
  frames: number;
  workerStartSeconds: number;
  /** The undisturbed render every other one is compared with. */
  referenceSeconds: number;
  kill: KillReport;
  outage: OutageReport;
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
