/** Small process and port helpers for the cluster bench (no Temporal, no tfjs). */
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';

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

/** Binds 127.0.0.1:port (0: any), resolving with the listening server or undefined when taken. */
function holdPort(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/**
 * `n` different ports that are free on 127.0.0.1 right now: all are held open together before any
 * is released. Another program could still take one before the caller binds it, which on a test
 * machine is rare enough to be reported rather than retried.
 *
 * `below` keeps them under a limit, drawn at random from [10000, below): Temporal stores membership
 * ports in a PostgreSQL smallint (up to 32767), and the kernel's own picks (32768 and up) overflow it.
 */
export async function freePorts(n: number, opts: { below?: number } = {}): Promise<number[]> {
  const held: Server[] = [];
  try {
    for (let tries = 0; held.length < n; tries++) {
      if (tries > 1000) throw new Error(`could not find ${n} free ports on 127.0.0.1${opts.below ? ` below ${opts.below}` : ''}`);
      const port = opts.below ? 10000 + Math.floor(Math.random() * (opts.below - 10000)) : 0;
      const server = await holdPort(port);
      if (server) held.push(server);
    }
    return held.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
}

/** Thrown by a probe when waiting longer cannot help (the process it waits for has exited). */
export class GiveUp extends Error {
  override name = 'GiveUp';
}

/**
 * Polls `probe` until it returns a value, or fails after `timeoutMs` with `what` and the last error;
 * a probe that throws {@link GiveUp} ends the wait at once.
 */
export async function pollUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${lastError ? `: ${lastError}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
