/**
 * A render whose frames ran out of attempts waits in needs-attention: the attached start-render and
 * status say so at once (frames, one-line reason, the two commands with --work-dir), with no stack
 * on the screen, and `status --json` agrees. Real CLI, real dev server, real ffmpeg.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildRenderRequest } from '../../src/client/setup/render-options';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { runCli, startCli, stopAllProcesses } from '../helpers/processes';
import { tinyWeights } from '../helpers/render-env';


const cli = runCli;

/** A line of a stack trace, as Node prints them. */
const STACK = /^\s+at .+\(.*:\d+:\d+\)$|^\s+at .+:\d+:\d+$/m;

describe('needs-attention, as the user sees it (real processes)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-attention'));
  });
  after(async () => {
    stopAllProcesses();
    await cleanup?.();
  });

  test('start-render and status say so at once with frames, reason and commands; status --json agrees; skip-failed finishes it', { timeout: 240_000 }, async () => {
    const weights = await tinyWeights(root);
    const style = await makeStyleImage(join(root, 'style.png'), 40, 32);
    const input = await makeClip({ path: join(root, 'clip.mp4'), width: 32, height: 24, rate: '25', frames: 4 });
    const output = join(root, 'out.mp4');
    const workDir = join(root, 'not-the-default-work');
    const settings = ['--epochs', '1', '--steps-per-epoch', '2', '--size', '32', '--frame-attempts', '1'];
    const { renderId } = await buildRenderRequest({ input, style, output, workDir, epochs: '1', stepsPerEpoch: '2', size: '32' });

    // Frame 2 runs out of memory on every try, and one attempt is all a frame gets.
    const render = startCli(
      ['start-render', '-i', input, '-s', style, '-o', output, '--weights', weights, '--backend', 'wasm', '--local-workers', '1', '--work-dir', workDir, ...settings],
      { STARRY_FAULTS: 'oom@2*9', STARRY_WORK_DIR: undefined },
    );
    const retry = `npm run retry-failed -- ${renderId} --work-dir ${workDir}`;
    const skip = `npm run skip-failed -- ${renderId} --work-dir ${workDir}`;
    await render.waitFor(new RegExp(`render ${renderId} needs attention: frame 2 failed on every attempt; 3 of 4 frames are done`));
    await render.waitFor(/or keep them unstylized: .*\n/);
    const notice = render.output().slice(render.output().indexOf(`render ${renderId} needs attention`));
    assert.match(notice, /\n {2}frame 2: OutOfMemory: out of memory at 32 px \(OOM when allocating tensor \(injected by STARRY_FAULTS for frame 2\)\)\. Out-of-memory attempts are retried with backoff, at reduced size after repeated failures; if a frame keeps failing, lower --size\.$/m);
    assert.doesNotMatch(notice, /\{[a-z][A-Za-z]*\}/, 'settings are named by flag, not by key');
    assert.ok(notice.includes(`\n  render them again:       ${retry}\n`), notice);
    assert.ok(notice.includes(`\n  or keep them unstylized: ${skip}\n`), notice);

    // status --json: the state agrees with the phase.
    const json = await cli(['status', renderId, '--json', '--work-dir', workDir]);
    assert.equal(json.code, 0, json.stderr);
    const progress = JSON.parse(json.stdout);
    assert.equal(progress.phase, 'needs-attention');
    assert.equal(progress.state, 'needs-attention');

    // A live status attached now says so at once too.
    const status = startCli(['status', renderId, '--work-dir', workDir]);
    await status.waitFor(new RegExp(`render ${renderId} needs attention: frame 2 failed`));
    await status.waitFor(/or keep them unstylized: .*\n/);
    assert.ok(status.output().includes(skip));

    // The printed command does what it says.
    const skipped = await cli(['skip-failed', renderId, '--work-dir', workDir]);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.equal((await render.exited).code, 0, render.output());
    assert.equal((await status.exited).code, 0, status.output());
    assert.match(render.output(), /unstylized \(failed, skipped\): 1 frame\(s\): 2$/m);

    // Stacks belong in the worker log, not on the screen.
    for (const [name, text] of [['start-render', render.output()], ['status', status.output()]]) {
      assert.doesNotMatch(text, STACK, `${name} printed a stack trace:\n${text}`);
      assert.doesNotMatch(text, /Activity failed/, `${name} printed the SDK's log:\n${text}`);
    }
    // The dev server's own banner ("Temporal UI: http://localhost:…") goes to its log, not between our lines.
    assert.doesNotMatch(render.output(), /Temporal Server:|Temporal UI: +http/, render.output());
    assert.match(readFileSync(join(workDir, 'temporal', 'server.log'), 'utf8'), /Temporal UI: +http/);
    const log = readFileSync(join(workDir, 'worker.log'), 'utf8');
    assert.match(log, /Activity failed/);
    assert.match(log, STACK);
    // The worker log names settings by flag too: the activity's "lower {size}" reads "lower --size".
    assert.match(log, /lower --size\./);
    assert.doesNotMatch(log, /\{size\}/);
  });
});
