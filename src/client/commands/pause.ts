/** `pause`: start no new frames until resume; frames in flight finish. */
import type { Command } from 'commander';
import type { Io } from '../../cli-common/io';
import { pauseSignal } from '../../workflows/contract';
import { commandHint } from '../report/hints';
import { renderCommand } from './options';
import { checkStillSteerable, hintTarget, inFlightNote, withServedRender, type RenderRefOptions } from './render-ref';

export async function pauseCommand(id: string | undefined, opts: RenderRefOptions, io: Io): Promise<void> {
  await withServedRender(id, opts, 'pause', async (renderId, handle, p) => {
    checkStillSteerable('pause', renderId, p);
    if (p.paused) {
      io.out(`render ${renderId} is already paused (${commandHint('resume', renderId, hintTarget(opts))})`);
      return;
    }
    await handle.signal(pauseSignal);
    io.out(`render ${renderId} paused: no new frame starts${inFlightNote(p)}. Resume with: ${commandHint('resume', renderId, hintTarget(opts))}`);
  });
}

export function register(program: Command, io: Io): Command {
  return renderCommand(program, 'pause', 'start no new frames until resume; frames in flight finish').action(
    async (id: string | undefined, opts: RenderRefOptions) => pauseCommand(id, opts, io),
  );
}
