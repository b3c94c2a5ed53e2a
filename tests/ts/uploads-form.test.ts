/**
 * req.form(): fields and files saved to uploadDir under generated names (the client's filename
 * is metadata only, made safe), urlencoded bodies, files of a failed upload deleted, and a client
 * that leaves mid-upload: the handler's stream errors, the partial file is deleted, and no
 * descriptor is left open (counted in /proc/self/fd).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import { RawClient, deferred, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { MULTIPART_TYPE, multipartBody, partHead, patterned, openFds } from '../helpers/multipart-body.js';
import { safeFilename, type Form } from '../../ts/index.js';
import { underAsan } from '../helpers/sanitizer.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function post(pathname: string, body: Buffer, type = MULTIPART_TYPE): Buffer {
  return requestBytes({ method: 'POST', path: pathname, headers: [['Content-Type', type]], body });
}

async function roundTrip(port: number, bytes: Buffer) {
  const client = await RawClient.connect(port);
  try {
    await client.send(bytes);
    return await client.readResponse({ timeoutMs: 10_000 });
  } finally {
    client.destroy();
  }
}

describe('uploads: req.form()', function () {
  this.timeout(60_000);
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-uploads-'));
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A route that reads the form, reports it with each saved file's hash, and keeps or removes the files. */
  function formRoute(app: any, options: () => object, keep = false): void {
    app.post('/form', async (req: any) => {
      const form: Form = await req.form(options());
      const files = form.files.map((f) => ({ ...f, sha256: sha(fs.readFileSync(f.path)), mode: fs.statSync(f.path).mode & 0o777 }));
      if (!keep) await form.remove();
      return { fields: form.fields, fieldList: form.fieldList, files };
    });
  }

  it('saves each file under a generated name in uploadDir and returns fields and file descriptions', async () => {
    const a = patterned(2 * 1024 * 1024 + 3, 3);
    const b = patterned(10, 4);
    const body = multipartBody([
      { name: 'note', value: 'first' },
      { name: 'doc', filename: 'report.PDF', type: 'application/pdf', data: a },
      { name: 'note', value: 'second' },
      { name: 'doc', filename: 'tiny', data: b },
    ]);
    await withApp(
      (app) => formRoute(app, () => ({ uploadDir: dir }), true),
      async ({ port }) => {
        const r = await roundTrip(port, post('/form', body));
        expect(r.status, r.text()).to.equal(200);
        const out = JSON.parse(r.text());
        expect(out.fields).to.deep.equal({ note: 'second' });
        expect(out.fieldList).to.deep.equal([['note', 'first'], ['note', 'second']]);
        expect(out.files).to.have.length(2);
        const [fa, fb] = out.files;
        expect(fa).to.include({ field: 'doc', filename: 'report.PDF', mimeType: 'application/pdf', size: a.length, sha256: sha(a), mode: 0o600 });
        expect(fb).to.include({ field: 'doc', filename: 'tiny', mimeType: 'application/octet-stream', size: b.length, sha256: sha(b) });
        expect(path.dirname(fa.path)).to.equal(dir);
        expect(path.basename(fa.path)).to.match(/^[0-9a-f]{32}\.pdf$/);
        expect(path.basename(fb.path)).to.match(/^[0-9a-f]{32}$/);
        expect(fs.readdirSync(dir).sort()).to.deep.equal([path.basename(fa.path), path.basename(fb.path)].sort());
      },
      { maxBodySize: 8 * 1024 * 1024 },
    );
  });

  it('reads urlencoded bodies (repeated names, percent and plus decoding), with their limits', async () => {
    await withApp(
      (app) => formRoute(app, () => ({ limits: { fields: 3 } })),
      async ({ port }) => {
        const ok = await roundTrip(port, post('/form', Buffer.from('a=1&b=h%C3%A9+llo&a=2'), 'application/x-www-form-urlencoded'));
        expect(ok.status, ok.text()).to.equal(200);
        expect(JSON.parse(ok.text())).to.deep.equal({ fields: { a: '2', b: 'h\u00e9 llo' }, fieldList: [['a', '1'], ['b', 'h\u00e9 llo'], ['a', '2']], files: [] });
        const tooMany = await roundTrip(port, post('/form', Buffer.from('a=1&b=2&c=3&d=4'), 'application/x-www-form-urlencoded'));
        expect(tooMany.status).to.equal(413);
        expect(tooMany.text()).to.include('limits.fields = 3');
      },
    );
  });

  it('a file part without uploadDir answers 413 and nothing is written', async () => {
    await withApp(
      (app) => formRoute(app, () => ({})),
      async ({ port }) => {
        const r = await roundTrip(port, post('/form', multipartBody([{ name: 'f', filename: 'x.txt', data: Buffer.from('x') }])));
        expect(r.status).to.equal(413);
        expect(r.text()).to.include('limits.files = 0');
      },
    );
  });

  it('deletes every file of an upload that fails part-way (a later file over fileSize)', async () => {
    const body = multipartBody([
      { name: 'ok1', filename: 'one.bin', data: patterned(5000, 1) },
      { name: 'ok2', filename: 'two.bin', data: patterned(5000, 2) },
      { name: 'big', filename: 'big.bin', data: patterned(50_000, 3) },
    ]);
    await withApp(
      (app) => formRoute(app, () => ({ uploadDir: dir, limits: { fileSize: 10_000 } }), true),
      async ({ port }) => {
        const r = await roundTrip(port, post('/form', body));
        expect(r.status).to.equal(413);
        expect(r.text()).to.include('limits.fileSize = 10000');
        expect(fs.readdirSync(dir)).to.deep.equal([]);
      },
    );
  });

  it('never uses the client filename as a path: traversal, absolute, backslashes, NUL, control characters, absurd lengths, RFC 5987', async () => {
    const long = 'x'.repeat(5000) + '.txt';
    const names: Array<{ sent: { filename?: string; filenameStar?: string }; kept: string }> = [
      { sent: { filename: '../../../../etc/passwd' }, kept: 'passwd' },
      { sent: { filename: '/etc/shadow' }, kept: 'shadow' },
      { sent: { filename: 'C:\\\\Windows\\\\win.ini' }, kept: 'win.ini' },
      { sent: { filename: '..' }, kept: '' },
      { sent: { filenameStar: "UTF-8''a%01b%1Fc%7F%C2%9F.txt" }, kept: 'abc.txt' },
      { sent: { filename: '.hidden' }, kept: 'hidden' },
      { sent: { filename: long }, kept: 'x'.repeat(251) + '.txt' },
      { sent: { filenameStar: "UTF-8''%E2%82%AC%20rates%2F..%2F..%2Fx.txt" }, kept: 'x.txt' },
      { sent: { filenameStar: "UTF-8''%E2%82%AC%20rates.txt" }, kept: '\u20ac rates.txt' },
      { sent: { filenameStar: "UTF-8''a%00b.txt" }, kept: 'ab.txt' },
    ];
    const body = multipartBody(names.map((n, i) => ({ name: `f${i}`, ...n.sent, data: Buffer.from(`file ${i}`) })));
    await withApp(
      (app) => formRoute(app, () => ({ uploadDir: dir }), true),
      async ({ port }) => {
        const r = await roundTrip(port, post('/form', body));
        expect(r.status, r.text()).to.equal(200);
        const { files } = JSON.parse(r.text());
        expect(files.map((f: { filename: string }) => f.filename)).to.deep.equal(names.map((n) => n.kept));
        for (const [i, f] of files.entries()) {
          expect(path.dirname(f.path)).to.equal(dir);
          expect(path.basename(f.path)).to.match(/^[0-9a-f]{32}(\.[a-z0-9]{1,10})?$/);
          expect(fs.readFileSync(f.path, 'utf8')).to.equal(`file ${i}`);
        }
        expect(fs.readdirSync(dir)).to.have.length(names.length);
        // control characters sent raw in a part header: the header is malformed
        const raw = await roundTrip(port, post('/form', multipartBody([{ name: 'f', filename: 'a\u0001b.txt', data: Buffer.from('x') }])));
        expect(raw.status).to.equal(400);
        expect(raw.text()).to.include('part header is malformed');
      },
    );
  });

  it('a 256 MiB upload saved to disk: the server\'s RSS grows by less than 32 MiB (release run)', async function () {
    if (underAsan()) this.skip(); // ASan's quarantine keeps freed memory: RSS says nothing there
    const SIZE = 256 * 1024 * 1024;
    const piece = patterned(1024 * 1024, 42);
    const head = partHead({ name: 'big', filename: 'big.bin', data: Buffer.alloc(0) });
    const tail = Buffer.from('\r\n--' + MULTIPART_TYPE.split('boundary=')[1] + '--\r\n');
    const rss = () => process.memoryUsage.rss();
    let peak = 0;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss());
    }, 10);
    await withApp(
      (app) => {
        app.post('/form', async (req) => {
          const form = await req.form({ uploadDir: dir });
          await form.remove();
          return { files: form.files.map((f) => ({ size: f.size })) };
        });
      },
      async ({ port }) => {
        const client = await RawClient.connect(port);
        try {
          const upload = async (size: number) => {
            await client.send(requestBytes({ method: 'POST', path: '/form', headers: [['Content-Type', MULTIPART_TYPE], ['Content-Length', String(head.length + size + tail.length)]] }));
            await client.send(head);
            for (let off = 0; off < size; off += piece.length) await client.send(piece);
            await client.send(tail);
            const r = await client.readResponse({ timeoutMs: 60_000 });
            expect(r.status, r.text()).to.equal(200);
            expect(JSON.parse(r.text()).files[0].size).to.equal(size);
          };
          // warm up with the same load: the parser, the file path, the JIT, and V8's young
          // generation, which grows under the first real load (a one-time step, not buffering)
          await upload(64 * 1024 * 1024);
          const before = rss();
          peak = before;
          await upload(SIZE);
          expect(peak - before, `RSS grew by ${((peak - before) / 1048576).toFixed(1)} MiB during a 256 MiB upload`).to.be.below(32 * 1024 * 1024);
        } finally {
          clearInterval(sampler);
          client.destroy();
        }
      },
      { maxBodySize: 512 * 1024 * 1024 },
    );
  });

  it('safeFilename keeps at most 255 UTF-8 bytes without splitting a character', () => {
    const name = '\u20ac'.repeat(200) + '.jpeg';
    const kept = safeFilename(name);
    expect(Buffer.byteLength(kept)).to.be.at.most(255);
    expect(kept.endsWith('.jpeg')).to.equal(true);
    expect(kept).to.not.include('\ufffd');
    expect(safeFilename(undefined)).to.equal('');
    expect(safeFilename('a/b\\c\u0000d')).to.equal('cd');
  });

  it('a client leaving mid-upload: the handler sees its stream fail, the partial file is deleted, no descriptor leaks', async () => {
    const ROUNDS = 20;
    const errors: string[] = [];
    let entered = deferred();
    let finished = deferred();
    await withApp(
      (app) => {
        app.post('/form', async (req: any) => {
          entered.resolve();
          try {
            return await req.form({ uploadDir: dir });
          } catch (err) {
            errors.push(`${(err as Error).name}:${(err as { code?: string }).code}`);
            throw err;
          } finally {
            finished.resolve();
          }
        });
        app.post('/parts', async (req: any) => {
          entered.resolve();
          try {
            for await (const part of req.multipart()) {
              if (part.kind === 'file') for await (const _ of part) void _;
            }
            return 'done';
          } catch (err) {
            errors.push(`${(err as Error).name}:${(err as { code?: string }).code}`);
            throw err;
          } finally {
            finished.resolve();
          }
        });
      },
      async ({ port }) => {
        let fdsBefore = 0;
        for (let i = 0; i < ROUNDS; i++) {
          if (i === 2) fdsBefore = openFds(); // after one round of each route (lazy modules, pools)
          entered = deferred();
          finished = deferred();
          const route = i % 2 === 0 ? '/form' : '/parts';
          const client = await RawClient.connect(port);
          await client.send(requestBytes({ method: 'POST', path: route, headers: [['Content-Type', MULTIPART_TYPE], ['Content-Length', String(10 * 1024 * 1024)]] }));
          await client.send(Buffer.concat([partHead({ name: 'f', filename: 'partial.bin', data: Buffer.alloc(0) }), patterned(300_000, i)]));
          await within(entered.promise, 5000, 'the handler');
          // the file exists and holds part of the bytes before the client goes away
          if (route === '/form') {
            for (let t = 0; t < 100 && fs.readdirSync(dir).length === 0; t++) await sleep(10);
            expect(fs.readdirSync(dir), 'the upload was being written').to.have.length(1);
          }
          if (i % 4 < 2) client.socket.resetAndDestroy();
          else client.destroy();
          await within(finished.promise, 5000, 'the handler to finish');
          for (let t = 0; t < 100 && fs.readdirSync(dir).length > 0; t++) await sleep(10);
          expect(fs.readdirSync(dir), 'partial files deleted').to.deep.equal([]);
        }
        expect(errors).to.have.length(ROUNDS);
        for (const e of errors) expect(e).to.be.oneOf(['AbortError:ECLIENTCLOSED', 'AbortError:ECONNERROR']);
        expect(errors).to.include('AbortError:ECLIENTCLOSED');
        await sleep(50);
        expect(openFds(), `descriptors open after ${ROUNDS - 2} more disconnects`).to.be.at.most(fdsBefore);
      },
      { maxBodySize: 16 * 1024 * 1024 },
    );
  });
});
