/** `worker`: serve renders from a Temporal server (a cluster's, or another machine's start-render). */
import { Option, type Command } from 'commander';
import type { Io } from '../../cli-common/io';
import { runWorkerCommand, type WorkerCommandOptions } from '../../worker/main';
import { DEFAULT_CONCURRENCY } from '../../worker/workers';
import { WORKER_FLAGS } from '../../worker/flags';
import { engineOptions, serverOptions } from './options';

export function register(program: Command, io: Io): Command {
  return engineOptions(
    serverOptions(
      program
        .command('worker')
        .description('serve renders from a Temporal server: media work (split, assemble) and/or style work (frames)')
        .option('--queues <list>', 'media, style, or media,style', 'media,style')
        .option(`${WORKER_FLAGS.styleConcurrency} <n>`, 'frames computed at once by this process (1 per GPU)', String(DEFAULT_CONCURRENCY.style))
        .option('--media-concurrency <n>', 'split/assemble jobs at once', String(DEFAULT_CONCURRENCY.media))
        .addOption(new Option(`${WORKER_FLAGS.engine} <name>`, 'vgg19, or copy: serve copy renders (frames pass through NOT stylized; no weights loaded)').choices(['vgg19', 'copy']).default('vgg19'))
        .addOption(
          new Option(`${WORKER_FLAGS.workRoot} <dir>`, 'render directories this worker may write must lie inside it (default: STARRY_WORK_DIR or ./.starry)').env('STARRY_WORK_ROOT'),
        )
        .addOption(new Option(`${WORKER_FLAGS.workDir} <dir>`, 'the shared work directory (as start-render\'s); the work root unless --work-root is given').env('STARRY_WORK_DIR'))
        .addOption(
          new Option(`${WORKER_FLAGS.outputRoot} <dirs>`, 'comma-separated directories output videos may be written to, besides the work root (default: the directory the worker is started in; "" for the work root only)').env('STARRY_OUTPUT_ROOT'),
        ),
    ),
  ).action(async (opts: WorkerCommandOptions) => runWorkerCommand(opts, io));
}
