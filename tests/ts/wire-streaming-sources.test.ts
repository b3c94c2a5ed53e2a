/**
 * Every source kind over a real socket: the writer form with `await using`, a WHATWG
 * ReadableStream and a Node Readable (each cancelled when the client leaves), a Response
 * with a live body, and middleware observing a stream.
 */
import { expect } from 'chai';
import { Readable } from 'node:stream';
import { StreamingResponse, stream, type CloseReason } from '../../ts/index.js';
import { ALIVE_BODY, ALIVE_PATH, expectStillServing } from '../helpers/assertions.js';
import { decodeChunked, headEnd } from '../helpers/chunked.js';
import { RawClient, deferred, fetchRaw, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { withApp } from '../helpers/with-app.js';

describe('wire: streaming sources', () => {
  it('writer form with await using: closes at scope exit; a throwing scope truncates the body', async () => {
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/ndjson', () => stream(async (writer) => {
        await using w = writer;
        for (let i = 0; i < 3; i++) await w.writeLine(JSON.stringify({ i }));
      }, { contentType: 'application/x-ndjson' }));
      app.get('/fails', () => stream(async (writer) => {
        await using w = writer;
        await w.writeLine('{"i":0}');
        w.flush();
        await sleep(10);
        throw new Error('scope failed');
      }));
    }, async ({ port }) => {
      const ok = await fetchRaw(port, { path: '/ndjson' });
      expect(ok.chunked).to.equal(true);
      expect(ok.get('content-type')).to.equal('application/x-ndjson');
      expect(ok.text()).to.equal('{"i":0}\n{"i":1}\n{"i":2}\n');

      const client = await RawClient.connect(port);
      try {
        await client.send(requestBytes({ path: '/fails' }));
        await client.waitForClose();
        const decoded = decodeChunked(client.buffer.subarray(headEnd(client.buffer)));
        expect(decoded.terminated).to.equal(false);
        expect(decoded.body.toString()).to.equal('{"i":0}\n');
      } finally {
        client.destroy();
      }
      await expectStillServing(port);
    });
  });

  it('ReadableStream source: streamed, and cancel()ed when the client leaves', async () => {
    const cancelled = deferred<unknown>();
    const closed = deferred<CloseReason>();
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/rs', () => {
        let i = 0;
        return new StreamingResponse(new ReadableStream<string>({
          async pull(controller) {
            await sleep(2);
            controller.enqueue(`event ${i++}\n`);
          },
          cancel(reason) { cancelled.resolve(reason); },
        }), { onClose: (r) => closed.resolve(r) });
      });
    }, async ({ port }) => {
      const client = await RawClient.connect(port);
      await client.send(requestBytes({ path: '/rs' }));
      await client.until(() => client.buffer.includes('event 2\n'), 'three events');
      client.destroy();
      const reason = await within(cancelled.promise, 5000, 'cancel()');
      expect((reason as { code?: string }).code).to.equal('ECLIENTCLOSED');
      expect(await within(closed.promise, 5000, 'onClose')).to.equal('client-closed');
      await expectStillServing(port);
    });
  });

  it('Node Readable source: streamed whole, and destroy()ed when the client leaves', async () => {
    const destroyed = deferred<void>();
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/finite', () => Readable.from(['a', 'b', 'c'].map((s) => Buffer.from(s.repeat(1000)))));
      app.get('/endless', () => {
        let n = 0;
        const r = new Readable({
          read() { setTimeout(() => this.push(Buffer.from(`line ${n++}\n`)), 2); },
          destroy(err, cb) { destroyed.resolve(); cb(err); },
        });
        return new StreamingResponse(r);
      });
    }, async ({ port }) => {
      const whole = await fetchRaw(port, { path: '/finite' });
      expect(whole.text()).to.equal('a'.repeat(1000) + 'b'.repeat(1000) + 'c'.repeat(1000));
      const client = await RawClient.connect(port);
      await client.send(requestBytes({ path: '/endless' }));
      await client.until(() => client.buffer.includes('line 2\n'), 'three lines');
      client.destroy();
      await within(destroyed.promise, 5000, 'destroy()');
      await expectStillServing(port);
    });
  });

  it('a WHATWG Response with a live body streams its first chunk before the body ends', async () => {
    let push!: (s: string | null) => void;
    await withApp((app) => {
      app.get('/sse', () => new Response(new ReadableStream<Uint8Array>({
        start(c) {
          const enc = new TextEncoder();
          c.enqueue(enc.encode(': hello\n\n'));
          push = (s) => (s === null ? c.close() : c.enqueue(enc.encode(s)));
        },
      }), { headers: { 'Content-Type': 'text/event-stream' } }));
    }, async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send(requestBytes({ path: '/sse' }));
        await client.until(() => client.buffer.includes(': hello\n\n'), 'the first event before the body ends');
        push('data: 1\n\n');
        push(null);
        const r = await client.readResponse();
        expect(r.chunked).to.equal(true);
        expect(r.get('content-type')).to.equal('text/event-stream');
        expect(r.text()).to.equal(': hello\n\ndata: 1\n\n');
      } finally {
        client.destroy();
      }
    });
  });

  it('middleware sees the stream: counts bytes, rewrites chunks, sees completion with its reason', async () => {
    const seen = deferred<string>();
    await withApp((app) => {
      app.use(async (_req, next) => {
        const res = await next();
        if (res instanceof StreamingResponse) {
          let bytes = 0;
          res.mapChunks((c) => { bytes += Buffer.byteLength(c as string); return c; });
          res.onClose((reason, stats) => seen.resolve(`${reason} counted=${bytes} native=${stats.bytes}`));
        }
        return res;
      });
      app.use(async (_req, next) => {
        const res = await next();
        if (res instanceof StreamingResponse) res.mapChunks((c) => String(c).toUpperCase());
        return res;
      });
      app.get('/words', () => (async function* () { yield 'abc'; yield 'def'; })());
    }, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/words' });
      expect(r.text()).to.equal('ABCDEF');
      expect(await within(seen.promise, 5000, 'onClose')).to.equal('finished counted=6 native=6');
    });
  });
});
