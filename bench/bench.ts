/**
 * npm run bench [-- --sizes 64,128,256 --steps 6 --weights FILE --backend auto --only step,overhead,checkpoint,e2e,compare
 *                   --backends node,node-eager,wasm --wasm-max-size 128 --rounds 1 --python python3 --tf-threads 0]
 *
 * Prints, for the backend that runs here: milliseconds per optimisation step and (projected) per
 * frame at each size, the fixed per-frame cost outside the optimisation loop, and end-to-end seconds
 * per frame for a short clip through the real workflow — each with the command that reproduces it.
 * Without --weights it times a full-width VGG19 with synthetic weights (the arithmetic, and so the
 * time, is the same as with the ImageNet file).
 *
 * `workers` (--workers-backends wasm,node --tp-frames 16 --tp-size 64 --tp-steps 4): the same clip
 * rendered with one and two style worker processes on each backend. `fairness` (--fair-frames 1000):
 * two copy renders sharing four worker slots, each one's progress while both run (bench/workers.ts).
 *
 * `disk` (--disk-frames 10000 --disk-size 512x288): peak disk of a copy render of a textured clip
 * in chunks, against what a whole split would hold.
 *
 * `scale` (--scale-frames 20000): the proof at scale — a generated clip rendered in 300-frame chunks
 * with the copy engine through the embedded server: every frame once and in order, history events
 * per run (read back from the server), peak disk and frame images on disk, time to the first frame.
 *
 * `orchestration` (--orch-frames 2000 --orch-window 8, --orch-watch with the watch page open and refreshing): the workflow's own cost per frame, with the
 * copy engine (frames pass through, nothing computed) on the embedded server and one worker process:
 * ms per frame over the styling phase, and the worker's RSS and tfjs tensor count at the first frame
 * and at the end (both must stay flat).
 *
 * `coherence` (bench/coherence.ts; not in the default --only): temporally coherent stylization
 * (Ruder et al.: warped init and temporal loss) against frame-by-frame on a generated clip with
 * camera noise — steps needed, warping error, flicker on still pixels, loss terms, flow time
 * (--coherence-frames 6 --coherence-size 96 --coherence-steps 100 --coherence-later-steps 33 --coherence-first-steps (= steps) --temporal-weights 0,default
 * --coherence-noise 2.5 --coherence-crf 23 --coherence-thresholds default --coherence-still-ratios default --coherence-in-place default
 * --coherence-run-ups default --coherence-settle 3 --coherence-strip PATH.png; --coherence-noise 0 --coherence-crf none for the
 * noiseless clip; content-init's run is cached between runs, --coherence-fresh recomputes it).
 *
 * `scales` (bench/scales.ts; not in the default --only): coarse-to-fine against the seed's single
 * size on one frame — full-size steps and time to the seed's final loss, and the loss along the way
 * (--scales-size 256 --scales-steps 250 --scales-list 1,2,3 --scales-coarse-steps 100).
 *
 * `lbfgs` (bench/lbfgs.ts; not in the default --only): time to the seed's loss on a first frame, L-BFGS
 * against Adam, per network and size (--lbfgs-sizes 96,128 --lbfgs-networks sinusoidal-narrow,he-narrow,he-full
 * --lbfgs-steps 250 --lbfgs-max-steps 250 --lbfgs-histories 100; docs/lbfgs.md has the numbers).
 *
 * `compare` (bench/compare.ts) times the seed's TF2 step (bench/reference/seed_step.py, tf.function
 * and eager; needs `python3 -m pip install tensorflow-cpu==2.21.0`, skipped without it) and ours on
 * each of --backends (default node (one TensorFlow graph per step), node-eager, wasm; wasm only up to --wasm-max-size, default 128 px) at
 * --sizes (default 64,128,256,512), each in a process of its own, with peak RSS and a check that
 * the losses agree.
 *
 * `cluster` (bench/cluster/run.ts; --cluster-frames 8 --cluster-size 64 --cluster-epochs 3 --cluster-steps 12
 * --cluster-backend wasm --cluster-server-down 30 --cluster-keep): docker-compose.yml's PostgreSQL + Temporal server without
 * Docker (the server built once from its Go module, then cached), renders through them with two
 * style worker processes: undisturbed, one worker SIGKILLed mid-frame, and a frame held through a
 * server crash and a PostgreSQL restart, frames byte-identical. Not in the default set: the first run builds Go.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readCheckpoint, writeCheckpoint } from '../src/activities/checkpoint';
import { createStyleActivities } from '../src/activities/style';
import { renderPaths } from '../src/activities/paths';
import { buildRenderRequest } from '../src/client/setup/render-options';
import { startEmbeddedServer } from '../src/client/server/embedded-server';
import { startOrAttach } from '../src/client/commands/start-render';
import { IN_PLACE_THRESHOLD, PHOTOMETRIC_THRESHOLD, STILL_RATIO } from '../src/engine/flow';
import { DEFAULT_RUN_UP, DEFAULT_SETTINGS, defaultTemporalWeight } from '../src/engine/settings';
import { framePath, writePng } from '../src/media';
import { createStyleRuntime, type StyleRuntime } from '../src/worker/engine';
import { installRuntime } from '../src/worker/runtime';
import { createWorkers, runWorkers } from '../src/worker/workers';
import { tf } from '../src/engine/tf';
import { progressQuery, type RenderProgress } from '../src/workflows/contract';
import { makeClip, makeStyleImage } from '../test/helpers/media-fixtures';
import { VGG19_WIDTHS, writeVggH5 } from '../test/helpers/tiny-vgg';
import { CLUSTER_FLAGS, clusterOptionsFrom, runClusterBench } from './cluster/run';
import { runCoherence } from './coherence';
import { weightsKey } from './run-cache';
import { runCompare } from './compare';
import { runScales } from './scales';
import { LBFGS_NETWORKS, runLbfgsBench, type LbfgsNetwork } from './lbfgs';
import type { BackendChoice } from '../src/engine/backend';
import { benchFairness, benchThroughput } from './workers';
import { openWatchPage } from './watch';
import { frameLevels, levelOf, renderAtScale } from '../test/helpers/scale-render';
import { median, pattern, timeSteps } from './steps';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string' },
    steps: { type: 'string', default: '6' },
    weights: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    only: { type: 'string', default: 'step,overhead,checkpoint,e2e,compare' },
    backends: { type: 'string', default: 'node,node-eager,wasm' },
    'wasm-max-size': { type: 'string', default: '128' },
    rounds: { type: 'string', default: '1' },
    python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
    'tf-threads': { type: 'string', default: '0' },
    'e2e-frames': { type: 'string', default: '8' },
    'e2e-size': { type: 'string', default: '64' },
    'e2e-steps': { type: 'string', default: '10' },
    'orch-frames': { type: 'string', default: '2000' },
    'scale-frames': { type: 'string', default: '20000' },
    'fair-frames': { type: 'string', default: '1000' },
    'disk-frames': { type: 'string', default: '10000' },
    'disk-size': { type: 'string', default: '512x288' },
    'workers-backends': { type: 'string', default: 'wasm,node' },
    'tp-frames': { type: 'string', default: '16' },
    'tp-size': { type: 'string', default: '64' },
    'tp-steps': { type: 'string', default: '4' },
    'orch-window': { type: 'string', default: '8' },
    'orch-engine': { type: 'string', default: 'copy' },
    'orch-watch': { type: 'boolean', default: false },
    ...CLUSTER_FLAGS,
    'coherence-frames': { type: 'string', default: '6' },
    'coherence-size': { type: 'string', default: '96' },
    'coherence-steps': { type: 'string', default: '100' },
    'coherence-later-steps': { type: 'string', default: '33' },
    'coherence-first-steps': { type: 'string' },
    'temporal-weights': { type: 'string', default: '0,default' },
    'coherence-noise': { type: 'string', default: '2.5' },
    'coherence-crf': { type: 'string', default: '23' },
    'coherence-thresholds': { type: 'string', default: 'default' },
    'coherence-still-ratios': { type: 'string', default: 'default' },
    'coherence-run-ups': { type: 'string', default: 'default' },
    'coherence-in-place': { type: 'string', default: 'default' },
    'coherence-fresh': { type: 'boolean', default: false },
    'coherence-settle': { type: 'string', default: '3' },
    'coherence-strip': { type: 'string' },
    'lbfgs-sizes': { type: 'string', default: '96,128' },
    'lbfgs-networks': { type: 'string', default: 'sinusoidal-narrow,he-narrow,he-full' },
    'lbfgs-steps': { type: 'string', default: '250' },
    'lbfgs-max-steps': { type: 'string', default: '250' },
    'lbfgs-histories': { type: 'string', default: '100' },
    'scales-size': { type: 'string', default: '256' },
    'scales-steps': { type: 'string', default: '250' },
    'scales-list': { type: 'string', default: '1,2,3' },
    'scales-coarse-steps': { type: 'string', default: '100' },
  },
});
const sections = new Set(args.only!.split(','));
const DEFAULT_STEPS = DEFAULT_SETTINGS.epochs * DEFAULT_SETTINGS.stepsPerEpoch;
const command = (flags: string) => `npm run bench -- ${flags}${args.weights ? ` --weights ${args.weights}` : ''} --backend ${args.backend}`;

/** Milliseconds per step after the first (which pays for kernel set-up). */
async function msPerStep(rt: StyleRuntime, size: number, steps: number): Promise<number> {
  return (await timeSteps(rt.engine, size, steps)).msPerStep;
}

/**
 * An entry of a list flag: one of `keywords` by name, or a number `valid` accepts (`what` says which,
 * for the error).
 */
function keywordOrNumber(text: string, flag: string, keywords: Record<string, number>, valid: (n: number) => boolean, what: string): number {
  if (Object.hasOwn(keywords, text)) return keywords[text];
  const value = Number(text);
  if (!valid(value)) throw new Error(`${flag}: "${text}" is not ${Object.keys(keywords).join(', ')} or ${what}`);
  return value;
}

/** `default`: what a render at that size gets (settings.ts defaultTemporalWeight). */
const parseTemporalWeight = (text: string, size: number) =>
  keywordOrNumber(text, '--temporal-weights', { default: defaultTemporalWeight(size) }, (n) => n >= 0, 'a number of at least 0');

/** `default`: flow.ts PHOTOMETRIC_THRESHOLD; `off`: Ruder et al.'s tests only. */
const parseThreshold = (text: string) =>
  keywordOrNumber(text, '--coherence-thresholds', { default: PHOTOMETRIC_THRESHOLD, off: Infinity }, (n) => n > 0, 'a positive squared RGB distance (e.g. 0.0192)');

/** `default`: flow.ts STILL_RATIO; `off`: the local-difference threshold alone. */
const parseStillRatio = (text: string) =>
  keywordOrNumber(text, '--coherence-still-ratios', { default: STILL_RATIO, off: 0 }, (n) => n > 0, 'a positive ratio (e.g. 1.5)');
/** `default`: flow.ts IN_PLACE_THRESHOLD; `off`: untrusted pixels always restart from the content. */
const parseInPlace = (text: string) =>
  keywordOrNumber(text, '--coherence-in-place', { default: IN_PLACE_THRESHOLD, off: 0 }, (n) => n > 0, 'a positive mean squared RGB difference (e.g. 0.0048)');
/** `default`: settings.ts DEFAULT_RUN_UP; `off` or 0: frame 1 is content-init's. */
const parseRunUp = (text: string) =>
  keywordOrNumber(text, '--coherence-run-ups', { default: DEFAULT_RUN_UP, off: 0 }, (n) => Number.isInteger(n) && n >= 0, 'a whole number of frames (e.g. 3)');

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!(Number.isInteger(value) && value >= 1)) throw new Error(`${flag}: "${text}" is not a whole number of at least 1`);
  return value;
}

async function main() {
  installRuntime('ERROR');
  // Processes of its own (server, workers): nothing here needs this process's engine.
  if (sections.has('cluster')) await runClusterBench(clusterOptionsFrom(args));
  if ([...sections].every((s) => s === 'cluster')) return;
  const dir = await mkdtemp(join(tmpdir(), 'starry-bench-'));
  try {
    // First, before any weights exist in this process: its RSS is the orchestration's own.
    if (sections.has('orchestration')) await benchOrchestration(dir);
    if (sections.has('scale')) await benchScale(dir);
    if (sections.has('fairness')) await benchFairness(dir, Number(args['fair-frames']));
    if (sections.has('disk')) await benchDisk(dir);
    if (sections.has('lbfgs')) {
      const flags = ['sizes', 'networks', 'steps', 'max-steps', 'histories'].map((k) => `--lbfgs-${k} ${args[`lbfgs-${k}` as 'lbfgs-sizes']}`).join(' ');
      await runLbfgsBench({
        dir,
        backend: args.backend as BackendChoice | 'auto',
        sizes: args['lbfgs-sizes']!.split(',').map((n) => positiveInteger(n, '--lbfgs-sizes')),
        networks: args['lbfgs-networks']!.split(',').map((n) => {
          if (!n.startsWith('file:') && !(LBFGS_NETWORKS as readonly string[]).includes(n)) {
            throw new Error(`--lbfgs-networks: "${n}" is not one of ${LBFGS_NETWORKS.join(', ')} or file:PATH (a VGG19 weights file)`);
          }
          return n as LbfgsNetwork;
        }),
        steps: positiveInteger(args['lbfgs-steps']!, '--lbfgs-steps'),
        maxSteps: positiveInteger(args['lbfgs-max-steps']!, '--lbfgs-max-steps'),
        histories: args['lbfgs-histories']!.split(',').map((n) => positiveInteger(n, '--lbfgs-histories')),
        command: `npm run bench -- --only lbfgs ${flags} --backend ${args.backend}`,
      });
    }
    // Sections that bring their own weights (lbfgs writes its networks) or need none.
    const NO_WEIGHTS = ['orchestration', 'scale', 'fairness', 'disk', 'lbfgs'];
    if ([...sections].every((s) => NO_WEIGHTS.includes(s))) return;
    let weights = args.weights;
    if (!weights) {
      weights = join(dir, 'vgg19-synthetic.h5');
      await writeVggH5(weights, { widths: VGG19_WIDTHS });
    }
    console.log(`weights: ${args.weights ?? 'synthetic full-width VGG19 (timing only)'}`);
    const steps = Number(args.steps);
    if (sections.has('workers')) {
      // Processes of their own, before this process loads a backend.
      await benchThroughput({
        dir,
        weights,
        backends: args['workers-backends']!.split(','),
        frames: Number(args['tp-frames']),
        size: Number(args['tp-size']),
        steps: Number(args['tp-steps']),
      });
    }

    if (sections.has('compare')) {
      // First, and before this process loads a backend: the children then have the machine to themselves.
      const sizes = args.sizes ?? '64,128,256,512';
      const flags = [
        `--only compare --sizes ${sizes} --steps ${steps} --backends ${args.backends}`,
        args['wasm-max-size'] !== '128' ? ` --wasm-max-size ${args['wasm-max-size']}` : '',
        args.rounds !== '1' ? ` --rounds ${args.rounds}` : '',
        args['tf-threads'] !== '0' ? ` --tf-threads ${args['tf-threads']}` : '',
        args.python !== 'python3' ? ` --python ${args.python}` : '',
        args.weights ? ` --weights ${args.weights}` : '',
      ].join('');
      await runCompare({
        weights,
        sizes: sizes.split(',').map(Number),
        steps,
        backends: args.backends!.split(',').filter(Boolean),
        wasmMaxSize: Number(args['wasm-max-size']),
        rounds: Number(args.rounds),
        python: args.python!,
        tfThreads: Number(args['tf-threads']),
        command: `npm run bench -- ${flags}`,
      });
    }
    if ([...sections].every((s) => s === 'compare' || s === 'workers' || NO_WEIGHTS.includes(s))) return;

    const rt = await createStyleRuntime({ weights, backend: args.backend });
    console.log(`\nbackend: ${rt.engine.backend.name}${rt.engine.backend.skipped.length ? ` (skipped ${rt.engine.backend.skipped.join('; ')})` : ''}`);
    const stepMs = new Map<number, number>();

    if (sections.has('step') || sections.has('overhead')) {
      console.log(`\n# optimisation step (median of ${steps}, after one warm-up step); frame = ${DEFAULT_STEPS} steps (the default 5×50)`);
      for (const size of (args.sizes ?? '64,128,256').split(',').map(Number)) {
        const ms = await msPerStep(rt, size, steps);
        stepMs.set(size, ms);
        console.log(
          `${size} px: ${ms.toFixed(1)} ms/step, ${((ms * DEFAULT_STEPS) / 1000).toFixed(1)} s/frame (projected)   ${command(`--only step --sizes ${size} --steps ${steps}`)}`,
        );
      }
    }

    if (sections.has('overhead')) {
      // The stylize activity with a single step, minus that step: reading the frame, the content
      // targets, writing PNG + sidecar, removing the checkpoint.
      const size = 128;
      const ms = stepMs.get(size) ?? (await msPerStep(rt, size, steps));
      const renderDir = join(dir, 'overhead');
      await mkdir(renderPaths(renderDir).frames, { recursive: true });
      const style = join(dir, 'style.png');
      await writePng(style, pattern(size, size, 2));
      const activities = createStyleActivities({ ...rt, paths: { workRoot: dir, outputRoots: [] } });
      const samples: number[] = [];
      for (let frame = 1; frame <= 5; frame++) {
        await writePng(framePath(renderPaths(renderDir).frames, frame), pattern(size, 96, frame));
        const settings = { ...DEFAULT_SETTINGS, size, epochs: 1, stepsPerEpoch: 1 };
        const t0 = performance.now();
        await new MockActivityEnvironment().run(activities.stylizeFrame, { renderDir, style, frame, frameCount: 5, settings });
        if (frame > 1) samples.push(performance.now() - t0 - ms);
      }
      console.log(`\n# fixed per-frame overhead outside the optimisation loop (${size} px, median of 4)`);
      console.log(`${median(samples).toFixed(1)} ms/frame   ${command('--only overhead')}`);
    }

    if (sections.has('checkpoint')) {
      // What an epoch checkpoint costs at the default size: a 512×384 frame's image and Adam moments.
      const [w, h] = [512, 384];
      const c = { step: 50, image: pattern(w, h, 3).data, m: pattern(w, h, 4).data, v: pattern(w, h, 5).data };
      const path = join(dir, 'bench.ckpt');
      const writes: number[] = [];
      const reads: number[] = [];
      for (let i = 0; i < 7; i++) {
        let t0 = performance.now();
        await writeCheckpoint(path, 'bench', c);
        writes.push(performance.now() - t0);
        t0 = performance.now();
        await readCheckpoint(path, 'bench');
        reads.push(performance.now() - t0);
      }
      console.log(`\n# checkpoint of a ${w}×${h} frame (image + Adam m and v, float32, median of 7)`);
      console.log(
        `write ${median(writes).toFixed(1)} ms, read ${median(reads).toFixed(1)} ms, ${((await stat(path)).size / 2 ** 20).toFixed(2)} MiB on disk while the frame is in flight   ${command('--only checkpoint')}`,
      );
    }

    if (sections.has('coherence')) {
      const flags = ['frames', 'size', 'steps', 'later-steps', 'noise', 'crf', 'thresholds', 'still-ratios', 'in-place', 'run-ups', 'settle'].map((k) => `--coherence-${k} ${args[`coherence-${k}` as 'coherence-size']}`).join(' ');
      await runCoherence(rt.engine, {
        frames: Number(args['coherence-frames']),
        size: Number(args['coherence-size']),
        steps: Number(args['coherence-steps']),
        laterSteps: Number(args['coherence-later-steps']),
        firstSteps: positiveInteger(args['coherence-first-steps'] ?? args['coherence-steps']!, '--coherence-first-steps'),
        temporalWeights: args['temporal-weights']!.split(',').filter(Boolean).map((w) => parseTemporalWeight(w, Number(args['coherence-size']))),
        thresholds: args['coherence-thresholds']!.split(',').filter(Boolean).map(parseThreshold),
        stillRatios: args['coherence-still-ratios']!.split(',').filter(Boolean).map(parseStillRatio),
        runUps: args['coherence-run-ups']!.split(',').filter(Boolean).map(parseRunUp),
        inPlaces: args['coherence-in-place']!.split(',').filter(Boolean).map(parseInPlace),
        weightsKey: await weightsKey(args.weights),
        fresh: args['coherence-fresh']!,
        noise: Number(args['coherence-noise']),
        crf: args['coherence-crf'] === 'none' ? undefined : Number(args['coherence-crf']),
        settle: positiveInteger(args['coherence-settle']!, '--coherence-settle'),
        strip: args['coherence-strip'],
        command: command(`--only coherence ${flags}${args['coherence-first-steps'] ? ` --coherence-first-steps ${args['coherence-first-steps']}` : ''} --temporal-weights ${args['temporal-weights']}`),
      });
    }

    if (sections.has('scales')) {
      const flags = ['size', 'steps', 'list', 'coarse-steps'].map((k) => `--scales-${k} ${args[`scales-${k}` as 'scales-size']}`).join(' ');
      await runScales(rt.engine, {
        size: positiveInteger(args['scales-size']!, '--scales-size'),
        steps: positiveInteger(args['scales-steps']!, '--scales-steps'),
        scales: args['scales-list']!.split(',').map((n) => positiveInteger(n, '--scales-list')),
        coarseSteps: positiveInteger(args['scales-coarse-steps']!, '--scales-coarse-steps'),
        command: command(`--only scales ${flags}`),
      });
    }

    if (sections.has('e2e')) {
      const frames = Number(args['e2e-frames']);
      const size = args['e2e-size']!;
      const e2eSteps = args['e2e-steps']!;
      const input = await makeClip({ path: join(dir, 'clip.mp4'), width: 160, height: 90, rate: '30000/1001', frames, audio: true });
      const style = await makeStyleImage(join(dir, 'style-e2e.png'), 96, 96);
      const server = await startEmbeddedServer(join(dir, 'work'));
      try {
        const workers = await createWorkers({ connection: server.env.nativeConnection, queues: ['media', 'style'], style: rt, paths: { workRoot: join(dir, 'work'), outputRoots: [dir] } });
        const running = runWorkers(workers);
        const request = await buildRenderRequest({
          input,
          style,
          output: join(dir, 'out.mp4'),
          workDir: join(dir, 'work'),
          size,
          epochs: '1',
          stepsPerEpoch: e2eSteps,
        });
        const t0 = performance.now();
        const handle = await startOrAttach(server.env.client, request, {});
        const result = await handle.result();
        const seconds = (performance.now() - t0) / 1000;
        for (const w of workers) w.shutdown();
        await running;
        console.log(`\n# end to end: ${frames}-frame clip, ${size} px, 1×${e2eSteps} steps, split + stylize + assemble on the embedded server`);
        console.log(
          `${(seconds / result.total).toFixed(2)} s/frame (${seconds.toFixed(1)} s total)   ${command(`--only e2e --e2e-frames ${frames} --e2e-size ${size} --e2e-steps ${e2eSteps}`)}`,
        );
      } finally {
        await server.stop();
      }
    }
    rt.engine.dispose();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Orchestration overhead: a generated clip of tiny frames through the real workflow with the copy
 * engine, so what is left is Temporal, the workflow, the activities' file handling and continue-as-new.
 */
/** Peak disk of a long render at a real frame size, against what a whole split would hold. */
async function benchDisk(dir: string): Promise<void> {
  const frames = Number(args['disk-frames']);
  const [width, height] = args['disk-size']!.split('x').map(Number);
  const r = await renderAtScale(dir, frames, { size: String(Math.max(width, height)) }, { width, height });
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const split = r.meanContentFrameBytes * frames;
  console.log(`\n# disk: ${frames} frames of ${width}×${height} (testsrc2, H.264), --engine copy, 300-frame chunks, 3 open`);
  console.log(
    `peak ${mib(r.peakDiskBytes)} in the render's directory (at most ${r.peakFrameFiles} frame images at once); a whole split would hold ` +
      `${mib(split)} of extracted frames alone (${(r.meanContentFrameBytes / 1024).toFixed(0)} KiB a frame), and as many stylized ones; ` +
      `${r.seconds.toFixed(0)} s in all   npm run bench -- --only disk --disk-frames ${frames} --disk-size ${width}x${height}`,
  );
}

async function benchScale(dir: string): Promise<void> {
  const frames = Number(args['scale-frames']);
  const r = await renderAtScale(dir, frames);
  const levels = await frameLevels(r.output);
  const wrong = levels.filter((l, n) => Math.abs(l - levelOf(n)) > 3).length;
  console.log(`\n# scale: ${frames} frames of 32×24 in ${r.result.chunks?.total} chunks, --engine copy, embedded server, one worker process`);
  console.log(
    `${r.seconds.toFixed(1)} s in all (${((r.seconds * 1000) / frames).toFixed(1)} ms/frame), first frame done after ${r.firstFrameSeconds.toFixed(1)} s; ` +
      `output ${levels.length} frames, ${wrong} not the input's frame at their place; runs ${r.eventsPerRun.length}, ` +
      `most events in a run ${Math.max(...r.eventsPerRun)}; peak disk ${(r.peakDiskBytes / 2 ** 20).toFixed(1)} MiB, ` +
      `at most ${r.peakFrameFiles} frame images at once   npm run bench -- --only scale --scale-frames ${frames}`,
  );
}

async function benchOrchestration(dir: string): Promise<void> {
  const frames = Number(args['orch-frames']);
  const window = args['orch-window']!;
  // vgg19: a real style worker (synthetic full-width VGG19, 32 px, one step a frame), whose tensors must stay flat.
  const stylized = args['orch-engine'] === 'vgg19';
  let runtime: StyleRuntime | undefined;
  if (stylized) {
    const weights = args.weights ?? join(dir, 'vgg19-orch.h5');
    if (!args.weights) await writeVggH5(weights, { widths: VGG19_WIDTHS });
    runtime = await createStyleRuntime({ weights, backend: args.backend });
  }
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  const input = await makeClip({ path: join(dir, 'orch.mp4'), width: 32, height: 24, rate: '25', frames, audio: true });
  const style = await makeStyleImage(join(dir, 'style-orch.png'), 16, 16);
  const workDir = join(dir, 'orch-work');
  const server = await startEmbeddedServer(workDir);
  try {
    const request = await buildRenderRequest({
      input, style, output: join(dir, 'orch-out.mp4'), workDir, size: '32', window,
      ...(stylized ? { epochs: '1', stepsPerEpoch: '1' } : { engine: 'copy' }),
    });
    const workers = await createWorkers({
      connection: server.env.nativeConnection,
      queues: ['media', 'style'],
      engine: stylized ? 'vgg19' : 'copy',
      style: runtime,
      paths: { workRoot: workDir, outputRoots: [dir] },
      // One frame at a time on a real engine, as a style worker on one machine runs.
      styleConcurrency: stylized ? 1 : request.limits.window,
    });
    const running = runWorkers(workers);
    const cpuMs = () => {
      const { user, system } = process.cpuUsage();
      return (user + system) / 1000;
    };
    const sample = () => ({ at: performance.now(), rss: process.memoryUsage().rss, tensors: tf.memory().numTensors, cpu: cpuMs() });
    const t0 = performance.now();
    const handle = await startOrAttach(server.env.client, request, {});
    // --orch-watch: the watch page open all along, refreshing every second as a browser does.
    const page = args['orch-watch'] ? await openWatchPage(server.env.client, workDir, request.renderId) : undefined;
    let first: ReturnType<typeof sample> | undefined;
    // RSS and tensors every 500 frames: flat means no per-frame leak.
    const trend: Array<[number, ReturnType<typeof sample>]> = [];
    let stylingFrom: number | undefined;
    let cpuFrom = 0;
    let stylingTo: number | undefined;
    let finished = false;
    const result = handle.result().finally(() => (finished = true));
    while (!finished) {
      let p: RenderProgress | undefined;
      try {
        p = await handle.query(progressQuery);
      } catch {
        // continuing as new, or no worker has answered yet
      }
      const now = performance.now();
      if (p?.phase === 'styling' && stylingFrom === undefined) {
        stylingFrom = now;
        cpuFrom = cpuMs();
      }
      if (p && p.done >= 1 && !first) first = sample();
      if (p && p.done >= (trend.length + 1) * 500) trend.push([p.done, sample()]);
      if (p && (p.phase === 'assembling' || p.phase === 'done') && stylingTo === undefined) stylingTo = now;
      await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 250))]);
    }
    const r = await result;
    const end = sample();
    const pageLoad = await page?.close();
    // The worker's own CPU (workflow + activities); the dev server is another process, and the
    // machine may be shared, so the wall time per frame also depends on what else runs.
    const workerCpu = (end.cpu - cpuFrom) / frames;
    stylingTo ??= end.at;
    for (const w of workers) w.shutdown();
    await running;
    const styling = (stylingTo - (stylingFrom ?? t0)) / frames;
    console.log(
      `\n# orchestration: ${frames} frames of 32×24, ${stylized ? `vgg19 on ${runtime!.engine.backend.name} (one step a frame)` : '--engine copy (nothing computed)'}, window ${window}, embedded server, one worker process${page ? ', watch page open' : ''}`,
    );
    console.log(
      `${styling.toFixed(1)} ms/frame over the styling phase (${((stylingTo - (stylingFrom ?? t0)) / 1000).toFixed(1)} s; ` +
        `busy ${r.stats.busySeconds.toFixed(1)} s in workflow time), worker CPU ${workerCpu.toFixed(1)} ms/frame, ` +
        `${((end.at - t0) / 1000).toFixed(1)} s in all with split and assembly, ${r.runs} runs   ` +
        `npm run bench -- --only orchestration --orch-frames ${frames} --orch-window ${window}${stylized ? ' --orch-engine vgg19' : ''}${page ? ' --orch-watch' : ''}`,
    );
    if (pageLoad) {
      console.log(
        `watch page: ${pageLoad.refreshes} refreshes, the JSON in ${pageLoad.jsonMedianMs.toFixed(1)} ms (median), with the new thumbnails ${pageLoad.meanMs.toFixed(1)} ms mean (max ${pageLoad.maxMs.toFixed(0)} ms), ` +
          `${(pageLoad.meanJsonBytes / 1024).toFixed(1)} KiB JSON a refresh, ${pageLoad.thumbs} thumbnails fetched (${(pageLoad.thumbBytes / 1024).toFixed(0)} KiB)`,
      );
    }
    console.log(
      `worker RSS ${first ? mib(first.rss) : '?'} at frame 1, ${mib(end.rss)} at the end; tfjs tensors ${first?.tensors ?? '?'} at frame 1, ${end.tensors} at the end`,
    );
    console.log(`  on the way: ${trend.map(([done, s]) => `${done} frames ${mib(s.rss)} ${s.tensors} tensors`).join(' · ')}`);
  } finally {
    await server.stop();
    runtime?.engine.dispose();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
