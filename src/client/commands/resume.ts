/** `resume`: start frames again after pause. */
import type { Command } from 'commander';
import type { Io } from '../../cli-common/io';
import { resumeSignal } from '../../workflows/contract';
import { renderCommand } from './options';
import { checkStillSteerable, withServedRender, type RenderRefOptions } from './render-ref';

export async function resumeCommand(id: string | undefined, opts: RenderRefOptions, io: Io): Promise<void> {
  await withServedRender(id, opts, 'resume', async (renderId, handle, p) => {
    checkStillSteerable('resume', renderId, p);
    if (!p.paused) {
      io.out(`render ${renderId} is not paused`);
      return;
    }
    await handle.signal(resumeSignal);
    io.out(`render ${renderId} resumed: frames start again (${p.done} of ${p.total || '?'} done)`);
  });
}

export function register(program: Command, io: Io): Command {
  return renderCommand(program, 'resume', 'start frames again after pause').action(async (id: string | undefined, opts: RenderRefOptions) =>
    resumeCommand(id, opts, io),
  );
}
