/**
 * Riding out a Temporal server that stops answering for a while (a restart, an upgrade, its
 * database restarting): the SDK retries a call for about 20 s and then gives up, which would end
 * start-render (and a live `status`) on what is only an outage. The render itself is safe on the
 * server and goes on in the workers; the client waits for the server, up to a bound, saying so.
 */
import { isGrpcServiceError, ServiceError } from '@temporalio/client';

/** How long start-render and a live status wait for a server that stopped answering before they give up. */
export const SERVER_AWAY_LIMIT_MS = 10 * 60_000;

/** Pause between two tries of a server that is away (each try itself takes the SDK's ~20 s of retries). */
const RETRY_MS = 1000;

/** gRPC's UNAVAILABLE (14: no connection, or the server has no backend) and DEADLINE_EXCEEDED (4: no answer in time). */
const AWAY_CODES: ReadonlySet<number> = new Set([14, 4]);

/** True when `err` says the server could not be reached or did not answer, not that it refused the request. */
export function isServerAway(err: unknown): boolean {
  const cause = err instanceof ServiceError ? err.cause : err;
  return isGrpcServiceError(cause) && AWAY_CODES.has(cause.code);
}

export interface AwayOptions {
  /** The server as the messages name it: "the Temporal server at <address>". */
  server: string;
  say(line: string): void;
  /** What the user runs to follow the render once they stop waiting (the status command). */
  followUp: string;
  limitMs?: number;
  now?: () => number;
  pause?: (ms: number) => Promise<void>;
}

/**
 * `call()`, called again while the server is away; `probe()` (a cheap call) tells when it answers
 * again. Says once that the server is away and once that it is back. Errors other than an absent
 * server are thrown at once; an absence past `limitMs` ends with one line saying what to do.
 */
export async function whileServerAway<T>(call: () => Promise<T>, probe: () => Promise<unknown>, opts: AwayOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const pause = opts.pause ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const limitMs = opts.limitMs ?? SERVER_AWAY_LIMIT_MS;
  for (;;) {
    try {
      return await call();
    } catch (err) {
      if (!isServerAway(err)) throw err;
      const since = now();
      opts.say(
        `${opts.server} does not answer (${reason(err)}): the render is kept there and goes on when it is back; ` +
          `waiting up to ${Math.round(limitMs / 60_000)} min (Ctrl-C stops only this command)`,
      );
      for (;;) {
        try {
          await probe();
          break;
        } catch (away) {
          if (!isServerAway(away)) throw away;
          if (now() - since > limitMs) {
            throw new Error(
              `${opts.server} has not answered for ${Math.round((now() - since) / 1000)} s (${reason(away)}): ` +
                `start it again (its database too); the render goes on then, follow it with ${opts.followUp}`,
            );
          }
          await pause(RETRY_MS);
        }
      }
      opts.say(`${opts.server} answers again after ${Math.round((now() - since) / 1000)} s of waiting; following the render`);
    }
  }
}

function reason(err: unknown): string {
  const cause = err instanceof ServiceError ? err.cause : err;
  // grpc-js appends an empty "Resolution note:" to a refused connection's message.
  return (cause instanceof Error ? cause.message : String(cause)).split('\n')[0]!.replace(/\.? Resolution note:\s*$/, '');
}
