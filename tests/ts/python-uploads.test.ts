/**
 * Python endpoints that read the request body as it arrives: `body: 'stream'` (request.body
 * yields chunks, sync and async) and `body: 'parts'` (request.parts yields a form's parts, parsed
 * on the Node side). Paced like responses: while the function does not read, the server stops
 * reading the socket. Limits answer 413 and a wrong type 415; a client that leaves makes the
 * function's iteration raise ClientDisconnected and its finally run.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { expect } from 'chai';
import { RawClient, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { sendUntilStalled } from '../helpers/send-until-stalled.js';
import { markerFile, readMarker, startPythonApp, waitMarker, type PythonAppContext } from '../helpers/python.js';
import { MULTIPART_TYPE, multipartBody, partHead, patterned } from '../helpers/multipart-body.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function roundTrip(port: number, bytes: Buffer, timeoutMs = 20_000) {
  const client = await RawClient.connect(port);
  try {
    await client.send(bytes);
    return await client.readResponse({ timeoutMs });
  } finally {
    client.destroy();
  }
}

function post(path: string, body: Buffer, type = 'application/octet-stream'): Buffer {
  return requestBytes({ method: 'POST', path, headers: [['Content-Type', type]], body });
}

describe('python endpoints: request bodies and uploads as they arrive', function () {
  this.timeout(90_000);
  let ctx: PythonAppContext;

  before(async () => {
    ctx = await startPythonApp(
      (app, py) => {
        app.post('/hash', py.endpoint('upload_handlers:hash_body', { body: 'stream' }));
        app.post('/ahash', py.endpoint('upload_handlers:async_hash_body', { body: 'stream' }));
        app.post('/held', py.endpoint('upload_handlers:held_body', { body: 'stream' }));
        app.post('/watch', py.endpoint('upload_handlers:watch_disconnect', { body: 'stream' }));
        app.post('/parts', py.endpoint('upload_handlers:parts', { body: 'parts', uploadLimits: { fileSize: 8 * 1024 * 1024 } }));
        app.post('/aparts', py.endpoint('upload_handlers:async_parts', { body: 'parts' }));
        app.post('/buffered', py.endpoint('upload_handlers:body_type'));
      },
      { window: 64 * 1024 },
      { maxBodySize: 64 * 1024 * 1024 },
    );
  });
  after(async () => ctx.close());

  for (const route of ['/hash', '/ahash']) {
    it(`${route}: request.body yields the body as it arrives (${route === '/hash' ? 'sync' : 'async'}), byte-exact, in chunks of at most 64 KiB`, async () => {
      const body = patterned(5 * 1024 * 1024 + 11, 3);
      const r = await roundTrip(ctx.port, post(route, body));
      expect(r.status, r.text()).to.equal(200);
      const out = JSON.parse(r.text());
      expect(out.size).to.equal(body.length);
      expect(out.sha256).to.equal(sha(body));
      if (route === '/hash') {
        expect(out.largest).to.be.at.most(64 * 1024);
        expect(out.type).to.equal('bytes');
      }
    });
  }

  it('a function that does not read makes the server stop reading the socket; reading resumes it', async () => {
    const SIZE = 32 * 1024 * 1024;
    const PIECE = 256 * 1024;
    const body = patterned(SIZE, 5);
    const marker = markerFile();
    const release = marker + '.release';
    const client = await RawClient.connect(ctx.port);
    try {
      const before = ctx.app.stats().bytesRead;
      await client.send(requestBytes({ method: 'POST', path: `/held?marker=${marker}&release=${release}`, headers: [['Content-Length', String(SIZE)]] }));
      const sent = await sendUntilStalled(client, body, PIECE);
      let off = sent.offset;
      const { stalledAt, pending } = sent;
      await waitMarker(marker, 'first', 10_000);
      const read = ctx.app.stats().bytesRead - before;
      expect(stalledAt, 'the client never stalled').to.be.greaterThan(0);
      expect(read, `the server read ${read} bytes while the function held the body`).to.be.below(8 * 1024 * 1024);
      fs.writeFileSync(release, '');
      await pending;
      for (; off < SIZE; off += PIECE) await client.send(body.subarray(off, off + PIECE));
      const r = await client.readResponse({ timeoutMs: 30_000 });
      expect(JSON.parse(r.text())).to.deep.equal({ size: SIZE, sha256: sha(body) });
    } finally {
      fs.writeFileSync(release, '');
      client.destroy();
    }
  });

  it('the default body mode still hands the function bytes', async () => {
    const r = await roundTrip(ctx.port, post('/buffered', Buffer.from('abc')));
    expect(JSON.parse(r.text())).to.deep.equal({ type: 'bytes', len: 3, parts: null });
  });

  for (const route of ['/parts', '/aparts']) {
    it(`${route}: request.parts yields fields and files as they arrive (${route === '/parts' ? 'sync' : 'async'})`, async () => {
      const a = patterned(3 * 1024 * 1024 + 1, 7);
      const b = patterned(70_000, 8);
      const body = multipartBody([
        { name: 'title', value: 'caf\u00e9' },
        { name: 'a', filename: '../../a.bin', type: 'image/png', data: a },
        ...(route === '/parts' ? [{ name: 'skip', filename: 'skipped.bin', data: patterned(200_000, 1) }] : []),
        { name: 'b', filename: 'b.txt', type: 'text/plain', data: b },
        { name: 'end', value: '' },
      ]);
      const r = await roundTrip(ctx.port, post(route, body, MULTIPART_TYPE));
      expect(r.status, r.text()).to.equal(200);
      expect(JSON.parse(r.text())).to.deep.equal([
        { field: 'title', value: 'caf\u00e9' },
        { file: 'a', filename: 'a.bin', mimeType: 'image/png', size: a.length, sha256: sha(a) },
        ...(route === '/parts' ? [{ skipped: 'skipped.bin' }] : []),
        { file: 'b', filename: 'b.txt', mimeType: 'text/plain', size: b.length, sha256: sha(b) },
        { field: 'end', value: '' },
      ]);
    });
  }

  it('parts: a file over uploadLimits.fileSize answers 413, a body that is no form 415, a truncated one 400', async () => {
    const big = await roundTrip(ctx.port, post('/parts', multipartBody([{ name: 'f', filename: 'big', data: patterned(9 * 1024 * 1024, 2) }]), MULTIPART_TYPE));
    expect(big.status).to.equal(413);
    expect(big.text()).to.include('limits.fileSize = 8388608');
    const wrong = await roundTrip(ctx.port, post('/parts', Buffer.from('x'), 'text/plain'));
    expect(wrong.status).to.equal(415);
    const truncated = await roundTrip(ctx.port, post('/parts', Buffer.concat([partHead({ name: 'f', filename: 'f', data: Buffer.alloc(0) }), Buffer.from('abc')]), MULTIPART_TYPE));
    expect(truncated.status).to.equal(400);
    expect(truncated.text()).to.include('truncated');
  });

  it('a client that leaves mid-body: the iteration raises ClientDisconnected and finally runs', async () => {
    const marker = markerFile();
    const client = await RawClient.connect(ctx.port);
    await client.send(requestBytes({ method: 'POST', path: `/watch?marker=${marker}`, headers: [['Content-Length', String(10 * 1024 * 1024)]] }));
    await client.send(patterned(300_000, 4));
    await waitMarker(marker, 'reading', 10_000);
    client.destroy();
    const lines = await waitMarker(marker, 'finally', 10_000);
    expect(lines.some((l) => l.startsWith('disconnected '))).to.equal(true);
    expect(lines).to.not.include('complete');
    await within((async () => { while (ctx.bridge.stats().activeStreams > 0) await sleep(20); })(), 5000, 'the stream to end');
    expect(readMarker(marker).filter((l) => l === 'finally')).to.have.length(1);
  });
});
