/**
 * Backpressure over a real socket: a slow reader keeps the server's queue within the
 * high watermark plus one chunk, and a reader that never reads stops the generator
 * (it is not advanced past the watermark). Also: RSS stays flat over 1,000 streams.
 */
import { expect } from 'chai';
import net from 'node:net';
import { StreamingResponse, type CloseReason, type StreamStats } from '../../ts/index.js';
import { ALIVE_BODY, ALIVE_PATH } from '../helpers/assertions.js';
import { decodeChunked, headEnd } from '../helpers/chunked.js';
import { RawClient, deferred, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { withApp } from '../helpers/with-app.js';
import { underAsan } from '../helpers/sanitizer.js';

const CHUNK = 16 * 1024;
const HWM = 64 * 1024;

describe('wire: streaming flow control', () => {
  it('a slow reader (16 KiB, then a pause): peakQueuedBytes <= highWaterMark + one chunk, body complete', async () => {
    const total = 256; // 4 MiB
    const closed = deferred<{ reason: CloseReason; stats: StreamStats }>();
    await withApp((app) => {
      app.get('/bulk', () => new StreamingResponse(function* () {
        for (let i = 0; i < total; i++) yield Buffer.alloc(CHUNK, 97 + (i % 26));
      }(), { highWaterMark: HWM, lowWaterMark: 16 * 1024, onClose: (reason, stats) => closed.resolve({ reason, stats }) }));
    }, async ({ port }) => {
      const socket = net.connect({ port, host: '127.0.0.1' });
      socket.setNoDelay(true);
      const parts: Buffer[] = [];
      let received = 0;
      let paused = false;
      const ended = new Promise<void>((resolve, reject) => {
        socket.on('end', resolve);
        socket.on('error', reject);
      });
      socket.on('data', (d: Buffer) => {
        parts.push(d);
        received += d.length;
        if (!paused && received >= 16 * 1024) {
          paused = true;
          socket.pause();
          setTimeout(() => socket.resume(), 300);
        }
      });
      socket.write(requestBytes({ path: '/bulk', headers: { Connection: 'close' } }));
      await within(ended, 20000, 'the whole body');
      const buf = Buffer.concat(parts);
      const decoded = decodeChunked(buf.subarray(headEnd(buf)));
      expect(decoded.terminated).to.equal(true);
      expect(decoded.body.length).to.equal(total * CHUNK);
      const { reason, stats } = await within(closed.promise, 5000, 'onClose');
      expect(reason).to.equal('finished');
      expect(stats.bytes).to.equal(total * CHUNK);
      expect(stats.peakQueuedBytes).to.be.greaterThan(0);
      expect(stats.peakQueuedBytes, `peak ${stats.peakQueuedBytes}`).to.be.at.most(HWM + CHUNK);
      socket.destroy();
    });
  });

  it('a reader that never reads: the generator stops within the watermark of what the kernel took', async () => {
    let yields = 0;
    let finallyRan = false;
    let res: StreamingResponse | null = null;
    const closed = deferred<CloseReason>();
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/forever', () => (res = new StreamingResponse(function* () {
        try {
          for (;;) {
            yields++;
            yield Buffer.alloc(CHUNK, 120);
          }
        } finally {
          finallyRan = true;
        }
      }(), { highWaterMark: HWM, onClose: (r) => closed.resolve(r) })));
    }, async ({ port }) => {
      const client = await RawClient.connect(port);
      client.socket.pause(); // never read
      await client.send(requestBytes({ path: '/forever' }));
      // Wait until the generator stopped advancing (bounded).
      let last = -1;
      for (let i = 0; i < 100 && yields !== last; i++) {
        last = yields;
        await sleep(100);
      }
      expect(yields, 'the generator stopped advancing').to.equal(last);
      const stats = res!.stats;
      const yielded = yields * CHUNK;
      expect(stats.queuedBytes).to.be.at.least(HWM - CHUNK);
      expect(yielded - stats.bytesSent, `yielded ${yielded}, sent ${stats.bytesSent}, queued ${stats.queuedBytes}`).to.be.at.most(HWM + CHUNK);
      client.destroy();
      expect(await within(closed.promise, 5000, 'onClose')).to.equal('client-closed');
      expect(finallyRan).to.equal(true);
    });
  });

  it('1,000 streams in a row: RSS growth between the 100th and the 1,000th stays under 20 MB', async function () {
    this.timeout(60000);
    const rows = 200;
    await withApp((app) => {
      app.get('/rows', () => new StreamingResponse(function* () {
        for (let i = 0; i < rows; i++) yield `{"id":${i},"name":"user-${i}","ok":true}\n`;
      }(), { contentType: 'application/x-ndjson' }));
    }, async ({ port, app }) => {
      // A client that keeps nothing but counters, so the RSS measured is the server's.
      const socket = net.connect({ port, host: '127.0.0.1' });
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const expectedBody = Array.from({ length: rows }, (_, i) => `{"id":${i},"name":"user-${i}","ok":true}\n`).join('').length;
      let tail = '';
      let bytes = 0;
      let done: (() => void) | null = null;
      socket.on('data', (d: Buffer) => {
        bytes += d.length;
        tail = (tail + d.toString('latin1')).slice(-7);
        if (tail.endsWith('\r\n0\r\n\r\n') && done) done();
      });
      let rssAt100 = 0;
      try {
        for (let i = 1; i <= 1000; i++) {
          bytes = 0;
          tail = '';
          const finished = new Promise<void>((resolve) => (done = resolve));
          socket.write(requestBytes({ path: '/rows' }));
          await within(finished, 5000, `response ${i}`);
          expect(bytes).to.be.greaterThan(expectedBody);
          if (i === 100) rssAt100 = process.memoryUsage().rss;
        }
      } finally {
        socket.destroy();
      }
      const growth = process.memoryUsage().rss - rssAt100;
      // (under ASan the quarantine keeps freed memory resident; LeakSanitizer checks that run)
      if (!underAsan()) expect(growth, `RSS grew by ${(growth / 1048576).toFixed(1)} MB`).to.be.lessThan(20 * 1024 * 1024);
      const stats = app.stats();
      expect(stats.streamsStarted).to.equal(1000);
      expect(stats.streamsCompleted).to.equal(1000);
    });
  });
  it('final counters belong to their own stream: concurrent streams of different sizes, read at onClose and again later', async () => {
    const sizes = [1, 7, 23];
    const atClose = new Map<number, StreamStats>();
    const responses = new Map<number, StreamingResponse>();
    await withApp((app) => {
      app.get('/s/:n', (req) => {
        const n = Number(req.params.n);
        const res = new StreamingResponse(function* () {
          for (let i = 0; i < n; i++) yield Buffer.alloc(100, 97 + (i % 26));
        }(), { onClose: (_reason, stats) => atClose.set(n, stats) });
        responses.set(n, res);
        return res;
      });
    }, async ({ port }) => {
      const bodies = await Promise.all(sizes.map((n) => fetch(`http://127.0.0.1:${port}/s/${n}`).then((r) => r.arrayBuffer())));
      expect(bodies.map((b) => b.byteLength)).to.deep.equal(sizes.map((n) => n * 100));
      for (let i = 0; i < 200 && atClose.size < sizes.length; i++) await sleep(10);
    });
    for (const n of sizes) {
      expect(atClose.get(n)!.bytes, `onClose stats of the ${n}-chunk stream`).to.equal(n * 100);
      expect(responses.get(n)!.stats.bytes, `stats of the ${n}-chunk stream read after every stream ended`).to.equal(n * 100);
      expect(responses.get(n)!.stats.bytesSent).to.be.at.least(n * 100);
    }
  });
});
