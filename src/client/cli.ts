import { Command, Option } from 'commander';
import { DEFAULT_SETTINGS, MAX_SIZE, MIN_SIZE } from '../engine/settings';
import { DEFAULT_LIMITS } from '../workflows/contract';
import { runWorkerCommand } from '../worker/main';
import { installRuntime } from '../worker/runtime';
import { UsageError } from './errors';
import { consoleIo, type Io } from './io';
import { describeResult, startRender, type StartRenderOptions } from './start-render';
import { statusCommand, signalCommand, setEpochsCommand } from './commands';

/** Errors that mean the input or setup needs fixing (exit 2), rather than a failure while running. */
const USER_FIXABLE = new Set(['WeightsError', 'BackendUnavailableError', 'MediaInputError']);

const io: Io = consoleIo();
installRuntime();

function serverOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--address <host:port>', 'Temporal frontend; omit to use the embedded dev server').env('TEMPORAL_ADDRESS'))
    .addOption(new Option('--namespace <name>', 'Temporal namespace').env('TEMPORAL_NAMESPACE').default('default'))
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

const program = new Command('starry')
  .description('Paint every frame of a video in the style of a painting, durably, with Temporal.')
  .showHelpAfterError();

engineOptions(
  serverOptions(
    program
      .command('start-render')
      .description('stylize a video; without --address, runs server, worker and workflow here and resumes after a crash')
      .requiredOption('-i, --input <video>', 'video to stylize')
      .requiredOption('-s, --style <image>', 'painting whose style to apply (JPEG or PNG)')
      .requiredOption('-o, --output <video>', 'stylized video to write (.mp4, .mov or .mkv)')
      .option('--epochs <n>', 'optimisation epochs per frame', String(DEFAULT_SETTINGS.epochs))
      .option('--steps-per-epoch <n>', 'Adam steps per epoch', String(DEFAULT_SETTINGS.stepsPerEpoch))
      .option('--style-weight <x>', 'weight of the style loss', String(DEFAULT_SETTINGS.styleWeight))
      .option('--content-weight <x>', 'weight of the content loss', String(DEFAULT_SETTINGS.contentWeight))
      .option('--tv-weight <x>', 'weight of the total variation loss', String(DEFAULT_SETTINGS.tvWeight))
      .option('--learning-rate <x>', 'Adam learning rate', String(DEFAULT_SETTINGS.learningRate))
      .option('--size <px>', `long side of the frames, ${MIN_SIZE}–${MAX_SIZE}`, String(DEFAULT_SETTINGS.size))
      .option('--window <n>', 'frames scheduled at once', String(DEFAULT_LIMITS.window))
      .option('--frames-per-run <n>', 'frames per workflow run before continue-as-new', String(DEFAULT_LIMITS.framesPerRun))
      .option('--frame-attempts <n>', 'attempts per frame before it counts as failed', String(DEFAULT_LIMITS.frameAttempts))
      .option('--heartbeat-timeout <s>', 'seconds of silence before a worker is presumed dead', String(DEFAULT_LIMITS.heartbeatTimeoutSeconds))
      .addOption(new Option('--work-dir <dir>', 'frames, checkpoints and the embedded server database').env('STARRY_WORK_DIR'))
      .option('--detach', 'with --address: start the render and return without following it'),
  ),
).action(async (opts: StartRenderOptions) => {
  const outcome = await startRender(opts, io);
  if (outcome.interrupted) {
    io.err(`stopped; nothing is lost. Run the same command again to resume render ${outcome.request.renderId}.`);
    process.exitCode = 130;
  } else if (outcome.result) {
    for (const line of describeResult(outcome.result, outcome.request.renderDir)) io.out(line);
  } else {
    io.out(`started render ${outcome.request.renderId}; follow it with: npm run status -- ${outcome.request.renderId}`);
  }
});

engineOptions(
  serverOptions(
    program
      .command('worker')
      .description('serve renders from a Temporal server: media work (split, assemble) and/or style work (frames)')
      .option('--queues <list>', 'media, style, or media,style', 'media,style')
      .option('--style-concurrency <n>', 'frames computed at once by this process (1 per GPU)', '1')
      .option('--media-concurrency <n>', 'split/assemble jobs at once', '2'),
  ),
).action(async (opts) => runWorkerCommand(opts, io));

serverOptions(
  program
    .command('status')
    .description('progress of a render (live, or once with --json)')
    .argument('<render-id>', 'workflow id printed by start-render')
    .option('--json', 'print the progress as JSON once and exit'),
).action(async (id: string, opts) => statusCommand(id, opts, io));

serverOptions(
  program
    .command('set-epochs')
    .description('change epochs for frames not yet started (frames in flight keep theirs)')
    .argument('<render-id>')
    .argument('<epochs>'),
).action(async (id: string, epochs: string, opts) => setEpochsCommand(id, epochs, opts, io));

serverOptions(
  program.command('retry-failed').description('render the failed frames again').argument('<render-id>'),
).action(async (id: string, opts) => signalCommand(id, 'retryFailed', opts, io));

serverOptions(
  program
    .command('skip-failed')
    .description('assemble anyway, using the unstylized image for each failed frame')
    .argument('<render-id>'),
).action(async (id: string, opts) => signalCommand(id, 'skipFailed', opts, io));

program.parseAsync(process.argv).then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    io.err(`error: ${message}`);
    process.exit(err instanceof UsageError || USER_FIXABLE.has((err as Error)?.name) ? 2 : 1);
  },
);
