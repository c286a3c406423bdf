/**
 * A full disk under the work directory: the render fails with one DiskFull line saying where, how
 * much is free and how much the work needs; once space is freed the same start-render finishes, and
 * its video is frame for frame the one an undisturbed run makes. The work directory lies on a small
 * tmpfs this test mounts (root only; skipped, saying so, elsewhere). Real CLI processes: a dev
 * server, a media worker and a copy worker, start-render --address.
 *
 * The second test fills the disk while frames are being written: a style worker holds frame 3 in
 * flight (STARRY_FAULTS=stall@3:1, released by a file, no timing), the disk is filled, the frame is
 * let go; frames 3 on fail with DiskFull, start-render names the retry-failed command, which, once
 * the filler is deleted, finishes the render with every stylized PNG byte-identical to an
 * undisturbed run's and the frames done before untouched.
 */
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { Client, Connection } from '@temporalio/client';
import { copyFile, mkdir, open, readdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/client/server/embedded-server';
import { renderPaths } from '../../src/common/render-paths';
import { framePath } from '../../src/media';
import { ffmpegPaths } from '../../src/media/binaries';
import { FAILURE_TYPES, progressQuery } from '../../src/workflows/contract';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { runCli, startCli, stopAllProcesses } from '../helpers/processes';
import { frameHolder, waitFor } from '../helpers/steering';
import { writeVggH5 } from '../helpers/tiny-vgg';

const run = promisify(execFile);
/** Large enough for a whole render of the clip below, small enough to fill in a moment. */
const DISK = '48m';

/** The MD5 of every decoded video frame: two videos showing the same pictures agree whatever their container says. */
async function frameHashes(video: string): Promise<string> {
  const { stdout } = await run(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', video, '-map', '0:v:0', '-f', 'framemd5', '-'], { maxBuffer: 1 << 24 });
  return stdout.split('\n').filter((l) => l && !l.startsWith('#')).join('\n');
}

/**
 * A small tmpfs under a temporary directory, with a dev server whose own files stay off it, set up
 * before the calling describe's tests and torn down after them; `skip` says why when this machine
 * cannot mount one (not root).
 */
function smallDisk(name: string, size: string) {
  const state: { root: string; disk: string; server: EmbeddedServer; skip?: string } = { root: '', disk: '', server: undefined as unknown as EmbeddedServer };
  let mounted = false;
  let cleanup: (() => Promise<void>) | undefined;
  before(async () => {
    let root: string;
    ({ dir: root, cleanup } = await tempDir(name));
    state.root = root;
    state.disk = join(root, 'disk');
    await mkdir(state.disk);
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', state.disk]);
      mounted = true;
    } catch (err) {
      state.skip = `cannot mount a tmpfs here (needs root): ${(err as Error).message.split('\n')[0]}`;
      return;
    }
    state.server = await startEmbeddedServer(join(root, 'cluster'), process.env, { owner: { role: 'render', label: `the ${name} test cluster` } });
  });
  after(async () => {
    stopAllProcesses();
    await state.server?.stop();
    if (mounted) await run('umount', [state.disk]);
    await cleanup?.();
  });
  return state;
}

describe('a full disk names how much the render needs, and nothing is lost', () => {
  const small = smallDisk('starry-disk-full', DISK);

  test('DiskFull on a full work directory; the same command finishes once space is freed, identical to an undisturbed run', async (t) => {
    const { root, disk, server, skip } = small;
    if (skip) return t.skip(skip);
    const work = join(disk, 'work');
    const address = server.address;
    for (const queues of [['--queues', 'media'], ['--queues', 'style', '--engine', 'copy']]) {
      await startCli(['worker', '--address', address, ...queues, '--work-dir', work, '--output-root', root]).waitFor(/worker serving/);
    }
    const input = await makeClip({ path: join(root, 'clip.mp4'), width: 320, height: 240, rate: '25', frames: 24 });
    const style = await makeStyleImage(join(root, 'style.png'), 40, 32);
    const render = (output: string) =>
      runCli(['start-render', '--address', address, '--work-dir', work, '-i', input, '-s', style, '-o', output, '--engine', 'copy', '--size', '320']);

    const undisturbed = await render(join(root, 'undisturbed.mp4'));
    assert.equal(undisturbed.code, 0, undisturbed.stdout + undisturbed.stderr);

    // Fill the disk but for a few pages: the next render's frames do not fit.
    const { bavail, bsize } = await statfs(disk);
    const filler = join(disk, 'filler');
    await writeFile(filler, Buffer.alloc(Math.max(0, bavail * bsize - 64 * 1024)));
    const output = join(root, 'full.mp4');
    const full = await render(output);
    assert.equal(full.code, 1, full.stdout + full.stderr);
    const line = full.stderr.match(/render (\S+) failed: (DiskFull: no space left on the disk of .*)/);
    assert.ok(line, full.stdout + full.stderr);
    assert.match(line[2], new RegExp(`no space left on the disk of ${work}/renders/\\S+ \\((0\\.\\d MB|\\d+ kB) free\\): chunk 1 \\(24 frames of 320×240, content and stylized PNGs; .*\\) needs about \\d+(\\.\\d)? MB`));
    assert.match(full.stderr, /fix: free the space the message names/);
    const json = JSON.parse((await runCli(['status', line[1], '--address', address, '--json'])).stdout);
    assert.equal(json.failure.type, FAILURE_TYPES.diskFull);

    await rm(filler);
    const again = await render(output);
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(await frameHashes(output), await frameHashes(join(root, 'undisturbed.mp4')), 'the same pictures as the undisturbed run');
  });
});

/** Writes zeros into `file` until the filesystem refuses more: nothing is left free. */
async function fillDisk(file: string): Promise<void> {
  const handle = await open(file, 'w');
  try {
    for (const size of [1 << 20, 4096]) {
      const zeros = Buffer.alloc(size);
      try {
        for (;;) await handle.write(zeros);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    await handle.close();
  }
}

/** The bytes of every stylized frame of a render: identical PNGs are identical frames. */
async function styledBytes(renderDir: string, frames: number): Promise<Buffer[]> {
  return Promise.all(Array.from({ length: frames }, (_, i) => readFile(framePath(renderPaths(renderDir).styled, i + 1))));
}

describe('the disk fills while frames are written: DiskFull, retry-failed once space is freed, nothing lost', () => {
  const FRAMES = 5;
  /** Frame 3 is held at its first step (STARRY_FAULTS=stall@3:1) while the disk is filled under it. */
  const HELD = 3;
  const small = smallDisk('starry-disk-fills', '16m');

  test('frame 3 meets a full disk: one DiskFull line with the directory, the free space and what the rest needs; the named retry-failed finishes it identical to an undisturbed run', async (t) => {
    const { root, disk, server, skip } = small;
    if (skip) return t.skip(skip);
    const work = join(disk, 'work');
    const release = join(root, 'release');
    const address = server.address;
    const weights = join(root, 'tiny-vgg19.h5');
    await writeVggH5(weights);
    await startCli(['worker', '--address', address, '--queues', 'media', '--work-dir', work, '--output-root', root]).waitFor(/worker serving/);
    await startCli(['worker', '--address', address, '--queues', 'style', '--work-dir', work, '--weights', weights, '--backend', 'wasm'], {
      STARRY_FAULTS: `stall@${HELD}:1`,
      STARRY_STALL_RELEASE: release,
    }).waitFor(/worker serving/);
    const input = await makeClip({ path: join(root, 'clip.mp4'), width: 48, height: 36, rate: '25', frames: FRAMES });
    // The same video under another name: a render of its own, nothing shared with the one under test.
    const referenceInput = join(root, 'reference.mp4');
    await copyFile(input, referenceInput);
    const style = await makeStyleImage(join(root, 'style.png'), 40, 40);
    // One frame at a time, so frames 1 and 2 are done when frame 3 is held; two attempts for a frame, to fail soon.
    const settings = ['--size', '32', '--epochs', '1', '--steps-per-epoch', '2', '--window', '1', '--frame-attempts', '2', '--keep-frames'];
    const args = (i: string, o: string) => ['start-render', '--address', address, '--work-dir', work, '-i', i, '-s', style, '-o', o, ...settings];

    // The undisturbed run: the release file is there, so frame 3 does not stall.
    await writeFile(release, '');
    const reference = await runCli(args(referenceInput, join(root, 'reference.out.mp4')));
    assert.equal(reference.code, 0, reference.stdout + reference.stderr);
    await rm(release);

    const output = join(root, 'out.mp4');
    const render = startCli(args(input, output));
    const id = (await render.waitFor(/render (\S+) on /))[1]!;
    const connection = await Connection.connect({ address });
    t.after(() => connection.close());
    const handle = new Client({ connection }).workflow.getHandle(id);
    await waitFor(async () => frameHolder((await handle.describe()).raw, HELD), (h) => h?.beat.step === 1, `frame ${HELD} held at step 1`, 120_000);
    const { renderDir } = await handle.query(progressQuery);
    const before = await Promise.all([1, 2].map((k) => stat(framePath(renderPaths(renderDir).styled, k))));

    const filler = join(disk, 'filler');
    await fillDisk(filler);
    await writeFile(release, '');
    const line = await render.waitFor(/frames? \S+: (DiskFull: no space left on the disk of (\S+) \(([^)]+) free\): the rest of the render \(([^)]+)\) needs about (\S+ [kM]B))\n/);
    assert.equal(line[2], renderDir, 'the directory named is the render directory on the full disk');
    assert.equal(line[3], '0 kB', 'nothing free');
    // The failed frames are listed as one group with one of their messages: each counts the frames from its own on.
    const rest = line[4]!.match(/^(?:(\d+) frames from frame (\d+) on|frame (\d+)) to stylize: a PNG each and one checkpoint at a time$/);
    assert.ok(rest, line[0]);
    const from = Number(rest[2] ?? rest[3]);
    assert.ok(from >= HELD && Number(rest[1] ?? 1) === FRAMES - from + 1, line[0]);
    const retry = (await render.waitFor(/render them again: +npm run retry-failed -- (.+)\n/))[1]!;
    t.diagnostic(render.output().split('\n').filter((l) => /needs attention|DiskFull|fix:|again:/.test(l)).join('\n'));
    assert.match(render.output(), /fix: free the space the message names/);

    await rm(filler);
    const retried = await runCli(['retry-failed', ...retry.split(' ')]);
    assert.equal(retried.code, 0, retried.stdout + retried.stderr);
    const exit = await render.exited;
    assert.equal(exit.code, 0, render.output());

    const referenceDir = (await readdir(dirname(renderDir))).find((name) => name.startsWith('reference-'));
    assert.ok(referenceDir, `the reference render's directory beside ${renderDir}`);
    assert.deepEqual(await styledBytes(renderDir, FRAMES), await styledBytes(join(dirname(renderDir), referenceDir), FRAMES), 'every stylized PNG byte-identical');
    const after = await Promise.all([1, 2].map((k) => stat(framePath(renderPaths(renderDir).styled, k))));
    assert.deepEqual(after.map((s) => s.mtimeMs), before.map((s) => s.mtimeMs), 'frames 1 and 2, done before the disk filled, were kept, not made again');
    assert.equal(await frameHashes(output), await frameHashes(join(root, 'reference.out.mp4')), 'the same pictures as the undisturbed run');
  });
});
