/** `retry-failed`: render the frames that ran out of attempts again. */
import type { Command } from 'commander';
import type { Io } from '../../cli-common/io';
import { renderCommand } from './options';
import { answerNeedsAttention, type RenderRefOptions } from './render-ref';

export function retryFailedCommand(id: string | undefined, opts: RenderRefOptions, io: Io): Promise<void> {
  return answerNeedsAttention(id, 'retryFailed', opts, io);
}

export function register(program: Command, io: Io): Command {
  return renderCommand(program, 'retry-failed', 'render the frames that ran out of attempts again (when the render waits in needs-attention)').action(
    async (id: string | undefined, opts: RenderRefOptions) => retryFailedCommand(id, opts, io),
  );
}
