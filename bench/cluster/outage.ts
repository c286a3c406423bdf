/**
 * The render that holds a frame in flight through a Temporal server crash and a PostgreSQL restart:
 * the stalled frame's worker keeps heartbeating while the server is SIGKILLed and started again on
 * the same ports and database, and again while PostgreSQL is shut down immediately and started;
 * then the frame is let go (the release file) and the render must finish with every frame, the
 * workers and start-render having ridden out both outages (they reconnect on their own).
 */
import { writeFile } from 'node:fs/promises';
import { progressQuery, type RenderResult } from '../../src/workflows/contract';
import { frameHolder } from '../../test/helpers/steering';
import { checkComplete, finishRender, launchRender, probeVideo, STALL_STEP, STALLED_FRAME, waitForStall, type Cluster, type RunningRender } from './renders';
import { pollUntil } from './sys';

/**
 * Heartbeat timeout of this render: longer than either outage, so the held frame stays with its
 * worker (a heartbeat timeout would only hand it to another, from its checkpoint, to the same result).
 */
const OUTAGE_HEARTBEAT_TIMEOUT = 60;

export interface OutageReport {
  renderSeconds: number;
  frames: number;
  doneBefore: number;
  holder: string;
  /** SIGKILL of the Temporal server to its SERVING again. */
  serverAwaySeconds: number;
  /** From SERVING to the first answer to a query on the render (history, matching, the workflow's worker). */
  serverAnswerSeconds: number;
  /** pg_ctl restart -m immediate, to accepting connections. */
  postgresAwaySeconds: number;
  postgresAnswerSeconds: number;
  /** The attempt that finished the held frame (1: it stayed with its worker through both outages). */
  heldFrameAttempt: number | null;
  stats: RenderResult['stats'];
  /** Frames finished on a later attempt (e.g. one whose completion was lost while the server was down). */
  retriedFrames: number[];
  /** What start-render said while the server was away and when it was back. */
  clientLines: string[];
}

/** Seconds until a query on the render is answered again. */
async function untilAnswered(r: RunningRender, what: string): Promise<number> {
  const t0 = performance.now();
  await pollUntil(`the render ${r.handle.workflowId} to answer a query again ${what}`, () => r.handle.query(progressQuery), 120_000, 100);
  return (performance.now() - t0) / 1000;
}

export async function renderThroughOutages(c: Cluster): Promise<{ result: RenderResult; report: OutageReport }> {
  const r = await launchRender(c, 'outage', OUTAGE_HEARTBEAT_TIMEOUT);
  const stall = await waitForStall(c, r);
  const log = c.o.log;
  const serverAwaySeconds = await c.o.restartServer();
  const serverAnswerSeconds = await untilAnswered(r, 'after the server restart');
  log(`temporal server SIGKILLed and started again with frame ${STALLED_FRAME} held by ${stall.holder.name}: serving after ${serverAwaySeconds.toFixed(1)} s, the render answers ${serverAnswerSeconds.toFixed(1)} s later`);
  const postgresAwaySeconds = await c.o.restartPostgres();
  const postgresAnswerSeconds = await untilAnswered(r, 'after the PostgreSQL restart');
  log(`postgresql restarted (immediate shutdown) in ${postgresAwaySeconds.toFixed(1)} s, the render answers ${postgresAnswerSeconds.toFixed(1)} s later`);
  const still = frameHolder((await r.handle.describe()).raw, STALLED_FRAME);
  log(`frame ${STALLED_FRAME} ${still ? `still held by ${still.identity} at step ${still.beat.step}` : 'no longer held on attempt 1'}; letting it go`);
  await writeFile(c.release, '');
  const { result, seconds } = await finishRender(r);

  const problems = checkComplete(result, c.o.frames);
  // Down longer than the SDK retries a call, the server is ridden out by start-render's own reconnect, which says so.
  const said = r.proc.output();
  const reconnected = /does not answer \(/.test(said) && /answers again after \d+ s/.test(said);
  if (c.o.expectReconnect && !reconnected) problems.push(`start-render did not say it waited for the server and saw it back:\n${said}`);
  const gone = [c.media, ...c.styleWorkers.map((w) => w.proc)].filter((p) => p.child.exitCode !== null || p.child.signalCode !== null);
  if (gone.length) problems.push(`${gone.length} worker(s) exited during the outages:\n${gone.map((p) => p.output().slice(-2000)).join('\n')}`);
  const note = result.notable.find((n) => n.frame === STALLED_FRAME);
  if (problems.length) throw new Error(`the render through the outages is wrong:\n  ${problems.join('\n  ')}`);
  await probeVideo(r.output, c.o.frames);
  return {
    result,
    report: {
      renderSeconds: seconds,
      frames: result.done,
      doneBefore: stall.doneBefore,
      holder: `${stall.holder.name} at step ${STALL_STEP}`,
      serverAwaySeconds,
      serverAnswerSeconds,
      postgresAwaySeconds,
      postgresAnswerSeconds,
      heldFrameAttempt: note?.attempt ?? 1,
      retriedFrames: result.notable.filter((n) => (n.attempt ?? 1) > 1).map((n) => n.frame),
      clientLines: said.split('\n').filter((l) => /does not answer|answers again/.test(l)),
      stats: result.stats,
    },
  };
}
