/** Real child processes for durability tests: the CLI (worker, start-render) and the dev server. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';

export const REPO = resolve(__dirname, '../..');
const CLI = resolve(REPO, 'src/client/cli.ts');
const runFile = promisify(execFile);

export interface Proc {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once the output matches `pattern` (rejects if the process exits first). */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
}

const started = new Set<ChildProcess>();

/** Kills every process these helpers started that is still running (for after() hooks of failed tests). */
export function stopAllProcesses(): void {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  started.clear();
}

export function startProcess(command: string, args: string[], env: Record<string, string | undefined> = {}): Proc {
  const child = spawn(command, args, { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  let text = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    text += chunk.toString();
    for (const l of listeners) l();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once('exit', (code, signal) => res({ code, signal })),
  );
  return {
    child,
    output: () => text,
    exited,
    waitFor(pattern) {
      return new Promise((res, rej) => {
        const check = () => {
          const m = text.match(pattern);
          if (m) {
            listeners.delete(check);
            res(m);
          }
        };
        listeners.add(check);
        check();
        void exited.then(({ code, signal }) => {
          if (listeners.has(check)) rej(new Error(`exited (${code ?? signal}) before printing ${pattern}:\n${text}`));
        });
      });
    },
  };
}

/**
 * `wait`, unless `proc` exits first: then it fails at once with how the process ended and what it
 * printed (a server process that died leaves its page waiting for answers that never come).
 */
export async function whileRunning<T>(proc: Proc, what: string, wait: Promise<T>): Promise<T> {
  let settled = false;
  const ended = proc.exited.then(({ code, signal }) => {
    if (!settled) throw new Error(`the process exited (${code ?? signal}) while waiting for ${what}:\n${proc.output()}`);
  });
  try {
    return await Promise.race([wait, ended.then(() => wait)]);
  } catch (err) {
    // A timeout says what the process printed meanwhile.
    if (err instanceof Error && !/^the process exited/.test(err.message)) err.message += `\n${what}: the process printed:\n${proc.output()}`;
    throw err;
  } finally {
    settled = true;
  }
}

/** `starry <args>` as a real process (node + tsx, as npm run does). */
export function startCli(args: string[], env: Record<string, string | undefined> = {}): Proc {
  return startProcess(process.execPath, ['--import', 'tsx', CLI, ...args], env);
}

/** A style (or media) worker process serving the given server; resolves once it polls. */
export async function startWorkerProcess(
  address: string,
  weights: string,
  opts: { queues?: string; faults?: string; workRoot: string },
): Promise<Proc> {
  const proc = startCli(['worker', '--address', address, '--queues', opts.queues ?? 'style', '--weights', weights, '--backend', 'wasm'], {
    STARRY_FAULTS: opts.faults,
    // The worker writes only inside its work root: the test's work directory.
    STARRY_WORK_ROOT: opts.workRoot,
  });
  await proc.waitFor(/worker serving/);
  return proc;
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `starry <args>` to the end (node + tsx, from the repository, as npm run does): its exit code and output. */
export async function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  try {
    const r = await runFile(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: REPO, env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
