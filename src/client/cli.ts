import { Command, Option } from 'commander';
import { BackendUnavailableError } from '../engine/backend';
import { DEFAULT_RELATIVE_TEMPORAL_WEIGHT, DEFAULT_RUN_UP, DEFAULT_SETTINGS, INIT_MODES, InvalidSettingsError, MAX_SIZE, MAX_STYLE_SCALE, MIN_SIZE } from '../engine/settings';
import { DEFAULT_CHUNK_OPTIONS } from '../workflows/chunks';
import { WeightsError } from '../engine/weights';
import { MediaInputError } from '../media/errors';
import { DEFAULT_LIMITS } from '../workflows/contract';
import { runWorkerCommand, type WorkerCommandOptions } from '../worker/main';
import { installRuntime } from '../worker/runtime';
import { DEFAULT_CONCURRENCY } from '../worker/workers';
import { DEFAULT_NAMESPACE } from '../cli-common/connection';
import { cleanFinished } from './clean';
import { diagnose, formatDiagnosis } from './doctor';
import { UsageError } from '../cli-common/errors';
import { describeEnding } from './ending';
import { describeRestored } from './own-output';
import { uiCommand } from './ui';
import { defaultWorkDir } from './render-options';
import { resolve } from 'node:path';
import { consoleIo, type Io } from '../cli-common/io';
import { describeResult, startRender, workerLogPath, type StartRenderOptions } from './start-render';
import { commandHint } from './hints';
import { describePreview, preview, type PreviewOptions } from './preview';
import {
  DEFAULT_LIST_LIMIT,
  listCommand,
  setEpochsCommand,
  signalCommand,
  statusCommand,
  steerCommand,
  type ListOptions,
  type RenderRefOptions,
  type StatusOptions,
  type SteerOptions,
} from './commands';

/** Errors that mean the input or setup needs fixing (exit 2), rather than a failure while running. */
const USER_FIXABLE = [UsageError, WeightsError, BackendUnavailableError, MediaInputError, InvalidSettingsError];

const io: Io = consoleIo();

function serverOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--address <host:port>', 'Temporal frontend; omit to use the embedded dev server').env('TEMPORAL_ADDRESS'))
    .addOption(new Option('--namespace <name>', 'Temporal namespace').env('TEMPORAL_NAMESPACE').default(DEFAULT_NAMESPACE))
    .addOption(new Option('--tls-cert <file>', 'mTLS client certificate (PEM), e.g. for Temporal Cloud').env('TEMPORAL_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'mTLS client key (PEM)').env('TEMPORAL_TLS_KEY'))
    .addOption(new Option('--api-key <key>', 'Temporal Cloud API key (implies TLS)').env('TEMPORAL_API_KEY'));
}

function engineOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--weights <file>', 'VGG19 notop .h5 weights; default: download once into the cache').env('STARRY_WEIGHTS'))
    .addOption(
      new Option('--backend <name>', 'tfjs backend').choices(['auto', 'node-gpu', 'node', 'wasm', 'cpu']).env('STARRY_BACKEND').default('auto'),
    )
    .addOption(new Option('--cache-dir <dir>', 'where downloaded weights are kept').env('STARRY_CACHE_DIR'));
}

/** A repeated --style gives every image in order; one --style stays a plain string, as it always was. */
function collectStyles(value: string, previous: string | string[] | undefined): string | string[] {
  if (previous === undefined) return value;
  return [...(Array.isArray(previous) ? previous : [previous]), value];
}

/**
 * The flags that define a render. start-render requires -i/-s/-o; the other commands accept the
 * same flags to find the render they started (the id is derived from them), instead of its id.
 */
function renderOptions(cmd: Command, mode: 'start' | 'find'): Command {
  const files: Array<[string, string]> = [
    ['-i, --input <video>', 'video to stylize'],
    ['-s, --style <image>', 'painting whose style to apply (JPEG or PNG); repeat it to blend several styles'],
    ['-o, --output <video>', 'stylized video to write (.mp4, .mov or .mkv)'],
  ];
  for (const [flags, text] of files) {
    const option = new Option(flags, mode === 'start' ? text : `instead of <render-id>: the ${text.replace(/ \(.*$/, '')} start-render was given`);
    if (flags.includes('--style')) option.argParser(collectStyles);
    cmd.addOption(mode === 'start' ? option.makeOptionMandatory() : option);
  }
  // Accepted so a start-render command line can be reused as is; the render is found by its files.
  const same = mode === 'find' ? ' (accepted as given to start-render; ignored: the render is found by its files)' : '';
  const limit = same;
  return cmd
    .addOption(
      new Option('--engine <name>', `vgg19 (style transfer), or copy: frames pass through NOT stylized, to check a long video or measure the orchestration${same}`)
        .choices(['vgg19', 'copy'])
        .default('vgg19'),
    )
    .option('--epochs <n>', `optimisation epochs per frame${same}`, String(DEFAULT_SETTINGS.epochs))
    .option('--steps-per-epoch <n>', `Adam steps per epoch${same}`, String(DEFAULT_SETTINGS.stepsPerEpoch))
    .option('--style-weight <x>', `weight of the style loss${same}`, String(DEFAULT_SETTINGS.styleWeight))
    .option('--content-weight <x>', `weight of the content loss${same}`, String(DEFAULT_SETTINGS.contentWeight))
    .option('--tv-weight <x>', `weight of the total variation loss${same}`, String(DEFAULT_SETTINGS.tvWeight))
    .option('--learning-rate <x>', `Adam learning rate${same}`, String(DEFAULT_SETTINGS.learningRate))
    .option('--size <px>', `long side of the frames, ${MIN_SIZE}–${MAX_SIZE}${same}`, String(DEFAULT_SETTINGS.size))
    .addOption(
      new Option('--init <mode>', `where each frame starts: content (the seed's method, frames independent) or prev-warped (the previous stylized frame warped along the optical flow: far less flicker, fewer steps)${same}`).choices(
        INIT_MODES as string[],
      ),
    )
    .option('--temporal-weight <x>', `prev-warped: weight of the temporal loss relative to the chain's style + content loss, dimensionless (default ${DEFAULT_RELATIVE_TEMPORAL_WEIGHT}; × (size/96)^2.75 where applied)${same}`)
    .option('--later-epochs <n>', `prev-warped: epochs of frames that start from the previous one (default: a third of --epochs, rounded up)${same}`)
    .option('--run-up <n>', `prev-warped: frames a chain's first frame is reached from, rendered backwards so the chain starts settled (default ${DEFAULT_RUN_UP}; 0: from its own content)${same}`)
    .option('--chunk-frames <n>', `frames per chunk: extracted, stylized, encoded and deleted together${limit}`, String(DEFAULT_CHUNK_OPTIONS.frames))
    .option('--open-chunks <n>', `chunks on disk at once (bounds the disk; with prev-warped, the chunks rendered in parallel)${limit}`, String(DEFAULT_CHUNK_OPTIONS.open))
    .option('--overlap <n>', `prev-warped: frames each chunk renders ahead of its start to cross-fade the seam${limit}`, String(DEFAULT_CHUNK_OPTIONS.overlap))
    .option('--keep-frames', `keep each chunk's frames (content and stylized PNGs) after its segment is encoded${limit}`)
    .option('--style-blend-weights <list>', `with several --style: their weights, e.g. 3,7 (normalised to sum 1; default equal)${same}`)
    .option('--style-scale <x>', `the style image's long side is --size times this, above 0 and at most ${MAX_STYLE_SCALE} (default 1)${same}`)
    .option('--original-colors', `keep the frames' own colours: only the luminance is stylized${same}`)
    .option('--window <n>', `frames scheduled at once${limit}`, String(DEFAULT_LIMITS.window))
    .option('--frames-per-run <n>', `frames per workflow run before continue-as-new${limit}`, String(DEFAULT_LIMITS.framesPerRun))
    .option('--frame-attempts <n>', `attempts per frame before it counts as failed${limit}`, String(DEFAULT_LIMITS.frameAttempts))
    .option(
      '--heartbeat-timeout <s>',
      `seconds of silence before a worker is presumed dead${limit}`,
      String(DEFAULT_LIMITS.heartbeatTimeoutSeconds),
    )
    .option('--checkpoint-every <steps>', `steps between a frame's checkpoints (default: one epoch)${limit}`)
    .option(
      '--degrade-after-ooms <n>',
      `out-of-memory failures after which a frame is computed at reduced size${limit}`,
      String(DEFAULT_LIMITS.degradeAfterOoms),
    )
    .addOption(
      new Option(
        '--work-dir <dir>',
        mode === 'start'
          ? 'frames, checkpoints and the embedded server database'
          : 'work directory of the start-render whose embedded server to use when --address is not given',
      ).env('STARRY_WORK_DIR'),
    );
}

/** Flags only start-render uses; the other commands accept and ignore them, so its command line can be reused. */
function renderOnlyOptions(cmd: Command): Command {
  const ignored = '(accepted as given to start-render; ignored)';
  return cmd
    .option('--weights <file>', `VGG19 weights ${ignored}`)
    .option('--backend <name>', `tfjs backend ${ignored}`)
    .option('--cache-dir <dir>', `weights cache ${ignored}`)
    .option('--local-workers <n>', `style worker processes ${ignored}`)
    .option('--detach', ignored)
    .option('-y, --overwrite', ignored);
}

/** A command that acts on one render: by id, or by the files start-render was given. */
function renderCommand(name: string, description: string): Command {
  return serverOptions(
    renderOnlyOptions(
      renderOptions(
        program
          .command(name)
          .description(description)
          .argument(
            '[render-id]',
            'workflow id printed by start-render and shown by list; or give its --input/--style/--output instead (a whole start-render command line works)',
          ),
        'find',
      ),
    ),
  );
}

/** The whole command line; exported so tests can read each command's --help without a process. */
export const program = new Command('starry')
  .description('Paint every frame of a video in the style of a painting, durably, with Temporal.')
  .showHelpAfterError();

engineOptions(
  serverOptions(
    renderOptions(
      program
        .command('start-render')
        .description('stylize a video; without --address, runs server, worker and workflow here and resumes after a crash'),
      'start',
    )
      .option('--detach', 'with --address: start the render and return without following it')
      .option('-y, --overwrite', "replace a file at --output that is not this render's video (refused otherwise)")
      .option('--local-workers <n>', 'embedded mode: style worker processes on this machine (default: one per core on wasm/cpu, else 1)'),
  ),
).action(async (opts: StartRenderOptions) => {
  const outcome = await startRender(opts, io);
  if (outcome.ending) {
    io.err(describeEnding(outcome.request.renderId, outcome.ending));
    process.exitCode = 1;
  } else if (outcome.interrupted) {
    io.err(`stopped; nothing is lost. Run the same command again to resume render ${outcome.request.renderId}.`);
    if (!opts.address) io.err(`(worker log: ${workerLogPath(opts.workDir ? resolve(opts.workDir) : defaultWorkDir())})`);
    process.exitCode = 130;
  } else if (outcome.result) {
    if (outcome.restored) io.out(describeRestored(outcome.restored));
    for (const line of describeResult(outcome.result, outcome.result.renderDir || outcome.request.renderDir)) io.out(line);
  } else {
    io.out(`started render ${outcome.request.renderId}; follow it with: ${commandHint('status', outcome.request.renderId, opts)}`);
  }
});

engineOptions(
  renderOptions(
    program
      .command('preview')
      .description(
        'stylize a few frames (first, middle, last) with exactly the render\'s settings, write a contact sheet next to the output, ' +
          'and say how long the whole video would take; start-render with the same flags reuses those frames',
      ),
    'start',
  )
    .option('--frames <list>', 'frame numbers to preview, e.g. 1,120,240 (default: first, middle and last)')
    .option('--local-workers <n>', 'style workers the render would run on this machine (default: as start-render)'),
).action(async (opts: PreviewOptions) => {
  for (const line of describePreview(await preview(opts, io))) io.out(line);
});

engineOptions(
  serverOptions(
    program
      .command('worker')
      .description('serve renders from a Temporal server: media work (split, assemble) and/or style work (frames)')
      .option('--queues <list>', 'media, style, or media,style', 'media,style')
      .option('--style-concurrency <n>', 'frames computed at once by this process (1 per GPU)', String(DEFAULT_CONCURRENCY.style))
      .option('--media-concurrency <n>', 'split/assemble jobs at once', String(DEFAULT_CONCURRENCY.media))
      .addOption(new Option('--engine <name>', 'vgg19, or copy: serve copy renders (frames pass through NOT stylized; no weights loaded)').choices(['vgg19', 'copy']).default('vgg19'))
      .addOption(
        new Option('--work-root <dir>', 'render directories this worker may write must lie inside it (default: STARRY_WORK_DIR or ./.starry)').env('STARRY_WORK_ROOT'),
      )
      .addOption(new Option('--work-dir <dir>', 'the shared work directory (as start-render\'s); the work root unless --work-root is given').env('STARRY_WORK_DIR'))
      .addOption(
        new Option('--output-root <dirs>', 'comma-separated directories output videos may be written to, besides the work root').env('STARRY_OUTPUT_ROOT'),
      ),
  ),
).action(async (opts: WorkerCommandOptions) => runWorkerCommand(opts, io));

renderCommand('status', 'progress of a render: a live bar until it ends, or once with --json; exit 1 if it failed or was cancelled')
  .option('--json', 'print the progress (or the final result) as JSON once and exit')
  .action(async (id: string | undefined, opts: StatusOptions) => {
    process.exitCode = await statusCommand(id, opts, io);
  });

renderCommand(
  'set-epochs',
  'change epochs for frames not yet started; frames in flight finish with the epochs they started with. ' +
    'Answers yes or a clear error (a Workflow Update)',
)
  .argument('[epochs]', 'new epochs per frame, 1–1000')
  .usage('[options] <render-id> <epochs>   or   set-epochs [options] -i <video> -s <image> -o <video> <epochs>')
  .action(async (a: string | undefined, b: string | undefined, opts: RenderRefOptions) => setEpochsCommand([a, b], opts, io));

renderCommand('pause', 'start no new frames until resume; frames in flight finish')
  .action(async (id: string | undefined, opts: SteerOptions) => steerCommand('pause', id, opts, io));

renderCommand('resume', 'start frames again after pause')
  .action(async (id: string | undefined, opts: SteerOptions) => steerCommand('resume', id, opts, io));

renderCommand(
  'cancel',
  'stop the render: no new frames start, frames in flight finish, finished frames stay on disk, and the ' +
    'workflow ends cancelled (run start-render again with the same flags to resume from those frames)',
)
  .option('--wait', 'wait until the frames in flight have finished and the render has ended')
  .action(async (id: string | undefined, opts: SteerOptions) => steerCommand('cancel', id, opts, io));

renderCommand('retry-failed', 'render the frames that ran out of attempts again (when the render waits in needs-attention)')
  .action(async (id: string | undefined, opts: RenderRefOptions) => signalCommand(id, 'retryFailed', opts, io));

renderCommand('skip-failed', 'assemble anyway, using the unstylized image for each failed frame')
  .action(async (id: string | undefined, opts: RenderRefOptions) => signalCommand(id, 'skipFailed', opts, io));

serverOptions(
  program
    .command('list')
    .description('recent renders on the server, newest first: id, state, start time and output')
    .option('--limit <n>', 'how many renders to show', String(DEFAULT_LIST_LIMIT))
    .option('--json', 'print them as JSON')
    .addOption(
      new Option('--work-dir <dir>', 'work directory of the start-render whose embedded server to use when --address is not given').env(
        'STARRY_WORK_DIR',
      ),
    ),
).action(async (opts: ListOptions) => listCommand(opts, io));

program
  .command('ui')
  .description("the Temporal Web UI on the work directory's renders (finished, interrupted or running) until Ctrl-C; no start-render needed")
  .addOption(new Option('--work-dir <dir>', 'work directory whose renders to show').env('STARRY_WORK_DIR'))
  .action(async (opts: { workDir?: string }) => uiCommand(opts, io));

program
  .command('clean')
  .description("delete the work files (frames, stylized frames, checkpoints) of finished renders; unfinished ones are kept")
  .addOption(new Option('--work-dir <dir>', 'work directory to clean').env('STARRY_WORK_DIR'))
  .option('--dry-run', 'only list what would be deleted')
  .action(async (opts: { workDir?: string; dryRun?: boolean }) => {
    await cleanFinished({ workDir: opts.workDir ? resolve(opts.workDir) : defaultWorkDir(), dryRun: opts.dryRun }, io);
  });

engineOptions(
  program
    .command('doctor')
    .description('what this machine renders with: backend and why faster ones were skipped, TensorFlow, device, ffmpeg, Temporal CLI, weights')
    .option('--json', 'print the findings as JSON'),
).action(async (opts: { json?: boolean; backend?: string; weights?: string; cacheDir?: string }) => {
  const diagnosis = await diagnose(opts);
  if (opts.json) io.out(JSON.stringify(diagnosis, null, 2));
  else for (const line of formatDiagnosis(diagnosis)) io.out(line);
  process.exitCode = diagnosis.ok ? 0 : 1;
});

if (require.main === module) {
  // The command line always ends with process.exit, so core's log can be forwarded (see runtime.ts).
  installRuntime(undefined, { forwardCoreLogs: true });
  void program.parseAsync(process.argv).then(
    () => process.exit(process.exitCode ?? 0),
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      io.err(`error: ${message}`);
      process.exit(USER_FIXABLE.some((type) => err instanceof type) ? 2 : 1);
    },
  );
}
