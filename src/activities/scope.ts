import { asyncLocalStorage } from '@temporalio/activity';

/** What the activities use of their Temporal context. */
export interface ActivityScope {
  attempt: number;
  heartbeatTimeoutMs?: number;
  heartbeat(details?: unknown): void;
  warn(message: string): void;
  cancellationSignal: AbortSignal;
}

/**
 * The running activity's context; or, when `preview` calls an activity function in this process
 * without a worker, a local one: the first attempt, no heartbeat timeout (so nothing to heartbeat to
 * or warn about), never cancelled.
 */
export function activityScope(): ActivityScope {
  const ctx = asyncLocalStorage.getStore();
  if (!ctx) return { attempt: 1, heartbeat: () => {}, warn: () => {}, cancellationSignal: new AbortController().signal };
  return {
    attempt: ctx.info.attempt,
    heartbeatTimeoutMs: ctx.info.heartbeatTimeoutMs,
    heartbeat: (details) => ctx.heartbeat(details),
    warn: (message) => ctx.log.warn(message),
    cancellationSignal: ctx.cancellationSignal,
  };
}
