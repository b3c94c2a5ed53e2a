/**
 * Real client: headless Chromium's WebSocket (Debian's chromium via playwright-core). Two
 * pages join a room; text and binary messages go through it both ways (a 200 KB one too,
 * 64-bit length frames); the server closes one page with a code and reason the browser
 * reports as a clean close. With permessage-deflate on the route, Chromium's offer is accepted
 * (ws.extensions on both sides), messages go compressed both ways and arrive intact. Skipped
 * when /usr/bin/chromium is not installed.
 */
import { expect } from 'chai';
import { html, type WebSocket } from '../../ts/index.js';
import { hasChromium, withChromium } from '../helpers/chromium.js';
import { withApp } from '../helpers/with-app.js';


const PAGE = `<!doctype html><meta charset="utf-8"><title>ws</title><script>
window.received = []; window.opened = false; window.closeInfo = null;
const ws = new WebSocket('ws://' + location.host + '/chat', ['chat.v1']);
ws.binaryType = 'arraybuffer';
ws.onopen = () => { window.opened = ws.protocol; };
ws.onmessage = (e) => { window.received.push(typeof e.data === 'string' ? e.data : 'bytes:' + e.data.byteLength + ':' + new Uint8Array(e.data)[e.data.byteLength - 1]); };
ws.onclose = (e) => { window.closeInfo = { code: e.code, reason: e.reason, clean: e.wasClean }; };
window.sendText = (s) => ws.send(s);
window.sendBytes = (n) => { const b = new Uint8Array(n); b[n - 1] = 42; ws.send(b); };
</script>`;

describe('e2e: Chromium WebSocket', function () {
  before(function () {
    if (!hasChromium()) this.skip();
  });

  it('two pages in a room: text and binary both ways, then a server close the browser sees as clean', async () => {
    const sockets: WebSocket[] = [];
    await withChromium(async (context) => {
      await withApp((app) => {
        app.get('/', () => html(PAGE));
        app.ws('/chat', {
          protocols: ['chat.v1'],
          open: (ws) => {
            sockets.push(ws);
            ws.join(app.room('lobby'));
          },
          message: (ws, data, isBinary) => {
            app.room('lobby').broadcast(isBinary ? data : `${sockets.indexOf(ws)}: ${data as string}`, { binary: isBinary, except: ws });
          },
        });
      }, async ({ base }) => {
        const a = await context.newPage();
        const b = await context.newPage();
        for (const p of [a, b]) {
          await p.goto(`${base}/`);
          await p.waitForFunction(() => (window as any).opened !== false, undefined, { timeout: 10_000 });
          expect(await p.evaluate(() => (window as any).opened)).to.equal('chat.v1');
        }
        await a.evaluate(() => (window as any).sendText('hello from a'));
        await a.evaluate(() => (window as any).sendBytes(200_000));
        await b.evaluate(() => (window as any).sendText('héllo from b'));
        await b.waitForFunction(() => (window as any).received.length === 2, undefined, { timeout: 10_000 });
        await a.waitForFunction(() => (window as any).received.length === 1, undefined, { timeout: 10_000 });
        expect(await b.evaluate(() => (window as any).received)).to.deep.equal(['0: hello from a', 'bytes:200000:42']);
        expect(await a.evaluate(() => (window as any).received)).to.deep.equal(['1: héllo from b']);

        sockets[0]!.close(4001, 'session over');
        await a.waitForFunction(() => (window as any).closeInfo !== null, undefined, { timeout: 10_000 });
        expect(await a.evaluate(() => (window as any).closeInfo)).to.deep.equal({ code: 4001, reason: 'session over', clean: true });
        for (const p of [a, b]) await p.close();
      });
    });
  });

  it('permessage-deflate: Chromium\'s offer is accepted, messages go compressed both ways and arrive intact', async () => {
    const got: Array<string | number> = [];
    let extensions = '';
    const DEFLATE_PAGE = `<!doctype html><meta charset="utf-8"><title>ws</title><script>
window.received = []; window.ext = null;
const ws = new WebSocket('ws://' + location.host + '/z');
ws.binaryType = 'arraybuffer';
ws.onopen = () => { window.ext = ws.extensions; };
ws.onmessage = (e) => { window.received.push(typeof e.data === 'string' ? e.data.length + ':' + e.data.slice(0, 12) : 'bytes:' + e.data.byteLength); };
window.sendText = (s) => ws.send(s);
window.sendBig = (n) => ws.send(JSON.stringify({ rows: Array.from({ length: n }, (_, i) => ({ id: i, name: 'row ' + i })) }));
window.sendBytes = (n) => ws.send(new Uint8Array(n).fill(7));
</script>`;
    await withChromium(async (context) => {
      await withApp((app) => {
        app.get('/', () => html(DEFLATE_PAGE));
        app.ws('/z', {
          perMessageDeflate: { threshold: 32 },
          open: (ws) => {
            extensions = ws.extensions;
            ws.send('short');
            ws.send(JSON.stringify({ greeting: 'hello '.repeat(500) }));
            ws.send(Buffer.alloc(100_000, 9));
          },
          message: (ws, data) => got.push(typeof data === 'string' ? data.length : -data.length),
        });
      }, async ({ base, app }) => {
        const page = await context.newPage();
        await page.goto(`${base}/`);
        await page.waitForFunction(() => (window as any).ext !== null, undefined, { timeout: 10_000 });
        const agreed = await page.evaluate(() => (window as any).ext);
        expect(agreed).to.match(/^permessage-deflate/);
        expect(extensions).to.equal(agreed);
        await page.waitForFunction(() => (window as any).received.length === 3, undefined, { timeout: 10_000 });
        expect(await page.evaluate(() => (window as any).received)).to.deep.equal(['5:short', '3015:{"greeting":', 'bytes:100000']);
        await page.evaluate(() => (window as any).sendText('tiny'));
        await page.evaluate(() => (window as any).sendBig(5000));
        await page.evaluate(() => (window as any).sendBytes(50_000));
        const deadline = Date.now() + 10_000;
        while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        const big = JSON.stringify({ rows: Array.from({ length: 5000 }, (_, i) => ({ id: i, name: 'row ' + i })) }).length;
        expect(got).to.deep.equal([4, big, -50_000]);
        const s = app.stats();
        expect(s.wsDeflateMessages).to.equal(2); // 'short' is under the threshold
        expect(s.wsInflateMessages).to.be.at.least(2); // Chromium compresses what it finds worth it
        expect(s.wsInflateBytesOut).to.be.greaterThan(s.wsInflateBytesIn * 4);
        await page.close();
      });
    });
  });
});
