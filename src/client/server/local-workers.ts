import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The wasm and cpu backends compute on one thread, so one process uses one core. For those,
 * start-render runs one style worker per core: itself plus helper processes spawned here.
 */
export function defaultLocalWorkers(backend: string): number {
  return backend === 'wasm' || backend === 'cpu' ? availableParallelism() : 1;
}

export interface LocalWorkers {
  /** Resolves once every helper polls for frames (or has failed to start, which is logged). */
  ready: Promise<void>;
  stop(): Promise<void>;
}

export interface LocalWorkerOptions {
  count: number;
  address: string;
  weights: string;
  backend: string;
  /** The work directory: the helpers write only inside it. */
  workRoot: string;
}

/**
 * Spawns `count` style worker processes serving the embedded server. Each is tied to this process by
 * an IPC channel, so it checkpoints and exits when this process ends, however it ends.
 */
export function spawnLocalStyleWorkers(opts: LocalWorkerOptions): LocalWorkers {
  const cli = resolve(__dirname, '../cli.ts');
  const children: ChildProcess[] = [];
  for (let i = 0; i < opts.count; i++) {
    const child = spawn(
      process.execPath,
      ['--import', pathToFileURL(require.resolve('tsx')).href, cli, 'worker', '--address', opts.address, '--queues', 'style'],
      {
        // STARRY_EMBEDDED_WORKER gives the child an embedded identity (see orphans.ts), so a later
        // start-render can tell its frames were left by a dead process.
        env: { ...process.env, STARRY_WEIGHTS: opts.weights, STARRY_BACKEND: opts.backend, STARRY_WORK_ROOT: opts.workRoot, STARRY_EMBEDDED_WORKER: '1' },
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      },
    );
    children.push(child);
  }
  const ready = Promise.all(
    children.map(
      (child) =>
        new Promise<void>((done) => {
          let seen = '';
          child.stdout!.on('data', (chunk: Buffer) => {
            seen += chunk.toString();
            if (/worker serving/.test(seen)) done();
          });
          child.once('exit', () => done());
        }),
    ),
  ).then(() => undefined);
  return {
    ready,
    async stop() {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((done) => {
              if (child.exitCode !== null || child.signalCode !== null) return done();
              child.once('exit', () => done());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
