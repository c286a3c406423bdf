/**
 * Finding a render by the files a person gave start-render (--input, --style, --output), instead of
 * by its id: the memo every start-render sets holds them, so the settings flags are not needed and
 * a set-epochs in between does not matter.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { existsSync, realpathSync } from 'node:fs';
import { UsageError } from '../../cli-common/errors';
import { fromUserDir, styleFlags, type RenderFlags } from './render-options';

export interface RenderFiles {
  input?: string;
  style?: string;
  output?: string;
}

const FILE_FLAGS = ['input', 'style', 'output'] as const;

/** Whether the flags name a render by its files. */
export function namesFiles(flags: RenderFlags): boolean {
  return FILE_FLAGS.some((f) => Boolean(flags[f]));
}

/** The files as start-render records them in the memo: absolute, from the user's directory. */
export function filesOf(flags: RenderFlags): RenderFiles {
  const files: RenderFiles = {};
  // A blend's memo names its first --style, as every render's names its one.
  const given = { input: flags.input, style: styleFlags(flags)[0], output: flags.output };
  for (const f of FILE_FLAGS) if (given[f]) files[f] = fromUserDir(given[f]!);
  return files;
}

function samePath(recorded: unknown, given: string): boolean {
  if (typeof recorded !== 'string') return false;
  if (recorded === given) return true;
  try {
    return existsSync(recorded) && existsSync(given) && realpathSync(recorded) === realpathSync(given);
  } catch {
    return false;
  }
}

function matches(info: WorkflowExecutionInfo, files: RenderFiles): boolean {
  const memo = info.memo ?? {};
  return FILE_FLAGS.every((f) => files[f] === undefined || samePath(memo[f], files[f]!));
}

/** Scanned at most, newest first: enough for any work directory, bounded for a busy cluster. */
const SCAN_LIMIT = 2000;

async function matching(client: Client, query: string, files: RenderFiles): Promise<WorkflowExecutionInfo[]> {
  const found = new Map<string, WorkflowExecutionInfo>();
  let scanned = 0;
  for await (const info of client.workflow.list({ query, pageSize: 200 })) {
    if (++scanned > SCAN_LIMIT) break;
    if (!found.has(info.workflowId) && matches(info, files)) found.set(info.workflowId, info);
  }
  return [...found.values()];
}

function describeFiles(files: RenderFiles): string {
  const parts = [files.input && `--input ${files.input}`, files.style && `--style ${files.style}`, files.output && `--output ${files.output}`];
  return parts.filter(Boolean).join(', ');
}

function ambiguous(kind: string, files: RenderFiles, found: WorkflowExecutionInfo[]): UsageError {
  const rows = found.map((w) => `${w.workflowId} (${typeof w.memo?.output === 'string' ? w.memo.output : '?'}, ${w.status.name.toLowerCase()})`);
  return new UsageError(`${found.length} ${kind} renders match ${describeFiles(files)}: ${rows.join('; ')}. Give the id of the one you mean`);
}

const BASE = "WorkflowType = 'renderVideo'";

/**
 * The id of the render whose memo holds these files: the open one (running, paused, waiting for
 * attention), else the one that ended. Several matches are listed in a usage error asking for an id.
 */
export async function findRenderByFiles(client: Client, files: RenderFiles): Promise<string> {
  const open = await matching(client, `${BASE} AND ExecutionStatus = 'Running'`, files);
  if (open.length === 1) return open[0].workflowId;
  if (open.length > 1) throw ambiguous('open', files, open);
  const ended = await matching(client, `${BASE} AND ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew'`, files);
  if (ended.length === 1) return ended[0].workflowId;
  if (ended.length > 1) throw ambiguous('ended', files, ended);
  throw new UsageError(`no render of ${describeFiles(files)} on this server; npm run list shows recent renders`);
}
