/**
 * Helpers for steering tests: reading a render's workflow history (what was scheduled, started and
 * completed for which frame, and where signals and updates fell), and waiting on a condition with a
 * bounded deadline instead of sleeping.
 */
import { defaultPayloadConverter, type WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { progressQuery, type FrameHeartbeat, type RenderProgress, type StylizeFrameInput } from '../../src/workflows/contract';

type Payload = Parameters<typeof defaultPayloadConverter.fromPayload>[0];

const decode = <T>(p: Payload | null | undefined): T => defaultPayloadConverter.fromPayload<T>(p as Payload);

/** Polls `read` until `ok` holds; fails with the last value after `timeoutMs`. */
export async function waitFor<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (ok(last)) return last;
    } catch (err) {
      lastError = err; // e.g. no worker has answered the query yet
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}${lastError ? `; last error: ${String(lastError)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Waits until the render's progress query satisfies `ok`. */
export function waitForProgress(handle: WorkflowHandle, ok: (p: RenderProgress) => boolean, what: string, timeoutMs?: number) {
  return waitFor(() => handle.query(progressQuery), ok, what, timeoutMs);
}

/**
 * Who computes `frame` right now, on attempt 1, and its last heartbeat: a started stylize activity
 * whose heartbeat (the first is sent as the frame starts) names the frame. With a stall fault
 * (STARRY_FAULTS=stall@K:S) a heartbeat at step S says the frame is held there.
 */
export function frameHolder(
  description: temporal.api.workflowservice.v1.IDescribeWorkflowExecutionResponse,
  frame: number,
): { identity: string; beat: FrameHeartbeat } | undefined {
  for (const a of description.pendingActivities ?? []) {
    const started = a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
    const payload = a.heartbeatDetails?.payloads?.[0];
    if (!started || a.attempt !== 1 || !a.lastWorkerIdentity || !payload) continue;
    const beat = decode<FrameHeartbeat>(payload);
    if (beat?.frame === frame) return { identity: a.lastWorkerIdentity, beat };
  }
  return undefined;
}

export interface FrameActivity {
  frame: number;
  epochs: number;
  scheduledEventId: number;
  /** Worker identity of the attempt that finished it. */
  identity?: string;
  attempt?: number;
  completed: boolean;
  failed: boolean;
  result?: { reused: boolean; steps: number; attempt: number };
}

export interface RenderHistory {
  frames: FrameActivity[];
  /** Event ids of signals by name. */
  signals: Array<{ name: string; eventId: number; args: unknown[] }>;
  /** Event ids of accepted and completed updates. */
  updatesAccepted: Array<{ name: string; eventId: number; args: unknown[] }>;
  updatesCompleted: number[];
}

/** The stylizeFrame activities, signals and updates of one workflow run, in history order. */
export async function readHistory(handle: WorkflowHandle): Promise<RenderHistory> {
  const history = await handle.fetchHistory();
  const byScheduled = new Map<number, FrameActivity>();
  const out: RenderHistory = { frames: [], signals: [], updatesAccepted: [], updatesCompleted: [] };
  for (const e of history.events ?? []) {
    const id = Number(e.eventId);
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled && scheduled.activityType?.name === 'stylizeFrame') {
      const input = decode<StylizeFrameInput>(scheduled.input?.payloads?.[0]);
      const f: FrameActivity = { frame: input.frame, epochs: input.settings.epochs, scheduledEventId: id, completed: false, failed: false };
      byScheduled.set(id, f);
      out.frames.push(f);
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const f = byScheduled.get(Number(started.scheduledEventId));
      if (f) {
        f.identity = started.identity ?? undefined;
        f.attempt = started.attempt ?? undefined;
      }
    }
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed) {
      const f = byScheduled.get(Number(completed.scheduledEventId));
      if (f) {
        if (f.completed) throw new Error(`frame ${f.frame} completed twice for one scheduling`);
        f.completed = true;
        f.result = decode(completed.result?.payloads?.[0]);
      }
    }
    const failed = e.activityTaskFailedEventAttributes;
    if (failed) {
      const f = byScheduled.get(Number(failed.scheduledEventId));
      if (f) f.failed = true;
    }
    const signaled = e.workflowExecutionSignaledEventAttributes;
    if (signaled) {
      out.signals.push({ name: signaled.signalName ?? '', eventId: id, args: (signaled.input?.payloads ?? []).map((p) => decode(p)) });
    }
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes;
    if (accepted) {
      const req = accepted.acceptedRequest?.input;
      out.updatesAccepted.push({ name: req?.name ?? '', eventId: id, args: (req?.args?.payloads ?? []).map((p) => decode(p)) });
    }
    if (e.workflowExecutionUpdateCompletedEventAttributes) out.updatesCompleted.push(id);
  }
  return out;
}

export interface Sidecar {
  frame: number;
  steps: number;
  fingerprint: string;
}

/** The stylized frames on disk: each PNG's sidecar JSON (steps, fingerprint), by frame. */
export async function readStyled(renderDir: string): Promise<{ pngs: number[]; sidecars: Sidecar[] }> {
  const dir = join(renderDir, 'styled');
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return { pngs: [], sidecars: [] };
  }
  const frameOf = (n: string) => Number(/frame_(\d+)\./.exec(n)?.[1]);
  const pngs = names.filter((n) => /^frame_\d+\.png$/.test(n)).map(frameOf).sort((a, b) => a - b);
  const sidecars: Sidecar[] = [];
  for (const n of names.filter((n) => /^frame_\d+\.json$/.test(n)).sort()) {
    const json = JSON.parse(await readFile(join(dir, n), 'utf8')) as Omit<Sidecar, 'frame'>;
    sidecars.push({ frame: frameOf(n), steps: json.steps, fingerprint: json.fingerprint });
  }
  return { pngs, sidecars };
}
