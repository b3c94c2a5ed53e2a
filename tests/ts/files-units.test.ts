/**
 * Units of ts/files/: range parsing and policy, conditionals, If-Range, path resolution,
 * validators, multipart framing lengths, region slicing.
 */
import { expect } from 'chai';
import { evaluateConditionals, parseEtagList } from '../../ts/files/conditional.js';
import { fileEtag, httpDate, parseHttpDate } from '../../ts/files/etag.js';
import { byteranges } from '../../ts/files/multipart.js';
import { decodeUrlPath, resolveUnder, safeLocation } from '../../ts/files/path.js';
import { coalesce, ifRangeAllows, parseRange } from '../../ts/files/range.js';
import { slice } from '../../ts/files/respond.js';
import { fileRegion, FileRegion, isFileRegion } from '../../ts/streaming/file-region.js';

describe('files: ranges (RFC 9110 section 14)', () => {
  const size = 1000;
  it('single, open-ended and suffix ranges', () => {
    expect(parseRange('bytes=0-99', size)).to.deep.equal({ kind: 'ranges', ranges: [{ start: 0, end: 99 }] });
    expect(parseRange('bytes=900-', size)).to.deep.equal({ kind: 'ranges', ranges: [{ start: 900, end: 999 }] });
    expect(parseRange('bytes=-100', size)).to.deep.equal({ kind: 'ranges', ranges: [{ start: 900, end: 999 }] });
    expect(parseRange('bytes=-5000', size)).to.deep.equal({ kind: 'ranges', ranges: [{ start: 0, end: 999 }] });
    expect(parseRange('bytes=990-5000', size)).to.deep.equal({ kind: 'ranges', ranges: [{ start: 990, end: 999 }] });
    expect(parseRange('Bytes = 1-2 , ', size)).to.deep.equal({ kind: 'ranges', ranges: [{ start: 1, end: 2 }] });
  });
  it('invalid syntax or another unit is ignored (full response)', () => {
    for (const h of ['items=0-1', 'bytes=a-b', 'bytes=5-1', 'bytes=-', 'bytes=', 'bytes 0-1', 'bytes=0-1;x', 'bytes=1-2-3']) {
      expect(parseRange(h, size), h).to.deep.equal({ kind: 'full' });
    }
  });
  it('unsatisfiable ranges are dropped; none left -> unsatisfiable', () => {
    expect(parseRange('bytes=1000-', size)).to.deep.equal({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-0', size)).to.deep.equal({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-1', 0)).to.deep.equal({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=5000-6000,0-0', size)).to.deep.equal({ kind: 'ranges', ranges: [{ start: 0, end: 0 }] });
  });
  it('overlapping or touching ranges are sorted and merged; disjoint ones keep their order', () => {
    expect(parseRange('bytes=500-599,0-99', size)).to.deep.equal({ kind: 'ranges', ranges: [{ start: 500, end: 599 }, { start: 0, end: 99 }] });
    expect(parseRange('bytes=50-150,0-99,151-160', size)).to.deep.equal({ kind: 'ranges', ranges: [{ start: 0, end: 160 }] });
    expect(coalesce([{ start: 10, end: 20 }, { start: 0, end: 5 }, { start: 15, end: 30 }])).to.deep.equal([{ start: 0, end: 5 }, { start: 10, end: 30 }]);
  });
  it('more ranges than maxRanges after merging -> full response', () => {
    const many = 'bytes=' + Array.from({ length: 20 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',');
    expect(parseRange(many, size, 16).kind).to.equal('full');
    expect(parseRange(many, size, 20).kind).to.equal('ranges');
  });
  it('If-Range: strong ETag match or an exact date', () => {
    const v = { etag: '"abc"', lastModified: Date.UTC(2024, 0, 1) };
    expect(ifRangeAllows(undefined, v)).to.equal(true);
    expect(ifRangeAllows('"abc"', v)).to.equal(true);
    expect(ifRangeAllows('"abd"', v)).to.equal(false);
    expect(ifRangeAllows('W/"abc"', v)).to.equal(false);
    expect(ifRangeAllows(httpDate(v.lastModified), v)).to.equal(true);
    expect(ifRangeAllows(httpDate(v.lastModified + 1000), v)).to.equal(false);
    expect(ifRangeAllows('garbage', v)).to.equal(false);
  });
});

describe('files: conditionals (RFC 9110 section 13.2.2)', () => {
  const lm = Date.UTC(2024, 0, 1, 12, 0, 0);
  const v = { etag: '"x1"', lastModified: lm };
  const run = (method: string, h: Record<string, string>) => evaluateConditionals(method, (n) => h[n], v);
  it('If-None-Match (weak comparison) -> 304 for GET/HEAD, 412 otherwise', () => {
    expect(run('GET', { 'if-none-match': '"x1"' })).to.equal('not-modified');
    expect(run('HEAD', { 'if-none-match': 'W/"x1"' })).to.equal('not-modified');
    expect(run('GET', { 'if-none-match': '"a", "x1"' })).to.equal('not-modified');
    expect(run('GET', { 'if-none-match': '*' })).to.equal('not-modified');
    expect(run('GET', { 'if-none-match': '"other"' })).to.equal('proceed');
    expect(run('POST', { 'if-none-match': '"x1"' })).to.equal('precondition-failed');
  });
  it('If-Modified-Since only without If-None-Match, only for GET/HEAD', () => {
    expect(run('GET', { 'if-modified-since': httpDate(lm) })).to.equal('not-modified');
    expect(run('GET', { 'if-modified-since': httpDate(lm - 1000) })).to.equal('proceed');
    expect(run('GET', { 'if-modified-since': httpDate(lm), 'if-none-match': '"other"' })).to.equal('proceed');
    expect(run('GET', { 'if-modified-since': 'not a date' })).to.equal('proceed');
  });
  it('If-Match (strong) and If-Unmodified-Since -> 412', () => {
    expect(run('GET', { 'if-match': '"x1"' })).to.equal('proceed');
    expect(run('GET', { 'if-match': 'W/"x1"' })).to.equal('precondition-failed');
    expect(run('GET', { 'if-match': '"nope"' })).to.equal('precondition-failed');
    expect(run('GET', { 'if-match': '*' })).to.equal('proceed');
    expect(run('GET', { 'if-unmodified-since': httpDate(lm - 1000) })).to.equal('precondition-failed');
    expect(run('GET', { 'if-unmodified-since': httpDate(lm) })).to.equal('proceed');
    expect(run('GET', { 'if-match': '"x1"', 'if-unmodified-since': httpDate(lm - 1000) })).to.equal('proceed');
  });
  it('entity-tag lists and dates', () => {
    expect(parseEtagList('"a", W/"b" ,"c"')).to.deep.equal(['"a"', 'W/"b"', '"c"']);
    expect(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT')).to.equal(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT')).to.equal(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('Sun Nov  6 08:49:37 1994')).to.equal(Date.UTC(1994, 10, 6, 8, 49, 37));
    expect(parseHttpDate('2024-01-01')).to.equal(null);
  });
  it('ETags change with size or mtime only; weak and per-encoding forms', () => {
    const a = fileEtag({ size: 10n, mtimeNs: 123n });
    expect(a).to.match(/^"[0-9a-z]+-[0-9a-z]+"$/);
    expect(fileEtag({ size: 10n, mtimeNs: 123n })).to.equal(a);
    expect(fileEtag({ size: 11n, mtimeNs: 123n })).to.not.equal(a);
    expect(fileEtag({ size: 10n, mtimeNs: 124n })).to.not.equal(a);
    expect(fileEtag({ size: 10n, mtimeNs: 123n }, 'weak')).to.equal(`W/${a}`);
    expect(fileEtag({ size: 10n, mtimeNs: 123n }, 'strong', 'br')).to.not.equal(a);
    expect(fileEtag({ size: 10n, mtimeNs: 123n }, false)).to.equal(null);
  });
});

describe('files: safe paths', () => {
  const root = '/srv/root';
  it('decodes once: double encoding stays literal', () => {
    expect(decodeUrlPath('/a%20b')).to.equal('/a b');
    expect(decodeUrlPath('/%252e%252e%252f')).to.equal('/%2e%2e%2f');
    expect(decodeUrlPath('/%E0%A4%A')).to.equal(null);
  });
  it('refuses parent segments, backslashes and NUL; dotfiles by policy', () => {
    expect(resolveUnder(root, '/../etc/passwd')).to.include({ ok: false, status: 404 });
    expect(resolveUnder(root, decodeUrlPath('/..%2f..%2fetc%2fpasswd')!)).to.include({ ok: false, status: 404 });
    expect(resolveUnder(root, decodeUrlPath('/%2e%2e/x')!)).to.include({ ok: false, status: 404 });
    expect(resolveUnder(root, '/..\\..\\x')).to.include({ ok: false, status: 404 });
    expect(resolveUnder(root, '/a\0b')).to.include({ ok: false, status: 400 });
    expect(resolveUnder(root, '/.env')).to.include({ ok: false, status: 404 });
    expect(resolveUnder(root, '/.git/config', 'deny')).to.include({ ok: false, status: 403 });
    expect(resolveUnder(root, '/.well-known/x', 'allow')).to.deep.include({ ok: true, path: '/srv/root/.well-known/x' });
    expect(resolveUnder(root, '/%2e%2e%2f')).to.deep.include({ ok: true, path: '/srv/root/%2e%2e%2f' });
    expect(resolveUnder(root, '//a/./b/')).to.deep.include({ ok: true, path: '/srv/root/a/b', trailingSlash: true });
  });
  it('redirect locations never become scheme-relative', () => {
    expect(safeLocation('//evil.example/')).to.equal('/evil.example/');
    expect(safeLocation('/a/')).to.equal('/a/');
  });
});

describe('files: multipart framing and region slicing', () => {
  it('the declared length equals the framing plus the ranges', () => {
    const ranges = [{ start: 0, end: 9 }, { start: 20, end: 29 }];
    const mp = byteranges(ranges, 100, 'text/plain', (r) => [Buffer.alloc(r.end - r.start + 1, 0x61)], 'B');
    const bytes = Buffer.concat(mp.chunks as Buffer[]);
    expect(bytes.length).to.equal(mp.length);
    expect(mp.contentType).to.equal('multipart/byteranges; boundary=B');
    expect(bytes.toString('latin1')).to.equal(
      '--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-9/100\r\n\r\naaaaaaaaaa' +
      '\r\n--B\r\nContent-Type: text/plain\r\nContent-Range: bytes 20-29/100\r\n\r\naaaaaaaaaa\r\n--B--\r\n',
    );
  });
  it('a range maps onto memory pieces and file regions', () => {
    const segs = [
      { kind: 'memory' as const, data: Buffer.from('HEAD') },
      { kind: 'file' as const, fd: 99, owner: null, offset: 100, length: 10 },
      { kind: 'memory' as const, data: Buffer.from('TAIL') },
    ];
    const out = slice(segs, { start: 2, end: 15 });
    expect(Buffer.from(out[0] as Uint8Array).toString()).to.equal('AD');
    expect(isFileRegion(out[1])).to.equal(true);
    expect((out[1] as FileRegion).fd).to.equal(99);
    expect((out[1] as FileRegion).offset).to.equal(100);
    expect((out[1] as FileRegion).length).to.equal(10);
    expect(Buffer.from(out[2] as Uint8Array).toString()).to.equal('TA');
    expect(out.length).to.equal(3);
  });
  it('fileRegion checks its arguments', () => {
    expect(() => fileRegion(-1)).to.throw(TypeError);
    expect(() => fileRegion('/x', { offset: -1 })).to.throw(TypeError);
    expect(() => fileRegion('/x', { closeFd: false })).to.throw(TypeError);
    expect(() => fileRegion('a\0b')).to.throw(TypeError);
    expect(fileRegion(3).closeFd).to.equal(false);
    expect(fileRegion(3, { closeFd: true }).closeFd).to.equal(true);
  });
});
