/**
 * The page's buttons run the very commands a person would type (pause, resume, cancel, set-epochs,
 * retry-failed, skip-failed): the same checks, the same workflow signals and update, the same answers.
 */
import type { Io } from '../../cli-common/io';
import { cancelCommand } from '../commands/cancel';
import { pauseCommand } from '../commands/pause';
import type { CommandServerOptions, RenderRefOptions } from '../commands/render-ref';
import { resumeCommand } from '../commands/resume';
import { retryFailedCommand } from '../commands/retry-failed';
import { setEpochsCommand } from '../commands/set-epochs';
import { skipFailedCommand } from '../commands/skip-failed';

export const ACTIONS = ['pause', 'resume', 'cancel', 'set-epochs', 'retry-failed', 'skip-failed'] as const;
export type Action = (typeof ACTIONS)[number];

export function isAction(name: string): name is Action {
  return (ACTIONS as readonly string[]).includes(name);
}

/** Runs `action` on render `id`; resolves with what the command printed, or rejects with its error. */
export async function runAction(action: Action, id: string, body: { epochs?: unknown }, server: CommandServerOptions): Promise<string[]> {
  const lines: string[] = [];
  const io: Io = { out: (l) => lines.push(l), status: () => undefined, err: (l) => lines.push(l) };
  // The render is named by its id: no render flags.
  const opts: RenderRefOptions = { ...server };
  const run = {
    pause: () => pauseCommand(id, opts, io),
    resume: () => resumeCommand(id, opts, io),
    cancel: () => cancelCommand(id, opts, io),
    'set-epochs': () => setEpochsCommand([id, String(body.epochs ?? '')], opts, io),
    'retry-failed': () => retryFailedCommand(id, opts, io),
    'skip-failed': () => skipFailedCommand(id, opts, io),
  } satisfies Record<Action, () => Promise<void>>;
  await run[action]();
  return lines;
}
