import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { MediaInputError } from '../media';
import { FAILURE_TYPES } from '../workflows/contract';

/** Heartbeats while a long ffmpeg run is going, so a dead media worker is noticed. */
export async function withHeartbeat<T>(work: Promise<T>): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(), 5_000);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** A bad input file is the user's to fix, never retried; anything else is rethrown as it is. */
export function nonRetryable(err: unknown): never {
  if (err instanceof MediaInputError) throw ApplicationFailure.nonRetryable(err.message, FAILURE_TYPES.mediaInput);
  throw err;
}
