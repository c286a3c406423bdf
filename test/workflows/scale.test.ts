/**
 * Proof at scale, in every CI run: a generated 3,000-frame clip through a real dev server, real
 * workers and ffmpeg with the copy engine and 300-frame chunks. Every frame is in the output once
 * and in order, the duration and audio are right, no run's history nears Temporal's limits, and the
 * disk holds only the chunks in flight. `npm run bench -- --only scale` runs the 20,000-frame one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { probeStreams, tempDir } from '../helpers/media-fixtures';
import { frameLevels, levelOf, renderAtScale, type ScaleReport } from '../helpers/scale-render';
import { installRuntime } from '../../src/worker/runtime';

const FRAMES = 3000;

describe(`a ${FRAMES}-frame render in chunks (copy engine)`, () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  let report: ScaleReport;
  before(async () => {
    installRuntime('ERROR');
    dir = await tempDir('scale');
    report = await renderAtScale(dir.dir, FRAMES, { framesPerRun: '1000' });
  });
  after(() => dir?.cleanup());

  test('every frame once, in order', async () => {
    assert.equal(report.result.done, FRAMES);
    assert.equal(report.result.stylized, false);
    const levels = await frameLevels(report.output);
    assert.equal(levels.length, FRAMES);
    const wrong = levels.map((l, n) => [n + 1, l] as const).filter(([n, l]) => Math.abs(l - levelOf(n - 1)) > 3);
    assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} frames differ from the input's frame at their place`);
  });

  test('duration and audio as the input', async () => {
    const [input, output] = await Promise.all([probeStreams(report.input), probeStreams(report.output)]);
    assert.ok(Math.abs(Number(output.format.duration) - Number(input.format.duration)) < 0.1, `${output.format.duration} vs ${input.format.duration}`);
    assert.ok(output.streams.some((s) => s.codec_type === 'audio'));
  });

  test('each run well under 10,000 history events, continued as new', () => {
    assert.ok(report.eventsPerRun.length >= 3, `runs: ${report.eventsPerRun.join(', ')}`);
    assert.ok(Math.max(...report.eventsPerRun) < 10_000, `events per run: ${report.eventsPerRun.join(', ')}`);
  });

  test('disk bounded by the chunks in flight, not the video', () => {
    assert.equal(report.result.chunks?.total, 10);
    // At most 3 open chunks of 300 frames, each frame as content, stylized and an encoder link:
    // a whole split would hold 3,000 content frames alone.
    assert.ok(report.peakFrameFiles > 0);
    assert.ok(report.peakFrameFiles <= 3 * 300 * 3, `${report.peakFrameFiles} frame images on disk at once`);
    const perFrame = report.peakDiskBytes / FRAMES;
    console.log(`# ${FRAMES} frames in ${report.seconds.toFixed(1)} s, first frame after ${report.firstFrameSeconds.toFixed(1)} s, peak disk ${(report.peakDiskBytes / 2 ** 20).toFixed(1)} MiB and ${report.peakFrameFiles} frame images (${perFrame.toFixed(0)} B/frame), events per run ${report.eventsPerRun.join(', ')}`);
  });
});
