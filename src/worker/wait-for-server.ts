import type { NativeConnection } from '@temporalio/worker';
import { ServerUnreachableError, connectWorker, type ServerOptions } from '../cli-common/connection';
import type { Io } from '../cli-common/io';

export interface Backoff {
  /** First wait, in milliseconds. */
  initialMs: number;
  /** Waits double up to this. */
  maxMs: number;
}

/** 1 s, doubling, at most 30 s between tries. */
export const SERVER_BACKOFF: Readonly<Backoff> = Object.freeze({ initialMs: 1_000, maxMs: 30_000 });

/** Failures that waiting will not mend: credentials and certificates. */
const NOT_WORTH_WAITING = /unauthenticated|permission denied|certificate|invalid api key|unauthorized/i;

/** "tonic::transport::Error(… message: \"Connection refused\" …)" → "connection refused". */
export function shortReason(reason: string): string {
  const m = reason.match(/message: "([^"]+)"/) ?? reason.match(/ConnectError\("([^"]+)"/);
  const text = m ? m[1] : reason.split('\n')[0];
  return (text.length > 120 ? `${text.slice(0, 119)}…` : text).replace(/^[A-Z](?=[a-z])/, (c) => c.toLowerCase());
}

/**
 * Connects a worker to the server, waiting for it when it is not reachable yet — in a cluster or
 * `docker compose up` workers often start before the server — with backoff, saying what it waits
 * for. Bad flags and refused credentials fail at once.
 */
export async function connectWhenReachable(
  opts: ServerOptions,
  io: Io,
  backoff: Backoff = SERVER_BACKOFF,
  connect: (opts: ServerOptions) => Promise<NativeConnection> = connectWorker,
): Promise<NativeConnection> {
  let delay = backoff.initialMs;
  for (let waited = false; ; ) {
    try {
      const connection = await connect(opts);
      if (waited) io.out(`the Temporal server at ${opts.address} answers`);
      return connection;
    } catch (err) {
      if (!(err instanceof ServerUnreachableError) || NOT_WORTH_WAITING.test(err.reason)) throw err;
      const reason = shortReason(err.reason);
      io.out(`waiting for the Temporal server at ${opts.address} (${reason}); trying again in ${delay / 1000} s`);
      waited = true;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, backoff.maxMs);
    }
  }
}
