import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderPaths } from '../../src/common/render-paths';
import { cleanFinished } from '../../src/client/commands/clean';
import type { Io } from '../../src/cli-common/io';
import { tempDir } from '../helpers/media-fixtures';

test('clean deletes finished renders only; --dry-run deletes nothing', async () => {
  const { dir, cleanup } = await tempDir('starry-clean');
  try {
    const finished = join(dir, 'renders', 'done-1');
    const running = join(dir, 'renders', 'running-2');
    for (const d of [finished, running]) await mkdir(join(d, 'frames'), { recursive: true });
    await writeFile(renderPaths(finished).finished, '{}');
    const lines: string[] = [];
    const io: Io = { out: (l) => void lines.push(l), status() {}, err: (l) => void lines.push(l) };

    assert.deepEqual(await cleanFinished({ workDir: dir, dryRun: true }, io), ['done-1']);
    assert.ok(existsSync(finished), 'dry run deletes nothing');
    assert.deepEqual(await cleanFinished({ workDir: dir }, io), ['done-1']);
    assert.equal(existsSync(finished), false);
    assert.ok(existsSync(running), 'an unfinished render keeps its work');
    assert.match(lines.at(-1)!, /1 finished render\(s\) deleted, 2 bytes freed; 1 unfinished kept/);
  } finally {
    await cleanup();
  }
});
