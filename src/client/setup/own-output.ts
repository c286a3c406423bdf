/**
 * A render's --output is its own: start-render refuses to overwrite a file that is not this render's
 * video unless told to (--overwrite, -y), and a finished render run again checks that the file is
 * still the video it assembled — re-assembling it from the kept frames when it is missing or has
 * been replaced, instead of reporting a video that is not there.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { UsageError } from '../../cli-common/errors';
import { checkOutput, type OutputVerdict } from '../../common/output-fingerprint';
import { renderPaths } from '../../common/render-paths';
import { TASK_QUEUES, type RenderRequest, type RenderResult } from '../../workflows/contract';
import type { renderVideo } from '../../workflows/render';
import { ownerOfOutput, writeOutputRecord } from './output-records';

/** What start-render did about a finished render's output, said in one line before the summary. */
export interface Restored {
  verdict: Exclude<OutputVerdict, 'own'>;
  result: RenderResult;
}

const replaceHint = 'pass --overwrite (or -y) to replace it, or choose another --output';

/**
 * Refuses, before any work, to let this render write over a file that is not its own video: one
 * recorded (in the work directory) as another render's, one replaced since this render wrote it,
 * or one no render here wrote. `--overwrite` lets it.
 */
export async function checkOutputFree(request: RenderRequest, workDir: string, overwrite: boolean | undefined): Promise<void> {
  const owner = await ownerOfOutput(workDir, request.output);
  if (!owner.exists || overwrite) return;
  if (owner.renderId === request.renderId) return;
  if (owner.renderId) {
    throw new UsageError(`--output ${request.output} already exists: it is the video of another render (${owner.renderId}); ${replaceHint}`);
  }
  // Renders finished before outputs were recorded: their own directory names the output.
  if (await finishedHere(request)) return;
  throw new UsageError(`--output ${request.output} already exists and is not this render's video; ${replaceHint}`);
}

async function finishedHere(request: RenderRequest): Promise<boolean> {
  try {
    const finished = JSON.parse(await readFile(renderPaths(request.renderDir).finished, 'utf8')) as { output?: string; fingerprint?: unknown };
    return finished.output === request.output && finished.fingerprint === undefined;
  } catch {
    return false;
  }
}

/** Whether the finished render's video is still at its output; without a fingerprint (older results) a file there counts. */
export async function outputVerdict(result: RenderResult): Promise<OutputVerdict> {
  if (result.outputFingerprint) return checkOutput(result.output, result.outputFingerprint);
  return existsSync(result.output) ? 'own' : 'missing';
}

/** Records a finished render's video in the work directory, so later runs know the file is its. */
export async function recordOutput(workDir: string, renderId: string, result: RenderResult): Promise<void> {
  if (result.outputFingerprint) await writeOutputRecord(workDir, renderId, result.output, result.outputFingerprint);
}

/**
 * A finished render whose output is missing or replaced: starts a fresh run of the same workflow id
 * on the same work files and settings. Every stylized frame still there is reused (frames are
 * reused by fingerprint), so it amounts to re-assembling; after `clean` it renders them again.
 */
export async function startAgain(
  client: Client,
  handle: WorkflowHandle<typeof renderVideo>,
  request: RenderRequest,
  finished: RenderResult,
  memo: Record<string, unknown>,
): Promise<WorkflowHandle<typeof renderVideo>> {
  const again: RenderRequest = {
    ...request,
    renderId: handle.workflowId,
    renderDir: finished.renderDir || request.renderDir,
    settings: finished.settings ?? request.settings,
  };
  return client.workflow.start<typeof renderVideo>('renderVideo', {
    workflowId: again.renderId,
    taskQueue: TASK_QUEUES.media,
    args: [again],
    workflowIdConflictPolicy: 'USE_EXISTING',
    // The render completed; its video is gone, so this one id may run once more.
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
    memo: { ...memo, startedAt: new Date().toISOString() },
    staticSummary: `assemble ${again.output} again`,
  });
}

/** The one line that says what happened, e.g. "out.mp4 was missing; re-assembled it from the 120 kept frames". */
export function describeRestored(r: Restored): string {
  const what = r.verdict === 'missing' ? `${r.result.output} was missing` : `${r.result.output} had been replaced by another file`;
  const { total, reused } = r.result;
  if (reused === total) return `${what}; re-assembled it from the ${total} kept frames`;
  if (reused === 0) return `${what} and its frames were gone (npm run clean); rendered all ${total} frames again`;
  return `${what}; re-assembled it from ${reused} kept frames and ${total - reused} rendered again`;
}

export function refuseReplaced(result: RenderResult): never {
  throw new UsageError(`--output ${result.output} is no longer this render's video (another file has replaced it); ${replaceHint.replace('replace it', 're-assemble this render over it')}`);
}
