/** `clean` says how much each finished render takes and how much it frees; through the real command line. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { renderPaths } from '../../src/common/render-paths';
import { tempDir } from '../helpers/media-fixtures';

const run = promisify(execFile);
const CLI = resolve(__dirname, '../../src/client/cli.ts');

test('clean --dry-run lists each finished render with its size and the total; clean reports what it freed', async () => {
  const { dir, cleanup } = await tempDir('starry-clean-sizes');
  try {
    const finished = join(dir, 'renders', 'done-1');
    const running = join(dir, 'renders', 'running-2');
    for (const d of [finished, running]) await mkdir(join(d, 'frames'), { recursive: true });
    await writeFile(join(finished, 'frames', 'frame_000001.png'), Buffer.alloc(3 * 1024 * 1024 - 2));
    await writeFile(renderPaths(finished).finished, '{}');
    await writeFile(join(running, 'frames', 'frame_000001.png'), Buffer.alloc(5000));
    const clean = (...args: string[]) => run(process.execPath, ['--import', 'tsx', CLI, 'clean', '--work-dir', dir, ...args], { cwd: resolve(__dirname, '../..') });

    const dry = await clean('--dry-run');
    assert.deepEqual(dry.stdout.trim().split('\n'), [
      `would delete ${finished} (3.0 MB)`,
      '1 finished render(s) to delete, 3.0 MB to free; 1 unfinished kept',
    ]);
    assert.ok(existsSync(finished), 'a dry run deletes nothing');
    const real = await clean();
    assert.deepEqual(real.stdout.trim().split('\n'), [`deleted ${finished} (3.0 MB)`, '1 finished render(s) deleted, 3.0 MB freed; 1 unfinished kept']);
    assert.equal(existsSync(finished), false);
  } finally {
    await cleanup();
  }
});
