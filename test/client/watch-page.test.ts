/**
 * The watch page in a real browser (Debian's Chromium, driven by playwright-core) against a real
 * render (copy engine, a generated clip, start-render and then `npm run ui` as processes): frames
 * appear as they finish without a reload, the pause and resume buttons steer the workflow (read back
 * with its query), a segment plays while the rest renders, the final video plays from `npm run ui`,
 * and requests without the token, for another Host or from another origin are refused.
 *
 * STARRY_WATCH_SCREENSHOTS=dir writes the page's screenshots there (docs/watch-*.png were made so).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { connectClient, DEFAULT_NAMESPACE } from '../../src/cli-common/connection';
import { readServerFile } from '../../src/client/server/embedded-server';
import { progressQuery } from '../../src/workflows/contract';
import { makeClip, makeStyleImage, tempDir } from '../helpers/media-fixtures';
import { startCli, stopAllProcesses, whileRunning } from '../helpers/processes';
import { waitFor } from '../helpers/steering';

const CHROMIUM = process.env.STARRY_CHROMIUM ?? '/usr/bin/chromium';
/**
 * The clip's frames. The last is held (STARRY_FAULTS stall@FRAMES:0) until the page has been seen
 * mid-render, so the render is still styling however slow the test and however fast the render;
 * enough frames before it that segments are encoded and newer frames replace the first ones.
 */
const FRAMES = 800;
const SHOTS = process.env.STARRY_WATCH_SCREENSHOTS;

/** A GET with a Host header of our choosing (fetch does not let one set it). */
function getWithHost(url: string, host: string, cookie: string): Promise<number> {
  return new Promise((res, rej) => {
    const req = httpRequest(url, { headers: { Host: host, Cookie: cookie } }, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    });
    req.on('error', rej);
    req.end();
  });
}

/** Waits until the video at `selector` has data for its position (readyState ≥ 2, HAVE_CURRENT_DATA) and has played some of it. */
async function playing(page: Page, selector: string): Promise<void> {
  // Runs in the page, whose document the test's types (no DOM library) do not know.
  await page.waitForFunction((sel) => {
    const v = (globalThis as unknown as { document: { querySelector(s: string): { readyState: number; currentTime: number } | null } }).document.querySelector(sel);
    return v !== null && v.readyState >= 2 && v.currentTime > 0;
  }, selector);
}

describe('the watch page in a real browser', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium)` }, () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let browser: Browser;
  let evil: Server | undefined;

  before(async () => {
    ({ dir: root, cleanup } = await tempDir('starry-watch'));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  });
  after(async () => {
    stopAllProcesses();
    await browser?.close();
    evil?.close();
    await cleanup?.();
  });

  async function shot(page: Page, name: string) {
    if (SHOTS) await page.screenshot({ path: join(SHOTS, name), fullPage: true });
  }

  test('a copy render watched from the page: frames as they finish, pause and resume, a segment and the final video play; strangers are refused', async () => {
    const workDir = join(root, 'work');
    const input = await makeClip({ path: join(root, 'clip.mp4'), width: 64, height: 48, rate: '25', frames: FRAMES });
    const style = await makeStyleImage(join(root, 'style.png'), 16, 16);
    const output = join(root, 'out.mp4');
    // The render's last frame waits for this file: what the test sees mid-render cannot be the finished render.
    const release = join(root, 'release-last-frame');
    const render = startCli(
      ['start-render', '-i', input, '-s', style, '-o', output, '--engine', 'copy', '--size', '64', '--chunk-frames', '50', '--window', '2'],
      { STARRY_WORK_DIR: workDir, STARRY_FAULTS: `stall@${FRAMES}:0`, STARRY_STALL_RELEASE: release },
    );
    const [, pageUrl, base, id, token] = await render.waitFor(/watch it: ((http:\/\/127\.0\.0\.1:\d+)\/renders\/(\S+)\?token=([0-9a-f]+))\n/);
    const port = new URL(base).port;
    const cookie = `starry_watch_${port}=${token}`;

    const advert = await readServerFile(workDir);
    const client = await connectClient({ address: advert!.address, namespace: DEFAULT_NAMESPACE });
    const handle = client.workflow.getHandle(id);
    const progress = () => handle.query(progressQuery);
    try {
      // The Web UI's link to the page is in the workflow's user metadata.
      const details = (await (await handle.describe()).staticDetails()) ?? '';
      assert.ok(details.includes(`](${pageUrl})`), `the page's link in the workflow's details: ${details}`);

      // One browser profile: the other origin's page below shares the page's cookie.
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      await page.goto(pageUrl).catch((err: Error) => Promise.reject(new Error(`${err.message}\nstart-render's output:\n${render.output()}`)));
      // The token moved into a cookie: the address bar no longer shows it.
      assert.equal(new URL(page.url()).search, '');
      await page.locator('.frame').first().waitFor({ timeout: 120_000 });
      const firstShown = await page.locator('.frame .frame-no').allTextContents();
      await page.evaluate('window.notReloaded = true');

      // Pause from the page: the workflow's own query says so, and so does the page.
      await page.getByRole('button', { name: 'Pause' }).click();
      const paused = await waitFor(progress, (p) => p.paused, 'the render paused by the page');
      assert.ok(paused.done < FRAMES, `paused while styling (${paused.done} of ${FRAMES} done)`);
      await page.locator('#state', { hasText: 'paused' }).waitFor();
      await shot(page, 'watch-paused.png');

      // Strangers: no token, another Host (DNS rebinding), another origin, a POST without the header.
      const api = `${base}/api/renders/${id}`;
      assert.equal((await fetch(api)).status, 403, 'no token');
      assert.equal((await fetch(api, { headers: { Cookie: cookie } })).status, 200, 'the token in its cookie');
      assert.equal(await getWithHost(api, `rebound.example:${port}`, cookie), 403, 'another Host');
      assert.equal((await fetch(api, { headers: { Cookie: cookie, Origin: 'http://evil.example' } })).status, 403, 'another origin');
      const noHeader = await fetch(`${api}/resume`, { method: 'POST', headers: { Cookie: cookie, Origin: base } });
      assert.equal(noHeader.status, 403, 'a POST with the cookie but without X-Starry-Token');
      // A page of another origin in the same browser (which holds the cookie) tries to resume the render.
      evil = createServer((_, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>elsewhere</title>'));
      await new Promise<void>((r) => evil!.listen(0, '127.0.0.1', r));
      const elsewhere = await context.newPage();
      await elsewhere.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      const crossOrigin = await elsewhere.evaluate(async (url) => {
        const tries: string[] = [];
        for (const headers of [{}, { 'X-Starry-Token': 'guess' }] as Array<Record<string, string>>) {
          try {
            const r = await fetch(url, { method: 'POST', credentials: 'include', mode: 'cors', headers });
            tries.push(String(r.status));
          } catch (err) {
            tries.push(`blocked: ${String(err)}`);
          }
        }
        // A form post (no CORS pre-flight) is refused by the server: it is read back opaquely.
        const r = await fetch(url, { method: 'POST', credentials: 'include', mode: 'no-cors', body: 'x' });
        tries.push(r.type);
        return tries;
      }, `${api}/resume`);
      await elsewhere.close();
      assert.ok(crossOrigin.every((t) => t !== '200'), `cross-origin attempts: ${crossOrigin.join('; ')}`);
      assert.equal((await progress()).paused, true, 'still paused after the refused requests');

      await page.getByRole('button', { name: 'Resume' }).click();
      await waitFor(progress, (p) => !p.paused, 'the render resumed by the page');

      // A segment plays while the rest renders.
      const segment = page.locator('.segment video').first();
      await segment.waitFor({ timeout: 120_000 });
      const whileRendering = await progress();
      await segment.evaluate((v) => (v as unknown as { play(): Promise<void> }).play());
      await playing(page, '.segment video');
      assert.ok(whileRendering.phase === 'styling' && whileRendering.done < FRAMES, `segment played during styling (${whileRendering.done} done)`);
      // Newer frames replaced the first ones, in the same page (no reload).
      await page.locator('.frame .frame-no').first().filter({ hasNotText: new RegExp(`^${firstShown[0]}$`) }).waitFor();
      assert.equal(await page.evaluate('window.notReloaded'), true);
      await shot(page, 'watch-rendering.png');

      await writeFile(release, '');
      assert.equal((await render.exited).code, 0, render.output());
    } finally {
      await client.connection.close();
    }

    // Finished: `npm run ui` serves the list and the render's page with its video.
    const ui = startCli(['ui'], { STARRY_WORK_DIR: workDir });
    try {
      const [, listUrl] = await ui.waitFor(/watch the renders: (http\S+)\n/);
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(listUrl);
      const row = page.locator('#renders tbody tr', { hasText: id });
      // ui answers the page and starts the work directory's server: if it ends (its server could not
      // start, say), the page only shows errors, so fail at once with what ui printed.
      await whileRunning(ui, 'the list to show the render done', row.locator('.badge', { hasText: 'done' }).waitFor({ timeout: 60_000 }));
      await shot(page, 'watch-list.png');
      await row.getByRole('link').click();
      await whileRunning(ui, "the render's page to show it done", page.locator('#state', { hasText: 'done' }).waitFor({ timeout: 60_000 }));
      const video = page.locator('#video');
      await video.evaluate((v) => {
        const element = v as unknown as { muted: boolean; play(): Promise<void> };
        element.muted = true;
        return element.play();
      });
      await playing(page, '#video');
      assert.equal(await page.locator('#controls button[data-action="pause"]').isDisabled(), true, 'a finished render has no buttons to press');
      await shot(page, 'watch-done.png');
    } finally {
      ui.child.kill('SIGINT');
      await ui.exited;
    }
  });
});
