/**
 * A real Temporal dev server (the `temporal` CLI, as start-render runs it) plus real workers with
 * the engine on a generated narrow VGG19, for integration tests.
 */
import { NativeConnection, type Worker } from '@temporalio/worker';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/client/server/embedded-server';
import type { RenderFlags } from '../../src/client/setup/render-options';
import { createStyleRuntime, type StyleRuntime } from '../../src/worker/engine';
import { parseFaults } from '../../src/activities/faults';
import { installRuntime } from '../../src/worker/runtime';
import { createWorkers, runWorkers, type QueueName } from '../../src/worker/workers';
import { makeStyleImage, tempDir } from './media-fixtures';
import { stopAllProcesses } from './processes';
import { writeVggH5 } from './tiny-vgg';

/**
 * Settings small enough for a render to take seconds on the wasm backend: 32 px frames, one epoch
 * of two steps, two frames in flight, no continue-as-new. The chunks' frames are kept
 * (--keep-frames) so tests can compare them with the output; the scale test covers their deletion.
 * Tests override what they are about.
 */
export const TINY_RENDER: Readonly<RenderFlags> = Object.freeze({ epochs: '1', stepsPerEpoch: '2', size: '32', window: '2', framesPerRun: '100', keepFrames: true });

export interface RenderEnv {
  server: EmbeddedServer;
  style: StyleRuntime;
  weightsPath: string;
  workDir: string;
  /** Starts workers serving `queues`; stop them with the returned function. */
  startWorkers(queues?: QueueName[], opts?: WorkerOpts): Promise<{ workers: Worker[]; stop: () => Promise<void> }>;
  close(): Promise<void>;
}

export interface WorkerOpts {
  /** `copy`: serve copy renders' frames (passed through unstylized) instead of stylizing. */
  engine?: 'vgg19' | 'copy';
  /** Worker identity recorded in the history for each task it takes. */
  identity?: string;
  /** Fault injection (activities/faults.ts) for this worker's frames only. */
  faults?: string;
  /**
   * A connection of its own, as a separate worker process would have: the SDK refuses two workers
   * for the same task queue on one connection.
   */
  ownConnection?: boolean;
}

export async function tinyWeights(dir: string): Promise<string> {
  const path = join(dir, 'tiny-vgg19.h5');
  await writeVggH5(path);
  return path;
}

export async function startRenderEnv(root: string, opts: { backend?: 'wasm' | 'node' } = {}): Promise<RenderEnv> {
  installRuntime();
  const weightsPath = await tinyWeights(root);
  const workDir = join(root, 'work');
  const style = await createStyleRuntime({ weights: weightsPath, backend: opts.backend ?? 'wasm' });
  // It serves renders with its own workers, as a start-render does: commands may steer them.
  const server = await startEmbeddedServer(workDir, process.env, { owner: { role: 'render', label: 'test render environment' } });
  const running: Array<() => Promise<void>> = [];
  return {
    server,
    style,
    weightsPath,
    workDir,
    async startWorkers(queues: QueueName[] = ['media', 'style'], opts: WorkerOpts = {}) {
      // Fault injection (activities/faults.ts) applies to this worker's frames only.
      const runtime = opts.faults ? { ...style, faults: parseFaults(opts.faults) } : style;
      const own = opts.ownConnection ? await NativeConnection.connect({ address: server.address }) : undefined;
      const workers = await createWorkers({
        connection: own ?? server.env.nativeConnection,
        queues,
        style: runtime,
        engine: opts.engine,
        // Tests write their outputs beside their clips, in the temporary directory above the work directory.
        paths: { workRoot: workDir, outputRoots: [root] },
        identity: opts.identity,
      });
      const done = runWorkers(workers);
      let stopped: Promise<void> | undefined;
      const stop = () =>
        (stopped ??= (async () => {
          for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
          await done;
          await own?.close();
        })());
      running.push(stop);
      return { workers, stop };
    },
    async close() {
      for (const stop of running) await stop();
      await server.stop();
      style.engine.dispose();
    },
  };
}


export interface RenderFixture {
  /** A temporary directory for this file's clips and outputs; removed afterwards. */
  root: string;
  env: RenderEnv;
  /** A generated style image in root. */
  style: string;
}

/**
 * The server-and-workers setup of an integration test file, registered as before/after hooks of
 * the enclosing describe: a temporary directory, a dev server, the engine on generated weights,
 * workers serving `queues` (default: media only, so tests start style workers when they want
 * frames computed), and a style image. Its fields are set once the before hook has run.
 */
export function useRenderEnv(name: string, opts: { queues?: QueueName[]; styleSize?: [number, number] } = {}): RenderFixture {
  const fixture = {} as RenderFixture;
  let cleanup: (() => Promise<void>) | undefined;
  before(async () => {
    const dir = await tempDir(name);
    cleanup = dir.cleanup;
    fixture.root = dir.dir;
    fixture.env = await startRenderEnv(dir.dir);
    const queues = opts.queues ?? ['media'];
    if (queues.length > 0) await fixture.env.startWorkers(queues);
    const [width, height] = opts.styleSize ?? [40, 32];
    fixture.style = await makeStyleImage(join(dir.dir, 'style.png'), width, height);
  });
  after(async () => {
    stopAllProcesses();
    await fixture.env?.close();
    await cleanup?.();
  });
  return fixture;
}
