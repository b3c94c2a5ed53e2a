/**
 * Headless Chromium's own WebSocket as the client of a resumable room (permessage-deflate on
 * the route, as Chromium offers it). The page keeps every message it receives (text as is,
 * binary as hex) and the last offset it saw; the test reads them back with page.evaluate.
 *
 * The page's WebSocket goes through a TCP proxy in the test, so that the test can drop the
 * connection under both ends (the browser sees an abnormal close, 1006, and the server its peer
 * gone) as well as let the page close it itself. While the page is away the server keeps
 * broadcasting; the page reconnects with `?offset=<last it saw>` and must end with every
 * message exactly once and in order, byte for byte. A reconnect with an offset older than the
 * log gets the gap notice first, then what the log kept, then live messages. Skipped when
 * /usr/bin/chromium is not installed.
 */
import net from 'node:net';
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { html, type App, type Room } from '../../ts/index.js';
import { hasChromium, withChromium } from '../helpers/chromium.js';
import { withApp } from '../helpers/with-app.js';

const WAIT_MS = 30_000;

const PAGE = `<!doctype html><meta charset="utf-8"><title>resume</title><script>
window.got = [];       // every message, in arrival order: 't:' + text, or 'b:' + the bytes in hex
window.sessions = [];  // one per connection: { url, opened, ext, count, close }
window.last = null;    // the last offset the page saw
let ws = null;
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
window.connect = (port) => {
  const url = 'ws://127.0.0.1:' + port + '/r/lobby' + (window.last === null ? '' : '?offset=' + encodeURIComponent(window.last));
  const s = { url, opened: false, ext: null, count: 0, close: null };
  window.sessions.push(s);
  const sock = new WebSocket(url);
  sock.binaryType = 'arraybuffer';
  sock.onopen = () => { s.opened = true; s.ext = sock.extensions; };
  sock.onmessage = (e) => {
    let head;
    if (typeof e.data === 'string') {
      window.got.push('t:' + e.data);
      head = e.data.split(' ', 1)[0];
    } else {
      const b = new Uint8Array(e.data);
      window.got.push('b:' + hex(b));
      const sp = b.indexOf(0x20);
      head = String.fromCharCode(...b.subarray(0, sp < 0 ? Math.min(b.length, 20) : sp));
    }
    s.count++;
    if (/^[0-9]+$/.test(head)) window.last = head;
  };
  sock.onclose = (e) => { s.close = { code: e.code, clean: e.wasClean }; };
  ws = sock;
};
window.hangUp = () => ws.close(1000, 'page leaves');
</script>`;

/** What broadcast number `n` sends: short UTF-8 text, binary with 0x20 and 0x00 bytes, now and then 3 KB of JSON. */
function payload(n: number): string | Buffer {
  if (n % 50 === 0) return JSON.stringify({ n, rows: Array.from({ length: 60 }, (_, i) => ({ id: i, name: `row ${i}` })) });
  if (n % 3 === 0) return Buffer.from([n & 0xff, 0x20, 0x00, (n >> 8) & 0xff, 0x20, 0xff]);
  return `msg ${n} héllo ✓`;
}

/** What the page must have recorded for a message sent with `offset`. */
function expected(offset: string, data: string | Buffer): string {
  return typeof data === 'string' ? `t:${offset} ${data}` : `b:${Buffer.concat([Buffer.from(`${offset} `), data]).toString('hex')}`;
}

/** A TCP proxy in front of the app: `cut()` destroys every connection through it, both sides. */
async function tcpProxy(targetPort: number) {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) s.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Connections open through the proxy. */
    get open(): number {
      return pairs.size;
    },
    cut(): number {
      const n = pairs.size;
      for (const [client, upstream] of [...pairs]) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      return n;
    },
    async close(): Promise<void> {
      this.cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Polls `cond` every 10 ms for at most WAIT_MS. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Session { url: string; opened: boolean; ext: string | null; count: number; close: { code: number; clean: boolean } | null }

const pageLast = async (page: Page): Promise<number> => Number(await page.evaluate(() => (window as any).last));
const sessions = (page: Page): Promise<Session[]> => page.evaluate(() => (window as any).sessions);
const waitPage = (page: Page, fn: (arg: any) => boolean, arg?: unknown) => page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 10 });

function resumableRoute(app: App, room: Room, serverCloses: number[]): void {
  app.get('/', () => html(PAGE));
  app.ws('/r/:name', {
    perMessageDeflate: { threshold: 0 },
    open: (ws) => ws.join(room, { after: ws.request.query.get('offset') }),
    close: (_ws, code) => serverCloses.push(code),
  });
}

describe('e2e: Chromium WebSocket resuming a room', function () {
  this.timeout(180_000);

  before(function () {
    if (!hasChromium()) this.skip();
  });

  it('cut twice (the page closes, the connection is dropped) during broadcasts, resumed with ?offset=: every message once, in order, byte for byte', async () => {
    const serverCloses: number[] = [];
    let room!: Room;
    await withChromium(async (context) => {
      await withApp((app) => {
        room = app.room('lobby', { log: 100_000 });
        resumableRoute(app, room, serverCloses);
      }, async ({ app, base, port }) => {
        const proxy = await tcpProxy(port);
        const sent = new Map<string, string>(); // offset -> what the page must record
        let n = 0;
        let timer: NodeJS.Timeout | undefined;
        const page = await context.newPage();
        try {
          await page.goto(`${base}/`);
          await page.evaluate((p) => (window as any).connect(p), proxy.port);
          await waitPage(page, () => (window as any).sessions[0].opened);
          // the server broadcasts every 3 ms from now on, whoever is connected (bounded: 20,000 at most)
          timer = setInterval(() => {
            if (n >= 20_000) return;
            const data = payload(++n);
            room.broadcast(data);
            sent.set(room.lastOffset, expected(room.lastOffset, data));
          }, 3);
          const offsets = [] as number[]; // the page's last offset at each cut
          const resumedAt = [] as number[]; // the room's last offset at each reconnect
          for (const cut of ['page closes', 'connection dropped'] as const) {
            const i = offsets.length;
            await waitPage(page, (k) => (window as any).sessions[k].count >= 60, i);
            if (cut === 'page closes') await page.evaluate(() => (window as any).hangUp());
            else {
              await until(() => proxy.open === 1, 'the earlier connection to be gone'); // only the page's live one is cut
              expect(proxy.cut()).to.equal(1);
            }
            await waitPage(page, (k) => (window as any).sessions[k].close !== null, i);
            await until(() => serverCloses.length === i + 1, 'the server to see the connection end');
            const last = await pageLast(page);
            offsets.push(last);
            // the outage: the server goes on broadcasting
            await until(() => Number(room.lastOffset) >= last + 60, '60 broadcasts while the page is away');
            resumedAt.push(Number(room.lastOffset));
            await page.evaluate((p) => (window as any).connect(p), proxy.port);
            await waitPage(page, (k) => (window as any).sessions[k].opened, i + 1);
            // what it missed, then at least 40 live ones
            await waitPage(page, (want) => Number((window as any).last) >= want, resumedAt[i]! + 40);
          }
          clearInterval(timer);
          const final = room.lastOffset;
          await waitPage(page, (want) => (window as any).last === want, final);
          await page.evaluate(() => (window as any).hangUp());
          await waitPage(page, () => (window as any).sessions[2].close !== null);

          const got: string[] = await page.evaluate(() => (window as any).got);
          const want = Array.from({ length: Number(final) }, (_, k) => sent.get(String(k + 1)));
          expect(want.every((w) => w !== undefined), 'offsets 1..last all broadcast here').to.equal(true);
          expect(got.length, 'messages the page received').to.equal(want.length);
          for (let k = 0; k < want.length; k++) if (got[k] !== want[k]) expect(got[k], `message ${k + 1} of ${want.length}`).to.equal(want[k]);

          const ss = await sessions(page);
          expect(ss.map((s) => new URL(s.url).search)).to.deep.equal(['', `?offset=${offsets[0]}`, `?offset=${offsets[1]}`]);
          for (const s of ss) expect(s.ext).to.match(/^permessage-deflate/);
          expect(ss.map((s) => s.close)).to.deep.equal([{ code: 1000, clean: true }, { code: 1006, clean: false }, { code: 1000, clean: true }]);
          expect(serverCloses).to.deep.equal([1000, 1006, 1000]);
          // each reconnect was sent what it missed from the log (at least the outage's 60 each)
          expect(room.replayed).to.be.at.least(120);
          expect(room.gaps).to.equal(0);
          expect(app.stats().wsDeflateMessages).to.be.greaterThan(0);
        } finally {
          clearInterval(timer);
          await page.close();
          await proxy.close();
        }
      });
    });
  });

  it('a reconnect with an offset older than the log gets the gap notice first, then what the log kept, then live messages', async () => {
    const serverCloses: number[] = [];
    let room!: Room;
    await withChromium(async (context) => {
      await withApp((app) => {
        room = app.room('lobby', { log: 10 });
        resumableRoute(app, room, serverCloses);
      }, async ({ base, port }) => {
        const proxy = await tcpProxy(port);
        const sent = new Map<string, string>();
        let n = 0;
        const send = (count: number) => {
          for (let k = 0; k < count; k++) {
            const data = payload(++n);
            room.broadcast(data);
            sent.set(room.lastOffset, expected(room.lastOffset, data));
          }
        };
        const page = await context.newPage();
        try {
          await page.goto(`${base}/`);
          await page.evaluate((p) => (window as any).connect(p), proxy.port);
          await waitPage(page, () => (window as any).sessions[0].opened);
          send(5);
          await waitPage(page, () => (window as any).last === '5');
          expect(proxy.cut()).to.equal(1);
          await waitPage(page, () => (window as any).sessions[0].close !== null);
          await until(() => serverCloses.length === 1, 'the server to see the connection end');
          send(30); // offsets 6..35: the log keeps 26..35
          await page.evaluate((p) => (window as any).connect(p), proxy.port);
          await waitPage(page, () => (window as any).sessions[1].opened);
          await waitPage(page, () => (window as any).last === '35');
          send(3); // live
          await waitPage(page, () => (window as any).last === '38');
          await page.evaluate(() => (window as any).hangUp());
          await waitPage(page, () => (window as any).sessions[1].close !== null);

          const got: string[] = await page.evaluate(() => (window as any).got);
          const at = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => sent.get(String(from + k))!);
          expect(got).to.deep.equal([
            ...at(1, 5),
            't:gap {"after":"5","oldest":"26","last":"35","reason":"too-old"}',
            ...at(26, 38),
          ]);
          const ss = await sessions(page);
          expect(ss.map((s) => new URL(s.url).search)).to.deep.equal(['', '?offset=5']);
          for (const s of ss) expect(s.ext).to.match(/^permessage-deflate/);
          expect(ss.map((s) => s.close)).to.deep.equal([{ code: 1006, clean: false }, { code: 1000, clean: true }]);
          expect(room.gaps).to.equal(1);
          expect(room.replayed).to.equal(10);
        } finally {
          await page.close();
          await proxy.close();
        }
      });
    });
  });
});
