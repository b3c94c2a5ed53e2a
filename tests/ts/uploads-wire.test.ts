/**
 * Uploads on the wire: req.multipart() delivers parts in order with their metadata and exact
 * bytes, a file part works as a Node stream, an async iterable, a web stream and a response
 * body; a part nobody reads pauses the socket; every limit answers 413 and every malformed body
 * 400 with a message naming it, and the connection is kept when the rest of the body is short,
 * closed when it is long.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import { sendUntilStalled } from '../helpers/send-until-stalled.js';
import { RawClient, deferred, requestBytes, within } from '../helpers/raw-client.js';
import { BOUNDARY, MULTIPART_TYPE, multipartBody, partHead, patterned, type BodyPart } from '../helpers/multipart-body.js';
import { Readable } from 'node:stream';
import { FilePart, StreamingResponse, type Request } from '../../ts/index.js';

const sha = (b: Buffer | Uint8Array) => createHash('sha256').update(b).digest('hex');

function post(path: string, body: Buffer, type = MULTIPART_TYPE, extra: Array<[string, string]> = []): Buffer {
  return requestBytes({ method: 'POST', path, headers: [['Content-Type', type], ...extra], body });
}

/** Reads every part: fields as values, files hashed through the way named in the field "how". */
async function describeParts(req: Request, limits?: object): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const part of req.multipart(limits)) {
    if (part.kind === 'field') {
      out.push({ field: part.name, value: part.value });
      continue;
    }
    const hash = createHash('sha256');
    let size = 0;
    if (part.name === 'web') {
      const reader = part.toWeb().getReader();
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        hash.update(r.value);
        size += r.value.byteLength;
      }
    } else if (part.name === 'node') {
      await new Promise<void>((resolve, reject) => {
        part.stream.on('data', (c: Buffer) => {
          hash.update(c);
          size += c.length;
        });
        part.stream.on('end', resolve).on('error', reject);
      });
    } else {
      for await (const chunk of part) {
        hash.update(chunk);
        size += chunk.length;
      }
    }
    out.push({ file: part.name, filename: part.filename, mimeType: part.mimeType, size, sha256: hash.digest('hex') });
  }
  return out;
}

async function oneExchange(port: number, bytes: Buffer, timeoutMs = 10_000) {
  const client = await RawClient.connect(port);
  try {
    await client.send(bytes);
    return { client, response: await client.readResponse({ timeoutMs }) };
  } catch (err) {
    client.destroy();
    throw err;
  }
}

describe('uploads: req.multipart() on the wire', function () {
  this.timeout(60_000);

  it('delivers fields and files in order, byte-exact, through iteration, a Node stream and a web stream', async () => {
    const a = patterned(3 * 1024 * 1024 + 7, 1);
    const b = patterned(200_001, 2);
    const c = patterned(0, 3);
    const body = multipartBody([
      { name: 'title', value: 'h\u00e9llo \u20ac' },
      { name: 'iter', filename: 'a.bin', type: 'application/x-a', data: a },
      { name: 'node', filename: 'b.txt', type: 'text/plain', data: b },
      { name: 'web', filename: 'empty.dat', data: c },
      { name: 'last', value: '' },
    ]);
    await withApp(
      (app) => {
        app.post('/parts', async (req) => describeParts(req));
      },
      async ({ port }) => {
        const { client, response } = await oneExchange(port, post('/parts', body));
        client.destroy();
        expect(response.status, response.text()).to.equal(200);
        expect(JSON.parse(response.text())).to.deep.equal([
          { field: 'title', value: 'h\u00e9llo \u20ac' },
          { file: 'iter', filename: 'a.bin', mimeType: 'application/x-a', size: a.length, sha256: sha(a) },
          { file: 'node', filename: 'b.txt', mimeType: 'text/plain', size: b.length, sha256: sha(b) },
          { file: 'web', filename: 'empty.dat', mimeType: 'application/octet-stream', size: 0, sha256: sha(c) },
          { field: 'last', value: '' },
        ]);
      },
      { maxBodySize: 16 * 1024 * 1024 },
    );
  });

  it('parses a body sent in 7-byte chunks and with chunked framing the same way', async () => {
    const file = patterned(50_000, 9);
    const body = multipartBody([{ name: 'x', value: '1' }, { name: 'f', filename: 'f.bin', data: file }]);
    await withApp(
      (app) => {
        app.post('/parts', async (req) => describeParts(req));
      },
      async ({ port }) => {
        const client = await RawClient.connect(port);
        try {
          const head = requestBytes({ method: 'POST', path: '/parts', headers: [['Content-Type', MULTIPART_TYPE], ['Transfer-Encoding', 'chunked']] });
          await client.send(head);
          for (let i = 0; i < body.length; i += 7) {
            const piece = body.subarray(i, i + 7);
            await client.send(Buffer.concat([Buffer.from(piece.length.toString(16) + '\r\n'), piece, Buffer.from('\r\n')]));
          }
          await client.send('0\r\n\r\n');
          const r = await client.readResponse({ timeoutMs: 20_000 });
          expect(JSON.parse(r.text())).to.deep.equal([
            { field: 'x', value: '1' },
            { file: 'f', filename: 'f.bin', mimeType: 'application/octet-stream', size: file.length, sha256: sha(file) },
          ]);
        } finally {
          client.destroy();
        }
      },
    );
  });

  it('a file part nobody reads stops the server reading the socket; reading it resumes and every byte arrives', async () => {
    const SIZE = 32 * 1024 * 1024;
    const PIECE = 256 * 1024;
    const file = patterned(SIZE, 5);
    const body = multipartBody([{ name: 'f', filename: 'big.bin', data: file }]);
    const gotPart = deferred();
    const release = deferred();
    await withApp(
      (app) => {
        app.post('/slow', async (req) => {
          for await (const part of req.multipart()) {
            if (part.kind !== 'file') continue;
            gotPart.resolve();
            await release.promise;
            const hash = createHash('sha256');
            let size = 0;
            for await (const chunk of part.stream) {
              hash.update(chunk);
              size += chunk.length;
            }
            return { size, sha256: hash.digest('hex') };
          }
          return 'no file';
        });
      },
      async ({ port, app }) => {
        const client = await RawClient.connect(port);
        try {
          await client.send(requestBytes({ method: 'POST', path: '/slow', headers: [['Content-Type', MULTIPART_TYPE], ['Content-Length', String(body.length)]] }));
          const sent = await sendUntilStalled(client, body, PIECE);
          let off = sent.offset;
          const { stalledAt, pending } = sent;
          await within(gotPart.promise, 5000, 'the file part');
          const readWhileHeld = app.stats().bytesRead;
          expect(stalledAt, 'the client never stalled: the server read the whole unread upload').to.be.greaterThan(0);
          expect(readWhileHeld, `server read ${readWhileHeld} bytes of a ${body.length}-byte upload nobody read`).to.be.below(8 * 1024 * 1024);
          release.resolve();
          await pending;
          for (; off < body.length; off += PIECE) await client.send(body.subarray(off, off + PIECE));
          const r = await client.readResponse({ timeoutMs: 20_000 });
          expect(r.status, r.text()).to.equal(200);
          expect(JSON.parse(r.text())).to.deep.equal({ size: SIZE, sha256: sha(file) });
        } finally {
          release.resolve();
          client.destroy();
        }
      },
      { maxBodySize: 64 * 1024 * 1024 },
    );
  });

  it('a file part streams straight back as the response body (Node stream and web stream)', async () => {
    const file = patterned(1_000_003, 11);
    await withApp(
      (app) => {
        app.post('/echo/:how', async (req) => {
          for await (const part of req.multipart()) {
            if (part.kind === 'file') return new StreamingResponse(req.params.how === 'web' ? part.toWeb() : part.stream, { headers: { 'content-type': part.mimeType } });
          }
          return 'no file';
        });
      },
      async ({ port, logged }) => {
        for (const how of ['node', 'web']) {
          const { client, response } = await oneExchange(port, post(`/echo/${how}`, multipartBody([{ name: 'f', filename: 'x', type: 'image/png', data: file }])));
          client.destroy();
          expect(response.status, String(logged[0]?.[1] ?? logged[0]?.[0])).to.equal(200);
          expect(response.get('content-type')).to.equal('image/png');
          expect(response.body.length).to.equal(file.length);
          expect(sha(response.body)).to.equal(sha(file));
        }
      },
      { maxBodySize: 4 * 1024 * 1024 },
    );
  });

  it('a file part\'s Node stream, iteration and web stream hand over the same Buffers (no copy)', async () => {
    const chunks = [Buffer.from('first chunk'), Buffer.from('second chunk')];
    for (const how of ['iterate', 'web', 'node'] as const) {
      const part = new FilePart('f', 'f.bin', 'application/octet-stream', '7bit', Readable.from(chunks, { objectMode: false }));
      const seen: Uint8Array[] = [];
      if (how === 'iterate') for await (const c of part) seen.push(c);
      else if (how === 'node') for await (const c of part.stream) seen.push(c as Buffer);
      else {
        const reader = part.toWeb().getReader();
        for (let r = await reader.read(); !r.done; r = await reader.read()) seen.push(r.value);
      }
      expect(seen.map((c) => c.buffer === chunks[seen.indexOf(c)]!.buffer && c.byteOffset === chunks[seen.indexOf(c)]!.byteOffset), how).to.deep.equal([true, true]);
    }
  });

  it('skips a file part the handler leaves untouched and goes on to the next part', async () => {
    const body = multipartBody([
      { name: 'skipped', filename: 's.bin', data: patterned(300_000, 1) },
      { name: 'after', value: 'yes' },
      { name: 'read', filename: 'r.bin', data: patterned(1000, 2) },
    ]);
    await withApp(
      (app) => {
        app.post('/skip', async (req) => {
          const seen: string[] = [];
          for await (const part of req.multipart()) {
            if (part.kind === 'field') seen.push(`${part.name}=${part.value}`);
            else if (part.name === 'read') seen.push(`read ${(await Buffer.concat(await part.stream.toArray())).length}`);
            else seen.push(`skip ${part.name}`);
          }
          return seen;
        });
      },
      async ({ port }) => {
        const { client, response } = await oneExchange(port, post('/skip', body));
        client.destroy();
        expect(JSON.parse(response.text())).to.deep.equal(['skip skipped', 'after=yes', 'read 1000']);
      },
    );
  });
});

describe('uploads: delimiter look-alikes inside file content', function () {
  this.timeout(60_000);

  it('content full of delimiter prefixes (also across every 64 KiB edge) arrives byte-exact, and folded headers are accepted', async () => {
    const data = patterned(2 * 1024 * 1024 + 13, 5);
    const lookAlike = Buffer.from(`\r\n--${BOUNDARY}`, 'latin1');
    // Prefixes of the delimiter (never all of it) ending just before, at and after each 64 KiB edge, and elsewhere.
    for (let edge = 65536, k = 1; edge < data.length - 100; edge += 65536, k = (k % (lookAlike.length - 1)) + 1) {
      lookAlike.copy(data, edge - k, 0, k);
      lookAlike.copy(data, edge + 1000, 0, lookAlike.length - 1);
    }
    await withApp(
      (app) => {
        app.post('/parts', async (req) => describeParts(req));
      },
      async ({ port }) => {
        const body = multipartBody([
          { name: 'a', filename: 'a.bin', data },
          { name: 'b', filename: 'b.bin', data: Buffer.from('second'), headers: ['X-Folded: one,', '\ttwo'] },
        ]);
        const { client, response } = await oneExchange(port, post('/parts', body));
        try {
          expect(response.status, response.text()).to.equal(200);
          expect(JSON.parse(response.text())).to.deep.equal([
            { file: 'a', filename: 'a.bin', mimeType: 'application/octet-stream', size: data.length, sha256: sha(data) },
            { file: 'b', filename: 'b.bin', mimeType: 'application/octet-stream', size: 6, sha256: sha(Buffer.from('second')) },
          ]);
        } finally {
          client.destroy();
        }
      },
      { maxBodySize: 8 * 1024 * 1024 },
    );
  });
});

describe('uploads: limits and malformed bodies', function () {
  this.timeout(60_000);

  const LIMITS = { fileSize: 1000, files: 2, fields: 3, fieldSize: 100, parts: 4, headerSize: 300 };
  const file = (n: number, size = 10): BodyPart => ({ name: `f${n}`, filename: `f${n}.bin`, data: patterned(size, n) });
  const field = (n: number, size = 1): BodyPart => ({ name: `k${n}`, value: 'v'.repeat(size) });

  const cases: Array<{ what: string; parts: BodyPart[]; limit: string }> = [
    { what: 'a file larger than fileSize', parts: [file(1, 1001)], limit: 'fileSize' },
    { what: 'more files than files', parts: [file(1), file(2), file(3)], limit: 'files' },
    { what: 'more fields than fields', parts: [field(1), field(2), field(3), field(4)], limit: 'fields' },
    { what: 'a field longer than fieldSize', parts: [field(1, 101)], limit: 'fieldSize' },
    { what: 'more parts than parts', parts: [field(1), field(2), file(1), file(2), field(3)], limit: 'parts' },
    { what: 'a part header longer than headerSize', parts: [{ name: 'h', filename: 'h', data: Buffer.from('x'), headers: [`X-Pad: ${'p'.repeat(300)}`] }], limit: 'headerSize' },
  ];

  for (const c of cases) {
    it(`${c.what}: 413 naming limits.${c.limit}, and the connection serves the next request`, async () => {
      let handlerError: unknown = null;
      await withApp(
        (app) => {
          app.post('/limited', async (req) => {
            try {
              return await describeParts(req, LIMITS);
            } catch (err) {
              handlerError = err;
              throw err;
            }
          });
          app.get('/next', () => 'next');
        },
        async ({ port }) => {
          const { client, response } = await oneExchange(port, post('/limited', multipartBody(c.parts)));
          try {
            expect(response.status, response.text()).to.equal(413);
            expect(response.text()).to.include(`limits.${c.limit} = `);
            expect(response.get('connection')).to.not.equal('close');
            expect((handlerError as { status?: number }).status).to.equal(413);
            await client.send(requestBytes({ path: '/next' }));
            const next = await client.readResponse();
            expect(next.status).to.equal(200);
            expect(next.text()).to.equal('next');
          } finally {
            client.destroy();
          }
        },
      );
    });
  }

  it('a file over its limit early in a long body: 413 with Connection: close, at once, without reading the rest', async () => {
    const SIZE = 64 * 1024 * 1024;
    await withApp(
      (app) => {
        app.post('/limited', async (req) => describeParts(req, { fileSize: 100_000 }));
      },
      async ({ port, app }) => {
        const client = await RawClient.connect(port);
        try {
          const head = partHead({ name: 'f', filename: 'big', data: Buffer.alloc(0) });
          await client.send(requestBytes({ method: 'POST', path: '/limited', headers: [['Content-Type', MULTIPART_TYPE], ['Content-Length', String(SIZE)]] }));
          await client.send(head);
          void client.send(Buffer.alloc(1024 * 1024, 0x61)).catch(() => {});
          const r = await client.readResponse({ timeoutMs: 10_000 });
          expect(r.status).to.equal(413);
          expect(r.get('connection')).to.equal('close');
          expect(r.text()).to.match(/file "big" in field "f" is larger than 100000 bytes \(limits\.fileSize = 100000\)/);
          await client.waitForClose(10_000);
          expect(app.stats().bytesRead).to.be.below(SIZE / 4);
        } finally {
          client.destroy();
        }
      },
      { maxBodySize: 128 * 1024 * 1024 },
    );
  });

  it('a part header over headerSize sent in 5-byte chunks (chunked framing): 413, and Connection: close (the rest\'s length is unknown)', async () => {
    const body = multipartBody([
      { name: 'ok', value: 'fine' },
      { name: 'h', filename: 'h.bin', data: Buffer.from('x'), headers: [`X-Pad: ${'p'.repeat(400)}`] },
    ]);
    await withApp(
      (app) => {
        app.post('/limited', async (req) => describeParts(req, { headerSize: 300 }));
      },
      async ({ port }) => {
        const client = await RawClient.connect(port);
        try {
          await client.send(requestBytes({ method: 'POST', path: '/limited', headers: [['Content-Type', MULTIPART_TYPE], ['Transfer-Encoding', 'chunked']] }));
          for (let i = 0; i < body.length && client.buffer.length === 0; i += 5) {
            const piece = body.subarray(i, i + 5);
            await client.send(Buffer.concat([Buffer.from(piece.length.toString(16) + '\r\n'), piece, Buffer.from('\r\n')])).catch(() => {});
          }
          const r = await client.readResponse({ timeoutMs: 10_000 });
          expect(r.status, r.text()).to.equal(413);
          expect(r.text()).to.include('limits.headerSize = 300');
          expect(r.get('connection')).to.equal('close');
          await client.waitForClose(10_000);
        } finally {
          client.destroy();
        }
      },
    );
  });

  // Inside a large file the header guard skips the chunks the parser hands whole to the part: the
  // header blocks after it must still be measured and checked.
  const afterLargeFile: Array<{ what: string; next: BodyPart; status: number; message: RegExp }> = [
    { what: 'a header over headerSize', next: { name: 'h', filename: 'h', data: Buffer.from('x'), headers: [`X-Pad: ${'p'.repeat(300)}`] }, status: 413, message: /limits\.headerSize = 300/ },
    { what: 'a header line without a colon', next: { name: 'h', filename: 'h', data: Buffer.from('x'), headers: ['Bad Header Line'] }, status: 400, message: /part header is malformed/ },
    { what: 'a header name with a space', next: { name: 'h', filename: 'h', data: Buffer.from('x'), headers: ['X Pad: y'] }, status: 400, message: /part header is malformed/ },
  ];
  for (const c of afterLargeFile) {
    it(`${c.what} after a 3 MiB file part: ${c.status}`, async () => {
      await withApp(
        (app) => {
          app.post('/limited', async (req) => describeParts(req, { headerSize: 300 }));
        },
        async ({ port }) => {
          const body = multipartBody([{ name: 'big', filename: 'big.bin', data: patterned(3 * 1024 * 1024, 9) }, c.next]);
          const { client, response } = await oneExchange(port, post('/limited', body));
          try {
            expect(response.status, response.text()).to.equal(c.status);
            expect(response.text()).to.match(c.message);
          } finally {
            client.destroy();
          }
        },
        { maxBodySize: 8 * 1024 * 1024 },
      );
    });
  }

  const malformed: Array<{ what: string; type: string; body: Buffer; status: number; message: RegExp }> = [
    { what: 'no boundary parameter', type: 'multipart/form-data', body: Buffer.from('--x\r\n\r\n'), status: 400, message: /without a boundary/ },
    { what: 'a Content-Type that is no form', type: 'text/plain', body: Buffer.from('hello'), status: 415, message: /expected a multipart\/form-data body, got "text\/plain"/ },
    {
      what: 'a part header line without a colon',
      type: MULTIPART_TYPE,
      body: Buffer.from(`--${BOUNDARY}\r\nContent-Disposition form-data; name="a"\r\n\r\nv\r\n--${BOUNDARY}--\r\n`),
      status: 400,
      message: /part header is malformed/,
    },
    {
      what: 'a body that ends before the closing boundary',
      type: MULTIPART_TYPE,
      body: Buffer.concat([partHead({ name: 'f', filename: 'f', data: Buffer.alloc(0) }), Buffer.from('some bytes and no end')]),
      status: 400,
      message: /ended before the closing boundary \(truncated\)/,
    },
  ];

  for (const m of malformed) {
    it(`${m.what}: ${m.status} with a clear message, connection kept`, async () => {
      await withApp(
        (app) => {
          app.post('/parts', async (req) => describeParts(req));
          app.get('/next', () => 'next');
        },
        async ({ port }) => {
          const { client, response } = await oneExchange(port, post('/parts', m.body, m.type));
          try {
            expect(response.status, response.text()).to.equal(m.status);
            expect(response.text()).to.match(m.message);
            await client.send(requestBytes({ path: '/next' }));
            expect((await client.readResponse()).text()).to.equal('next');
          } finally {
            client.destroy();
          }
        },
      );
    });
  }
});
