/**
 * What the commands tell a person to type next, through the real command line against a real dev
 * server: set-epochs names the value it replaced (not the default), and the resume hint carries the
 * --work-dir that finds the embedded server.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildRenderRequest } from '../../src/client/setup/render-options';
import { TASK_QUEUES, pauseSignal } from '../../src/workflows/contract';
import type { renderVideo } from '../../src/workflows/render';
import { makeClip } from '../helpers/media-fixtures';
import { TINY_RENDER, useRenderEnv } from '../helpers/render-env';
import { waitForProgress } from '../helpers/steering';
import { runCli } from '../helpers/processes';


const cli = (args: string[]) => runCli(args, { STARRY_WORK_DIR: undefined });

describe('follow-up hints (real command line, real server)', () => {
  const fx = useRenderEnv('starry-hints');

  test('set-epochs says what the render had (its --epochs 3), and pause names --work-dir in the resume command', { timeout: 240_000 }, async () => {
    const input = await makeClip({ path: join(fx.root, 'clip.mp4'), width: 32, height: 24, rate: '25', frames: 3 });
    const req = await buildRenderRequest({ ...TINY_RENDER, epochs: '3', input, style: fx.style, output: join(fx.root, 'out.mp4'), workDir: fx.env.workDir });
    // Held paused from its first task, so it waits for us (no style worker runs in this file).
    const handle = await fx.env.server.env.client.workflow.signalWithStart<typeof renderVideo>('renderVideo', {
      workflowId: req.renderId,
      taskQueue: TASK_QUEUES.media,
      args: [req],
      signal: pauseSignal,
      signalArgs: [],
    });
    await waitForProgress(handle, (p) => p.phase === 'styling', 'the split');

    const set = await cli(['set-epochs', req.renderId, '4', '--work-dir', fx.env.workDir]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout.trim(), `render ${req.renderId}: frames not yet started will use 4 epochs (was 3); frames in flight keep theirs`);

    await cli(['resume', req.renderId, '--work-dir', fx.env.workDir]);
    const pause = await cli(['pause', req.renderId, '--work-dir', fx.env.workDir]);
    assert.equal(pause.code, 0, pause.stderr);
    assert.match(pause.stdout.trim(), new RegExp(`Resume with: npm run resume -- ${req.renderId} --work-dir ${fx.env.workDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    const again = await cli(['pause', req.renderId, '--work-dir', fx.env.workDir]);
    assert.ok(again.stdout.includes(`(npm run resume -- ${req.renderId} --work-dir ${fx.env.workDir})`), again.stdout);
    await handle.terminate('test over');
  });
});
