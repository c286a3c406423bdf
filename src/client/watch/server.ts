/**
 * The watch page: a small HTTP server (node:http) beside the Temporal Web UI, bound to 127.0.0.1,
 * showing the renders of one work directory — a list of them, and per render its latest frames
 * next to their originals, its chunks, its segments (playable while the rest renders), the final
 * video, failures and the buttons of the steering commands. Pages refresh by polling a small JSON.
 */
import type { Client } from '@temporalio/client';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_NAMESPACE, connectClient } from '../../cli-common/connection';
import { UsageError } from '../../cli-common/errors';
import { renderPaths } from '../../common/render-paths';
import type { CommandServerOptions } from '../commands/render-ref';
import { readServerFile } from '../server/embedded-server';
import { checkRequest, cookieName, readWatchAccess, saveWatchAccess } from './access';
import { isAction, runAction } from './actions';
import { sendFile } from './files';
import { FrameViews, renderList, renderPage } from './state';

/**
 * Where the page reads renders from: runs `read` with a client, and whether workers serve the
 * renders (buttons work only then). The client stays open until `read` has finished.
 */
export type WatchSource = <T>(read: (from: { client: Client; served: boolean }) => Promise<T>) => Promise<T>;

export interface WatchServerOptions {
  workDir: string;
  source: WatchSource;
  /** How the buttons' commands find the server (as their --work-dir / --address would). */
  commands: CommandServerOptions;
  /** Default 127.0.0.1. */
  host?: string;
}

export interface WatchServer {
  /** The list page, token included. */
  url: string;
  pageUrl(renderId: string): string;
  close(): Promise<void>;
}

const ASSETS = join(__dirname, 'assets');
const asset = (name: string) => readFileSync(join(ASSETS, name), 'utf8');
const RENDER_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;
const THUMB = /^frame_\d{6,}\.(thumb|orig)\.webp$/;
const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self'; media-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

async function readBody(req: IncomingMessage, limit = 4096): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > limit) throw new UsageError('request body too large');
  }
  if (!text) return {};
  const parsed = JSON.parse(text) as unknown;
  return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
}

/** Listens on the work directory's port when it is free (links in the Web UI keep working), else on any. */
async function listen(server: ReturnType<typeof createServer>, host: string, port: number): Promise<number> {
  const attempt = (p: number) =>
    new Promise<number>((res, rej) => {
      server.once('error', rej);
      server.listen(p, host, () => {
        server.off('error', rej);
        res((server.address() as AddressInfo).port);
      });
    });
  if (port > 0) {
    try {
      return await attempt(port);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  return attempt(0);
}

/** What the request routing serves from: the server's pages and assets, and how it reads a render. */
interface Site {
  commands: CommandServerOptions;
  source: WatchSource;
  pages: { list: string; render: string };
  scripts: Record<string, { type: string; body: string }>;
  pageData(id: string): Promise<unknown>;
  sendPage(res: ServerResponse, html: string, id?: string): Promise<void>;
  sendRenderFile(req: IncomingMessage, res: ServerResponse, id: string, kind: string, name: string): Promise<void>;
}

/** POST /api/renders/<id>/<action>: a steering command's button. */
async function postAction(site: Site, req: IncomingMessage, res: ServerResponse, parts: string[]): Promise<void> {
  if (parts[0] !== 'api' || parts[1] !== 'renders' || parts.length !== 4 || !RENDER_ID.test(parts[2]) || !isAction(parts[3])) return json(res, 404, { error: 'no such action' });
  try {
    return json(res, 200, { lines: await runAction(parts[3], parts[2], await readBody(req), site.commands) });
  } catch (err) {
    return json(res, err instanceof UsageError ? 409 : 500, { error: err instanceof Error ? err.message : String(err) });
  }
}

/** An authorised request: the pages, their assets, their JSON, a render's files and the buttons. */
async function route(site: Site, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const id = parts[1];
  if (id !== undefined && ['renders', 'files'].includes(parts[0]) && !RENDER_ID.test(id)) return json(res, 400, { error: 'not a render id' });
  if (req.method === 'POST') return postAction(site, req, res, parts);
  if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'GET or POST only' });
  if (parts.length === 0) return site.sendPage(res, site.pages.list);
  if (parts[0] === 'renders' && parts.length === 2) return site.sendPage(res, site.pages.render, id);
  if (parts[0] === 'assets' && parts.length === 2 && site.scripts[parts[1]]) {
    const { type, body } = site.scripts[parts[1]];
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-cache' }).end(body);
    return;
  }
  if (parts[0] === 'api' && parts[1] === 'renders' && parts.length === 2) {
    return json(res, 200, await site.source(async ({ client, served }) => ({ served, renders: await renderList(client, served) })));
  }
  if (parts[0] === 'api' && parts[1] === 'renders' && parts.length === 3 && RENDER_ID.test(parts[2])) return json(res, 200, await site.pageData(parts[2]));
  if (parts[0] === 'files' && parts.length === 4) return site.sendRenderFile(req, res, id, parts[2], parts[3]);
  json(res, 404, { error: 'not found' });
}

export async function startWatchServer(opts: WatchServerOptions): Promise<WatchServer> {
  const host = opts.host ?? '127.0.0.1';
  const access = await readWatchAccess(opts.workDir);
  const views = new FrameViews();
  // Files a render's page links, resolved when its data was last read (no workflow call per file).
  const dirs = new Map<string, { renderDir: string; video?: string }>();
  const pages = { list: asset('list.html'), render: asset('render.html') };
  const scripts: Record<string, { type: string; body: string }> = {
    'watch.js': { type: 'text/javascript; charset=utf-8', body: asset('watch.js') },
    'watch.css': { type: 'text/css; charset=utf-8', body: asset('watch.css') },
  };
  let port = 0;
  let hosts = new Set<string>();
  const fileUrl = (id: string, kind: string, name: string) => `/files/${encodeURIComponent(id)}/${kind}/${name}`;

  async function pageData(id: string) {
    const { page, renderDir, video } = await opts.source(({ client, served }) => renderPage(client, served, id, opts.workDir, views, fileUrl));
    dirs.set(id, { renderDir, video });
    return page;
  }

  async function sendPage(res: ServerResponse, html: string, id = '') {
    const body = html.replaceAll('{{TOKEN}}', access.token).replaceAll('{{ID}}', escapeHtml(id)).replaceAll('{{WORKDIR}}', escapeHtml(opts.workDir));
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' }).end(body);
  }

  async function sendRenderFile(req: IncomingMessage, res: ServerResponse, id: string, kind: string, name: string) {
    if (!dirs.has(id)) await pageData(id);
    const { renderDir, video } = dirs.get(id)!;
    const paths = renderPaths(renderDir);
    if (kind === 'thumb' && THUMB.test(name)) return sendFile(req, res, join(paths.styled, name), 'private, max-age=3600');
    if (kind === 'segment' && /^\d{1,6}$/.test(name) && Number(name) >= 1) return sendFile(req, res, paths.segment(Number(name) - 1));
    if (kind === 'video' && name === 'output' && video) return sendFile(req, res, video);
    json(res, 404, { error: 'no such file' });
  }

  const server = createServer((req, res) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const verdict = checkRequest(req, url, access.token, hosts, port);
    if (!verdict.ok) return json(res, verdict.status, { error: verdict.reason });
    if (verdict.fromQuery) {
      // The token moves from the address to a cookie, so it is not left in the address bar or history.
      url.searchParams.delete('token');
      res.setHeader('Set-Cookie', `${cookieName(port)}=${access.token}; HttpOnly; SameSite=Strict; Path=/`);
      res.writeHead(303, { Location: `${url.pathname}${url.search}` }).end();
      return;
    }
    route({ commands: opts.commands, source: opts.source, pages, scripts, pageData, sendPage, sendRenderFile }, req, res, url).catch((err: unknown) => {
      if (!res.headersSent) json(res, 502, { error: err instanceof Error ? err.message.split('\n')[0] : String(err) });
      else res.destroy();
    });
  });
  port = await listen(server, host, access.port);
  const names = new Set(['127.0.0.1', 'localhost', host]);
  hosts = new Set([...names].map((name) => `${name}:${port}`));
  if (access.port === 0) await saveWatchAccess(opts.workDir, { ...access, port });
  const base = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  return {
    url: `${base}/?token=${access.token}`,
    pageUrl: (id) => `${base}/renders/${encodeURIComponent(id)}?token=${access.token}`,
    close: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        server.closeAllConnections();
      }),
  };
}

/** A connection to one advertised address, and the requests using it now. */
interface HeldClient {
  address: string;
  client: Promise<Client>;
  users: number;
  /** No longer advertised: closed once its last request is done. */
  stale: boolean;
}

function closeWhenUnused(held: HeldClient): void {
  if (held.stale && held.users === 0) void held.client.then((c) => c.connection.close()).catch(() => undefined);
}

/**
 * For `npm run ui`: whatever server the work directory advertises now — the UI's own, or a
 * start-render's while one runs (its workers serve the renders then) — one connection per address,
 * made once however many requests ask for it at the same moment. When the server changes hands, the
 * old connection is closed only once the requests still using it are done: one closed under a call
 * the SDK was retrying (its server had just stopped) threw from a timer and ended the process.
 */
export function advertisedSource(workDir: string): WatchSource & { close(): void } {
  let current: HeldClient | undefined;
  const source = async <T>(read: (from: { client: Client; served: boolean }) => Promise<T>): Promise<T> => {
    const advert = await readServerFile(workDir);
    if (!advert) throw new Error('the work directory’s server is changing hands; the page retries');
    if (current?.address !== advert.address) {
      if (current) {
        current.stale = true;
        closeWhenUnused(current);
      }
      const made: HeldClient = { address: advert.address, client: connectClient({ address: advert.address, namespace: DEFAULT_NAMESPACE }), users: 0, stale: false };
      // A connection that could not be made is tried again by the next request.
      void made.client.catch(() => (current === made ? (current = undefined) : undefined));
      current = made;
    }
    const held = current;
    held.users++;
    try {
      return await read({ client: await held.client, served: advert.role === undefined || advert.role === 'render' });
    } finally {
      held.users--;
      closeWhenUnused(held);
    }
  };
  return Object.assign(source, {
    close: () => {
      if (!current) return;
      current.stale = true;
      closeWhenUnused(current);
    },
  });
}
