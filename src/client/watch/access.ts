/**
 * Who may use the watch page: a request must carry the work directory's token (from the page's
 * address, then a cookie) and come to this server by its own name from its own pages — a page of
 * another site (another Origin) or a DNS name rebound to 127.0.0.1 (another Host) is refused.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { withAtomicOutput } from '../../common/atomic';

/** The page's port and token, kept per work directory so the links in the Temporal Web UI outlive a restart. */
export interface WatchAccess {
  port: number;
  token: string;
}

export const watchFilePath = (workDir: string) => join(workDir, 'watch.json');

/** The work directory's port and token, or a new random token (and any port) the first time. */
export async function readWatchAccess(workDir: string): Promise<WatchAccess> {
  try {
    const saved = JSON.parse(await readFile(watchFilePath(workDir), 'utf8')) as Partial<WatchAccess>;
    if (typeof saved.token === 'string' && /^[0-9a-f]{32,}$/.test(saved.token) && Number.isInteger(saved.port)) return saved as WatchAccess;
  } catch {
    // none yet, or unreadable: a new one
  }
  return { port: 0, token: randomBytes(24).toString('hex') };
}

/** Readable by this user only: the token is all that stands between a local page and the render's buttons. */
export async function saveWatchAccess(workDir: string, access: WatchAccess): Promise<void> {
  await withAtomicOutput(watchFilePath(workDir), (temp) => writeFile(temp, JSON.stringify(access), { flag: 'wx', mode: 0o600 }));
}

export const cookieName = (port: number) => `starry_watch_${port}`;

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

export type Verdict = { ok: true; fromQuery: boolean } | { ok: false; status: number; reason: string };

/**
 * Whether to answer `req`. `hosts` are the names this server answers to (host:port). Requests that
 * change something (POST) must carry the token in a header, which a page of another origin cannot
 * set without the browser asking this server first (and it answers no CORS).
 */
export function checkRequest(req: IncomingMessage, url: URL, token: string, hosts: ReadonlySet<string>, port: number): Verdict {
  const host = req.headers.host ?? '';
  if (!hosts.has(host)) return { ok: false, status: 403, reason: `this page answers to ${[...hosts][0]} only, not to Host "${host}"` };
  const origin = req.headers.origin;
  if (origin !== undefined && !hosts.has(origin.replace(/^http:\/\//, ''))) {
    return { ok: false, status: 403, reason: `requests from other origins (${origin}) are refused` };
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    const header = req.headers['x-starry-token'];
    return sameToken(Array.isArray(header) ? header[0] : header, token)
      ? { ok: true, fromQuery: false }
      : { ok: false, status: 403, reason: 'missing or wrong X-Starry-Token' };
  }
  if (sameToken(url.searchParams.get('token') ?? undefined, token)) return { ok: true, fromQuery: true };
  if (sameToken(cookie(req, cookieName(port)), token)) return { ok: true, fromQuery: false };
  return { ok: false, status: 403, reason: 'no or wrong token: open the address start-render (or npm run ui) printed, with its ?token=' };
}
