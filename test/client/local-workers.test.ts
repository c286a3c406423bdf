/**
 * On the one-thread backends, start-render runs a style worker per core: itself plus helper
 * processes. They share the frames, give the same bits as one worker, and never outlive it.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmbeddedServer } from '../../src/client/server/embedded-server';
import { buildRenderRequest } from '../../src/client/setup/render-options';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { startCli, stopAllProcesses } from '../helpers/processes';
import { tinyWeights } from '../helpers/render-env';
import { waitFor } from '../helpers/steering';

const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].startsWith('Z');
/** Helper worker processes of a start-render (its other child is the dev server). */
const workerChildrenOf = (pid: number) =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const parent = Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
        return parent === pid && readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes('worker');
      } catch {
        return false;
      }
    })
    .map(Number);

describe('local style workers (start-render, real processes)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let weights: string;
  let style: string;
  let input: string;

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-local'));
    weights = await tinyWeights(root);
    style = await makeStyleImage(join(root, 'style.png'), 40, 40);
    input = await makeClip({ path: join(root, 'clip.mp4'), width: 64, height: 48, rate: '25', frames: 8, audio: true });
  });
  after(async () => {
    stopAllProcesses();
    await cleanup?.();
  });

  test('two local workers share the frames, both compute, and both are gone afterwards', async () => {
    const workDir = join(root, 'work-two');
    const output = join(root, 'two.mp4');
    const run = startCli(['start-render', '-i', input, '-s', style, '-o', output, '--weights', weights, '--backend', 'wasm', '--epochs', '2', '--steps-per-epoch', '20', '--size', '48', '--local-workers', '2'], {
      STARRY_WORK_DIR: workDir,
    });
    const exit = await run.exited;
    assert.equal(exit.code, 0, run.output());
    assert.match(run.output(), /2 style workers on this machine/);

    const { renderId } = await buildRenderRequest({ input, style, output, workDir, epochs: '2', stepsPerEpoch: '20', size: '48' });
    const server = await startEmbeddedServer(workDir);
    try {
      const history = await server.env.client.workflow.getHandle(renderId).fetchHistory();
      const identities = new Set(history.events!.filter((e) => e.activityTaskStartedEventAttributes).map((e) => e.activityTaskStartedEventAttributes!.identity!));
      const stylers = [...identities].filter((id) => id.startsWith('starry-embedded:'));
      assert.equal(stylers.length, 2, `two embedded style workers computed frames: ${[...identities].join(', ')}`);
      for (const id of stylers) assert.equal(alive(Number(id.split(':')[1].split('@')[0])), false, `${id} exited with start-render`);
    } finally {
      await server.stop();
    }
  });

  test('a SIGKILLed start-render takes its helper workers with it; the next run finishes the render', async () => {
    const workDir = join(root, 'work-kill');
    const output = join(root, 'kill.mp4');
    const args = ['start-render', '-i', input, '-s', style, '-o', output, '--weights', weights, '--backend', 'wasm', '--epochs', '2', '--steps-per-epoch', '20', '--size', '48', '--local-workers', '2'];
    const first = startCli(args, { STARRY_WORK_DIR: workDir });
    await first.waitFor(/2 style workers on this machine/);
    const helpers = await waitFor(async () => workerChildrenOf(first.child.pid!), (pids) => pids.length === 1, 'the helper worker');
    first.child.kill('SIGKILL');
    await first.exited;
    await waitFor(async () => helpers.filter(alive), (left) => left.length === 0, 'the helper workers to exit', 60_000);

    const second = startCli(args, { STARRY_WORK_DIR: workDir });
    assert.equal((await second.exited).code, 0, second.output());
    assert.ok(existsSync(output));
  });
});
