/**
 * Files under stress: a header + 64 MiB file + footer response (byte-exact, and every
 * file byte sent by sendfile), descriptors of user regions, a file truncated while it
 * is sent (clean abort, server keeps serving), and no descriptor leak over 1,000
 * requests including clients that leave mid-file.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileRegion, sendFile, sendRegions, serveStatic, StreamingResponse, type StreamStats } from '../../ts/index.js';
import { ALIVE_BODY, ALIVE_PATH, expectStillServing } from '../helpers/assertions.js';
import { openFdCount } from '../helpers/files-fixture.js';
import { RawClient, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { withApp, type AppContext } from '../helpers/with-app.js';

const MIB = 1024 * 1024;

/** GET with node:http; the body is hashed as it arrives (no 64 MiB buffer). */
function download(port: number, p: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; length: number; sha256: string }> {
  return within(new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, headers, agent: false }, (res) => {
      const hash = createHash('sha256');
      let length = 0;
      res.on('data', (c: Buffer) => {
        hash.update(c);
        length += c.length;
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, length, sha256: hash.digest('hex') }));
      res.on('error', reject);
    });
    req.on('error', reject);
  }), 60_000, `GET ${p}`);
}

/** Polls (bounded) until `pred` holds. */
async function eventually(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function settled(ctx: AppContext): boolean {
  const s = ctx.app.stats();
  return s.streamsActive === 0 && s.connectionsActive === 0;
}

describe('files: robustness', function () {
  let dir: string;
  let big: string;
  let bigData: Buffer;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-files-big-'));
    big = path.join(dir, 'big.bin');
    bigData = randomBytes(64 * MIB);
    fs.writeFileSync(big, bigData);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('header + 64 MiB file + footer: byte-exact, Content-Length, every file byte by sendfile', async () => {
    const header = Buffer.from('--- header ---\n');
    const footer = Buffer.from('\n--- footer ---\n');
    const expected = createHash('sha256').update(header).update(bigData).update(footer).digest('hex');
    const closes: Array<{ reason: string; stats: StreamStats }> = [];
    await withApp((app) => {
      app.get('/regions', async (req) => {
        const res = await sendRegions(req, [header, fileRegion(big), footer]);
        (res as StreamingResponse).onClose((reason, stats) => closes.push({ reason, stats }));
        return res;
      });
      app.get('/generator', () => new StreamingResponse((function* () {
        yield header;
        yield fileRegion(big);
        yield footer;
      })(), { contentLength: header.length + bigData.length + footer.length, onClose: (reason, stats) => closes.push({ reason, stats }) }));
    }, async (ctx) => {
      for (const p of ['/regions', '/generator']) {
        const before = ctx.app.stats().sendfileBytes;
        const r = await download(ctx.port, p);
        expect(r.status, p).to.equal(200);
        expect(r.headers['content-length'], p).to.equal(String(header.length + bigData.length + footer.length));
        expect(r.length, p).to.equal(header.length + bigData.length + footer.length);
        expect(r.sha256, p).to.equal(expected);
        await eventually(() => closes.length > 0, 'onClose');
        const { reason, stats } = closes.shift()!;
        expect(reason, p).to.equal('finished');
        expect(stats.sendfileBytes, `${p}: stream sendfileBytes`).to.equal(bigData.length);
        expect(ctx.app.stats().sendfileBytes - before, `${p}: server sendfileBytes`).to.equal(bigData.length);
      }
      // A range across the three pieces.
      const r = await download(ctx.port, '/regions', { Range: `bytes=${header.length - 3}-${header.length + 9}` });
      expect(r.status).to.equal(206);
      expect(r.sha256).to.equal(createHash('sha256').update(Buffer.concat([header.subarray(-3), bigData.subarray(0, 10)])).digest('hex'));
    });
  });

  it('a descriptor region stays the caller\'s unless closeFd: true', async () => {
    const fd = fs.openSync(big, 'r');
    const fd2 = fs.openSync(big, 'r');
    try {
      await withApp((app) => {
        app.get('/mine', () => new StreamingResponse([fileRegion(fd, { offset: 5, length: 100 })]));
        app.get('/theirs', () => new StreamingResponse([fileRegion(fd2, { offset: 5, length: 100, closeFd: true })]));
      }, async (ctx) => {
        const a = await download(ctx.port, '/mine');
        expect(a.sha256).to.equal(createHash('sha256').update(bigData.subarray(5, 105)).digest('hex'));
        const b = await download(ctx.port, '/theirs');
        expect(b.length).to.equal(100);
        await eventually(() => settled(ctx), 'streams to end');
        expect(fs.fstatSync(fd).size).to.equal(bigData.length); // still open
        expect(() => fs.fstatSync(fd2)).to.throw(/EBADF/);
      });
    } finally {
      fs.closeSync(fd);
    }
  });

  it('a file truncated while it is sent: the response aborts, the connection closes, the server keeps serving', async () => {
    const victim = path.join(dir, 'victim.bin');
    fs.writeFileSync(victim, Buffer.alloc(0));
    fs.truncateSync(victim, 64 * MIB); // sparse
    const closes: string[] = [];
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/victim', async (req) => {
        const res = await sendFile(req, victim);
        (res as StreamingResponse).onClose((reason) => closes.push(reason));
        return res;
      });
    }, async (ctx) => {
      const client = await RawClient.connect(ctx.port);
      try {
        client.socket.pause(); // read nothing yet: the server fills the socket buffers and waits
        await client.send(requestBytes({ path: '/victim' }));
        await sleep(200);
        fs.truncateSync(victim, 1 * MIB);
        // Read everything without keeping it (64 MiB in one Buffer.concat chain would be slow).
        let received = 0;
        client.socket.removeAllListeners('data');
        client.socket.on('data', (c: Buffer) => {
          received += c.length;
        });
        client.socket.resume();
        await client.waitForClose(20_000);
        expect(received).to.be.lessThan(64 * MIB);
        await eventually(() => closes.length === 1, 'onClose of the truncated response');
        expect(closes[0]).to.equal('error');
      } finally {
        client.destroy();
      }
      await expectStillServing(ctx.port);
    });
  });

  it('no descriptor leak over 1,000 requests, aborted ones included', async () => {
    const root = path.join(dir, 'root');
    fs.mkdirSync(root, { recursive: true });
    const small = randomBytes(4096);
    fs.writeFileSync(path.join(root, 'small.bin'), small);
    fs.writeFileSync(path.join(root, 'large.bin'), Buffer.alloc(0));
    fs.truncateSync(path.join(root, 'large.bin'), 16 * MIB);
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/s/*', serveStatic(root));
      app.get('/mixed', (req) => sendRegions(req, ['a', fileRegion(path.join(root, 'large.bin')), 'b']));
    }, async (ctx) => {
      await expectStillServing(ctx.port); // warm up lazily created handles
      await eventually(() => settled(ctx), 'warm-up to settle');
      const fdsBefore = openFdCount();
      let count = 0;
      // 800 pipelined requests on 10 keep-alive connections: full, ranges, multi-ranges, HEAD, 304, 416, 404.
      const kinds: Array<{ spec: Parameters<typeof requestBytes>[0]; method: string }> = [
        { spec: { path: '/s/small.bin' }, method: 'GET' },
        { spec: { path: '/s/small.bin', headers: { Range: 'bytes=0-9' } }, method: 'GET' },
        { spec: { path: '/s/small.bin', headers: { Range: 'bytes=0-9,100-199' } }, method: 'GET' },
        { spec: { path: '/s/small.bin', method: 'HEAD' }, method: 'HEAD' },
        { spec: { path: '/s/small.bin', headers: { 'If-None-Match': '*' } }, method: 'GET' },
        { spec: { path: '/s/small.bin', headers: { Range: 'bytes=9999-' } }, method: 'GET' },
        { spec: { path: '/s/missing.bin' }, method: 'GET' },
        { spec: { path: '/s/large.bin', headers: { Range: 'bytes=-10' } }, method: 'GET' },
      ];
      await Promise.all(Array.from({ length: 10 }, async () => {
        const client = await RawClient.connect(ctx.port);
        try {
          const batch = Array.from({ length: 80 }, (_, i) => kinds[i % kinds.length]!);
          await client.send(Buffer.concat(batch.map((k) => requestBytes(k.spec))));
          const responses = await client.readResponses(batch.length, { methods: batch.map((k) => k.method), timeoutMs: 30_000 });
          expect(responses.map((r) => r.status)).to.deep.equal(batch.map((_, i) => [200, 206, 206, 200, 304, 416, 404, 206][i % kinds.length]));
          count += responses.length;
        } finally {
          client.destroy();
        }
      }));
      // 200 clients that leave mid-file (16 MiB, far more than the socket buffers take).
      for (let round = 0; round < 20; round++) {
        await Promise.all(Array.from({ length: 10 }, async (_, i) => {
          const client = await RawClient.connect(ctx.port);
          try {
            await client.send(requestBytes({ path: i % 2 === 0 ? '/s/large.bin' : '/mixed' }));
            await client.waitForBytes(1024, 10_000);
            count++;
          } finally {
            client.destroy();
          }
        }));
      }
      expect(count).to.equal(1000);
      await eventually(() => settled(ctx), 'every connection and stream to end', 20_000);
      await sleep(50); // fs.close callbacks of released descriptors
      expect(openFdCount(), 'open descriptors after 1,000 requests').to.equal(fdsBefore);
      const s = ctx.app.stats();
      expect(s.streamsAborted).to.be.greaterThan(0);
      await expectStillServing(ctx.port);
    });
  });
});
