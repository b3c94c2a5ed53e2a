/**
 * sendFile, serveStatic and sendRegions on the wire: byte-exact bodies, single and
 * multi ranges (multipart checked by Python's email parser), 304 / 412 / 416, If-Range,
 * HEAD, index files and redirects, precompressed siblings, traversal attempts against a
 * secret file outside the root, and real clients (curl -r, --compressed).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileRegion, sendFile, sendRegions, serveStatic } from '../../ts/index.js';
import { ALIVE_BODY, ALIVE_PATH, expectStillServing } from '../helpers/assertions.js';
import { makeTree, parseMultipartWithPython, SECRET, type FileTree } from '../helpers/files-fixture.js';
import { fetchRaw, RawClient, requestBytes } from '../helpers/raw-client.js';
import { startApp, type AppContext } from '../helpers/with-app.js';

describe('wire: files', function () {
  let tree: FileTree;
  let ctx: AppContext;
  let port: number;
  const get = (p: string, headers: Record<string, string> = {}, method = 'GET') => fetchRaw(port, { path: p, method, headers });

  before(async () => {
    tree = makeTree();
    ctx = await startApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.get('/s/*', serveStatic(tree.root, { precompressed: true }));
      app.get('/follow/*', serveStatic(tree.root, { symlinks: 'follow' }));
      app.get('/nolinks/*', serveStatic(tree.root, { symlinks: 'deny' }));
      app.get('/cached/*', serveStatic(tree.root, { maxAge: 31536000, immutable: true, etag: 'weak' }));
      app.get('/one', sendFile(path.join(tree.root, 'data.bin'), { contentType: 'application/x-test' }));
      app.get('/named/:name', (req) => sendFile(req, req.params.name!, { root: tree.root }));
      app.get('/mixed', (req) => sendRegions(req, ['<header>\n', fileRegion(path.join(tree.root, 'data.bin')), '\n<footer>\n'], { contentType: 'application/x-mixed', etag: '"mixed-1"' }));
      app.use('/mw', serveStatic(tree.root, { prefix: '/mw' }));
      app.get('/mw/fallback', () => 'fell through');
    });
    port = ctx.port;
  });
  after(async () => {
    await ctx?.close();
    tree?.remove();
  });

  it('GET: byte-exact body with Content-Length, validators, type and Accept-Ranges', async () => {
    const r = await get('/s/data.bin');
    expect(r.status).to.equal(200);
    expect(r.body.equals(tree.data)).to.equal(true);
    expect(r.get('content-length')).to.equal(String(tree.data.length));
    expect(r.chunked).to.equal(false);
    expect(r.get('etag')).to.match(/^"[0-9a-z]+-[0-9a-z]+"$/);
    expect(new Date(r.get('last-modified')!).getTime()).to.equal(Math.floor(fs.statSync(path.join(tree.root, 'data.bin')).mtimeMs / 1000) * 1000);
    expect(r.get('accept-ranges')).to.equal('bytes');
    expect(r.get('content-type')).to.equal('application/octet-stream');
    expect(r.get('cache-control')).to.equal('public, max-age=0');
    expect((await get('/s/docs/index.html')).get('content-type')).to.equal('text/html; charset=utf-8');
    expect((await get('/s/app.js', { 'Accept-Encoding': 'identity' })).get('content-type')).to.equal('text/javascript; charset=utf-8');
    const again = await get('/s/data.bin');
    expect(again.get('etag')).to.equal(r.get('etag'));
    const one = await get('/one');
    expect(one.get('content-type')).to.equal('application/x-test');
    expect(one.body.equals(tree.data)).to.equal(true);
  });

  it('empty file: 200 with Content-Length 0; any range is 416', async () => {
    const r = await get('/s/zero.txt');
    expect(r.status).to.equal(200);
    expect(r.get('content-length')).to.equal('0');
    const u = await get('/s/zero.txt', { Range: 'bytes=0-0' });
    expect(u.status).to.equal(416);
    expect(u.get('content-range')).to.equal('bytes */0');
  });

  it('single ranges: closed, open-ended, suffix, clamped', async () => {
    const cases: Array<[string, number, number]> = [
      ['bytes=0-0', 0, 0], ['bytes=100-1099', 100, 1099], ['bytes=199000-', 199000, 199999],
      ['bytes=-500', 199500, 199999], ['bytes=199990-300000', 199990, 199999],
    ];
    for (const [range, start, end] of cases) {
      const r = await get('/s/data.bin', { Range: range });
      expect(r.status, range).to.equal(206);
      expect(r.get('content-range'), range).to.equal(`bytes ${start}-${end}/200000`);
      expect(r.get('content-length'), range).to.equal(String(end - start + 1));
      expect(r.body.equals(tree.data.subarray(start, end + 1)), range).to.equal(true);
    }
  });

  it('several ranges: multipart/byteranges, parsed by Python email, byte-exact parts', async () => {
    const r = await get('/s/data.bin', { Range: 'bytes=0-9, 1000-1999, -100' });
    expect(r.status).to.equal(206);
    const type = r.get('content-type')!;
    expect(type).to.match(/^multipart\/byteranges; boundary=\S+$/);
    expect(r.get('content-length')).to.equal(String(r.body.length));
    expect(r.get('content-range')).to.equal(undefined);
    const parts = parseMultipartWithPython(type, r.body);
    expect(parts.map((p) => p.contentRange)).to.deep.equal(['bytes 0-9/200000', 'bytes 1000-1999/200000', 'bytes 199900-199999/200000']);
    expect(parts.every((p) => p.contentType === 'application/octet-stream')).to.equal(true);
    expect(parts[0]!.body.equals(tree.data.subarray(0, 10))).to.equal(true);
    expect(parts[1]!.body.equals(tree.data.subarray(1000, 2000))).to.equal(true);
    expect(parts[2]!.body.equals(tree.data.subarray(199900))).to.equal(true);
  });

  it('overlapping ranges are merged; too many ranges give the full file', async () => {
    const merged = await get('/s/data.bin', { Range: 'bytes=0-99,50-149,150-199' });
    expect(merged.status).to.equal(206);
    expect(merged.get('content-range')).to.equal('bytes 0-199/200000');
    expect(merged.body.equals(tree.data.subarray(0, 200))).to.equal(true);
    const many = 'bytes=' + Array.from({ length: 40 }, (_, i) => `${i * 1000}-${i * 1000 + 9}`).join(',');
    const full = await get('/s/data.bin', { Range: many });
    expect(full.status).to.equal(200);
    expect(full.body.equals(tree.data)).to.equal(true);
  });

  it('unsatisfiable range: 416 with Content-Range bytes */size; invalid Range is ignored', async () => {
    const r = await get('/s/data.bin', { Range: 'bytes=200000-' });
    expect(r.status).to.equal(416);
    expect(r.get('content-range')).to.equal('bytes */200000');
    const bad = await get('/s/data.bin', { Range: 'bytes=9-1' });
    expect(bad.status).to.equal(200);
    expect(bad.body.length).to.equal(200000);
    const unit = await get('/s/data.bin', { Range: 'items=0-1' });
    expect(unit.status).to.equal(200);
  });

  it('If-Range: matching ETag or date -> 206; anything else -> 200 full', async () => {
    const first = await get('/s/data.bin');
    const etag = first.get('etag')!;
    const lm = first.get('last-modified')!;
    expect((await get('/s/data.bin', { Range: 'bytes=0-9', 'If-Range': etag })).status).to.equal(206);
    expect((await get('/s/data.bin', { Range: 'bytes=0-9', 'If-Range': lm })).status).to.equal(206);
    const stale = await get('/s/data.bin', { Range: 'bytes=0-9', 'If-Range': '"stale"' });
    expect(stale.status).to.equal(200);
    expect(stale.body.equals(tree.data)).to.equal(true);
    expect((await get('/s/data.bin', { Range: 'bytes=0-9', 'If-Range': 'Mon, 01 Jan 2001 00:00:00 GMT' })).status).to.equal(200);
    // A weak ETag never satisfies If-Range.
    const weak = await get('/cached/data.bin');
    expect(weak.get('etag')).to.match(/^W\//);
    expect((await get('/cached/data.bin', { Range: 'bytes=0-9', 'If-Range': weak.get('etag')! })).status).to.equal(200);
  });

  it('conditionals: 304 for If-None-Match / If-Modified-Since, 412 for If-Match / If-Unmodified-Since', async () => {
    const first = await get('/s/data.bin');
    const etag = first.get('etag')!;
    const lm = first.get('last-modified')!;
    const inm = await get('/s/data.bin', { 'If-None-Match': `"x", ${etag}` });
    expect(inm.status).to.equal(304);
    expect(inm.body.length).to.equal(0);
    expect(inm.get('etag')).to.equal(etag);
    expect(inm.get('cache-control')).to.equal('public, max-age=0');
    expect(inm.get('content-length')).to.equal(undefined);
    expect((await get('/s/data.bin', { 'If-Modified-Since': lm })).status).to.equal(304);
    expect((await get('/s/data.bin', { 'If-Modified-Since': 'Mon, 01 Jan 2001 00:00:00 GMT' })).status).to.equal(200);
    expect((await get('/s/data.bin', { 'If-None-Match': '"other"', 'If-Modified-Since': lm })).status).to.equal(200);
    expect((await get('/s/data.bin', { 'If-Match': '"other"' })).status).to.equal(412);
    expect((await get('/s/data.bin', { 'If-Match': etag })).status).to.equal(200);
    expect((await get('/s/data.bin', { 'If-Unmodified-Since': 'Mon, 01 Jan 2001 00:00:00 GMT' })).status).to.equal(412);
    // 304 and 412 keep the connection usable.
    const client = await RawClient.connect(port);
    try {
      await client.send(Buffer.concat([
        requestBytes({ path: '/s/data.bin', headers: { 'If-None-Match': etag } }),
        requestBytes({ path: '/s/data.bin', headers: { 'If-Match': '"nope"' } }),
        requestBytes({ path: '/s/data.bin', headers: { Range: 'bytes=0-3' } }),
      ]));
      const [a, b, c] = await client.readResponses(3);
      expect([a!.status, b!.status, c!.status]).to.deep.equal([304, 412, 206]);
      expect(c!.body.equals(tree.data.subarray(0, 4))).to.equal(true);
    } finally {
      client.destroy();
    }
  });

  it('HEAD: the headers of GET, Content-Length included, no body; Range ignored', async () => {
    const g = await get('/s/data.bin');
    const h = await get('/s/data.bin', {}, 'HEAD');
    expect(h.status).to.equal(200);
    expect(h.body.length).to.equal(0);
    for (const name of ['content-length', 'etag', 'last-modified', 'content-type', 'accept-ranges', 'cache-control']) {
      expect(h.get(name), name).to.equal(g.get(name));
    }
    const hr = await get('/s/data.bin', { Range: 'bytes=0-9' }, 'HEAD');
    expect(hr.status).to.equal(200);
    expect(hr.get('content-length')).to.equal('200000');
  });

  it('directories: index.html for a slashed URL, 301 without the slash (query kept), 404 without an index', async () => {
    const idx = await get('/s/docs/');
    expect(idx.status).to.equal(200);
    expect(idx.text()).to.equal('<h1>docs</h1>\n');
    const redir = await get('/s/docs?x=1');
    expect(redir.status).to.equal(301);
    expect(redir.get('location')).to.equal('/s/docs/?x=1');
    expect((await get('/s/empty/')).status).to.equal(404);
    expect((await get('/s/nothing-here')).status).to.equal(404);
  });

  it('traversal attempts never reach a file outside the root (400/404)', async () => {
    const attempts = [
      '/s/../secret.txt', '/s/..%2fsecret.txt', '/s/%2e%2e/secret.txt', '/s/%2e%2e%2fsecret.txt', '/s/%2E%2E%2Fsecret.txt',
      '/s/docs/../../secret.txt', '/s/docs/..%2f..%2fsecret.txt', '/s/..%5csecret.txt', '/s/..\\secret.txt',
      '/s/%252e%252e%252f..%252fsecret.txt', '/s/%c0%ae%c0%ae/secret.txt', '/s/secret.txt%00.html', '/s/data.bin%00',
      '/s/link-out.txt', '/s/.env', '/s/.hidden/x.txt', '/s/%2eenv', '/s/%2e%65nv', '/nolinks/link-in.bin', '/s//../secret.txt',
      '/named/..%2fsecret.txt', '/named/.env',
    ];
    for (const p of attempts) {
      const r = await get(p);
      expect([400, 404], `${p} -> ${r.status}`).to.include(r.status);
      expect(r.body.toString('latin1'), p).to.not.include(SECRET);
    }
    // Double encoding is decoded once: it names a file literally called "%2e%2e%2fsecret.txt" inside the root.
    const literal = await get('/s/%252e%252e%252fsecret.txt');
    expect(literal.status).to.equal(200);
    expect(literal.text()).to.equal('literal name\n');
    // Symlinks: inside the root allowed by default; outside only with symlinks: 'follow'.
    expect((await get('/s/link-in.bin')).body.equals(tree.data)).to.equal(true);
    expect((await get('/follow/link-out.txt')).text()).to.equal(SECRET);
    await expectStillServing(port);
  });

  it('precompressed siblings: br / gzip by Accept-Encoding, decoded equal, own ETag and length, Vary', async () => {
    const plain = await get('/s/app.js');
    expect(plain.get('content-encoding')).to.equal(undefined);
    expect(plain.get('vary')).to.equal('Accept-Encoding');
    expect(plain.body.equals(tree.appJs)).to.equal(true);
    const br = await get('/s/app.js', { 'Accept-Encoding': 'gzip, deflate, br' });
    expect(br.get('content-encoding')).to.equal('br');
    expect(br.get('vary')).to.equal('Accept-Encoding');
    expect(br.get('content-type')).to.equal('text/javascript; charset=utf-8');
    expect(br.get('content-length')).to.equal(String(fs.statSync(path.join(tree.root, 'app.js.br')).size));
    expect(zlib.brotliDecompressSync(br.body).equals(tree.appJs)).to.equal(true);
    const gz = await get('/s/app.js', { 'Accept-Encoding': 'gzip' });
    expect(gz.get('content-encoding')).to.equal('gzip');
    expect(zlib.gunzipSync(gz.body).equals(tree.appJs)).to.equal(true);
    const q = await get('/s/app.js', { 'Accept-Encoding': 'br;q=0.5, gzip;q=0.9' });
    expect(q.get('content-encoding')).to.equal('gzip');
    expect(new Set([plain.get('etag'), br.get('etag'), gz.get('etag')]).size).to.equal(3);
    // A range of a variant is a range of its encoded bytes.
    const part = await get('/s/app.js', { 'Accept-Encoding': 'br', Range: 'bytes=0-9' });
    expect(part.status).to.equal(206);
    expect(part.body.equals(br.body.subarray(0, 10))).to.equal(true);
    // The .gz file itself is not an encoding of itself.
    expect((await get('/s/app.js.gz', { 'Accept-Encoding': 'gzip' })).get('content-encoding')).to.equal(undefined);
  });

  it('Cache-Control options', async () => {
    const r = await get('/cached/data.bin', {}, 'HEAD');
    expect(r.get('cache-control')).to.equal('public, max-age=31536000, immutable');
  });

  it('sendRegions: header + file + footer with Content-Length and ranges across the pieces', async () => {
    const whole = Buffer.concat([Buffer.from('<header>\n'), tree.data, Buffer.from('\n<footer>\n')]);
    const r = await get('/mixed');
    expect(r.status).to.equal(200);
    expect(r.get('content-length')).to.equal(String(whole.length));
    expect(r.body.equals(whole)).to.equal(true);
    const span = await get('/mixed', { Range: `bytes=5-20,${whole.length - 15}-` });
    expect(span.status).to.equal(206);
    const parts = parseMultipartWithPython(span.get('content-type')!, span.body);
    expect(parts[0]!.body.equals(whole.subarray(5, 21))).to.equal(true);
    expect(parts[1]!.body.equals(whole.subarray(whole.length - 15))).to.equal(true);
    expect((await get('/mixed', { 'If-None-Match': '"mixed-1"' })).status).to.equal(304);
  });

  it('as a middleware with a prefix: serves files, falls through on 404', async () => {
    expect((await get('/mw/data.bin')).body.equals(tree.data)).to.equal(true);
    expect((await get('/mw/fallback')).text()).to.equal('fell through');
    expect((await get('/mw/docs')).get('location')).to.equal('/mw/docs/');
  });

  it('curl -r and --compressed', async () => {
    // Async: the server runs in this process, a synchronous child would block it.
    const curl = (...args: string[]) => new Promise<Buffer>((resolve, reject) => {
      execFile('curl', ['-sS', '--max-time', '20', ...args], { encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 }, (err, out) => (err ? reject(err) : resolve(out)));
    });
    expect((await curl('-r', '10-19', `${ctx.base}/s/data.bin`)).equals(tree.data.subarray(10, 20))).to.equal(true);
    expect((await curl('-r', '-7', `${ctx.base}/s/data.bin`)).equals(tree.data.subarray(-7))).to.equal(true);
    expect((await curl('--compressed', `${ctx.base}/s/app.js`)).equals(tree.appJs)).to.equal(true);
    const head = (await curl('--compressed', '-D', '-', '-o', '/dev/null', `${ctx.base}/s/app.js`)).toString();
    expect(head).to.match(/content-encoding: (br|gzip)/i);
    // Resume: curl -C continues a partial download with a Range request.
    const out = path.join(tree.dir, 'resume.bin');
    fs.writeFileSync(out, tree.data.subarray(0, 12345));
    await curl('-C', '-', '-o', out, `${ctx.base}/s/data.bin`);
    expect(fs.readFileSync(out).equals(tree.data)).to.equal(true);
  });
});
