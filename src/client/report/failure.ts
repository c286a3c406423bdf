/**
 * Why a render failed, in words a person can act on: Temporal wraps the cause (WorkflowFailedError →
 * ActivityFailure → ApplicationFailure or TimeoutFailure); this unwraps it into the failure type, its
 * message, the activity and frame it came from, and the fix from the one failure table (contract.ts).
 */
import { ActivityFailure, ApplicationFailure, TimeoutFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { FAILURE_FIXES, FAILURE_TYPES, TIMEOUT_FAILURE_TYPES, TIMEOUT_FIXES } from '../../workflows/contract';
import { withFlags } from '../setup/render-option-values';
import { commandHint, type HintTarget } from './hints';

/** A failure as start-render, status and status --json show it. */
export interface FailureReport {
  /** A FAILURE_TYPES value, a TIMEOUT_FAILURE_TYPES value, or the error's own name when we did not raise it. */
  type: string;
  message: string;
  /** The activity that failed (e.g. joinChunks, stylizeFrame), when an activity did. */
  activity?: string;
  /** What that activity was doing, as the Web UI shows it (e.g. "frame 3 of 4"). */
  summary?: string;
  /** The frame, when the activity worked on one. */
  frame?: number;
  /** What to do about it, with the exact commands. */
  fix: string;
}

/**
 * The fix for a failure type, with the commands for this render filled in; undefined for a type we do
 * not raise. A failed frame waits in needs-attention for retry-failed; a failed render needs start-render again.
 */
export function fixFor(type: string, renderId: string, where: HintTarget, failed: 'frame' | 'render' = 'frame'): string | undefined {
  const key =
    (Object.keys(FAILURE_TYPES) as Array<keyof typeof FAILURE_TYPES>).find((k) => FAILURE_TYPES[k] === type) ??
    (Object.keys(TIMEOUT_FAILURE_TYPES) as Array<keyof typeof TIMEOUT_FAILURE_TYPES>).find((k) => TIMEOUT_FAILURE_TYPES[k] === type);
  if (!key) return undefined;
  const text = key in FAILURE_FIXES ? FAILURE_FIXES[key as keyof typeof FAILURE_FIXES] : TIMEOUT_FIXES[key as keyof typeof TIMEOUT_FIXES];
  return fillCommands(text, renderId, where, failed);
}

/** A fix with its settings named by their flags and its commands (FIX_COMMANDS) written out. */
function fillCommands(text: string, renderId: string, where: HintTarget, failed: 'frame' | 'render'): string {
  const worker = `npm run worker -- ${where.address ? `--address ${where.address} ` : ''}--queues media,style`;
  const retry = failed === 'frame' ? commandHint('retry-failed', renderId, where) : 'run the same start-render command again';
  return withFlags(text)
    .replaceAll('{retry}', retry)
    .replaceAll('{again}', 'run the same start-render command again')
    .replaceAll('{worker}', worker);
}

/** A generic fix for a failure we did not raise on purpose (a bug, or the environment). */
function unknownFix(where: HintTarget): string {
  const log = where.address ? "the worker's output" : 'worker.log in the work directory';
  return `not a failure the renderer raises on purpose: ${log} has its stack; run the same start-render command again to retry (finished frames are reused)`;
}

/** The type and message of the innermost cause: ApplicationFailure's type, a timeout's kind, or the error's name. */
function typeAndMessage(cause: unknown): { type: string; message: string } {
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof TimeoutFailure) {
    const kind = String(cause.timeoutType ?? '').replace(/^TIMEOUT_TYPE_/, '') as keyof typeof TIMEOUT_FAILURE_TYPES;
    return { type: TIMEOUT_FAILURE_TYPES[kind] ?? 'Timeout', message: cause.message || `activity ${kind.toLowerCase()} timeout` };
  }
  if (cause instanceof Error) return { type: cause.name, message: cause.message };
  return { type: 'Error', message: String(cause) };
}

/** The failure inside a failed workflow, activity and all; undefined for anything else. */
export function failureOf(err: unknown, renderId: string, where: HintTarget): FailureReport | undefined {
  if (!(err instanceof WorkflowFailedError)) return undefined;
  const activity = err.cause instanceof ActivityFailure ? err.cause : undefined;
  const inner = activity ? activity.cause : err.cause;
  const { type, message } = typeAndMessage(inner ?? err);
  return {
    type,
    // The workers name settings by key ({input}); the person reading this knows them by flag.
    message: withFlags(message),
    ...(activity?.activityType ? { activity: activity.activityType } : {}),
    fix: fixFor(type, renderId, where, 'render') ?? unknownFix(where),
  };
}

/** The summary of the activity `activityId` as the workflow scheduled it (the Web UI's text), read from the history. */
export async function activitySummary(handle: WorkflowHandle, activityId: string): Promise<string | undefined> {
  const history = await handle.fetchHistory();
  for (const event of history.events ?? []) {
    if (!event.activityTaskScheduledEventAttributes || event.activityTaskScheduledEventAttributes.activityId !== activityId) continue;
    const payload = event.userMetadata?.summary;
    if (!payload) return undefined;
    const text = defaultPayloadConverter.fromPayload<unknown>(payload);
    return typeof text === 'string' ? text : undefined;
  }
  return undefined;
}

/** failureOf, with the activity's summary and frame read from the render's history when it can be. */
export async function explainFailure(err: unknown, handle: WorkflowHandle, where: HintTarget): Promise<FailureReport | undefined> {
  const report = failureOf(err, handle.workflowId, where);
  const activity = err instanceof WorkflowFailedError && err.cause instanceof ActivityFailure ? err.cause : undefined;
  if (!report || !activity?.activityId) return report;
  const summary = await activitySummary(handle, activity.activityId).catch(() => undefined);
  if (!summary) return report;
  const frame = summary.match(/\bframe (\d+)\b/);
  return { ...report, summary, ...(frame ? { frame: Number(frame[1]) } : {}) };
}

/** The lines under "render … failed": where it failed and what to do. */
export function describeFailureReport(f: FailureReport): string[] {
  const where = f.activity ? [`  in activity ${f.activity}${f.summary ? ` (${f.summary})` : ''}${f.frame !== undefined ? `, frame ${f.frame}` : ''}`] : [];
  return [...where, `  fix: ${f.fix}`];
}

/** The failure type at the head of a grouped frame error ("OutOfMemory: frame 3 …"), as the ledger writes it. */
export function typeOfFrameError(error: string): string | undefined {
  return error.match(/^([A-Za-z]+): /)?.[1];
}
