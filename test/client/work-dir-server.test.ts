/**
 * One work directory, one embedded server, many commands — all real processes: status and list
 * open the database themselves once start-render has exited (finished and interrupted renders stay
 * inspectable), `ui` serves the Web UI until Ctrl-C, and two start-render started at the same
 * moment end with one rendering and the other following it (same render) or saying what runs.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { startCli, stopAllProcesses } from '../helpers/processes';
import { tinyWeights } from '../helpers/render-env';
import { waitFor } from '../helpers/steering';
import { buildRenderRequest } from '../../src/client/setup/render-options';

describe('the work directory’s server (real processes)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let weights: string;
  let style: string;
  let input: string;

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-workdir'));
    weights = await tinyWeights(root);
    style = await makeStyleImage(join(root, 'style.png'), 32, 32);
    input = await makeClip({ path: join(root, 'clip.mp4'), width: 32, height: 24, rate: '25', frames: 3 });
  });
  after(async () => {
    stopAllProcesses();
    await cleanup?.();
  });

  const renderArgs = (output: string, extra: string[] = []) => [
    'start-render', '-i', input, '-s', style, '-o', output, '--weights', weights, '--backend', 'wasm',
    '--steps-per-epoch', '2', '--size', '32', '--local-workers', '1', ...extra,
  ];

  async function cli(args: string[], workDir: string) {
    const proc = startCli(args, { STARRY_WORK_DIR: workDir });
    const { code } = await proc.exited;
    return { code, out: proc.output() };
  }

  test('after start-render has exited, status and list still answer, and ui serves the Web UI until Ctrl-C, handing it to a start-render meanwhile', async () => {
    const workDir = join(root, 'work-after');
    const done = join(root, 'done.mp4');
    assert.equal((await cli(renderArgs(done, ['--epochs', '1']), workDir)).code, 0);

    const status = await cli(['status', '-i', input, '-s', style, '-o', done], workDir);
    assert.equal(status.code, 0, status.out);
    assert.match(status.out, /^render clip-[0-9a-f]{10} finished\nWrote .*done\.mp4/m);
    const list = await cli(['list'], workDir);
    assert.equal(list.code, 0, list.out);
    assert.match(list.out, /^clip-[0-9a-f]{10} +done +\S+ +.*done\.mp4$/m);

    // An interrupted render: Ctrl-C'd start-render; status reads where it stands from the history.
    const interrupted = join(root, 'interrupted.mp4');
    const proc = startCli(renderArgs(interrupted, ['--epochs', '500']), { STARRY_WORK_DIR: workDir });
    await proc.waitFor(/render clip-[0-9a-f]{10} · Temporal UI/);
    // Past the split: a frame has written its first checkpoint.
    const { renderDir } = await buildRenderRequest({ input, style, output: interrupted, workDir, epochs: '500', stepsPerEpoch: '2', size: '32' });
    const checkpoints = join(renderDir, 'checkpoints');
    await waitFor(async () => existsSync(checkpoints) && readdirSync(checkpoints).some((f) => f.endsWith('.ckpt')), Boolean, 'a checkpoint', 120_000);
    proc.child.kill('SIGINT');
    assert.equal((await proc.exited).code, 130, proc.output());
    const st = await cli(['status', '-o', interrupted], workDir);
    assert.equal(st.code, 0, st.out);
    assert.match(st.out, /^render clip-[0-9a-f]{10} is interrupted \(\d of 3 frames done\): no start-render is serving it\. Run the same start-render command again to resume it; nothing is lost$/m);
    const pause = await cli(['pause', '-o', interrupted], workDir);
    assert.equal(pause.code, 2, pause.out);
    assert.match(pause.out, /^error: cannot pause: render clip-[0-9a-f]{10} is not running now \(no start-render is serving it in .*\); run its start-render command again to resume it, then pause$/m);
    const rows = JSON.parse((await cli(['list', '--json'], workDir)).out) as Array<{ state: string; output: string }>;
    assert.deepEqual(rows.map((r) => [r.state, r.output]).sort(), [['done', done], ['interrupted', interrupted]].sort());

    // ui: the Web UI answers until Ctrl-C; meanwhile status uses its server, and a start-render says what to do.
    const ui = startCli(['ui'], { STARRY_WORK_DIR: workDir });
    const [, url] = await ui.waitFor(/Temporal UI (http:\/\/127\.0\.0\.1:\d+)\S* for the renders in .*; Ctrl-C to stop/);
    assert.equal((await fetch(url)).status, 200);
    const during = await cli(['status', '-o', done], workDir);
    assert.equal(during.code, 0, during.out);
    assert.match(during.out, /finished/);
    // A start-render meanwhile: the UI hands the server over, and opens the database again after it.
    const takeover = await cli(renderArgs(done, ['--epochs', '1']), workDir);
    assert.equal(takeover.code, 0, takeover.out);
    assert.match(takeover.out, /Wrote .*done\.mp4/);
    await ui.waitFor(/Ctrl-C to stop\n[\s\S]*handing it over\n[\s\S]*Ctrl-C to stop\n/);
    ui.child.kill('SIGINT');
    assert.equal((await ui.exited).code, 0, ui.output());
    assert.equal(existsSync(join(workDir, 'temporal', 'server.lock')), false, 'the ui let the work directory go');
  });

  test('two start-render at the same moment: the same render is followed, another render is refused clearly', async () => {
    const workDir = join(root, 'work-race');
    const output = join(root, 'race.mp4');
    // Long enough frames that neither can finish before the other has started.
    const slow = ['--epochs', '60'];
    const [a, b] = await Promise.all([cli(renderArgs(output, slow), workDir), cli(renderArgs(output, slow), workDir)]);
    assert.equal(a.code, 0, a.out);
    assert.equal(b.code, 0, b.out);
    const followers = [a, b].filter((r) => /already being rendered by another start-render \(pid \d+\) in this work directory; following it here/.test(r.out));
    assert.equal(followers.length, 1, `${a.out}\n---\n${b.out}`);
    for (const r of [a, b]) assert.match(r.out, /Wrote .*race\.mp4/);
    assert.doesNotMatch(a.out + b.out, /did not start/);

    const [c, d] = await Promise.all([
      cli(renderArgs(join(root, 'race-c.mp4'), slow), workDir),
      cli(renderArgs(join(root, 'race-d.mp4'), slow), workDir),
    ]);
    const codes = [c.code, d.code].sort();
    assert.deepEqual(codes, [0, 2], `${c.out}\n---\n${d.out}`);
    const loser = c.code === 2 ? c : d;
    assert.match(loser.out, /^error: another start-render \(pid \d+\) is rendering clip-[0-9a-f]{10} \(clip\.mp4 → race-[cd]\.mp4\) in .*; follow it with `npm run status -- clip-[0-9a-f]{10}`, wait for it to finish, or pass another --work-dir$/m);
    assert.doesNotMatch(c.out + d.out, /did not start/);
  });
});
