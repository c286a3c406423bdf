/**
 * `npm run bench -- --only workers`: what more style workers buy, and whether renders sharing
 * workers all progress.
 *
 * - throughput: the same clip rendered by `start-render` with one and with two style worker
 *   processes (`--local-workers`), on each of --workers-backends. On wasm (one thread per process) a
 *   second process uses the second core; on node TensorFlow already uses every core, so it should not.
 * - fairness: two renders of --fair-frames frames started a moment apart on the same copy workers,
 *   whose slots are fewer than the two windows: progress of each sampled over time.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildRenderRequest } from '../src/client/setup/render-options';
import { startEmbeddedServer } from '../src/client/server/embedded-server';
import { startOrAttach } from '../src/client/commands/start-render';
import { createWorkers, runWorkers } from '../src/worker/workers';
import { progressQuery, type RenderProgress } from '../src/workflows/contract';
import { makeClip, makeStyleImage } from '../test/helpers/media-fixtures';

const run = promisify(execFile);
const REPO = join(__dirname, '..');

export interface ThroughputOptions {
  dir: string;
  weights: string;
  backends: string[];
  frames: number;
  size: number;
  steps: number;
}

/** One start-render of the clip: seconds from launch to exit, and the workflow's busy seconds (frames in flight). */
async function timedRender(opts: ThroughputOptions, backend: string, workers: number, input: string, style: string): Promise<{ wall: number; busy: number }> {
  const workDir = join(opts.dir, `tp-${backend}-${workers}`);
  await mkdir(workDir, { recursive: true });
  const cli = ['--import', 'tsx', join(REPO, 'src/client/cli.ts')];
  // What names the render: the files and the settings (status finds it by them).
  const render = ['-i', input, '-s', style, '-o', join(workDir, 'out.mp4'), '--work-dir', workDir, '--size', String(opts.size), '--epochs', '1', '--steps-per-epoch', String(opts.steps)];
  const args = [...cli, 'start-render', ...render, '--weights', opts.weights, '--backend', backend, '--local-workers', String(workers), '--window', String(2 * workers)];
  const started = performance.now();
  const env = { ...process.env, INIT_CWD: opts.dir };
  await run(process.execPath, args, { cwd: REPO, maxBuffer: 1 << 26, env });
  const wall = (performance.now() - started) / 1000;
  const { stdout } = await run(process.execPath, [...cli, 'status', '--json', ...render], { cwd: REPO, maxBuffer: 1 << 26, env });
  const result = JSON.parse(stdout) as { stats: { busySeconds: number } };
  return { wall, busy: result.stats.busySeconds };
}

export async function benchThroughput(opts: ThroughputOptions): Promise<void> {
  const input = await makeClip({ path: join(opts.dir, 'tp.mp4'), width: 96, height: 72, rate: '25', frames: opts.frames });
  const style = await makeStyleImage(join(opts.dir, 'tp-style.png'), 64, 64);
  console.log(`\n# style workers: ${opts.frames} frames at ${opts.size} px, ${opts.steps} steps each, start-render --local-workers 1 and 2`);
  for (const backend of opts.backends) {
    const one = await timedRender(opts, backend, 1, input, style);
    const two = await timedRender(opts, backend, 2, input, style);
    console.log(
      `${backend}: styling ${one.busy.toFixed(1)} s with 1 worker, ${two.busy.toFixed(1)} s with 2 (×${(one.busy / two.busy).toFixed(2)} throughput); ` +
        `whole command ${one.wall.toFixed(1)} s and ${two.wall.toFixed(1)} s   ` +
        `npm run bench -- --only workers --workers-backends ${backend} --tp-frames ${opts.frames} --tp-size ${opts.size} --tp-steps ${opts.steps}`,
    );
  }
}

export async function benchFairness(dir: string, frames: number): Promise<void> {
  const style = await makeStyleImage(join(dir, 'fair-style.png'), 16, 16);
  const clips = await Promise.all(['a', 'b'].map((n) => makeClip({ path: join(dir, `fair-${n}.mp4`), width: 32, height: 24, rate: '25', frames })));
  const workDir = join(dir, 'fair-work');
  const server = await startEmbeddedServer(workDir);
  try {
    const requests = await Promise.all(
      clips.map((input, i) => buildRenderRequest({ input, style, output: join(dir, `fair-${i}.mp4`), workDir, engine: 'copy', size: '32', window: '8' })),
    );
    // Four slots for two windows of eight: the renders compete for every slot.
    const workers = await createWorkers({ connection: server.env.nativeConnection, queues: ['media', 'style'], engine: 'copy', paths: { workRoot: workDir, outputRoots: [dir] }, styleConcurrency: 4 });
    const running = runWorkers(workers);
    try {
      const t0 = performance.now();
      const a = await startOrAttach(server.env.client, requests[0], {});
      // B starts once A is well under way.
      let pa: RenderProgress | undefined;
      while (!pa || pa.done < frames / 10) {
        pa = await a.query(progressQuery).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 100));
      }
      const b = await startOrAttach(server.env.client, requests[1], {});
      const bStart = performance.now();
      const samples: Array<{ t: number; a: number; b: number }> = [];
      let ended = 0;
      const endedAt: number[] = [];
      void a.result().then(() => (ended++, endedAt.push(performance.now())));
      void b.result().then(() => (ended++, endedAt.push(performance.now())));
      while (ended < 2) {
        const [qa, qb] = await Promise.all([a.query(progressQuery).catch(() => undefined), b.query(progressQuery).catch(() => undefined)]);
        if (qa && qb) samples.push({ t: performance.now(), a: qa.done, b: qb.done });
        await new Promise((r) => setTimeout(r, 250));
      }
      const both = samples.filter((s) => s.a < frames && s.b < frames && s.t >= bStart);
      const rate = (k: 'a' | 'b') => (both.length > 1 ? (both[both.length - 1][k] - both[0][k]) / ((both[both.length - 1].t - both[0].t) / 1000) : NaN);
      const firstB = samples.find((s) => s.b > 0);
      console.log(`\n# two renders sharing workers: ${frames} frames each, --engine copy, window 8 each, 4 worker slots; B started when A had ${pa.done} done`);
      console.log(
        `while both ran (${both.length} samples): A ${rate('a').toFixed(0)} frames/s, B ${rate('b').toFixed(0)} frames/s; ` +
          `B's first frame ${firstB ? ((firstB.t - bStart) / 1000).toFixed(1) : '?'} s after it started; both done after ${((Math.max(...endedAt) - t0) / 1000).toFixed(1)} s   ` +
          `npm run bench -- --only fairness --fair-frames ${frames}`,
      );
    } finally {
      for (const w of workers) w.shutdown();
      await running;
    }
  } finally {
    await server.stop();
  }
}
