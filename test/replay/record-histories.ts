/**
 * Records real `renderVideo` histories for the replay test (test/replay/replay.test.ts):
 *
 *   npm run record-histories
 *
 * Each scenario renders a tiny generated clip on a real dev server with the real workers (narrow
 * generated VGG19, wasm backend, real ffmpeg), then writes every run of the workflow as JSON to
 * test/replay/histories/<scenario>-run<N>.json. Re-record only when a change is *meant* to break
 * replay (and is shipped with worker versioning), or to cover a new path; never to make a failing
 * replay test pass. See docs/changing-the-workflow.md.
 */
import type { Client, WorkflowHandle } from '@temporalio/client';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readSnapshot } from '../../src/client/report/progress';
import { buildRenderRequest, type RenderFlags } from '../../src/client/setup/render-options';
import { startOrAttach } from '../../src/client/commands/start-render';
import {
  TASK_QUEUES,
  cancelRenderSignal,
  pauseSignal,
  resumeSignal,
  retryFailedSignal,
  setEpochsSignal,
  skipFailedSignal,
  updateEpochs,
  type RenderRequest,
} from '../../src/workflows/contract';
import type { renderVideo } from '../../src/workflows/render';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { TINY_RENDER, startRenderEnv, type RenderEnv } from '../helpers/render-env';
import { waitFor, waitForProgress } from '../helpers/steering';
import { HISTORIES_DIR, historyToJson } from './history-json';

type Handle = WorkflowHandle<typeof renderVideo>;

// Four steps, so a frame can be stopped mid-way (stall@2:3) and resume from a checkpoint.
const TINY: RenderFlags = { ...TINY_RENDER, stepsPerEpoch: '4' };

interface Scenario {
  name: string;
  frames: number;
  flags?: RenderFlags;
  /** Starts the render and drives it to its end; the media worker runs throughout. */
  run(env: RenderEnv, req: RenderRequest): Promise<Handle>;
}

async function startPaused(client: Client, req: RenderRequest): Promise<Handle> {
  return client.workflow.signalWithStart<typeof renderVideo>('renderVideo', {
    workflowId: req.renderId,
    taskQueue: TASK_QUEUES.media,
    args: [req],
    memo: { output: req.output },
    signal: pauseSignal,
    signalArgs: [],
  });
}

async function finishWith(env: RenderEnv, handle: Handle, faults?: string): Promise<Handle> {
  const style = await env.startWorkers(['style'], { faults });
  try {
    await handle.result();
  } finally {
    await style.stop();
  }
  return handle;
}

const SCENARIOS: Scenario[] = [
  {
    // Frame 2 stalls at step 3 and its worker shuts down: it checkpoints, fails over and resumes
    // on attempt 2. Frame 3 runs out of memory once (a retry with backoff). Frame 4 runs out of
    // attempts, so the render waits in needs-attention until retry-failed.
    name: 'retry-resume',
    frames: 4,
    flags: { frameAttempts: '2' },
    run: async (env, req) => {
      const handle = await startOrAttach(env.server.env.client, req, {});
      const stalling = await env.startWorkers(['style'], { faults: 'stall@2:3', ownConnection: true });
      await waitFor(() => readSnapshot(handle), (s) => s.live.some((f) => f.frame === 2 && f.step === 3), 'frame 2 at step 3', 120_000);
      await stalling.stop();
      const style = await env.startWorkers(['style'], { faults: 'oom@3*1,oom@4*2' });
      try {
        await waitForProgress(handle, (p) => p.phase === 'needs-attention', 'needs-attention', 120_000);
        await handle.signal(retryFailedSignal);
        await handle.result();
      } finally {
        await style.stop();
      }
      return handle;
    },
  },
  {
    name: 'continue-as-new',
    frames: 5,
    flags: { framesPerRun: '2' },
    run: async (env, req) => finishWith(env, await startOrAttach(env.server.env.client, req, {})),
  },
  {
    // Paused from the start; epochs changed by signal and by update; resumed; cancelled with two
    // frames in flight (no style worker yet, so they stay in flight until the cancel is seen).
    name: 'steered-cancelled',
    frames: 6,
    run: async (env, req) => {
      const handle = await startPaused(env.server.env.client, req);
      await waitForProgress(handle, (p) => p.phase === 'styling', 'the index pass');
      await handle.signal(setEpochsSignal, 2);
      await handle.executeUpdate(updateEpochs, { args: [3] });
      await handle.signal(resumeSignal);
      await waitForProgress(handle, (p) => p.inFlight.length === 2, 'two frames in flight');
      await handle.signal(pauseSignal);
      await handle.signal(cancelRenderSignal);
      await waitForProgress(handle, (p) => p.cancelling, 'the cancel to be seen');
      await finishWith(env, handle).catch(() => undefined); // it ends RenderCancelled, on purpose
      return handle;
    },
  },
  {
    // Chunks of 3 frames, continue-as-new every 4 frames; frame 5 runs out of its one attempt, so
    // its chunk waits in needs-attention until skip-failed encodes it unstylized.
    name: 'chunked',
    frames: 7,
    flags: { chunkFrames: '3', openChunks: '2', framesPerRun: '4', frameAttempts: '1' },
    run: async (env, req) => {
      const handle = await startOrAttach(env.server.env.client, req, {});
      const style = await env.startWorkers(['style'], { faults: 'oom@5*1' });
      try {
        await waitForProgress(handle, (p) => p.phase === 'needs-attention', 'needs-attention', 120_000);
        await handle.signal(skipFailedSignal);
        await handle.result();
      } finally {
        await style.stop();
      }
      return handle;
    },
  },
  {
    // Frames in order within each chunk from the previous frame's warped result; each chunk after
    // the first renders one lead-in frame that its predecessor cross-fades.
    name: 'chunked-coherent',
    frames: 7,
    flags: { chunkFrames: '3', overlap: '1', init: 'prev-warped', laterEpochs: '1' },
    run: async (env, req) => finishWith(env, await startOrAttach(env.server.env.client, req, {})),
  },
];

/** Every run of the workflow id, oldest first. */
async function writeRuns(client: Client, name: string, workflowId: string): Promise<string[]> {
  const runs: Array<{ runId: string; start: number }> = [];
  for await (const r of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push({ runId: r.runId, start: r.startTime.getTime() });
  runs.sort((a, b) => a.start - b.start);
  const written: string[] = [];
  for (const [i, { runId }] of runs.entries()) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const file = join(HISTORIES_DIR, `${name}-run${i + 1}.json`);
    await writeFile(file, `${historyToJson(history)}\n`);
    written.push(`${file} (${history.events?.length} events)`);
  }
  return written;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const { dir: root, cleanup } = await tempDir('starry-record');
  const env = await startRenderEnv(root);
  try {
    await env.startWorkers(['media']);
    const style = await makeStyleImage(join(root, 'style.png'), 40, 32);
    await mkdir(HISTORIES_DIR, { recursive: true });
    for (const scenario of SCENARIOS.filter((s) => only.length === 0 || only.includes(s.name))) {
      for (const old of (await readdir(HISTORIES_DIR)).filter((f) => f.startsWith(`${scenario.name}-run`))) await rm(join(HISTORIES_DIR, old));
      const input = await makeClip({ path: join(root, `${scenario.name}.mp4`), width: 32, height: 24, rate: '25', frames: scenario.frames });
      const req = await buildRenderRequest({
        ...TINY,
        ...scenario.flags,
        input,
        style,
        output: join(root, `${scenario.name}.out.mp4`),
        workDir: env.workDir,
      });
      const handle = await scenario.run(env, req);
      for (const line of await writeRuns(env.server.env.client, scenario.name, handle.workflowId)) console.log(`wrote ${line}`);
    }
  } finally {
    await env.close();
    await cleanup();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
