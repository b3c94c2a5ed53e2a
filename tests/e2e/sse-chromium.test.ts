/**
 * Real client: headless Chromium's EventSource (Debian's chromium via playwright-core).
 * It receives events, and after the server drops the connection it reconnects with
 * Last-Event-ID and resumes from the Channel's replay ring: no loss, no duplicates.
 * Skipped when /usr/bin/chromium is not installed.
 */
import { expect } from 'chai';
import { Channel, html } from '../../ts/index.js';
import { hasChromium, withChromium } from '../helpers/chromium.js';
import { withApp } from '../helpers/with-app.js';


const PAGE = `<!doctype html><meta charset="utf-8"><title>sse</title><script>
window.received = []; window.opens = 0; window.errors = 0;
const es = new EventSource('/events');
es.onopen = () => { window.opens++; };
es.onerror = () => { window.errors++; };
es.addEventListener('chat', (e) => { window.received.push({ id: e.lastEventId, data: e.data }); });
</script>`;

describe('e2e: Chromium EventSource', function () {
  before(function () {
    if (!hasChromium()) this.skip();
  });

  it('receives events, reconnects after a dropped connection and resumes from Last-Event-ID without loss or duplicates', async () => {
    const channel = new Channel({ replay: 100, sse: { retry: 200, heartbeat: 0 } });
    const lastIds: Array<string | null> = [];
    await withChromium(async (context) => {
      await withApp((app) => {
        app.get('/', () => html(PAGE));
        app.get('/events', (req) => {
          lastIds.push(req.header('last-event-id') ?? null);
          return channel.subscribe(req);
        });
      }, async ({ base }) => {
        const page = await context.newPage();
        await page.goto(`${base}/`);
        await page.waitForFunction(() => (window as any).opens === 1, undefined, { timeout: 10_000 });
        for (let i = 1; i <= 5; i++) await channel.publish({ event: 'chat', data: `message ${i}` });
        await page.waitForFunction(() => (window as any).received.length === 5, undefined, { timeout: 10_000 });

        // Drop the connection, and publish while the browser is away (ring only).
        expect(channel.disconnectAll()).to.equal(1);
        for (let i = 6; i <= 8; i++) await channel.publish({ event: 'chat', data: `message ${i}` });
        await page.waitForFunction(() => (window as any).opens === 2, undefined, { timeout: 10_000 });
        for (let i = 9; i <= 10; i++) await channel.publish({ event: 'chat', data: `message ${i}` });
        await page.waitForFunction(() => (window as any).received.length >= 10, undefined, { timeout: 10_000 });

        const received = await page.evaluate(() => (window as any).received as Array<{ id: string; data: string }>);
        expect(received).to.deep.equal(Array.from({ length: 10 }, (_, i) => ({ id: String(i + 1), data: `message ${i + 1}` })));
        expect(lastIds).to.deep.equal([null, '5']);
        expect(channel.stats()).to.deep.include({ replayed: 3, gaps: 0 });
        await page.close();
      });
    });
  });
});
