import { hostname } from 'node:os';

/**
 * Worker identity of an embedded start-render (and the style workers it spawns): lets a later
 * start-render on this host tell that the process that took a frame is gone.
 */
export function embeddedIdentity(pid = process.pid): string {
  return `starry-embedded:${pid}@${hostname()}`;
}

/** The pid behind an embedded identity of this host, or undefined for any other identity. */
export function embeddedPidOnThisHost(identity: string | null | undefined): number | undefined {
  const m = identity?.match(/^starry-embedded:(\d+)@(.+)$/);
  return m && m[2] === hostname() ? Number(m[1]) : undefined;
}
