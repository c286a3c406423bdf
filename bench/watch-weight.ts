/**
 * What the watch page costs a browser: opens a render's page (the address start-render printed) in
 * headless Chromium for a while and sums what it fetched — the first load, and per refresh the JSON
 * and the thumbnails of frames that finished meanwhile.
 *
 *   npx tsx bench/watch-weight.ts 'http://127.0.0.1:PORT/renders/ID?token=…' [seconds, default 30] [screenshot.png]
 */
import { chromium } from 'playwright-core';

interface Fetched {
  url: string;
  type: string;
  bytes: number;
  ms: number;
}

async function main(): Promise<void> {
  const [url, seconds = '30', shot] = process.argv.slice(2);
  if (!url) throw new Error('give the page address start-render printed (with its ?token=)');
  const browser = await chromium.launch({ executablePath: process.env.STARRY_CHROMIUM ?? '/usr/bin/chromium', headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const fetched: Fetched[] = [];
    page.on('requestfinished', (r) => {
      void r.sizes().then((sizes) => fetched.push({ url: r.url(), type: r.resourceType(), bytes: sizes.responseBodySize, ms: r.timing().responseEnd }));
    });
    await page.goto(url);
    await page.waitForTimeout(Number(seconds) * 1000);
    if (shot) await page.screenshot({ path: shot, fullPage: true });
    const sum = (list: Fetched[]) => list.reduce((s, f) => s + f.bytes, 0);
    const api = fetched.filter((f) => f.url.includes('/api/renders/'));
    const images = fetched.filter((f) => f.type === 'image');
    const shell = fetched.filter((f) => ['document', 'script', 'stylesheet'].includes(f.type));
    const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
    const times = api.map((f) => f.ms).sort((a, b) => a - b);
    console.log(
      `page shell (HTML, script, style) ${kib(sum(shell))}; first JSON ${kib(api[0]?.bytes ?? 0)} with ${Math.min(images.length, 24)} thumbnails ` +
        `(${kib(sum(images.slice(0, 24)))}); over ${seconds} s: ${api.length} refreshes, ${kib(sum(api) / Math.max(1, api.length))} JSON each, ` +
        `answered in ${times[Math.floor(times.length / 2)]?.toFixed(0)} ms median (max ${times.at(-1)?.toFixed(0)} ms); ${images.length} thumbnails (${kib(sum(images))}), ` +
        `${fetched.filter((f) => f.type === 'media').length} video requests (${kib(sum(fetched.filter((f) => f.type === 'media')))})`,
    );
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
