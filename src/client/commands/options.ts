/**
 * The flag groups several commands share: where the Temporal server is, what the engine runs on,
 * and the flags that define a render (start-render and preview take them to render; the commands
 * that act on one render take them to find it).
 */
import { Command, Option } from 'commander';
import { addRenderOptions } from '../setup/render-option-values';
import { DEFAULT_NAMESPACE } from '../../cli-common/connection';
import { WORKER_FLAGS } from '../../worker/flags';

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
    .addOption(new Option(`${WORKER_FLAGS.weights} <file>`, 'VGG19 notop .h5 weights; default: download once into the cache').env('STARRY_WEIGHTS'))
    .addOption(
      new Option(`${WORKER_FLAGS.backend} <name>`, 'tfjs backend').choices(['auto', 'node-gpu', 'node', 'wasm', 'cpu']).env('STARRY_BACKEND').default('auto'),
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
  return addRenderOptions(cmd, same)
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
