/** Small process and port helpers for the cluster bench (no Temporal, no tfjs). */
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to the end; a failure names the command and shows what it printed, since the
 * tools here (initdb, temporal-sql-tool, go) explain their own problems on stderr.
 */
export function run(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 600_000, maxBuffer: 1 << 26 },
      (err, stdout, stderr) => {
        if (err) {
          const tail = `${stdout}\n${stderr}`.trim().split('\n').slice(-30).join('\n');
          reject(new Error(`${command} ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${tail}`));
        } else resolve({ stdout, stderr });
      },
    );
  });
}

/**
 * Ports the kernel says are free on 127.0.0.1 right now. All are held open together before any is
 * released, so the n ports differ from each other; another program could still take one before the
 * caller binds it, which on a test machine is rare enough to be reported rather than retried.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Polls `probe` until it returns a value, or fails after `timeoutMs` with `what` and the last error. */
export async function pollUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? `: ${lastError}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
