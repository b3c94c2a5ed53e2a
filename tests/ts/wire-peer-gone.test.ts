/**
 * A peer that resets or leaves is a close, never an application error: whatever write finds
 * the socket gone (a chunk, a file region sent with sendfile, the end of a stream, a
 * WebSocket message), the stream ends as `client-closed`, nothing reaches logger.error,
 * streamsErrored does not move and the metrics count it as aborted. And a stream the
 * application ends on purpose (Channel.disconnectAll(), a slow-consumer policy) is
 * `closed` / `shed`, not `error`, with compression on or off.
 *
 * Resets are real RSTs (socket.resetAndDestroy(): SO_LINGER 0); leaves are plain closes.
 * The races (the reset seen by a write or by a read first) need a client that runs beside
 * the server, not between its loop turns: a child process downloads and resets or leaves,
 * a bounded number of times, while the server's loop is kept busy. The deterministic shapes
 * hold the producer until the client is gone, then let it write in the same loop turn,
 * before the server could read the close.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import {
  Channel, compress, fileRegion, metrics, sendFile, sendRegions, stream, StreamingResponse,
  type App, type CloseReason, type HttpResponse, type Request, type WebSocket,
} from '../../ts/index.js';
import { ALIVE_BODY, ALIVE_PATH, expectStillServing } from '../helpers/assertions.js';
import { RawClient, deferred, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { withApp, type AppContext } from '../helpers/with-app.js';
import { WsClient } from '../helpers/ws-client.js';

const ROUNDS = 50;
const FILE_SIZE = 4 * 1024 * 1024;

/** Keeps the event loop busy, so that the close and the next write meet in one loop turn. */
function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) { /* spin */ }
}

/** Records the close reason of every streaming response (the public onClose). */
function recordCloses(app: App, reasons: CloseReason[]): void {
  app.use(async (_req: Request, next: () => Promise<HttpResponse>) => {
    const res = await next();
    if (res instanceof StreamingResponse) res.onClose((r) => reasons.push(r));
    return res;
  });
}

/** The value of one sample of the app's Prometheus text (0 when absent). */
async function metricValue(base: string, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{')) continue;
    const close = line.indexOf('}');
    const got = line.slice(name.length + 1, close).split(',');
    if (want.every((w) => got.includes(w)) && got.length === want.length) return Number(line.slice(close + 1).trim());
  }
  return 0;
}

/**
 * A client in a child process: `rounds` times, GET `path`, read at least `minBytes` (plus a
 * varying few KiB when `jitter`), then reset (RST) or leave (close). Each connection is
 * bounded by a 5 s timer, the whole run by `within`.
 */
const CLIENT = `
const net = require('node:net');
const { port, path, rounds, how, minBytes, jitter, headers } = JSON.parse(process.argv[1]);
(async () => {
  for (let i = 0; i < rounds; i++) {
    await new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('GET ' + path + ' HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n' + headers + '\\r\\n'));
      let got = 0;
      const want = minBytes + (jitter ? (i % 7) * 8192 : 0);
      const timer = setTimeout(() => s.destroy(), 5000);
      s.on('data', (d) => {
        got += d.length;
        if (got < want || s.destroyed) return;
        clearTimeout(timer);
        if (how === 'reset') s.resetAndDestroy(); else s.destroy();
      });
      s.on('close', resolve);
      s.on('error', () => {});
    });
  }
})();
`;

interface ClientRun { port: number; path: string; rounds: number; how: 'reset' | 'leave'; minBytes: number; jitter?: boolean; headers?: Record<string, string> }

/** Runs the child client while the server's loop is kept busy (3 ms of every 5). */
async function runClients(run: ClientRun): Promise<void> {
  const headers = Object.entries(run.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const args = JSON.stringify({ ...run, jitter: run.jitter ?? false, headers });
  const child = spawn(process.execPath, ['-e', CLIENT, args], { stdio: ['ignore', 'ignore', 'inherit'] });
  const load = setInterval(() => busy(3), 5);
  try {
    const code = await within(new Promise<number | null>((resolve) => child.on('exit', resolve)), 50_000, 'the child client');
    expect(code, 'the child client exit code').to.equal(0);
  } finally {
    clearInterval(load);
    if (child.exitCode === null) child.kill();
  }
}

async function waitFor(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  await within((async () => { while (!pred()) await sleep(2); })(), ms, what);
}

function noErrorsLogged(ctx: AppContext): void {
  expect(ctx.logged.map((args) => args.map(String).join(' ')), 'logger.error calls').to.deep.equal([]);
}

describe('wire: a peer that resets or leaves is client-closed, never an error', () => {
  let dir: string;
  let file: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-peer-gone-'));
    file = path.join(dir, 'big.bin');
    fs.writeFileSync(file, randomBytes(FILE_SIZE));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const how of ['reset', 'leave'] as const) {
    it(`a file region written after the client's ${how} (sendfile finds the socket gone): client-closed, nothing logged`, async () => {
      const reasons: CloseReason[] = [];
      let gate = deferred<void>();
      const fd = fs.openSync(file, 'r');
      try {
        await withApp((app) => {
          recordCloses(app, reasons);
          app.get(ALIVE_PATH, () => ALIVE_BODY);
          // a declared length: no chunk framing before the region, sendfile is the first write
          app.get('/region', () => new StreamingResponse((async function* () {
            yield 'head\n';
            await gate.promise;
            yield fileRegion(fd, { offset: 0, length: FILE_SIZE });
          })(), { contentLength: 5 + FILE_SIZE }));
        }, async (ctx) => {
          for (let i = 0; i < 5; i++) {
            gate = deferred<void>();
            const client = await RawClient.connect(ctx.port);
            await client.send(requestBytes({ path: '/region' }));
            await client.until(() => client.buffer.includes('head\n'), 'the first chunk');
            if (how === 'reset') client.socket.resetAndDestroy();
            else client.destroy();
            busy(2); // the close reaches the server's socket; the server has not read it yet
            gate.resolve(); // the region is written in this loop turn
            await waitFor(() => reasons.length === i + 1, `the close of stream ${i + 1}`);
          }
          expect(reasons).to.deep.equal(Array(5).fill('client-closed'));
          noErrorsLogged(ctx);
          expect(ctx.app.stats().streamsErrored, 'streamsErrored').to.equal(0);
          expect(ctx.app.stats().streamsAborted, 'streamsAborted').to.equal(5);
          await expectStillServing(ctx.port);
        });
      } finally {
        fs.closeSync(fd);
      }
    });
  }

  for (const when of ['unnoticed', 'noticed'] as const) {
    it(`a client that leaves before a response's first write (${when} by the server): sendFile and a stream that opens with a file region end client-closed, nothing logged`, async () => {
      const reasons: CloseReason[] = [];
      let gate = deferred<void>();
      let aborted = deferred<void>();
      const fd = fs.openSync(file, 'r');
      try {
        await withApp((app) => {
          recordCloses(app, reasons);
          app.get(ALIVE_PATH, () => ALIVE_BODY);
          app.get('/late-file', async (req) => {
            req.signal.addEventListener('abort', () => aborted.resolve());
            await gate.promise;
            return sendFile(req, file);
          });
          // the region is the stream's first write (streamWriteFile at the very start)
          app.get('/late-region', async (req) => {
            req.signal.addEventListener('abort', () => aborted.resolve());
            await gate.promise;
            return new StreamingResponse((function* () {
              yield fileRegion(fd, { offset: 0, length: FILE_SIZE });
            })(), { contentLength: FILE_SIZE });
          });
        }, async (ctx) => {
          let n = 0;
          for (const route of ['/late-file', '/late-region']) {
            for (const how of ['reset', 'leave'] as const) {
              gate = deferred<void>();
              aborted = deferred<void>();
              const client = await RawClient.connect(ctx.port);
              await client.send(requestBytes({ path: route }));
              await sleep(20); // the request reached the handler, which waits for the gate
              if (how === 'reset') client.socket.resetAndDestroy();
              else client.destroy();
              if (when === 'noticed') await within(aborted.promise, 5000, 'req.signal');
              else busy(2); // the close is in the server's socket, not read yet
              gate.resolve();
              n++;
              await waitFor(() => reasons.length === n, `the close of ${route} after a ${how}`);
            }
          }
          expect(reasons).to.deep.equal(Array(n).fill('client-closed'));
          noErrorsLogged(ctx);
          expect(ctx.app.stats().streamsErrored, 'streamsErrored').to.equal(0);
          await expectStillServing(ctx.port);
        });
      } finally {
        fs.closeSync(fd);
      }
    });
  }

  for (const how of ['reset', 'leave'] as const) {
    it(`sendFile downloads the client ${how === 'reset' ? 'resets' : 'leaves'} midway (${ROUNDS} rounds, busy loop): client-closed, aborted in the metrics`, async function () {
      this.timeout(60_000);
      const reasons: CloseReason[] = [];
      await withApp((app) => {
        recordCloses(app, reasons);
        app.get(ALIVE_PATH, () => ALIVE_BODY);
        app.get('/metrics', metrics());
        app.get('/download', sendFile(file));
      }, async (ctx) => {
        await runClients({ port: ctx.port, path: '/download', rounds: ROUNDS, how, minBytes: 64 * 1024, jitter: true });
        await waitFor(() => reasons.length === ROUNDS, `${ROUNDS} closes`, 10_000);
        // a download may also have finished: every byte in the kernel's buffers before the client left
        expect(reasons.filter((r) => r !== 'client-closed' && r !== 'finished'), 'close reasons').to.deep.equal([]);
        const left = reasons.filter((r) => r === 'client-closed').length;
        expect(left, 'downloads cut short').to.be.greaterThan(0);
        noErrorsLogged(ctx);
        expect(ctx.app.stats().streamsErrored, 'streamsErrored').to.equal(0);
        expect(await metricValue(ctx.base, 'catzilla_streams_total', { outcome: 'errored' })).to.equal(0);
        expect(await metricValue(ctx.base, 'catzilla_streams_total', { outcome: 'aborted' })).to.equal(left);
        expect(await metricValue(ctx.base, 'catzilla_stream_close_total', { route: '/download', reason: 'client-closed' })).to.equal(left);
        expect(await metricValue(ctx.base, 'catzilla_stream_close_total', { route: '/download', reason: 'error' })).to.equal(0);
        await expectStillServing(ctx.port);
      });
    });
  }

  it(`a stream of memory chunks and file regions the client resets mid-body (${ROUNDS} rounds, busy loop): client-closed, nothing logged`, async function () {
    this.timeout(60_000);
    const reasons: CloseReason[] = [];
    await withApp((app) => {
      recordCloses(app, reasons);
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/assembled', (req) => sendRegions(req, ['[head]\n', fileRegion(file), '\n[middle]\n', fileRegion(file), '\n[tail]\n']));
    }, async (ctx) => {
      await runClients({ port: ctx.port, path: '/assembled', rounds: ROUNDS, how: 'reset', minBytes: 64 * 1024, jitter: true });
      await waitFor(() => reasons.length === ROUNDS, `${ROUNDS} closes`, 10_000);
      expect(reasons.filter((r) => r !== 'client-closed' && r !== 'finished'), 'close reasons').to.deep.equal([]);
      noErrorsLogged(ctx);
      expect(ctx.app.stats().streamsErrored).to.equal(0);
      await expectStillServing(ctx.port);
    });
  });

  it('the end of a stream written after the client reset (streamEnd finds the socket gone): client-closed, nothing logged', async () => {
    const reasons: CloseReason[] = [];
    let gate = deferred<void>();
    await withApp((app) => {
      recordCloses(app, reasons);
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/last', () => stream(async (writer) => {
        await writer.write('first\n');
        await gate.promise;
        await writer.write('last\n'); // corked; the end below flushes it
      }));
    }, async (ctx) => {
      for (let i = 0; i < 5; i++) {
        gate = deferred<void>();
        const client = await RawClient.connect(ctx.port);
        await client.send(requestBytes({ path: '/last' }));
        await client.until(() => client.buffer.includes('first\n'), 'the first chunk');
        client.socket.resetAndDestroy();
        busy(2);
        gate.resolve();
        await waitFor(() => reasons.length === i + 1, `the close of stream ${i + 1}`);
      }
      expect(reasons).to.deep.equal(Array(5).fill('client-closed'));
      noErrorsLogged(ctx);
      expect(ctx.app.stats().streamsErrored).to.equal(0);
      await expectStillServing(ctx.port);
    });
  });

  for (const how of ['reset', 'leave'] as const) {
    it(`the end of a compressed stream written after the client's ${how} (streamEnd finds the socket gone): client-closed, nothing logged`, async () => {
      const reasons: CloseReason[] = [];
      let gate = deferred<void>();
      let complete = deferred<void>();
      // base64 of random bytes compresses to about 3/4 of its size. After a reset the first write
      // fails: the held-back rest stays under the cork threshold (64 KiB), so the end's write is
      // the first. After a leave the first write still succeeds (and draws the peer's RST): the
      // rest passes the threshold once, so the end's write is the second.
      const text = randomBytes(how === 'reset' ? 40 * 1024 : 90 * 1024).toString('base64');
      await withApp((app) => {
        // registered before compress(), so its transform wraps the compressed body: it sends the
        // first compressed bytes, holds the rest until the client is gone, then lets it all out
        // and ends, in one loop turn
        app.use(async (_req: Request, next: () => Promise<HttpResponse>) => {
          const res = await next();
          if (res instanceof StreamingResponse) {
            res.transformBody(async function* (chunks) {
              const rest: Array<string | Uint8Array> = [];
              let first = true;
              for await (const chunk of chunks) {
                if (first) yield chunk;
                else rest.push(chunk);
                first = false;
              }
              complete.resolve();
              await gate.promise;
              yield* rest;
            });
          }
          return res;
        });
        app.use(compress({ flushWindow: 0 }));
        recordCloses(app, reasons);
        app.get(ALIVE_PATH, () => ALIVE_BODY);
        app.get('/z', () => stream(async (writer) => {
          for (let i = 0; i < text.length; i += 16 * 1024) await writer.write(text.slice(i, i + 16 * 1024));
        }, { contentType: 'text/plain' }));
      }, async (ctx) => {
        for (let i = 0; i < 5; i++) {
          gate = deferred<void>();
          complete = deferred<void>();
          const client = await RawClient.connect(ctx.port);
          await client.send(requestBytes({ path: '/z', headers: { 'Accept-Encoding': 'gzip' } }));
          await client.until(() => client.buffer.includes('\r\n\r\n') && client.buffer.length > client.buffer.indexOf('\r\n\r\n') + 4, 'the first compressed bytes');
          await within(complete.promise, 5000, 'the compressed body');
          if (how === 'reset') client.socket.resetAndDestroy();
          else client.destroy();
          busy(2);
          gate.resolve();
          await waitFor(() => reasons.length === i + 1, `the close of stream ${i + 1}`);
        }
        expect(reasons).to.deep.equal(Array(5).fill('client-closed'));
        noErrorsLogged(ctx);
        expect(ctx.app.stats().streamsErrored).to.equal(0);
        await expectStillServing(ctx.port);
      });
    });
  }
});

describe('wire: a WebSocket peer that reset is a close, not an exception', () => {
  it('broadcast to a room with a reset member reaches the others, never throws; the reset member closes with 1006', async () => {
    const closes: Array<[string, number]> = [];
    let appRef: App | null = null;
    const big = randomBytes(256 * 1024);
    await withApp((app) => {
      appRef = app;
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.ws('/room/:who', {
        open: (ws) => ws.join(app.room('r')),
        close: (ws, code) => closes.push([ws.request.params.who!, code]),
      });
    }, async (ctx) => {
      const a = await WsClient.connect(ctx.port, '/room/a');
      const b = await WsClient.connect(ctx.port, '/room/b');
      const c = await WsClient.connect(ctx.port, '/room/c');
      try {
        await waitFor(() => appRef!.room('r').size === 3, 'three members');
        b.socket.resetAndDestroy();
        busy(2); // the RST is in the server's socket; the server has not read it yet
        let sent = -1;
        expect(() => { sent = appRef!.room('r').broadcast(big); }, 'broadcast()').not.to.throw();
        expect(sent, 'members the message was sent to').to.equal(2);
        for (const [client, who] of [[a, 'a'], [c, 'c']] as const) {
          const frame = await client.next(`the broadcast at ${who}`);
          expect(frame.opcode).to.equal(2);
          expect(frame.payload.equals(big), `the payload at ${who}`).to.equal(true);
        }
        await waitFor(() => closes.some(([who]) => who === 'b'), "b's close hook");
        expect(closes).to.deep.equal([['b', 1006]]);
        expect(appRef!.room('r').size).to.equal(2);
        noErrorsLogged(ctx);
        await expectStillServing(ctx.port);
      } finally {
        a.close();
        c.close();
      }
    });
  });

  it(`ws.send() to a peer that reset returns false instead of throwing (${ROUNDS} rounds); close gets 1006`, async function () {
    this.timeout(60_000);
    const closes: number[] = [];
    const sockets: WebSocket[] = [];
    const big = randomBytes(200 * 1024);
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.ws('/ws', {
        open: (ws) => { sockets.push(ws); },
        close: (_ws, code) => closes.push(code),
      });
    }, async (ctx) => {
      for (let i = 0; i < ROUNDS; i++) {
        const client = await WsClient.connect(ctx.port, '/ws');
        await waitFor(() => sockets.length === i + 1, 'the open hook');
        client.socket.resetAndDestroy();
        busy(1 + (i % 3));
        let ok: boolean | null = null;
        expect(() => { ok = sockets[i]!.send(big); }, `send() #${i + 1}`).not.to.throw();
        expect(ok, `send() #${i + 1}`).to.equal(false);
        await waitFor(() => closes.length === i + 1, `close hook ${i + 1}`);
      }
      expect(closes).to.deep.equal(Array(ROUNDS).fill(1006));
      noErrorsLogged(ctx);
      await expectStillServing(ctx.port);
    });
  });
});

describe('wire: streams the application ends on purpose are closed or shed, not errors', () => {
  for (const compressed of [false, true]) {
    const label = compressed ? 'behind compress()' : 'uncompressed';

    it(`Channel.disconnectAll() ${label}: onClose 'closed', nothing logged, streamsErrored unchanged, outcome closed`, async () => {
      const reasons: CloseReason[] = [];
      const channel = new Channel({ sse: { heartbeat: 0 } });
      await withApp((app) => {
        if (compressed) app.use(compress({ flushWindow: 0 }));
        app.get(ALIVE_PATH, () => ALIVE_BODY);
        app.get('/metrics', metrics());
        app.get('/events', (req) => channel.subscribe(req).onClose((r) => reasons.push(r)));
      }, async (ctx) => {
        const clients: RawClient[] = [];
        try {
          for (let i = 0; i < 3; i++) {
            const client = await RawClient.connect(ctx.port);
            await client.send(requestBytes({ path: '/events', headers: compressed ? { 'Accept-Encoding': 'gzip' } : {} }));
            clients.push(client);
          }
          await waitFor(() => channel.size === 3, 'three subscribers');
          await channel.publish({ data: 'hello' });
          for (const client of clients) await client.until(() => client.buffer.includes('\r\n\r\n'), 'the headers');
          expect(channel.disconnectAll()).to.equal(3);
          for (const client of clients) await client.waitForClose();
          await waitFor(() => reasons.length === 3, 'three closes');
          expect(reasons).to.deep.equal(['closed', 'closed', 'closed']);
          noErrorsLogged(ctx);
          const stats = ctx.app.stats();
          expect(stats.streamsErrored, 'streamsErrored').to.equal(0);
          expect(stats.streamsClosed, 'streamsClosed').to.equal(3);
          expect(await metricValue(ctx.base, 'catzilla_streams_total', { outcome: 'closed' })).to.equal(3);
          expect(await metricValue(ctx.base, 'catzilla_streams_total', { outcome: 'errored' })).to.equal(0);
          expect(await metricValue(ctx.base, 'catzilla_stream_close_total', { route: '/events', reason: 'closed' })).to.equal(3);
          expect(await metricValue(ctx.base, 'catzilla_stream_close_total', { route: '/events', reason: 'error' })).to.equal(0);
          await expectStillServing(ctx.port);
        } finally {
          for (const client of clients) client.destroy();
        }
      });
    });

    it(`the 'disconnect' policy ${label}: the slow subscriber is shed (onClose 'shed', outcome shed), nothing logged`, async function () {
      this.timeout(30_000);
      const reasons: CloseReason[] = [];
      const channel = new Channel({ policy: 'disconnect', maxQueueBytes: 8 * 1024, slowAfterMs: 0, replay: 0, sse: { heartbeat: 0, highWaterMark: 4096 } });
      const event = randomBytes(48 * 1024).toString('base64');
      await withApp((app) => {
        if (compressed) app.use(compress({ flushWindow: 0 }));
        app.get(ALIVE_PATH, () => ALIVE_BODY);
        app.get('/metrics', metrics());
        app.get('/events', (req) => channel.subscribe(req).onClose((r) => reasons.push(r)));
      }, async (ctx) => {
        const slow = await RawClient.connect(ctx.port);
        try {
          await slow.send(requestBytes({ path: '/events', headers: compressed ? { 'Accept-Encoding': 'gzip' } : {} }));
          await waitFor(() => channel.size === 1, 'the subscriber');
          slow.socket.pause(); // never reads again
          for (let i = 0; i < 2000 && channel.stats().disconnected === 0; i++) {
            await channel.publish({ data: event });
            await new Promise((r) => setImmediate(r));
          }
          expect(channel.stats().disconnected, 'subscribers disconnected by the policy').to.equal(1);
          await waitFor(() => reasons.length === 1, 'the close');
          expect(reasons).to.deep.equal(['shed']);
          noErrorsLogged(ctx);
          const stats = ctx.app.stats();
          expect(stats.streamsErrored, 'streamsErrored').to.equal(0);
          expect(stats.streamsShed, 'streamsShed').to.equal(1);
          expect(await metricValue(ctx.base, 'catzilla_streams_total', { outcome: 'shed' })).to.equal(1);
          expect(await metricValue(ctx.base, 'catzilla_stream_close_total', { route: '/events', reason: 'shed' })).to.equal(1);
          expect(await metricValue(ctx.base, 'catzilla_stream_close_total', { route: '/events', reason: 'error' })).to.equal(0);
          await expectStillServing(ctx.port);
        } finally {
          slow.destroy();
        }
      });
    });
  }

  it("writer.abort() without an error is the application's close ('closed', not logged; 503 before any byte); abort(err) stays an error", async () => {
    const reasons: Record<string, CloseReason> = {};
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      for (const kind of ['plain', 'err', 'early']) {
        app.get(`/${kind}`, () => stream(async (writer) => {
          if (kind !== 'early') await writer.write('some\n');
          writer.abort(kind === 'err' ? new Error('the export failed') : undefined);
        }, { onClose: (r) => { reasons[kind] = r; } }));
      }
    }, async (ctx) => {
      for (const kind of ['plain', 'err']) {
        const client = await RawClient.connect(ctx.port);
        try {
          await client.send(requestBytes({ path: `/${kind}` }));
          await client.waitForClose();
          const text = client.buffer.toString('latin1');
          expect(text).to.match(/^HTTP\/1\.1 200 /);
          expect(text).to.contain('some\n');
          expect(text).not.to.contain('0\r\n\r\n'); // truncated either way
        } finally {
          client.destroy();
        }
      }
      const early = await fetch(`${ctx.base}/early`);
      expect(early.status).to.equal(503);
      await early.text();
      await waitFor(() => Object.keys(reasons).length === 3, 'three closes');
      expect(reasons).to.deep.equal({ plain: 'closed', err: 'error', early: 'closed' });
      expect(ctx.logged.map(String).join('\n')).to.contain('the export failed');
      expect(ctx.logged).to.have.length(1);
      expect(ctx.app.stats().streamsClosed).to.equal(1); // the early one never started a native stream
      expect(ctx.app.stats().streamsErrored).to.equal(1);
    });
  });
});
