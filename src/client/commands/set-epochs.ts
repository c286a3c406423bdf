import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { UsageError } from '../../cli-common/errors';
import type { Io } from '../../cli-common/io';
import { updateEpochs } from '../../workflows/contract';
import { epochsError } from '../../workflows/validation';
import { namesFiles } from '../setup/find-render';
import { renderCommand } from './options';
import { withServedRender, type RenderRefOptions } from './render-ref';

/**
 * `set-epochs [render-id] <epochs>`: a Workflow Update, so the answer is a yes (the settings frames
 * not yet started will get) or the workflow's own reason for refusing.
 */
export async function setEpochsCommand(args: Array<string | undefined>, opts: RenderRefOptions, io: Io): Promise<void> {
  const given = args.filter((a): a is string => a !== undefined);
  const byFiles = namesFiles(opts);
  if (given.length === 0 || (given.length === 1 && !byFiles)) {
    throw new UsageError('set-epochs needs the render id (or the -i/-s/-o of start-render) and the new number of epochs, e.g. set-epochs clip-3f9a0c21be 3');
  }
  const epochs = given[given.length - 1];
  const id = given.length > 1 ? given[0] : undefined;
  const n = Number(epochs);
  const problem = epochsError(epochs.trim() !== '' && Number.isFinite(n) ? n : epochs);
  if (problem) throw new UsageError(problem);
  await withServedRender(id, opts, 'change epochs', async (renderId, handle, progress) => {
    // What the render had until now (its --epochs, or an earlier set-epochs), not the default.
    const before = progress.settings.epochs;
    let settings;
    try {
      settings = await handle.executeUpdate(updateEpochs, { args: [n] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) throw new UsageError(`render ${renderId} refused epochs ${n}: ${err.cause?.message ?? err.message}`);
      throw err;
    }
    io.out(`render ${renderId}: frames not yet started will use ${settings.epochs} epochs (was ${before}); frames in flight keep theirs`);
  });
}

export function register(program: Command, io: Io): Command {
  return renderCommand(
    program,
    'set-epochs',
    'change epochs for frames not yet started; frames in flight finish with the epochs they started with. ' +
      'Answers yes or a clear error (a Workflow Update)',
  )
    .argument('[epochs]', 'new epochs per frame, 1–1000')
    .usage('[options] <render-id> <epochs>   or   set-epochs [options] -i <video> -s <image> -o <video> <epochs>')
    .action(async (a: string | undefined, b: string | undefined, opts: RenderRefOptions) => setEpochsCommand([a, b], opts, io));
}
