/**
 * A full disk under the work directory: the render fails with one DiskFull line saying where, how
 * much is free and how much the work needs; once space is freed the same start-render finishes, and
 * its video is frame for frame the one an undisturbed run makes. The work directory lies on a small
 * tmpfs this test mounts (root only; skipped, saying so, elsewhere). Real CLI processes: a dev
 * server, a media worker and a copy worker, start-render --address.
 */
import { execFile } from 'node:child_process';
import assert from 'node:assert/strict';
import { mkdir, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startEmbeddedServer, type EmbeddedServer } from '../../src/client/server/embedded-server';
import { ffmpegPaths } from '../../src/media/binaries';
import { FAILURE_TYPES } from '../../src/workflows/contract';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { runCli, startCli, stopAllProcesses } from '../helpers/processes';

const run = promisify(execFile);
/** Large enough for a whole render of the clip below, small enough to fill in a moment. */
const DISK = '48m';

/** The MD5 of every decoded video frame: two videos showing the same pictures agree whatever their container says. */
async function frameHashes(video: string): Promise<string> {
  const { stdout } = await run(ffmpegPaths().ffmpeg, ['-v', 'error', '-i', video, '-map', '0:v:0', '-f', 'framemd5', '-'], { maxBuffer: 1 << 24 });
  return stdout.split('\n').filter((l) => l && !l.startsWith('#')).join('\n');
}

describe('a full disk names how much the render needs, and nothing is lost', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let disk: string;
  let mounted = false;
  let server: EmbeddedServer;
  let skip: string | undefined;

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-disk-full'));
    disk = join(root, 'disk');
    await mkdir(disk);
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${DISK}`, 'tmpfs', disk]);
      mounted = true;
    } catch (err) {
      skip = `cannot mount a tmpfs here (needs root): ${(err as Error).message.split('\n')[0]}`;
      return;
    }
    server = await startEmbeddedServer(join(root, 'cluster'), process.env, { owner: { role: 'render', label: 'the disk-full test cluster' } });
  });
  after(async () => {
    stopAllProcesses();
    await server?.stop();
    if (mounted) await run('umount', [disk]);
    await cleanup?.();
  });

  test('DiskFull on a full work directory; the same command finishes once space is freed, identical to an undisturbed run', async (t) => {
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
