/**
 * Real clients upload: curl -F (files and fields, a filename with a path in it, an upload of
 * 40 MiB) and Python's http.client (a multipart body it builds, sent with Content-Length and
 * again chunked from a generator). The server hashes each file part as it streams by; the
 * answer is compared with the clients' own hashes.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { testPython } from '../helpers/test-python.js';
import { withApp } from '../helpers/with-app.js';
import { patterned } from '../helpers/multipart-body.js';
import { hashParts } from '../helpers/upload-route.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ stdout, stderr, code: err ? ((err as { code?: number }).code ?? 1) : 0 });
    });
  });
}

const PY = String.raw`
import hashlib, http.client, json, os, sys
port, mode = int(sys.argv[1]), sys.argv[2]
boundary = 'pyBoundary' + os.urandom(8).hex()
data = bytes((i * 7 + 3) % 251 for i in range(3 * 1024 * 1024 + 17))
def parts():
    yield ('--%s\r\nContent-Disposition: form-data; name="who"\r\n\r\npython \u00e9\r\n' % boundary).encode('utf-8')
    yield ('--%s\r\nContent-Disposition: form-data; name="blob"; filename="data.bin"\r\nContent-Type: application/octet-stream\r\n\r\n' % boundary).encode()
    for i in range(0, len(data), 100000):
        yield data[i:i + 100000]
    yield ('\r\n--%s--\r\n' % boundary).encode()
conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
headers = {'Content-Type': 'multipart/form-data; boundary=' + boundary}
if mode == 'chunked':
    conn.request('POST', '/upload', body=parts(), headers=headers, encode_chunked=True)
else:
    conn.request('POST', '/upload', body=b''.join(parts()), headers=headers)
r = conn.getresponse()
print(json.dumps({'status': r.status, 'body': json.loads(r.read()), 'sha256': hashlib.sha256(data).hexdigest(), 'size': len(data)}))
`;

describe('e2e: uploads from curl and Python', function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-upload-clients-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('curl -F: fields and files (one named with a path), byte-exact', async () => {
    const a = patterned(40 * 1024 * 1024, 7);
    const b = patterned(12345, 8);
    fs.writeFileSync(path.join(dir, 'a.bin'), a);
    fs.writeFileSync(path.join(dir, 'b.txt'), b);
    await withApp(
      (app) => {
        app.post('/upload', hashParts);
      },
      async ({ base }) => {
        const r = await run('curl', ['-sS', '--max-time', '60', '-F', 'title=from curl', '-F', `big=@${path.join(dir, 'a.bin')}`, '-F', `small=@${path.join(dir, 'b.txt')};filename=../../etc/evil.txt;type=text/plain`, `${base}/upload`]);
        expect(r.code, r.stderr).to.equal(0);
        expect(JSON.parse(r.stdout)).to.deep.equal({
          files: [
            { field: 'big', filename: 'a.bin', size: a.length, sha256: sha(a) },
            { field: 'small', filename: 'evil.txt', size: b.length, sha256: sha(b) },
          ],
          fields: { title: 'from curl' },
        });
      },
      { maxBodySize: 64 * 1024 * 1024 },
    );
  });

  it('curl -F to req.form({ uploadDir }): the saved file equals the sent one', async () => {
    const a = patterned(5 * 1024 * 1024 + 1, 9);
    fs.writeFileSync(path.join(dir, 'c.bin'), a);
    const uploadDir = fs.mkdtempSync(path.join(dir, 'saved-'));
    await withApp(
      (app) => {
        app.post('/form', async (req) => {
          const form = await req.form({ uploadDir });
          const out = { fields: form.fields, files: form.files.map((f) => ({ filename: f.filename, size: f.size, sha256: sha(fs.readFileSync(f.path)) })) };
          await form.remove();
          return out;
        });
      },
      async ({ base }) => {
        const r = await run('curl', ['-sS', '--max-time', '60', '-F', 'k=v', '-F', `f=@${path.join(dir, 'c.bin')}`, `${base}/form`]);
        expect(r.code, r.stderr).to.equal(0);
        expect(JSON.parse(r.stdout)).to.deep.equal({ fields: { k: 'v' }, files: [{ filename: 'c.bin', size: a.length, sha256: sha(a) }] });
        expect(fs.readdirSync(uploadDir)).to.deep.equal([]);
      },
      { maxBodySize: 8 * 1024 * 1024 },
    );
  });

  for (const mode of ['length', 'chunked']) {
    it(`Python http.client, a body it builds (${mode === 'length' ? 'Content-Length' : 'chunked, from a generator'})`, async () => {
      await withApp(
        (app) => {
          app.post('/upload', hashParts);
        },
        async ({ port }) => {
          const r = await run(testPython(), ['-c', PY, String(port), mode]);
          expect(r.code, r.stderr).to.equal(0);
          const out = JSON.parse(r.stdout);
          expect(out.status).to.equal(200);
          expect(out.body).to.deep.equal({ files: [{ field: 'blob', filename: 'data.bin', size: out.size, sha256: out.sha256 }], fields: { who: 'python \u00e9' } });
        },
        { maxBodySize: 8 * 1024 * 1024 },
      );
    });
  }
});
