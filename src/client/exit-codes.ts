/**
 * The exit codes of every command, and which errors mean what: one place, so a new error type or
 * command cannot drift from the others.
 */
import { BackendUnavailableError } from '../engine/backend';
import { InvalidSettingsError } from '../engine/settings';
import { WeightsError } from '../engine/weights';
import { MediaInputError } from '../media/errors';
import { UsageError } from '../cli-common/errors';

export const EXIT = {
  ok: 0,
  /** The render failed or was cancelled, the machine cannot render (doctor), or an unexpected error. */
  failed: 1,
  /** The input or setup needs fixing. */
  usage: 2,
  /** Ctrl-C: nothing is lost, the same command resumes. */
  interrupted: 130,
} as const;

/** Errors that mean the input or setup needs fixing (exit 2), rather than a failure while running. */
const USER_FIXABLE = [UsageError, WeightsError, BackendUnavailableError, MediaInputError, InvalidSettingsError];

export function exitCodeFor(err: unknown): number {
  return USER_FIXABLE.some((type) => err instanceof type) ? EXIT.usage : EXIT.failed;
}
