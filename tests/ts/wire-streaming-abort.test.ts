/**
 * Streams that end badly, over a real socket: the client leaving mid-stream (source
 * cancelled, onClose('client-closed'), streamsAborted counted, request.signal aborted),
 * a source that throws mid-stream (truncated body, no terminator, no second status
 * line, the server keeps serving), and an error before the first chunk (a clean 500).
 */
import { expect } from 'chai';
import { HttpError, StreamingResponse, metrics, type CloseReason, type MetricsSnapshot } from '../../ts/index.js';
import { ALIVE_BODY, ALIVE_PATH, expectStillServing } from '../helpers/assertions.js';
import { decodeChunked, headEnd } from '../helpers/chunked.js';
import { RawClient, deferred, fetchRaw, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { withApp } from '../helpers/with-app.js';
import { StreamState } from '../../ts/native.js';

describe('wire: streaming aborts and errors', () => {
  it('client disconnect mid-stream: generator finally, onClose(client-closed), streamsAborted, request.signal', async () => {
    const finallyRan = deferred<void>();
    const closed = deferred<CloseReason>();
    let signal: AbortSignal | null = null;
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/ticker', (req) => {
        signal = req.signal;
        return new StreamingResponse((async function* () {
          try {
            for (let i = 0; i < 100000; i++) {
              yield `tick ${i}\n`;
              await sleep(2);
            }
          } finally {
            finallyRan.resolve();
          }
        })(), { onClose: (r) => closed.resolve(r) });
      });
    }, async ({ port, app }) => {
      const before = app.stats().streamsAborted;
      const client = await RawClient.connect(port);
      await client.send(requestBytes({ path: '/ticker' }));
      await client.until(() => client.buffer.includes('tick 3\n'), 'a few ticks');
      expect(signal!.aborted).to.equal(false);
      client.destroy();
      expect(await within(closed.promise, 5000, 'onClose')).to.equal('client-closed');
      await within(finallyRan.promise, 5000, "the generator's finally");
      expect(signal!.aborted).to.equal(true);
      expect(app.stats().streamsAborted).to.equal(before + 1);
      expect(app.stats().streamsActive).to.equal(0);
      await expectStillServing(port);
    });
  });

  it('a source that throws mid-stream: truncated body, no terminator, one status line; logged; server keeps serving', async () => {
    const events: string[] = [];
    const closed = deferred<void>();
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/broken', () => new StreamingResponse((async function* () {
        yield '{"row":1}\n';
        await sleep(20);
        yield '{"row":2}\n';
        await sleep(20);
        throw new Error('database went away');
      })(), {
        contentType: 'application/x-ndjson',
        errorRecord: (err) => JSON.stringify({ error: (err as Error).message }) + '\n',
        onError: () => events.push('error'),
        onClose: (r) => { events.push(`close:${r}`); closed.resolve(); },
      }));
    }, async ({ port, logged, app }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send(requestBytes({ path: '/broken' }));
        await client.waitForClose(5000);
        const buf = client.buffer;
        const text = buf.toString('latin1');
        expect(text.match(/HTTP\/1\.1 /g)).to.have.length(1);
        const decoded = decodeChunked(buf.subarray(headEnd(buf)));
        expect(decoded.terminated).to.equal(false);
        expect(text).not.to.contain('0\r\n\r\n');
        expect(decoded.body.toString()).to.equal('{"row":1}\n{"row":2}\n{"error":"database went away"}\n');
        await within(closed.promise, 5000, 'onClose');
        expect(events).to.deep.equal(['error', 'close:error']);
        expect(logged.map(String).join('\n')).to.contain('database went away');
        expect(app.stats().streamsErrored).to.equal(1);
        await expectStillServing(port);
      } finally {
        client.destroy();
      }
    });
  });

  /** Answers by status as the metrics report them: per route (transport) and by class (core). */
  async function statusCounts(port: number, route: string): Promise<{ route: Record<string, number>; classes: number[] }> {
    const snap = (await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { accept: 'application/json' } })).json()) as MetricsSnapshot;
    const s = snap.server as unknown as Record<string, number>;
    return { route: snap.routes[route]!.responses as Record<string, number>, classes: [s.responses2xx!, s.responses5xx!] };
  }

  for (const [what, source] of [
    ['a sync generator', () => (function* () {
      yield '{"row":1}\n';
      yield '{"row":2}\n';
      throw new Error('database went away');
    })()],
    ['an async generator whose awaits are all microtasks', () => (async function* () {
      yield '{"row":1}\n';
      await Promise.resolve();
      yield '{"row":2}\n';
      await null;
      throw new Error('database went away');
    })()],
  ] as const) {
    it(`${what} that yields then throws in one loop turn: the rows and errorRecord, truncated; one status counted`, async () => {
      const events: string[] = [];
      await withApp((app) => {
        app.get(ALIVE_PATH, () => ALIVE_BODY);
        app.get('/metrics', metrics());
        app.get('/turn', () => new StreamingResponse(source(), {
          contentType: 'application/x-ndjson',
          errorRecord: (err) => JSON.stringify({ error: (err as Error).message }) + '\n',
          onError: () => events.push('error'),
          onClose: (r) => events.push(`close:${r}`),
        }));
      }, async ({ port, logged }) => {
        const client = await RawClient.connect(port);
        try {
          await client.send(requestBytes({ path: '/turn' }));
          await client.waitForClose(5000);
          const text = client.buffer.toString('latin1');
          expect(text.match(/HTTP\/1\.1 /g), text).to.have.length(1);
          expect(text.startsWith('HTTP/1.1 200 OK\r\n'), text).to.equal(true);
          const decoded = decodeChunked(client.buffer.subarray(headEnd(client.buffer)));
          expect(decoded.terminated, 'the body is truncated (no last chunk)').to.equal(false);
          expect(decoded.body.toString()).to.equal('{"row":1}\n{"row":2}\n{"error":"database went away"}\n');
        } finally {
          client.destroy();
        }
        expect(events).to.deep.equal(['error', 'close:error']);
        expect(logged.map(String).join('\n')).to.contain('database went away');
        const counts = await statusCounts(port, '/turn');
        expect(counts.route, 'responses of /turn by status').to.deep.equal({ 200: 1 });
        expect(counts.classes, '2xx and 5xx answers counted by the core (before this scrape)').to.deep.equal([1, 0]);
        await expectStillServing(port);
      });
    });
  }

  it('a sync Content-Length under-run: the declared head and the bytes produced, then a close; one status counted', async () => {
    await withApp((app) => {
      app.get('/metrics', metrics());
      app.get('/short', () => new StreamingResponse(['0123456789'], { contentLength: 100 }));
    }, async ({ port, logged }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send(requestBytes({ path: '/short' }));
        await client.waitForClose(5000);
        const text = client.buffer.toString('latin1');
        expect(text.match(/HTTP\/1\.1 /g), text).to.have.length(1);
        expect(text).to.match(/^HTTP\/1\.1 200 OK\r\n/);
        expect(text).to.match(/\r\nContent-Length: 100\r\n/i);
        expect(client.buffer.subarray(headEnd(client.buffer)).toString()).to.equal('0123456789');
      } finally {
        client.destroy();
      }
      expect(logged.map(String).join('\n')).to.contain('Content-Length');
      const counts = await statusCounts(port, '/short');
      expect(counts.route).to.deep.equal({ 200: 1 });
      expect(counts.classes).to.deep.equal([1, 0]);
    });
  });

  it('an error before the first chunk answers 500 (or the HttpError status) on a keep-alive connection', async () => {
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/early', () => new StreamingResponse((async function* () {
        await sleep(5);
        throw new Error('no rows for you');
      })()));
      app.get('/missing', () => new StreamingResponse(function* () {
        throw new HttpError(404, 'no such report');
      }()));
    }, async ({ port, logged, app }) => {
      const r = await fetchRaw(port, { path: '/early' });
      expect(r.statusLine).to.equal('HTTP/1.1 500 Internal Server Error');
      expect(r.text()).to.equal('Internal Server Error');
      expect(r.get('content-length')).to.equal('21');
      expect(logged.map(String).join('\n')).to.contain('no rows for you');
      const m = await fetchRaw(port, { path: '/missing' });
      expect(m.status).to.equal(404);
      expect(m.text()).to.equal('no such report');
      expect(app.stats().streamsStarted).to.equal(0);
      await expectStillServing(port);
    });
  });

  it('res.stats never goes backwards for a poller when the client leaves (no zeros before the final snapshot)', async () => {
    let res: StreamingResponse | null = null;
    const closed = deferred<void>();
    await withApp((app) => {
      app.get('/big', () => (res = new StreamingResponse(function* () {
        for (let i = 0; i < 100_000; i++) yield Buffer.alloc(65536, 97);
      }(), { onClose: () => closed.resolve() })));
    }, async ({ port }) => {
      const client = await RawClient.connect(port);
      const seen: number[] = [];
      // polls that saw a final state while closeReason was still null (the second symptom)
      const finalWithoutReason: string[] = [];
      try {
        await client.send(requestBytes({ path: '/big' }));
        await client.waitForBytes(1 << 20);
        // poll every check phase from before the reset until the close is reported (bounded)
        let polling = true;
        const poll = async () => {
          for (let i = 0; i < 20_000 && polling; i++) {
            const stats = res!.stats;
            seen.push(stats.bytes);
            if (stats.state >= StreamState.Finished && res!.closeReason === null) finalWithoutReason.push(`poll ${i}: state ${stats.state}`);
            await new Promise((r) => setImmediate(r));
          }
        };
        const poller = poll();
        await new Promise((r) => setImmediate(r));
        client.socket.resetAndDestroy();
        await within(closed.promise, 5000, 'onClose');
        for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
        polling = false;
        await poller;
      } finally {
        client.destroy();
      }
      expect(seen.length).to.be.greaterThan(3);
      const firstPositive = seen.findIndex((b) => b > 0);
      expect(firstPositive).to.be.at.least(0);
      for (let i = firstPositive + 1; i < seen.length; i++) {
        expect(seen[i], `poll ${i} of ${seen.length}: ${seen.slice(Math.max(0, i - 3), i + 2).join(' -> ')}`).to.be.at.least(seen[i - 1]!);
      }
      expect(res!.stats.bytes).to.equal(seen.at(-1));
      expect(finalWithoutReason, 'a final state is read only with its close reason').to.deep.equal([]);
      expect(res!.closeReason).to.equal('client-closed');
    });
  });

  it('a reader that stalls past stallTimeout: onClose(timeout), the generator cancelled', async () => {
    const closed = deferred<CloseReason>();
    const finallyRan = deferred<void>();
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/forever', () => new StreamingResponse(function* () {
        try {
          for (;;) yield Buffer.alloc(16384, 120);
        } finally {
          finallyRan.resolve();
        }
      }(), { stallTimeout: 200, onClose: (r) => closed.resolve(r) }));
    }, async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        client.socket.pause(); // never read
        await client.send(requestBytes({ path: '/forever' }));
        expect(await within(closed.promise, 10000, 'onClose')).to.equal('timeout');
        await within(finallyRan.promise, 5000, "the generator's finally");
      } finally {
        client.destroy();
      }
      await expectStillServing(port);
    });
  });
});
