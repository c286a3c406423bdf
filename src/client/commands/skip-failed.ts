/** `skip-failed`: assemble anyway, the unstylized image standing in for each failed frame. */
import type { Command } from 'commander';
import type { Io } from '../../cli-common/io';
import { renderCommand } from './options';
import { answerNeedsAttention, type RenderRefOptions } from './render-ref';

export function skipFailedCommand(id: string | undefined, opts: RenderRefOptions, io: Io): Promise<void> {
  return answerNeedsAttention(id, 'skipFailed', opts, io);
}

export function register(program: Command, io: Io): Command {
  return renderCommand(program, 'skip-failed', 'assemble anyway, using the unstylized image for each failed frame').action(
    async (id: string | undefined, opts: RenderRefOptions) => skipFailedCommand(id, opts, io),
  );
}
