/**
 * Bad input gets one clear line naming the problem and the fix, exit code 2, and nothing at --output.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { buildRenderRequest, type RenderFlags } from '../../src/client/setup/render-options';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { runCli } from '../helpers/processes';

const run = promisify(execFile);
const CLI = resolve(__dirname, '../../src/client/cli.ts');

describe('bad input', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let good: { input: string; style: string; output: string };

  before(async () => {
    ({ dir, cleanup } = await tempDir('starry-bad'));
    good = {
      input: await makeClip({ path: join(dir, 'clip.mp4'), width: 32, height: 32, rate: '25', frames: 2 }),
      style: await makeStyleImage(join(dir, 'style.png'), 32, 32),
      output: join(dir, 'out.mp4'),
    };
    await writeFile(join(dir, 'text.mp4'), 'this is not a video');
    await writeFile(join(dir, 'text.jpg'), 'this is not an image');
    await makeClip({ path: join(dir, 'audio-only.m4a'), width: 2, height: 2, frames: 25, audioOnly: true });
    await makeClip({ path: join(dir, 'wide.mp4'), width: 64, height: 48, rate: '25', frames: 2 });
    await makeStyleImage(join(dir, 'thin.png'), 64, 30);
  });
  after(() => cleanup?.());

  const cases: Array<[string, () => RenderFlags, RegExp]> = [
    ['missing input', () => ({ ...good, input: join(dir, 'nope.mp4') }), /--input ".*nope\.mp4" does not exist/],
    ['a file that is not a video', () => ({ ...good, input: join(dir, 'text.mp4') }), /text\.mp4.*not a readable video.*Give --input a video/],
    ['a file with no video stream', () => ({ ...good, input: join(dir, 'audio-only.m4a') }), /has no video stream/],
    ['a style file that is not an image', () => ({ ...good, style: join(dir, 'text.jpg') }), /text\.jpg.*Give --style a JPEG or PNG/],
    ['a missing style file', () => ({ ...good, style: join(dir, 'nope.jpg') }), /--style ".*nope\.jpg" does not exist/],
    ['an output directory that does not exist', () => ({ ...good, output: join(dir, 'no/such/dir/out.mp4') }), /directory of --output .* does not exist; create/],
    ['output equal to input', () => ({ ...good, output: good.input }), /--output is the same file as --input/],
    ['an output container we cannot write', () => ({ ...good, output: join(dir, 'out.gif') }), /--output must end in \.mp4, \.mov, \.mkv/],
    ['--epochs 0', () => ({ ...good, epochs: '0' }), /--epochs must be a whole number of at least 1 \(got 0\)/],
    ['negative --epochs', () => ({ ...good, epochs: '-2' }), /--epochs must be a whole number/],
    ['non-integer --epochs', () => ({ ...good, epochs: '1.5' }), /--epochs must be a whole number/],
    ['--epochs that is not a number', () => ({ ...good, epochs: 'many' }), /--epochs must be a number \(got "many"\)/],
    ['--size below 16', () => ({ ...good, size: '8' }), /--size must be a whole number of pixels from 16 to 4096/],
    ['absurd --size', () => ({ ...good, size: '100000' }), /--size must be a whole number of pixels from 16 to 4096/],
    ['--size whose frames VGG19 cannot take', () => ({ ...good, input: join(dir, 'wide.mp4'), size: '16' }), /^--size 16 makes 16×12 frames of this 64×48 video, but VGG19 down to block5_conv2 needs at least 16 pixels on each side; use --size 20 or more$/],
    ['negative --learning-rate', () => ({ ...good, learningRate: '-1' }), /--learning-rate must be a number above 0/],
    ['a missing second style file', () => ({ ...good, style: [good.style, join(dir, 'nope2.jpg')] }), /--style ".*nope2\.jpg" does not exist/],
    ['a second style that is not an image', () => ({ ...good, style: [good.style, join(dir, 'text.jpg')] }), /text\.jpg.*Give --style a JPEG or PNG/],
    [
      'a style image too thin for VGG19 at this size and scale',
      () => ({ ...good, style: [good.style, join(dir, 'thin.png')], size: '32', styleScale: '0.75' }),
      /^--style ".*thin\.png" is 24×11 at 24 px on its long side \(--size 32 × --style-scale 0\.75\), but VGG19 layers down to block5_conv1 need at least 16 pixels on each side; raise --style-scale or --size, or crop it closer to square$/,
    ],
    ['--style-scale out of range', () => ({ ...good, styleScale: '0' }), /^--style-scale must be a number above 0 and at most 4 \(got 0\)$/],
  ];
  for (const [name, flags, message] of cases) {
    test(name, async () => {
      await assert.rejects(buildRenderRequest(flags()), (e: Error) => e.name === 'UsageError' && message.test(e.message));
    });
  }

  const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => runCli(args, { STARRY_WORK_DIR: join(dir, 'work'), ...env });

  test('the command line exits 2 with one clear line and writes nothing at --output', async () => {
    const r = await cli(['start-render', '--input', good.input, '--style', good.style, '--output', good.output, '--epochs', '0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: --epochs must be a whole number of at least 1 \(got 0\)$/m);
    assert.equal(existsSync(good.output), false);
  });

  test('a file that is not a video: the media layer names {input}, the command line prints --input', async () => {
    const r = await cli(['start-render', '-i', join(dir, 'text.mp4'), '-s', good.style, '-o', good.output]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: ".*text\.mp4" is not a readable video file \(ffprobe: .+\)\. Give --input a video such as an \.mp4 or \.mov\.$/m);
    assert.doesNotMatch(r.stderr, /\{[a-z][A-Za-z]*\}/);
    assert.equal(existsSync(good.output), false);
  });

  test('a --size too small for the video exits 2 with the size that works, before anything starts', async () => {
    const r = await cli(['start-render', '-i', join(dir, 'wide.mp4'), '-s', good.style, '-o', good.output, '--size', '16']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: --size 16 makes 16×12 frames of this 64×48 video, .* use --size 20 or more$/m);
    assert.equal(existsSync(join(dir, 'work', 'temporal')), false, 'no server was started');
  });

  test('--style-blend-weights that are not numbers exit 2 with one line, before anything starts', async () => {
    const r = await cli(['start-render', '-i', good.input, '-s', good.style, '--style', good.style, '-o', good.output, '--style-blend-weights', '3,x']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: --style-blend-weights must be comma-separated numbers above 0, one per --style, e\.g\. 3,7 \(got "3,x"\)$/m);
    assert.equal(existsSync(join(dir, 'work', 'temporal')), false, 'no server was started');
    assert.equal(existsSync(good.output), false);
  });

  test('weights that are not a VGG19 h5 file are refused before anything starts', async () => {
    const fake = join(dir, 'fake.h5');
    await copyFile(good.style, fake);
    const r = await cli(['start-render', '-i', good.input, '-s', good.style, '-o', good.output, '--weights', fake]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /fake\.h5" is not a VGG19 weights file: not an HDF5 file/);
    assert.equal(existsSync(good.output), false);
    assert.equal(existsSync(join(dir, 'work', 'temporal')), false, 'no server was started');
  });
});

describe('paths given on the command line', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ dir, cleanup } = await tempDir('starry-paths'));
    await makeClip({ path: join(dir, 'clip.mp4'), width: 32, height: 32, rate: '25', frames: 2 });
    await makeStyleImage(join(dir, 'style.png'), 32, 32);
    await writeFile(join(dir, 'fake.h5'), 'not weights');
  });
  after(() => cleanup?.());

  async function cliFrom(userDir: string, args: string[]) {
    // As `npm run start-render` from userDir: npm runs the script in the package directory and sets INIT_CWD.
    const env = { ...process.env, INIT_CWD: userDir, STARRY_WORK_DIR: join(dir, 'work') };
    try {
      const r = await run(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: resolve(__dirname, '../..'), env });
      return { code: 0, stderr: r.stderr };
    } catch (err) {
      const e = err as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr };
    }
  }

  test('relative paths are taken from the directory the command was run in', async () => {
    const saved = process.env.INIT_CWD;
    process.env.INIT_CWD = dir;
    try {
      const request = await buildRenderRequest({ input: 'clip.mp4', style: './style.png', output: 'out.mp4' });
      assert.deepEqual([request.input, request.style, request.output], [join(dir, 'clip.mp4'), join(dir, 'style.png'), join(dir, 'out.mp4')]);
    } finally {
      if (saved === undefined) delete process.env.INIT_CWD;
      else process.env.INIT_CWD = saved;
    }
  });

  test('through the command line: found from the user’s directory, and a miss names the path tried', async () => {
    const ok = await cliFrom(dir, ['start-render', '-i', 'clip.mp4', '-s', 'style.png', '-o', 'out.mp4', '--weights', join(dir, 'fake.h5')]);
    // Past the file checks: what stops it is the weights file, checked next.
    assert.equal(ok.code, 2);
    assert.match(ok.stderr, /fake\.h5" is not a VGG19 weights file/);

    const miss = await cliFrom(dir, ['start-render', '-i', 'missing.mp4', '-s', 'style.png', '-o', 'out.mp4']);
    assert.equal(miss.code, 2);
    assert.equal(miss.stderr.trim(), `error: --input "missing.mp4" does not exist (looked for ${join(dir, 'missing.mp4')})`);
  });
});
