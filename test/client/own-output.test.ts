/**
 * A render's --output is its own, through the real command line, the embedded dev server and real
 * ffmpeg: a finished render run again checks the file is still the video it assembled and makes it
 * again from the kept frames when it is missing or (with --overwrite) replaced, saying which; a file
 * at --output that is not the render's own is refused (exit 2, untouched) unless --overwrite / -y.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeClip, makeStyleImage, probeStreams, tempDir } from '../helpers/media-fixtures';
import { startCli, stopAllProcesses } from '../helpers/processes';
import { tinyWeights } from '../helpers/render-env';

const FRAMES = 3;

async function videoFrames(file: string): Promise<number> {
  const video = (await probeStreams(file)).streams.find((s) => s.codec_type === 'video');
  return Number(video?.nb_frames ?? video?.nb_read_frames);
}

describe('the output is the render’s own (real CLI, embedded server, ffmpeg)', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let weights: string;
  let input: string;
  let style: string;
  let otherStyle: string;

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-own-output'));
    weights = await tinyWeights(root);
    input = await makeClip({ path: join(root, 'clip.mp4'), width: 32, height: 24, rate: '25', frames: FRAMES });
    style = await makeStyleImage(join(root, 'style.png'), 32, 32);
    otherStyle = await makeStyleImage(join(root, 'other.png'), 24, 40);
  });
  after(async () => {
    stopAllProcesses();
    await cleanup?.();
  });

  async function startRender(workDir: string, output: string, extra: string[] = [], styleFile = style) {
    const args = ['start-render', '-i', input, '-s', styleFile, '-o', output, '--weights', weights, '--backend', 'wasm',
      '--epochs', '1', '--steps-per-epoch', '2', '--size', '32', '--local-workers', '1', ...extra];
    const proc = startCli(args, { STARRY_WORK_DIR: workDir });
    const { code } = await proc.exited;
    return { code, out: proc.output() };
  }

  test('a finished render whose video was deleted, replaced or cleaned away makes it again and says so', async () => {
    const workDir = join(root, 'work-a');
    const output = join(root, 'a.mp4');
    const first = await startRender(workDir, output);
    assert.equal(first.code, 0, first.out);
    assert.match(first.out, /Wrote .*a\.mp4/);

    // Deleted: status says so; start-render re-assembles it from the kept frames.
    await rm(output);
    const status = startCli(['status', '-o', output], { STARRY_WORK_DIR: workDir });
    assert.equal((await status.exited).code, 0, status.output());
    assert.match(status.output(), /a\.mp4 is missing now; run the same start-render command again to make it again from the kept frames/);
    const missing = await startRender(workDir, output);
    assert.equal(missing.code, 0, missing.out);
    assert.match(missing.out, new RegExp(`a\\.mp4 was missing; re-assembled it from the ${FRAMES} kept frames\\n`));
    assert.match(missing.out, /Wrote .*a\.mp4/);
    assert.equal(await videoFrames(output), FRAMES);

    // Run again with the video in place: reported, nothing made.
    const again = await startRender(workDir, output);
    assert.equal(again.code, 0, again.out);
    assert.doesNotMatch(again.out, /was missing|re-assembled|replaced/);

    // Replaced by another file: refused without --overwrite, the file untouched.
    await writeFile(output, 'somebody else’s file');
    const refused = await startRender(workDir, output);
    assert.equal(refused.code, 2, refused.out);
    assert.match(refused.out, /^error: --output .*a\.mp4 already exists and is not this render's video; pass --overwrite \(or -y\) to replace it, or choose another --output$/m);
    assert.equal(await readFile(output, 'utf8'), 'somebody else’s file');
    const replaced = await startRender(workDir, output, ['--overwrite']);
    assert.equal(replaced.code, 0, replaced.out);
    assert.match(replaced.out, new RegExp(`a\\.mp4 had been replaced by another file; re-assembled it from the ${FRAMES} kept frames`));
    assert.equal(await videoFrames(output), FRAMES);

    // After clean removed the frames: rendered again.
    const clean = startCli(['clean'], { STARRY_WORK_DIR: workDir });
    assert.equal((await clean.exited).code, 0, clean.output());
    assert.match(clean.output(), /1 finished render\(s\) deleted/);
    await rm(output);
    const cleaned = await startRender(workDir, output);
    assert.equal(cleaned.code, 0, cleaned.out);
    assert.match(cleaned.out, new RegExp(`a\\.mp4 was missing and its frames were gone \\(npm run clean\\); rendered all ${FRAMES} frames again`));
    assert.equal(await videoFrames(output), FRAMES);
  });

  test('a file at --output that is not the render’s own is refused before anything starts, unless --overwrite or -y', async () => {
    const workDir = join(root, 'work-b');
    const output = join(root, 'b.mp4');
    await writeFile(output, 'precious');
    const refused = await startRender(workDir, output);
    assert.equal(refused.code, 2, refused.out);
    assert.equal(refused.out.trim(), `error: --output ${output} already exists and is not this render's video; pass --overwrite (or -y) to replace it, or choose another --output`);
    assert.equal(await readFile(output, 'utf8'), 'precious');
    assert.equal(existsSync(join(workDir, 'temporal')), false, 'no server was started');

    const yes = await startRender(workDir, output, ['-y']);
    assert.equal(yes.code, 0, yes.out);
    assert.equal(await videoFrames(output), FRAMES);

    // Another render (another style) aimed at the same file: refused, naming the render that made it.
    const before = await readFile(output);
    const other = await startRender(workDir, output, [], otherStyle);
    assert.equal(other.code, 2, other.out);
    assert.match(other.out, /^error: --output .*b\.mp4 already exists: it is the video of another render \(clip-[0-9a-f]{10}\); pass --overwrite/m);
    assert.deepEqual(await readFile(output), before, 'the other render’s video is untouched');
  });
});
