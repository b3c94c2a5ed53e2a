/**
 * Request bodies: Content-Length, chunked, async iteration with flow control, json().
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import { RawClient, exchange, requestBytes, sleep } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, expectStatus } from '../helpers/assertions.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const setup = (app: any) => {
  app.get(ALIVE_PATH, () => ALIVE_BODY);
  app.post('/echo', async (req: any) => req.buffer());
  app.post('/echo-text', async (req: any) => `text:${await req.text()}`);
  app.post('/iterate', async (req: any) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of req) {
      if (!Buffer.isBuffer(chunk)) throw new Error('chunk is not a Buffer');
      hash.update(chunk);
      bytes += chunk.length;
      chunks++;
    }
    return { bytes, chunks, sha256: hash.digest('hex') };
  });
  app.post('/slow-consumer', async (req: any) => {
    const hash = createHash('sha256');
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of req) {
      hash.update(chunk);
      bytes += chunk.length;
      // Consume slowly: the core must pause reading instead of buffering without bound.
      if (chunks++ % 4 === 0) await sleep(2);
    }
    return { bytes, sha256: hash.digest('hex') };
  });
  app.post('/json', async (req: any) => ({ got: await req.json() }));
  app.post('/twice', async (req: any) => {
    await req.text();
    try {
      await req.text();
      return 'second read allowed';
    } catch {
      return 'second read threw';
    }
  });
};

describe('wire: request bodies', () => {
  it('a Content-Length body is received byte for byte', async () => {
    await withApp(setup, async ({ port }) => {
      const body = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 256));
      const { client, responses } = await exchange(port, requestBytes({ method: 'POST', path: '/echo', body }), 1);
      client.destroy();
      const r = responses[0]!;
      expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(r.get('content-length')).to.equal('1000');
      expect(r.body.equals(body)).to.equal(true);
    });
  });

  it('an empty Content-Length: 0 body reads as ""', async () => {
    await withApp(setup, async ({ port }) => {
      const { client, responses } = await exchange(port, requestBytes({ method: 'POST', path: '/echo-text', headers: [['Content-Length', '0']] }), 1);
      client.destroy();
      expect(responses[0]!.text()).to.equal('text:');
    });
  });

  it('a chunked body is de-chunked (hex sizes in both cases, extensions, trailers)', async () => {
    await withApp(setup, async ({ port }) => {
      const head = 'POST /echo-text HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';
      const body = '5\r\nhello\r\n1;ext=val\r\n \r\na\r\n0123456789\r\nA\r\nABCDEFGHIJ\r\n0\r\nX-Trailer: t\r\n\r\n';
      const { client, responses } = await exchange(port, head + body, 1);
      client.destroy();
      expect(responses[0]!.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(responses[0]!.text()).to.equal('text:hello 0123456789ABCDEFGHIJ');
    });
  });

  it('a chunked body sent in pieces, then a second request on the same connection', async () => {
    await withApp(setup, async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send('POST /echo-text HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (const piece of ['3\r\nab', 'c\r\n', '4\r', '\ndefg\r\n', '0\r\n', '\r\n']) {
          await client.send(piece);
          await sleep(5);
        }
        const r = await client.readResponse();
        expect(r.text()).to.equal('text:abcdefg');
        await client.send(requestBytes({ path: ALIVE_PATH }));
        expect((await client.readResponse()).text()).to.equal(ALIVE_BODY);
      } finally {
        client.destroy();
      }
    });
  });

  it('the body can be read with for await: Buffers, exact byte count and hash', async () => {
    await withApp(setup, async ({ port }) => {
      const body = Buffer.alloc(200_000);
      for (let i = 0; i < body.length; i++) body[i] = (i * 31 + 7) % 251;
      const client = await RawClient.connect(port);
      try {
        await client.send(requestBytes({ method: 'POST', path: '/iterate', headers: [['Content-Length', String(body.length)]] }));
        for (let off = 0; off < body.length; off += 50_000) {
          await client.send(body.subarray(off, off + 50_000));
          await sleep(10);
        }
        const r = await client.readResponse();
        expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
        const got = JSON.parse(r.text());
        expect(got.bytes).to.equal(body.length);
        expect(got.sha256).to.equal(sha256(body));
        expect(got.chunks).to.be.at.least(1);
      } finally {
        client.destroy();
      }
    });
  });

  it('a 5 MiB body consumed slowly through for await completes with the exact bytes (flow control)', async () => {
    const size = 5 * 1024 * 1024;
    const body = Buffer.alloc(size);
    for (let i = 0; i < size; i += 4096) body.writeUInt32BE(i, i);
    await withApp(
      setup,
      async ({ port }) => {
        const client = await RawClient.connect(port);
        try {
          await client.send(requestBytes({ method: 'POST', path: '/slow-consumer', headers: [['Content-Length', String(size)]] }));
          // Write respecting the socket's own backpressure.
          for (let off = 0; off < size; off += 256 * 1024) await client.send(body.subarray(off, off + 256 * 1024));
          const r = await client.readResponse({ timeoutMs: 15_000 });
          expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
          expect(JSON.parse(r.text())).to.deep.equal({ bytes: size, sha256: sha256(body) });
        } finally {
          client.destroy();
        }
      },
      { maxBodySize: 8 * 1024 * 1024 },
    );
  });

  it('a body that ends while the core is paused still ends (head + 1 MiB in one write, handler reads late)', async () => {
    // The whole body is in the server's hands before the handler reads: the core pauses
    // on the last body bytes and must still deliver the end of the body after resuming.
    const size = 1024 * 1024;
    const body = Buffer.alloc(size, 0x37);
    await withApp(
      (app: any) => {
        app.post('/late-reader', async (req: any) => {
          await sleep(100);
          let bytes = 0;
          for await (const chunk of req) {
            bytes += chunk.length;
            await sleep(2);
          }
          return String(bytes);
        });
      },
      async ({ port }) => {
        for (let attempt = 0; attempt < 3; attempt++) {
          const client = await RawClient.connect(port);
          try {
            await client.send(Buffer.concat([requestBytes({ method: 'POST', path: '/late-reader', headers: [['Content-Length', String(size)]] }), body]));
            const r = await client.readResponse({ timeoutMs: 8000 });
            expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
            expect(r.text()).to.equal(String(size));
          } finally {
            client.destroy();
          }
        }
      },
      { maxBodySize: 8 * 1024 * 1024 } as any,
    );
  });

  it('json() parses a JSON body', async () => {
    await withApp(setup, async ({ port }) => {
      const { client, responses } = await exchange(
        port,
        requestBytes({ method: 'POST', path: '/json', headers: [['Content-Type', 'application/json']], body: '{"a":[1,2,{"b":"é"}]}' }),
        1,
      );
      client.destroy();
      expect(JSON.parse(responses[0]!.text())).to.deep.equal({ got: { a: [1, 2, { b: 'é' }] } });
    });
  });

  it('json() with invalid JSON -> 400 Bad Request, and the connection stays usable', async () => {
    await withApp(setup, async ({ port, logged }) => {
      const bytes = Buffer.concat([
        requestBytes({ method: 'POST', path: '/json', headers: [['Content-Type', 'application/json']], body: '{"a": nope' }),
        requestBytes({ path: ALIVE_PATH }),
      ]);
      const { client, responses } = await exchange(port, bytes, 2);
      client.destroy();
      expectStatus(responses[0]!, 400, 'Bad Request');
      expect(responses[1]!.text()).to.equal(ALIVE_BODY);
      expect(logged, 'a 400 from bad JSON is not logged as a server error').to.have.length(0);
    });
  });

  it('reading the body twice throws', async () => {
    await withApp(setup, async ({ port }) => {
      const { client, responses } = await exchange(port, requestBytes({ method: 'POST', path: '/twice', body: 'x' }), 1);
      client.destroy();
      expect(responses[0]!.text()).to.equal('second read threw');
    });
  });

  it('a body the handler never reads does not break the next request on the connection', async () => {
    await withApp(
      (app: any) => {
        setup(app);
        app.post('/ignore', () => 'ignored');
      },
      async ({ port }) => {
        const bytes = Buffer.concat([requestBytes({ method: 'POST', path: '/ignore', body: 'GET /alive HTTP/1.1\r\nHost: x\r\n\r\n' }), requestBytes({ path: '/alive' })]);
        const { client, responses } = await exchange(port, bytes, 2);
        try {
          expect(responses.map((r) => r.text())).to.deep.equal(['ignored', ALIVE_BODY]);
          await sleep(100);
          expect(client.unread().length, 'the body was not parsed as a request').to.equal(0);
        } finally {
          client.destroy();
        }
      },
    );
  });
});
