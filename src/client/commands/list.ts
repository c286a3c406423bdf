/** `list`: recent renders on the server, newest first. */
import { Option, type Command } from 'commander';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { wholeFlag } from '../../cli-common/flags';
import type { Io } from '../../cli-common/io';
import { NoRendersHereError } from '../server/session';
import { serverOptions } from './options';
import { withClient, type CommandServerOptions } from './render-ref';

export type ListOptions = CommandServerOptions & { limit?: string; json?: boolean };

/** Renders `list` shows unless --limit says otherwise. */
export const DEFAULT_LIST_LIMIT = 20;

export interface ListedRender {
  id: string;
  /** Temporal's status with the render's own refinement: paused, needs-attention, cancelled. */
  state: string;
  status: string;
  startedAt: string;
  output: string | null;
  backend: string | null;
}

const LIST_QUERY = "WorkflowType = 'renderVideo' AND ExecutionStatus != 'ContinuedAsNew'";

function stateOf(info: WorkflowExecutionInfo): string {
  const memoState = typeof info.memo?.state === 'string' ? info.memo.state : undefined;
  const status = info.status.name;
  if (status === 'RUNNING') return memoState && memoState !== 'running' ? memoState : 'running';
  if (status === 'FAILED' && memoState === 'cancelled') return 'cancelled';
  return status === 'COMPLETED' ? 'done' : status.toLowerCase().replace('_', ' ');
}

/** Recent renders on the server, newest first. */
export async function listRenders(client: Client, limit: number): Promise<ListedRender[]> {
  const rows: ListedRender[] = [];
  const seen = new Set<string>();
  // The server orders running executions first, then by close time; sort a generous page by start time.
  for await (const info of client.workflow.list({ query: LIST_QUERY, pageSize: 100 })) {
    if (seen.has(info.workflowId)) continue;
    seen.add(info.workflowId);
    const memo = info.memo ?? {};
    rows.push({
      id: info.workflowId,
      state: stateOf(info),
      status: info.status.name,
      startedAt: typeof memo.startedAt === 'string' ? memo.startedAt : info.startTime.toISOString(),
      output: typeof memo.output === 'string' ? memo.output : null,
      backend: typeof memo.backend === 'string' ? memo.backend : null,
    });
    if (rows.length >= Math.max(200, limit * 4)) break;
  }
  return rows.sort((a, b) => b.startedAt.localeCompare(a.startedAt)).slice(0, limit);
}

export async function listCommand(opts: ListOptions, io: Io): Promise<void> {
  const limit = wholeFlag(opts.limit, '--limit', DEFAULT_LIST_LIMIT);
  let rows: ListedRender[];
  try {
    rows = await withClient(opts, async (client, session) => {
      const found = await listRenders(client, limit);
      // Nothing serves them (their start-render has exited): a "running" render is interrupted.
      return session.served ? found : found.map((r) => (r.state === 'running' ? { ...r, state: 'interrupted' } : r));
    });
  } catch (err) {
    if (!(err instanceof NoRendersHereError)) throw err;
    io.out(err.message.replace(/ \(no start-render.*$/, ''));
    return;
  }
  if (opts.json) {
    io.out(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length === 0) {
    io.out('no renders on this server yet');
    return;
  }
  const table = [['ID', 'STATE', 'STARTED', 'OUTPUT'], ...rows.map((r) => [r.id, r.state, r.startedAt.replace(/\.\d+Z$/, 'Z'), r.output ?? '-'])];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) io.out(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '));
}

export function register(program: Command, io: Io): Command {
  return serverOptions(
    program
      .command('list')
      .description('recent renders on the server, newest first: id, state, start time and output')
      .option('--limit <n>', 'how many renders to show', String(DEFAULT_LIST_LIMIT))
      .option('--json', 'print them as JSON')
      .addOption(
        new Option('--work-dir <dir>', 'work directory of the start-render whose embedded server to use when --address is not given').env(
          'STARRY_WORK_DIR',
        ),
      ),
  ).action(async (opts: ListOptions) => listCommand(opts, io));
}
