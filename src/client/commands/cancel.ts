/** `cancel`: stop the render; finished frames stay, so the same start-render resumes from them. */
import type { Command } from 'commander';
import type { Io } from '../../cli-common/io';
import { cancelRenderSignal } from '../../workflows/contract';
import { describeEnding, settle } from '../report/ending';
import { renderCommand } from './options';
import { checkStillSteerable, inFlightNote, withServedRender, type RenderRefOptions } from './render-ref';

export type CancelOptions = RenderRefOptions & { wait?: boolean };

export async function cancelCommand(id: string | undefined, opts: CancelOptions, io: Io): Promise<void> {
  await withServedRender(id, opts, 'cancel', async (renderId, handle, p) => {
    checkStillSteerable('cancel', renderId, p);
    await handle.signal(cancelRenderSignal);
    io.out(`render ${renderId} cancelling: no new frame starts${inFlightNote(p)}; ${p.done} finished frame(s) stay in ${p.renderDir}`);
    if (opts.wait) io.out(describeEnding(renderId, await settle(handle.result())));
  });
}

export function register(program: Command, io: Io): Command {
  return renderCommand(
    program,
    'cancel',
    'stop the render: no new frames start, frames in flight finish, finished frames stay on disk, and the ' +
      'workflow ends cancelled (run start-render again with the same flags to resume from those frames)',
  )
    .option('--wait', 'wait until the frames in flight have finished and the render has ended')
    .action(async (id: string | undefined, opts: CancelOptions) => cancelCommand(id, opts, io));
}
