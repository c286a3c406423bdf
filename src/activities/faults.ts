/**
 * Fault injection FOR TESTING, off unless STARRY_FAULTS is set on a style worker. It lets tests and
 * users watch the durability machinery work against real faults:
 *
 *   oom@K*N   frame K fails with a (simulated) out-of-memory error on its first N tries in this process
 *   kill@K:S  the worker process kills itself with SIGKILL when frame K reaches step S on attempt 1
 *   kill@K:S#A  … on attempt A
 *   stall@K:S  frame K stops at step S on attempt 1 (a copy render's frame, which has no steps, at
 *              step 0, before it is copied) until the activity is cancelled (e.g. the worker
 *              is shutting down) or the file STARRY_STALL_RELEASE names exists, to observe a frame
 *              in flight. It keeps heartbeating meanwhile: a stalled frame is one held by a live
 *              worker, never one the server times out and hands to another, so a test can take its
 *              time to act on it (stop or kill its worker, restart the server, fill the disk) and
 *              then let it go on by creating the release file.
 *
 * Several faults are separated by commas, e.g. STARRY_FAULTS="kill@2:5,kill@4:3,oom@3*2".
 */
import { existsSync } from 'node:fs';

export interface FaultPlan {
  /**
   * After each optimisation step; throws, kills or stalls when a fault matches. `heartbeat` is
   * called while it stalls, so the server keeps the frame on this worker.
   */
  onStep(frame: number, attempt: number, step: number, signal: AbortSignal, heartbeat?: () => void): void | Promise<void>;
}

/** How often a stalled frame heartbeats: well inside the shortest heartbeat timeout renders allow. */
export const STALL_HEARTBEAT_MS = 1000;

export const NO_FAULTS: FaultPlan = { onStep() {} };

type StepFault = { frame: number; step: number; attempt: number };
const matches = (f: StepFault, frame: number, step: number, attempt: number) => f.frame === frame && f.step === step && f.attempt === attempt;

/** Until `signal` aborts or the `release` file exists (looked for at every heartbeat), heartbeating meanwhile. */
function untilReleased(signal: AbortSignal, heartbeat: () => void, release: string | undefined): Promise<void> {
  const released = () => release !== undefined && existsSync(release);
  return new Promise((resolve) => {
    if (signal.aborted || released()) return resolve();
    const end = () => {
      clearInterval(beating);
      signal.removeEventListener('abort', end);
      resolve();
    };
    const beating = setInterval(() => (released() ? end() : heartbeat()), STALL_HEARTBEAT_MS);
    signal.addEventListener('abort', end, { once: true });
  });
}

/** The faults `spec` names; a stall also ends once the file `release` exists (STARRY_STALL_RELEASE). */
export function parseFaults(spec: string | undefined, release?: string): FaultPlan {
  if (!spec?.trim()) return NO_FAULTS;
  const ooms = new Map<number, number>();
  const kills: StepFault[] = [];
  const stalls: StepFault[] = [];
  for (const item of spec.split(',').map((s) => s.trim())) {
    let m: RegExpMatchArray | null;
    if ((m = item.match(/^oom@(\d+)\*(\d+)$/))) ooms.set(Number(m[1]), Number(m[2]));
    else if ((m = item.match(/^(kill|stall)@(\d+):(\d+)(?:#(\d+))?$/))) {
      (m[1] === 'kill' ? kills : stalls).push({ frame: Number(m[2]), step: Number(m[3]), attempt: Number(m[4] ?? 1) });
    } else {
      throw new Error(`STARRY_FAULTS: cannot read "${item}"; use oom@FRAME*TIMES, kill@FRAME:STEP[#ATTEMPT] or stall@FRAME:STEP`);
    }
  }
  return {
    async onStep(frame, attempt, step, signal, heartbeat = () => {}) {
      if (kills.some((k) => matches(k, frame, step, attempt))) process.kill(process.pid, 'SIGKILL');
      if (stalls.some((k) => matches(k, frame, step, attempt))) await untilReleased(signal, heartbeat, release);
      const left = ooms.get(frame) ?? 0;
      if (left > 0 && step === 1) {
        ooms.set(frame, left - 1);
        throw new Error(`OOM when allocating tensor (injected by STARRY_FAULTS for frame ${frame})`);
      }
    },
  };
}
