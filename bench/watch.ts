/**
 * The watch page held open during a bench render: its server in this process (as start-render
 * runs it) and a poller that does what the page's script does — fetch the render's JSON every
 * second, then each thumbnail it has not fetched yet — timing every refresh.
 */
import type { Client } from '@temporalio/client';
import { startWatchServer } from '../src/client/watch/server';

export interface PageLoad {
  refreshes: number;
  /** The JSON alone: what the server spends on a refresh (query, describe, directory listings). */
  jsonMedianMs: number;
  meanMs: number;
  maxMs: number;
  meanJsonBytes: number;
  thumbs: number;
  thumbBytes: number;
}

export async function openWatchPage(client: Client, workDir: string, renderId: string, everyMs = 1000) {
  const watch = await startWatchServer({ workDir, source: (read) => read({ client, served: true }), commands: { workDir } });
  const url = new URL(watch.pageUrl(renderId));
  const base = url.origin;
  const cookie = `starry_watch_${url.port}=${url.searchParams.get('token')}`;
  const seen = new Set<string>();
  const times: number[] = [];
  const jsonTimes: number[] = [];
  let jsonBytes = 0;
  let thumbBytes = 0;
  let stopped = false;
  const get = async (path: string) => {
    const res = await fetch(`${base}${path}`, { headers: { Cookie: cookie } });
    return Buffer.from(await res.arrayBuffer());
  };
  const loop = (async () => {
    while (!stopped) {
      const started = performance.now();
      try {
        const body = await get(`/api/renders/${encodeURIComponent(renderId)}`);
        jsonBytes += body.length;
        jsonTimes.push(performance.now() - started);
        const page = JSON.parse(body.toString()) as { frames?: Array<{ thumb: string; original?: string }> };
        // As a browser does: the new thumbnails at once (it opens up to six connections).
        const fresh = (page.frames ?? []).flatMap((f) => [f.thumb, f.original]).filter((src): src is string => Boolean(src) && !seen.has(src!));
        for (const src of fresh) seen.add(src);
        for (const bytes of await Promise.all(fresh.map(get))) thumbBytes += bytes.length;
        times.push(performance.now() - started);
      } catch {
        // the workflow is continuing as new, or not started yet: the page tries again
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async close(): Promise<PageLoad> {
      stopped = true;
      await loop;
      await watch.close();
      return {
        refreshes: times.length,
        jsonMedianMs: [...jsonTimes].sort((a, b) => a - b)[Math.floor(jsonTimes.length / 2)] ?? 0,
        meanMs: times.reduce((a, b) => a + b, 0) / Math.max(1, times.length),
        maxMs: Math.max(0, ...times),
        meanJsonBytes: jsonBytes / Math.max(1, times.length),
        thumbs: seen.size,
        thumbBytes,
      };
    },
  };
}
