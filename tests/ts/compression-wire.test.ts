/**
 * compress() middleware on the wire: what is compressed and what is not, Vary, levels,
 * streaming bodies, record-aware flushing (each compressed SSE event reaches the
 * client before the next is produced), counters, and encoder release on disconnect.
 */
import zlib from 'node:zlib';
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compress, fileRegion, HttpResponse, ndjson, sse, StreamingResponse, streamCompression } from '../../ts/index.js';
import { deferred, fetchRaw, RawClient, requestBytes } from '../helpers/raw-client.js';
import { connectSSE } from '../helpers/sse-client.js';
import { withApp } from '../helpers/with-app.js';

const BIG = 'catzilla streams text. '.repeat(400); // ~9 KiB, very compressible
const decode = (coding: string | undefined, body: Buffer): Buffer =>
  coding === 'gzip' ? zlib.gunzipSync(body) : coding === 'deflate' ? zlib.inflateSync(body) : coding === 'br' ? zlib.brotliDecompressSync(body) : body;

describe('compression: compress() middleware', () => {
  let mw: ReturnType<typeof compress>;
  const setup = (app: any) => {
    mw = compress({ threshold: 1024 });
    app.use(mw);
    app.get('/big', () => BIG);
    app.get('/small', () => 'tiny body');
    app.get('/json', () => ({ items: Array.from({ length: 200 }, (_, i) => ({ i, name: `item-${i}` })) }));
    app.get('/png', () => new HttpResponse(Buffer.alloc(5000, 1), { headers: { 'Content-Type': 'image/png' } }));
    app.get('/encoded', () => new HttpResponse(zlib.gzipSync(BIG), { headers: { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip' } }));
    app.get('/range', () => new HttpResponse(BIG.slice(0, 2000), { status: 206, headers: { 'Content-Range': `bytes 0-1999/${BIG.length}` } }));
    app.get('/nocontent', () => new HttpResponse(null, { status: 204 }));
    app.get('/notmodified', () => new HttpResponse(null, { status: 304, headers: { ETag: '"x"' } }));
    app.get('/vary', () => new HttpResponse(BIG, { headers: { Vary: 'Origin', ETag: '"v1"' } }));
    app.get('/rows', () => ndjson((function* () { for (let i = 0; i < 50_000; i++) yield { i, name: `user-${i}` }; })()));
    app.get('/sized', () => new StreamingResponse([BIG], { contentType: 'text/plain', contentLength: Buffer.byteLength(BIG) }));
  };

  it('reads file regions of a compressed stream into the compressor (sendfile cannot apply): header + file + footer', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-cz-')), 'part.txt');
    fs.writeFileSync(file, BIG);
    try {
      await withApp((app: any) => {
        app.use(compress({ threshold: 0 }));
        app.get('/mixed', () => new StreamingResponse((function* () {
          yield 'HEADER\n';
          yield fileRegion(file, { offset: 10, length: 5000 });
          yield 'FOOTER\n';
        })(), { contentType: 'text/plain' }));
      }, async ({ port }) => {
        const r = await fetchRaw(port, { path: '/mixed', headers: { 'Accept-Encoding': 'gzip' } });
        expect(r.get('content-encoding')).to.equal('gzip');
        expect(zlib.gunzipSync(r.body).toString()).to.equal('HEADER\n' + BIG.slice(10, 5010) + 'FOOTER\n');
      });
    } finally {
      fs.rmSync(path.dirname(file), { recursive: true, force: true });
    }
  });

  for (const coding of ['gzip', 'deflate', 'br']) {
    it(`compresses a whole body with ${coding} and adds Vary: Accept-Encoding`, async () => {
      await withApp(setup, async ({ port }) => {
        const r = await fetchRaw(port, { path: '/big', headers: { 'Accept-Encoding': coding } });
        expect(r.get('content-encoding')).to.equal(coding);
        expect(r.get('vary')).to.equal('Accept-Encoding');
        expect(Number(r.get('content-length'))).to.equal(r.body.length);
        expect(r.body.length).to.be.lessThan(BIG.length / 10);
        expect(decode(coding, r.body).toString()).to.equal(BIG);
      });
    });
  }

  it('leaves small bodies, images, encoded bodies, ranges, 204, 304 and HEAD uncompressed', async () => {
    await withApp(setup, async ({ port }) => {
      const ae = { 'Accept-Encoding': 'gzip, br' };
      const small = await fetchRaw(port, { path: '/small', headers: ae });
      expect(small.get('content-encoding')).to.equal(undefined);
      expect(small.get('vary')).to.equal('Accept-Encoding'); // the type is compressible: caches must still know
      expect(small.text()).to.equal('tiny body');
      const png = await fetchRaw(port, { path: '/png', headers: ae });
      expect(png.get('content-encoding')).to.equal(undefined);
      expect(png.get('vary')).to.equal(undefined);
      const encoded = await fetchRaw(port, { path: '/encoded', headers: { 'Accept-Encoding': 'br' } });
      expect(encoded.get('content-encoding')).to.equal('gzip');
      expect(zlib.gunzipSync(encoded.body).toString()).to.equal(BIG);
      const range = await fetchRaw(port, { path: '/range', headers: ae });
      expect(range.status).to.equal(206);
      expect(range.get('content-encoding')).to.equal(undefined);
      expect(range.body.length).to.equal(2000);
      expect((await fetchRaw(port, { path: '/nocontent', headers: ae })).get('content-encoding')).to.equal(undefined);
      expect((await fetchRaw(port, { path: '/notmodified', headers: ae })).get('content-encoding')).to.equal(undefined);
      const head = await fetchRaw(port, { method: 'HEAD', path: '/big', headers: ae });
      expect(head.get('content-encoding')).to.equal(undefined);
      expect(head.get('vary')).to.equal('Accept-Encoding');
      const none = await fetchRaw(port, { path: '/big' });
      expect(none.get('content-encoding')).to.equal(undefined);
      expect(none.text()).to.equal(BIG);
      const stats = mw.stats();
      expect(stats.skipped).to.deep.include({ small: 1, type: 1, encoded: 1, range: 1, status: 2, head: 1, identity: 1 });
    });
  });

  it('appends to an existing Vary and weakens a strong ETag', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/vary', headers: { 'Accept-Encoding': 'gzip' } });
      expect(r.get('vary')).to.equal('Origin, Accept-Encoding');
      expect(r.get('etag')).to.equal('W/"v1"');
    });
  });

  it('uses the configured levels', async () => {
    const sizes: number[] = [];
    for (const level of [0, 9]) {
      await withApp((app) => {
        app.use(compress({ gzip: { level } }));
        app.get('/json', () => ({ items: Array.from({ length: 2000 }, (_, i) => ({ i, name: `item-${i}`, v: (i * 7919) % 1000 })) }));
      }, async ({ port }) => {
        const r = await fetchRaw(port, { path: '/json', headers: { 'Accept-Encoding': 'gzip' } });
        sizes.push(r.body.length);
        JSON.parse(zlib.gunzipSync(r.body).toString());
      });
    }
    expect(sizes[0]).to.be.greaterThan(20_000); // level 0: stored, not compressed
    expect(sizes[1]).to.be.lessThan(sizes[0]! / 3);
    expect(() => compress({ gzip: { level: 12 } })).to.throw(TypeError, /level/);
    expect(() => compress({ br: { quality: -1 } })).to.throw(TypeError, /quality/);
  });

  it('compresses a streaming body (50,000 NDJSON rows) and counts bytes in and out', async () => {
    await withApp(setup, async ({ port }) => {
      for (const coding of ['gzip', 'deflate', 'br']) {
        const r = await fetchRaw(port, { path: '/rows', headers: { 'Accept-Encoding': coding } });
        expect(r.get('content-encoding')).to.equal(coding);
        expect(r.chunked).to.equal(true);
        const lines = decode(coding, r.body).toString().trimEnd().split('\n');
        expect(lines).to.have.length(50_000);
        expect(JSON.parse(lines[49_999]!)).to.deep.equal({ i: 49_999, name: 'user-49999' });
      }
      const stats = mw.stats();
      expect(stats.streams).to.equal(3);
      expect(stats.activeStreams).to.equal(0);
      expect(stats.bytesIn).to.be.greaterThan(stats.bytesOut * 3);
      expect(stats.byEncoding.gzip.responses).to.equal(1);
      expect(stats.byEncoding.br.bytesIn).to.be.greaterThan(0);
    });
  });

  it('leaves a stream with a declared Content-Length uncompressed', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/sized', headers: { 'Accept-Encoding': 'gzip' } });
      expect(r.get('content-encoding')).to.equal(undefined);
      expect(r.text()).to.equal(BIG);
    });
  });

  for (const coding of ['gzip', 'deflate', 'br']) {
    it(`compressed SSE (${coding}): each event reaches the client before the next is produced`, async () => {
      const acks = Array.from({ length: 6 }, () => deferred());
      let res: StreamingResponse | null = null;
      await withApp((app) => {
        app.use(compress());
        app.get('/events', (req) => {
          res = sse(req, async (stream) => {
            for (let i = 0; i < 6; i++) {
              await stream.send({ id: i, event: 'n', data: `event number ${i} `.repeat(20) });
              await acks[i]!.promise; // produced only after the client saw the previous one
            }
          }, { heartbeat: 0 });
          return res;
        });
      }, async ({ base }) => {
        const conn = await connectSSE(`${base}/events`, { 'Accept-Encoding': coding });
        expect(conn.headers['content-encoding']).to.equal(coding);
        expect(conn.headers['vary']).to.equal('Accept-Encoding');
        for (let i = 0; i < 6; i++) {
          const events = await conn.waitEvents(i + 1);
          expect(events[i]!.data).to.equal(`event number ${i} `.repeat(20));
          acks[i]!.resolve();
        }
        await conn.waitEnd();
        const own = streamCompression(res!)!;
        expect(own.encoding).to.equal(coding);
        expect(own.flushes).to.be.at.least(6);
        expect(own.bytesIn).to.be.greaterThan(own.bytesOut);
        expect(own.active).to.equal(false);
      });
    });
  }

  it('frees the encoder when the client of a compressed stream goes away', async () => {
    const started = deferred();
    await withApp((app) => {
      mw = compress();
      app.use(mw);
      app.get('/forever', (req) => sse(req, async (stream) => {
        started.resolve();
        await new Promise<void>((resolve) => stream.signal.addEventListener('abort', () => resolve()));
      }, { heartbeat: 0 }));
    }, async ({ port }) => {
      const client = await RawClient.connect(port);
      await client.send(requestBytes({ path: '/forever', headers: { 'Accept-Encoding': 'gzip' } }));
      await started.promise;
      await client.until(() => client.buffer.includes('\r\n\r\n'), 'the headers');
      for (let i = 0; i < 1000 && mw.stats().activeStreams === 0; i++) await new Promise((r) => setTimeout(r, 1));
      expect(mw.stats().activeStreams).to.equal(1);
      expect(mw.stats().activeStreamMemory).to.be.greaterThan(0);
      client.destroy();
      for (let i = 0; i < 5000 && mw.stats().activeStreams > 0; i++) await new Promise((r) => setTimeout(r, 1));
      expect(mw.stats().activeStreams).to.equal(0);
      expect(mw.stats().activeStreamMemory).to.equal(0);
    });
  });
});
