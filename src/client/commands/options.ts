/**
 * The flag groups several commands share: where the Temporal server is, what the engine runs on,
 * and the flags that define a render (start-render and preview take them to render; the commands
 * that act on one render take them to find it).
 */
import { Command, Option } from 'commander';
import { DEFAULT_RUN_UP, DEFAULT_SETTINGS, defaultTemporalWeight, INIT_MODES, MAX_SIZE, MAX_STYLE_SCALE, MIN_SIZE } from '../../engine/settings';
import { DEFAULT_CHUNK_OPTIONS } from '../../workflows/chunks';
import { DEFAULT_LIMITS } from '../../workflows/contract';
import { DEFAULT_NAMESPACE } from '../../cli-common/connection';

export function serverOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--address <host:port>', 'Temporal frontend; omit to use the embedded dev server').env('TEMPORAL_ADDRESS'))
    .addOption(new Option('--namespace <name>', 'Temporal namespace').env('TEMPORAL_NAMESPACE').default(DEFAULT_NAMESPACE))
    .addOption(new Option('--tls-cert <file>', 'mTLS client certificate (PEM), e.g. for Temporal Cloud').env('TEMPORAL_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'mTLS client key (PEM)').env('TEMPORAL_TLS_KEY'))
    .addOption(new Option('--api-key <key>', 'Temporal Cloud API key (implies TLS)').env('TEMPORAL_API_KEY'));
}

export function engineOptions(cmd: Command): Command {
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
export function renderOptions(cmd: Command, mode: 'start' | 'find'): Command {
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
    .option('--temporal-weight <x>', `prev-warped: weight of the temporal loss (default 1e5 × (size/96)^2.75: ${defaultTemporalWeight(DEFAULT_SETTINGS.size).toExponential(1).replace('+', '')} at --size ${DEFAULT_SETTINGS.size})${same}`)
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
export function renderOnlyOptions(cmd: Command): Command {
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
export function renderCommand(program: Command, name: string, description: string): Command {
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
