/**
 * The page's buttons run the very commands a person would type (pause, resume, cancel, set-epochs,
 * retry-failed, skip-failed): the same checks, the same workflow signals and update, the same answers.
 */
import type { Io } from '../../cli-common/io';
import { setEpochsCommand, signalCommand, steerCommand, type CommandServerOptions } from '../commands';

export const ACTIONS = ['pause', 'resume', 'cancel', 'set-epochs', 'retry-failed', 'skip-failed'] as const;
export type Action = (typeof ACTIONS)[number];

export function isAction(name: string): name is Action {
  return (ACTIONS as readonly string[]).includes(name);
}

/** Runs `action` on render `id`; resolves with what the command printed, or rejects with its error. */
export async function runAction(action: Action, id: string, body: { epochs?: unknown }, server: CommandServerOptions): Promise<string[]> {
  const lines: string[] = [];
  const io: Io = { out: (l) => lines.push(l), status: () => undefined, err: (l) => lines.push(l) };
  if (action === 'set-epochs') await setEpochsCommand([id, String(body.epochs ?? '')], server, io);
  else if (action === 'retry-failed') await signalCommand(id, 'retryFailed', server, io);
  else if (action === 'skip-failed') await signalCommand(id, 'skipFailed', server, io);
  else await steerCommand(action, id, server, io);
  return lines;
}
