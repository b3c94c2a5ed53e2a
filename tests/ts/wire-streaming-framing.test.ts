/**
 * Streaming framing on the wire, checked byte by byte: chunked (exact chunk sizes and
 * terminator), HTTP/1.0 close-delimited, HEAD (headers only), Content-Length declared,
 * and Content-Length over-run / under-run (connection closed, body truncated).
 */
import { expect } from 'chai';
import { StreamingResponse, stream, type CloseReason } from '../../ts/index.js';
import { ALIVE_BODY, ALIVE_PATH, expectStillServing } from '../helpers/assertions.js';
import { decodeChunked, headEnd } from '../helpers/chunked.js';
import { RawClient, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { withApp } from '../helpers/with-app.js';
import type { App } from '../../ts/index.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function routes(app: App, closes: CloseReason[] = []): void {
  app.get(ALIVE_PATH, () => ALIVE_BODY);
  app.get('/words', () => new StreamingResponse(function* () { yield 'hello'; yield ' '; yield 'world'; }(), { contentType: 'text/plain' }));
  // One write per flush, a timer apart: one chunk each on the wire.
  app.get('/paced', () => stream(async (w) => {
    for (const part of ['hello', ' ', 'x'.repeat(20000), 'end\n']) {
      await w.write(part);
      w.flush();
      await pause(15);
    }
  }, { contentType: 'text/plain' }));
  app.get('/length', () => new StreamingResponse(['12345', '67890'], { contentLength: 10, contentType: 'text/plain', onClose: (r) => closes.push(r) }));
  app.get('/over', () => new StreamingResponse((async function* () { yield '123456'; await pause(20); yield '789012'; })(), { contentLength: 10, onClose: (r) => closes.push(r) }));
  app.get('/under', () => new StreamingResponse((async function* () { yield '123456'; await pause(20); })(), { contentLength: 10, onClose: (r) => closes.push(r) }));
}

describe('wire: streaming framing', () => {
  it('chunked: exact chunk sizes, the terminator, nothing after it, keep-alive', async () => {
    await withApp((app) => routes(app), async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send(requestBytes({ path: '/paced' }));
        await client.until(() => client.buffer.includes('0\r\n\r\n'), 'the terminator', 10000);
        const buf = client.buffer;
        const start = headEnd(buf);
        const head = buf.toString('latin1', 0, start);
        expect(head).to.match(/^HTTP\/1\.1 200 OK\r\n/);
        expect(head).to.contain('\r\nTransfer-Encoding: chunked\r\n');
        expect(head.toLowerCase()).not.to.contain('content-length');
        const decoded = decodeChunked(buf.subarray(start));
        expect(decoded.sizes).to.deep.equal([5, 1, 20000, 4]);
        expect(decoded.terminated).to.equal(true);
        expect(decoded.trailing.length).to.equal(0);
        expect(decoded.body.toString()).to.equal('hello ' + 'x'.repeat(20000) + 'end\n');
        // The exact bytes of the first two chunks and the end.
        expect(buf.toString('latin1', start, start + 13)).to.equal('5\r\nhello\r\n1\r\n');
        expect(buf.toString('latin1', buf.length - 14)).to.equal('4\r\nend\n\r\n0\r\n\r\n');
        // The connection is still usable.
        const before = client.buffer.length;
        await client.send(requestBytes({ path: ALIVE_PATH }));
        await client.until(() => client.buffer.toString('latin1', before).endsWith(ALIVE_BODY), 'the next response');
      } finally {
        client.destroy();
      }
    });
  });

  it('HTTP/1.0: close-delimited body, exact bytes, connection closed', async () => {
    await withApp((app) => routes(app), async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send('GET /words HTTP/1.0\r\n\r\n');
        await client.waitForClose();
        const text = client.buffer.toString('latin1');
        const date = /\r\nDate: ([^\r]+)\r\n/.exec(text)?.[1];
        expect(text).to.equal(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: ${date}\r\nConnection: close\r\n\r\nhello world`);
      } finally {
        client.destroy();
      }
    });
  });

  it('HEAD: the same headers as GET, no body byte, the connection stays usable', async () => {
    let yields = 0;
    await withApp((app) => {
      routes(app);
      app.get('/counted', () => new StreamingResponse(function* () { yields++; yield 'body'; }(), { contentType: 'text/plain' }));
    }, async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send(requestBytes({ method: 'HEAD', path: '/counted' }));
        await client.until(() => headEnd(client.buffer) > 0, 'the head');
        await sleep(50);
        const text = client.buffer.toString('latin1');
        const date = /\r\nDate: ([^\r]+)\r\n/.exec(text)?.[1];
        expect(text).to.equal(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: ${date}\r\nTransfer-Encoding: chunked\r\n\r\n`);
        expect(yields).to.equal(0);
        await client.send(requestBytes({ path: ALIVE_PATH }));
        await client.until(() => client.buffer.toString('latin1').endsWith(ALIVE_BODY), 'the next response');
      } finally {
        client.destroy();
      }
    });
  });

  it('Content-Length declared: exact bytes, no chunked framing', async () => {
    await withApp((app) => routes(app), async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send(requestBytes({ path: '/length' }));
        await client.until(() => client.buffer.toString('latin1').endsWith('1234567890'), 'the body');
        const text = client.buffer.toString('latin1');
        const date = /\r\nDate: ([^\r]+)\r\n/.exec(text)?.[1];
        expect(text).to.equal(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nDate: ${date}\r\nContent-Length: 10\r\n\r\n1234567890`);
      } finally {
        client.destroy();
      }
    });
  });

  for (const path of ['/over', '/under']) {
    it(`Content-Length ${path.slice(1)}-run: the body is truncated, the connection closed, onClose(error)`, async () => {
      const closes: CloseReason[] = [];
      await withApp((app) => routes(app, closes), async ({ port, logged }) => {
        const client = await RawClient.connect(port);
        try {
          await client.send(requestBytes({ path }));
          await client.waitForClose();
          const buf = client.buffer;
          const start = headEnd(buf);
          expect(buf.toString('latin1', 0, start)).to.contain('\r\nContent-Length: 10\r\n');
          expect(buf.toString('latin1', start)).to.equal('123456');
          await within((async () => { while (closes.length === 0) await sleep(5); })(), 5000, 'onClose');
          expect(closes).to.deep.equal(['error']);
          expect(logged.map(String).join('\n')).to.match(/ELENGTH|Content-Length/);
          await expectStillServing(port);
        } finally {
          client.destroy();
        }
      });
    });
  }
});
