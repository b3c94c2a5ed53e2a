/**
 * Real client: the live dashboard in headless Chromium (Debian's chromium via
 * playwright-core). It loads from the app with no outside request, subscribes to the
 * app's own SSE samples, its numbers and stream table move while the test streams, and a
 * screenshot is kept at .test-artifacts/dashboard.png. Skipped when /usr/bin/chromium is
 * not installed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { StreamingResponse, dashboard } from '../../ts/index.js';
import { RawClient, requestBytes, sleep } from '../helpers/raw-client.js';
import { withApp } from '../helpers/with-app.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];
const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '.test-artifacts');
const TOKEN = 'dash-token';

type Dash = { samples: number; opens: number; last: { activeStreams: number; totals: { sentBytes: number }; streams: Array<{ route: string }> } | null };

describe('e2e: Chromium dashboard', function () {
  before(function () {
    if (!fs.existsSync(CHROMIUM)) this.skip();
  });

  it('loads, its numbers and table move while a stream runs, and a screenshot is kept', async () => {
    const { chromium } = await import('playwright-core');
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-chromium-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000, viewport: { width: 1280, height: 900 },
    });
    try {
      await withApp((app) => {
        app.get('/debug/dashboard', dashboard({ enabled: true, token: TOKEN, interval: 200 }));
        app.get('/export/:table', () => new StreamingResponse(async function* () {
          for (let i = 0; i < 100_000; i++) {
            yield `${JSON.stringify({ row: i, payload: 'x'.repeat(200) })}\n`;
            if (i % 20 === 0) await sleep(5);
          }
        }(), { contentType: 'application/x-ndjson' }));
      }, async ({ base, port }) => {
        // Refused without the token, page and events alike.
        expect((await fetch(`${base}/debug/dashboard`)).status).to.equal(401);
        expect((await fetch(`${base}/debug/dashboard/events`)).status).to.equal(401);

        const page = await context.newPage();
        const outside: string[] = [];
        page.on('request', (r) => {
          if (!r.url().startsWith(base)) outside.push(r.url());
        });
        const response = await page.goto(`${base}/debug/dashboard?token=${TOKEN}`);
        expect(response!.status()).to.equal(200);
        await page.waitForFunction(() => (window as any).__dashboard?.samples >= 2, undefined, { timeout: 15_000 });
        const idle = await page.evaluate(() => (window as any).__dashboard as Dash);
        expect(idle.opens).to.equal(1);
        expect(idle.last!.activeStreams).to.equal(1); // the dashboard's own event stream

        // Stream while the page watches: the numbers and the table move.
        const client = await RawClient.connect(port);
        try {
          await client.send(requestBytes({ path: '/export/orders' }));
          await page.waitForFunction(() => {
            const d = (window as any).__dashboard;
            return d.last.activeStreams >= 2 && d.last.streams.some((s: { route: string }) => s.route === '/export/:table');
          }, undefined, { timeout: 15_000 });
          const sentBefore = Number(await page.locator('#sent-total').getAttribute('data-value'));
          await page.waitForFunction((before) => {
            const bps = Number(document.getElementById('bps')!.dataset.value);
            const sent = Number(document.getElementById('sent-total')!.dataset.value);
            return bps > 0 && sent > before;
          }, sentBefore, { timeout: 15_000 });
          expect(Number(await page.locator('#active').getAttribute('data-value'))).to.be.greaterThanOrEqual(2);
          const row = page.locator('#streams tbody tr', { hasText: '/export/:table' });
          await row.waitFor({ timeout: 10_000 });
          expect(await row.textContent()).to.include('GET /export/orders').and.to.include('127.0.0.1:');
          // A few samples so the charts have a line.
          const samples = await page.evaluate(() => (window as any).__dashboard.samples as number);
          await page.waitForFunction((n) => (window as any).__dashboard.samples >= n + 5, samples, { timeout: 15_000 });
          fs.mkdirSync(ARTIFACTS, { recursive: true });
          const file = path.join(ARTIFACTS, 'dashboard.png');
          await page.screenshot({ path: file, fullPage: true });
          expect(fs.statSync(file).size).to.be.greaterThan(10_000);
        } finally {
          client.destroy();
        }

        // The stream is gone from the page once the client left.
        await page.waitForFunction(() => (window as any).__dashboard.last.activeStreams === 1, undefined, { timeout: 15_000 });
        expect(outside).to.deep.equal([]);
        await page.close();
      });
    } finally {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    }
  });
});
