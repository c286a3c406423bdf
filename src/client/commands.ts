import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { DEFAULT_SETTINGS } from '../engine/settings';
import { progressQuery, updateEpochs } from '../workflows/contract';
import { epochsError } from '../workflows/validation';
import { connectClient, type ServerOptions } from './connection';
import { readServerFile } from './embedded-server';
import { UsageError } from './errors';
import type { Io } from './io';
import { followRender } from './start-render';
import { defaultWorkDir } from './render-options';

interface CommandServerOptions extends Partial<ServerOptions> {
  workDir?: string;
}

/** A client for the given address, or for the embedded server a running start-render advertised. */
async function clientFor(opts: CommandServerOptions): Promise<Client> {
  let address = opts.address;
  if (!address) {
    const advertised = await readServerFile(opts.workDir ?? defaultWorkDir());
    if (!advertised) {
      throw new UsageError('no --address given and no embedded server is running here; pass --address host:port or run start-render');
    }
    address = advertised.address;
  }
  return connectClient({ ...opts, address, namespace: opts.namespace ?? 'default' });
}

async function existingHandle(client: Client, id: string) {
  const handle = client.workflow.getHandle(id);
  try {
    const d = await handle.describe();
    return { handle, status: d.status.name };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new UsageError(`no render with id "${id}"; list ids with the Temporal UI`);
    throw err;
  }
}

export async function statusCommand(id: string, opts: CommandServerOptions & { json?: boolean }, io: Io): Promise<void> {
  const client = await clientFor(opts);
  const { handle, status } = await existingHandle(client, id);
  if (status === 'COMPLETED') {
    const result = await handle.result();
    io.out(opts.json ? JSON.stringify({ status, ...result }, null, 2) : `render ${id} finished: ${result.output}`);
    return;
  }
  if (status !== 'RUNNING') {
    io.out(opts.json ? JSON.stringify({ status }) : `render ${id} is ${status.toLowerCase()}`);
    process.exitCode = 1;
    return;
  }
  if (opts.json) {
    io.out(JSON.stringify({ status, ...(await handle.query(progressQuery)) }, null, 2));
    return;
  }
  const result = await followRender(handle, io);
  io.out(`render ${id} finished: ${result.output}`);
}

export async function setEpochsCommand(id: string, epochs: string, opts: CommandServerOptions, io: Io): Promise<void> {
  const n = Number(epochs);
  const problem = epochsError(n);
  if (problem) throw new UsageError(problem);
  const client = await clientFor(opts);
  const { handle, status } = await existingHandle(client, id);
  if (status !== 'RUNNING') throw new UsageError(`render ${id} is ${status.toLowerCase()}; epochs can only change while it runs`);
  const settings = await handle.executeUpdate(updateEpochs, { args: [n] });
  io.out(`render ${id}: frames not yet started will use ${settings.epochs} epochs (default ${DEFAULT_SETTINGS.epochs})`);
}

export async function signalCommand(id: string, signal: 'retryFailed' | 'skipFailed', opts: CommandServerOptions, io: Io): Promise<void> {
  const client = await clientFor(opts);
  const { handle, status } = await existingHandle(client, id);
  if (status !== 'RUNNING') throw new UsageError(`render ${id} is ${status.toLowerCase()}; nothing to ${signal === 'retryFailed' ? 'retry' : 'skip'}`);
  const progress = await handle.query(progressQuery);
  if (progress.failed.length === 0) {
    io.out(`render ${id} has no failed frames`);
    return;
  }
  await handle.signal(signal);
  io.out(`render ${id}: ${signal === 'retryFailed' ? 'retrying' : 'skipping'} frames ${progress.failed.map((f) => f.frame).join(', ')}`);
}
