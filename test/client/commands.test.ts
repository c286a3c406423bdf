/**
 * The steering commands (status, set-epochs, pause, resume, cancel, retry-failed, skip-failed, list)
 * against a real dev server and real workers: in process with a capturing Io and an explicit
 * --address, and through the real command line for exit codes, one-line errors and --help.
 */
import type { WorkflowHandle } from '@temporalio/client';
import assert from 'node:assert/strict';
import { renderPaths } from '../../src/common/render-paths';
import { execFile } from 'node:child_process';
import { copyFile, rename } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { before, describe, test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { program } from '../../src/client/cli';
import { listCommand } from '../../src/client/commands/list';
import { setEpochsCommand } from '../../src/client/commands/set-epochs';
import { statusCommand } from '../../src/client/commands/status';
import { pauseCommand } from '../../src/client/commands/pause';
import { resumeCommand } from '../../src/client/commands/resume';
import { cancelCommand } from '../../src/client/commands/cancel';
import { retryFailedCommand } from '../../src/client/commands/retry-failed';
import { skipFailedCommand } from '../../src/client/commands/skip-failed';
import type { RenderRefOptions } from '../../src/client/commands/render-ref';
import type { Io } from '../../src/cli-common/io';
import { formatProgressLine } from '../../src/client/report/progress';
import { buildRenderRequest, type RenderFlags } from '../../src/client/setup/render-options';
import { startOrAttach } from '../../src/client/commands/start-render';
import { framePath } from '../../src/media';
import { TASK_QUEUES, pauseSignal, type RenderProgress, type RenderRequest } from '../../src/workflows/contract';
import type { renderVideo } from '../../src/workflows/render';
import { makeClip } from '../helpers/media-fixtures';
import { TINY_RENDER, useRenderEnv } from '../helpers/render-env';
import { readStyled, waitForProgress } from '../helpers/steering';
import { runCli } from '../helpers/processes';

const run = promisify(execFile);

type Handle = WorkflowHandle<typeof renderVideo>;

function capture(): Io & { lines: string[]; statuses: string[]; text: () => string } {
  const lines: string[] = [];
  const statuses: string[] = [];
  return {
    lines,
    statuses,
    out: (l) => void lines.push(l),
    err: (l) => void lines.push(l),
    status: (l) => void statuses.push(l),
    text: () => lines.join('\n'),
  };
}

async function closedPort(): Promise<number> {
  return new Promise((res) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

const cli = (args: string[]) => runCli(args);

describe('steering commands (real server, real workers)', () => {
  const fx = useRenderEnv('starry-commands');
  let server: { address: string; namespace: string };
  const clips = new Map<number, string>();
  let outputs = 0;

  before(() => {
    server = { address: fx.env.server.address, namespace: 'default' };
  });

  /**
   * The flags of a start-render command line for a new render with its own id and work directory
   * (a copy of the clip under a new name: renders of the same input and settings share frames).
   */
  async function flagsFor(frames: number, extra: RenderFlags = {}): Promise<RenderFlags> {
    if (!clips.has(frames)) {
      clips.set(frames, await makeClip({ path: join(fx.root, `clip${frames}.mp4`), width: 32, height: 24, rate: '25', frames }));
    }
    const n = ++outputs;
    const input = join(fx.root, `in${n}.mp4`);
    await copyFile(clips.get(frames)!, input);
    return { ...TINY_RENDER, ...extra, input, style: fx.style, output: join(fx.root, `out${n}.mp4`), workDir: fx.env.workDir };
  }

  /** Starts a render the way start-render does (same id, same memo); `paused` holds it from its first task. */
  async function startFrom(flags: RenderFlags, paused = false): Promise<{ req: RenderRequest; handle: Handle }> {
    const req = await buildRenderRequest(flags);
    const memo = { input: req.input, style: req.style, output: req.output, startedAt: new Date().toISOString() };
    const handle = paused
      ? await fx.env.server.env.client.workflow.signalWithStart<typeof renderVideo>('renderVideo', {
          workflowId: req.renderId,
          taskQueue: TASK_QUEUES.media,
          args: [req],
          memo,
          signal: pauseSignal,
          signalArgs: [],
        })
      : await startOrAttach(fx.env.server.env.client, req, memo);
    return { req, handle };
  }

  const byId = (opts: object = {}): RenderRefOptions => ({ ...server, ...opts });

  /** A style worker for this test only, stopped when it ends (pass or fail). */
  async function styleWorker(t: TestContext) {
    const w = await fx.env.startWorkers(['style']);
    t.after(() => w.stop());
    return w;
  }

  test('status, pause, resume and set-epochs, by id and by the start-render flags', async (t) => {
    const flags = await flagsFor(6);
    const { req, handle } = await startFrom(flags);
    await waitForProgress(handle, (p) => p.inFlight.length === 2, 'two frames in flight (no style worker yet)');

    // status --json by the same flags start-render took finds the same render.
    let io = capture();
    assert.equal(await statusCommand(undefined, { ...server, ...flags, json: true }, io), 0);
    const running = JSON.parse(io.text());
    assert.equal(running.renderId, req.renderId);
    assert.equal(running.state, 'running');
    assert.equal(running.total, 6);
    assert.deepEqual(running.inFlight, [1, 2]);
    assert.equal(running.paused, false);

    io = capture();
    await pauseCommand(req.renderId, byId(), io);
    assert.match(io.text(), new RegExp(`^render ${req.renderId} paused: no new frame starts; 2 frame\\(s\\) in flight \\(1, 2\\) finish first\\. Resume with: npm run resume -- ${req.renderId} --address ${server.address}$`));
    io = capture();
    await pauseCommand(undefined, { ...server, ...flags }, io);
    assert.match(io.text(), /is already paused/);
    io = capture();
    await statusCommand(req.renderId, byId({ json: true }), io);
    assert.equal(JSON.parse(io.text()).paused, true);

    // set-epochs: by flags (the last argument is the new value), refused values, a non-number.
    io = capture();
    await setEpochsCommand([undefined, '3'], { ...server, ...flags }, io);
    assert.match(io.text(), /frames not yet started will use 3 epochs .*frames in flight keep theirs/);
    await assert.rejects(setEpochsCommand([req.renderId, '0'], byId(), capture()), {
      name: 'UsageError',
      message: 'epochs must be a whole number from 1 to 1000 (got 0)',
    });
    await assert.rejects(setEpochsCommand([req.renderId, 'many'], byId(), capture()), {
      message: 'epochs must be a whole number from 1 to 1000 (got "many")',
    });
    await assert.rejects(setEpochsCommand([req.renderId], byId(), capture()), /set-epochs needs the render id .* and the new number of epochs/);

    // list shows it paused.
    io = capture();
    await listCommand({ ...server, json: true }, io);
    assert.equal(JSON.parse(io.text()).find((r: { id: string }) => r.id === req.renderId).state, 'paused');

    await styleWorker(t);
    await waitForProgress(handle, (p) => p.done === 2 && p.inFlight.length === 0, 'the frames in flight to finish while paused');
    io = capture();
    await resumeCommand(req.renderId, byId(), io);
    assert.match(io.text(), /resumed: frames start again \(2 of 6 done\)/);

    // Live status follows to the end.
    io = capture();
    assert.equal(await statusCommand(req.renderId, byId({ refreshSeconds: 0.05 }), io), 0);
    assert.equal(io.lines[0], `render ${req.renderId} finished`);
    assert.match(io.text(), /Wrote .*out\d+\.mp4\n {2}6 frames at 25\/1 fps/);
    assert.deepEqual((await readStyled(req.renderDir)).sidecars.map((s) => s.steps), [2, 2, 6, 6, 6, 6], 'frames 1–2 were in flight at set-epochs');

    // A finished render: status reports it; steering it is a clear usage error.
    io = capture();
    assert.equal(await statusCommand(undefined, { ...server, ...flags, json: true }, io), 0);
    assert.equal(JSON.parse(io.text()).state, 'done');
    for (const attempt of [
      () => pauseCommand(req.renderId, byId(), capture()),
      () => cancelCommand(req.renderId, byId(), capture()),
      () => setEpochsCommand([req.renderId, '2'], byId(), capture()),
      () => retryFailedCommand(req.renderId, byId(), capture()),
    ]) {
      await assert.rejects(attempt(), (e: Error) => e.name === 'UsageError' && /^cannot [a-z ]+: render \S+ finished: .*out\d+\.mp4$/.test(e.message));
    }
  });

  test('cancel: frames in flight finish, the finished ones stay, status and list say cancelled, start-render resumes', async (t) => {
    const flags = await flagsFor(8);
    const { req, handle } = await startFrom(flags);
    await waitForProgress(handle, (p) => p.inFlight.length === 2, 'two frames in flight');
    const io = capture();
    const cancelled = cancelCommand(undefined, { ...server, ...flags, wait: true }, io);
    await waitForProgress(handle, (p) => p.cancelling, 'the cancel');
    await styleWorker(t);
    await cancelled;
    assert.match(io.lines[0], /cancelling: no new frame starts; 2 frame\(s\) in flight \(1, 2\) finish first; 0 finished frame\(s\) stay in /);
    assert.equal(io.lines[1], `render ${req.renderId} was cancelled after 2 of 8 frames; the finished frames are kept in ${req.renderDir} (run the same start-render command again to resume)`);
    assert.deepEqual((await readStyled(req.renderDir)).pngs, [1, 2]);

    let out = capture();
    assert.equal(await statusCommand(req.renderId, byId(), out), 1, 'status exits 1 for a cancelled render');
    assert.match(out.text(), /was cancelled after 2 of 8 frames/);
    out = capture();
    assert.equal(await statusCommand(req.renderId, byId({ json: true }), out), 1);
    const json = JSON.parse(out.text());
    assert.equal(json.state, 'cancelled');
    assert.equal(json.phase, 'cancelled');
    assert.equal(json.done, 2);
    out = capture();
    await listCommand({ ...server, json: true }, out);
    assert.equal(JSON.parse(out.text()).find((r: { id: string }) => r.id === req.renderId).state, 'cancelled');
    await assert.rejects(resumeCommand(req.renderId, byId(), capture()), /^UsageError: cannot resume: render \S+ was cancelled after 2 of 8 frames/);

    // The same start-render command line starts the render again, reusing the finished frames.
    const again = await startFrom(flags);
    assert.equal(again.req.renderId, req.renderId);
    const result = await again.handle.result();
    assert.equal(result.done, 8);
    assert.equal(result.reused, 2);
  });

  test('retry-failed and skip-failed', async (t) => {
    const flags = await flagsFor(4, { frameAttempts: '1' });
    const { req, handle } = await startFrom(flags, true);
    // Paused: no frame starts, but the first chunk is extracted.
    await waitForProgress(handle, (p) => p.chunks?.open[0]?.phase === 'styling', 'the first chunk extracted');
    const frame3 = framePath(renderPaths(req.renderDir).chunk(0).frames, 3);
    await rename(frame3, `${frame3}.aside`);
    await styleWorker(t);
    let io = capture();
    await retryFailedCommand(req.renderId, byId(), io);
    assert.equal(io.text(), `render ${req.renderId} has no failed frames`);
    await resumeCommand(req.renderId, byId(), capture());

    await waitForProgress(handle, (p) => p.phase === 'needs-attention', 'needs-attention');
    io = capture();
    await listCommand({ ...server, json: true }, io);
    assert.equal(JSON.parse(io.text()).find((r: { id: string }) => r.id === req.renderId).state, 'needs-attention');
    io = capture();
    await retryFailedCommand(undefined, { ...server, ...flags }, io);
    assert.equal(io.lines[0], `render ${req.renderId}: retrying frames 3`);
    assert.match(io.lines[1], /^ {2}1 × MediaInputError: .*frame_000003\.png.* \(frames 3\)$/);
    // Still missing, so it fails again; this time skip it.
    await waitForProgress(handle, (p) => p.phase === 'needs-attention' && p.stats.failures === 2, 'the retried frame to fail again');
    // Skipping uses the unstylized frame, so it has to be there again.
    await rename(`${frame3}.aside`, frame3);
    io = capture();
    await skipFailedCommand(req.renderId, byId(), io);
    assert.equal(io.lines[0], `render ${req.renderId}: skipping frames 3`);
    const result = await handle.result();
    assert.deepEqual(result.skipped, { count: 1, ranges: [[3, 3]], rangesOmitted: 0 });
    assert.equal(result.done, 3);
    assert.deepEqual(
      result.notable.map((n) => [n.frame, n.failures]),
      [[3, 2]],
    );
  });

  test('list: newest first, one row per render across continue-as-new, with state, start time and output', async (t) => {
    await styleWorker(t);
    const flags = await flagsFor(5, { framesPerRun: '2' });
    const { req, handle } = await startFrom(flags);
    const result = await handle.result();
    assert.ok(result.runs >= 3);
    let io = capture();
    await listCommand({ ...server, json: true }, io);
    const rows = JSON.parse(io.text()) as Array<{ id: string; state: string; startedAt: string; output: string }>;
    assert.equal(rows[0].id, req.renderId, 'the newest render comes first');
    assert.equal(rows[0].state, 'done');
    assert.equal(rows[0].output, req.output, 'the memo survives continue-as-new');
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, 'one row per render, not per run');
    assert.deepEqual(rows.map((r) => r.startedAt), [...rows.map((r) => r.startedAt)].sort().reverse());
    io = capture();
    await listCommand({ ...server, limit: '2' }, io);
    assert.match(io.lines[0], /^ID +STATE +STARTED +OUTPUT$/);
    assert.equal(io.lines.length, 3);
    assert.match(io.lines[1], new RegExp(`^${req.renderId} +done +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ +${req.output}$`));
    await assert.rejects(listCommand({ ...server, limit: '0' }, capture()), /--limit must be a whole number of at least 1/);
  });

  test('the progress line shows a paused or cancelling render', () => {
    const p = { phase: 'styling', total: 10, done: 4, failedFrames: { count: 0, ranges: [], rangesOmitted: 0, errors: [] }, backends: ['wasm'], meanSecondsPerFrame: 2, etaSeconds: 12, paused: true, cancelling: false } as unknown as RenderProgress;
    assert.match(formatProgressLine({ progress: p, live: [] }), /4\/10 frames · paused \(npm run resume\) · 2\.0 s\/frame · ETA 12s · wasm/);
    assert.match(formatProgressLine({ progress: { ...p, cancelling: true, etaSeconds: null }, live: [] }), /cancelling: letting frames in flight finish/);
    const chunks = { total: 4, encoded: 1, framesPerChunk: 3, sequential: false, open: [], skipped: { count: 0, ranges: [], rangesOmitted: 0 }, segmentsDir: '/s' };
    assert.match(formatProgressLine({ progress: { ...p, chunks }, live: [] }), / · chunk 2\/4 \(1 encoded\)/);
  });

  test('status of an unknown render, and any command without a render, say so in one line', async () => {
    await assert.rejects(statusCommand('no-such-render', byId(), capture()), {
      name: 'UsageError',
      message: 'no render with id "no-such-render" on this server; npm run list shows recent renders',
    });
    await assert.rejects(pauseCommand(undefined, byId(), capture()), /^UsageError: which render\? give its id/);
    const flags = await flagsFor(2);
    await assert.rejects(pauseCommand('some-id', { ...server, ...flags }, capture()), /give either a render id or --input\/--style\/--output, not both/);
  });

  test('the real command line: exit codes, one-line errors, list, and complete --help', async () => {
    const port = await closedPort();
    const [unknown, unreachable, list, badEpochs, real] = await Promise.all([
      cli(['status', 'no-such-render', '--address', server.address]),
      cli(['pause', 'some-render', '--address', `127.0.0.1:${port}`]),
      cli(['list', '--address', server.address]),
      cli(['set-epochs', 'some-render', '0', '--address', server.address]),
      cli(['cancel', '--help']),
    ]);
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, 'error: no render with id "no-such-render" on this server; npm run list shows recent renders\n');
    assert.equal(unreachable.code, 2);
    assert.match(unreachable.stderr, new RegExp(`^error: cannot reach the Temporal server at 127\\.0\\.0\\.1:${port}: .*\\n$`));
    assert.equal(unreachable.stderr.trim().split('\n').length, 1);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID +STATE +STARTED +OUTPUT\n/);
    assert.equal(badEpochs.code, 2);
    assert.equal(badEpochs.stderr, 'error: epochs must be a whole number from 1 to 1000 (got 0)\n');

    // Every command's --help names what it does and every flag it takes.
    const raw = (name: string) => program.commands.find((c) => c.name() === name)!.helpInformation();
    const help = (name: string) => raw(name).replace(/\s+/g, ' ');
    const renderFlags = ['--input', '--style', '--output', '--epochs', '--steps-per-epoch', '--size', '--work-dir', '--address', '--namespace', '--api-key'];
    for (const name of ['status', 'set-epochs', 'pause', 'resume', 'cancel', 'retry-failed', 'skip-failed']) {
      const text = help(name);
      assert.match(text, /\[render-id\]|<render-id>/, `${name} --help names the render id`);
      for (const flag of renderFlags) assert.ok(text.includes(flag), `${name} --help lists ${flag}`);
    }
    assert.match(help('set-epochs'), /frames in flight finish with the epochs they started with/);
    assert.match(help('pause'), /frames in flight finish/);
    assert.match(help('cancel'), /finished frames stay on disk/);
    assert.match(help('cancel'), /--wait/);
    assert.match(help('status'), /--json/);
    for (const flag of ['--limit', '--json', '--address', '--work-dir']) assert.ok(help('list').includes(flag));
    assert.equal(real.code, 0);
    assert.equal(real.stdout, raw('cancel'));
  });
});
