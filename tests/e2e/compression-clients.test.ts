/**
 * Real clients decode every streaming format byte-exactly: curl --compressed (gzip,
 * deflate, br) and Python's zlib (gzip, deflate) against the uncompressed response.
 */
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { compress, csv, jsonArray, ndjson, sse } from '../../ts/index.js';
import { testPython } from '../helpers/test-python.js';
import { withApp } from '../helpers/with-app.js';

function curl(args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile('curl', ['--max-time', '20', '-sS', ...args], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ stdout, stderr: stderr.toString(), code: err ? ((err as any).code ?? 1) : 0 });
    });
  });
}

const PY = String.raw`
import http.client, sys, zlib, hashlib, json
port, path, coding = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conn = http.client.HTTPConnection('127.0.0.1', port, timeout=20)
conn.request('GET', path, headers={'Accept-Encoding': coding})
r = conn.getresponse()
raw = r.read()
wbits = 16 + zlib.MAX_WBITS if coding == 'gzip' else zlib.MAX_WBITS
d = zlib.decompressobj(wbits)
body = d.decompress(raw) + d.flush()
print(json.dumps({'encoding': r.getheader('Content-Encoding'), 'eof': d.eof, 'len': len(body), 'sha': hashlib.sha256(body).hexdigest()}))
`;

function python(port: number, path: string, coding: string): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(testPython(), ['-c', PY, String(port), path, coding], { timeout: 30_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))));
  });
}

const sha = async (b: Buffer) => (await import('node:crypto')).createHash('sha256').update(b).digest('hex');

const ROWS = Array.from({ length: 3000 }, (_, i) => ({ id: i, name: `name ${i}, "quoted"`, text: i % 7 === 0 ? 'multi\nline' : 'plain' }));

const setup = (app: any) => {
  app.use(compress({ threshold: 256 }));
  app.get('/ndjson', () => ndjson(ROWS));
  app.get('/csv', () => csv(ROWS, { columns: ['id', 'name', 'text'] }));
  app.get('/array', () => jsonArray((async function* () { for (const r of ROWS) yield r; })()));
  app.get('/sse', (req: any) => sse(req, async (stream) => {
    for (let i = 0; i < 300; i++) await stream.send({ id: i, event: 'row', data: ROWS[i]! });
  }, { heartbeat: 0 }));
  app.get('/text', () => 'a whole body that is long enough to be compressed. '.repeat(100));
};

const PATHS = ['/ndjson', '/csv', '/array', '/sse', '/text'];

describe('e2e: compressed formats decoded by curl and Python', () => {
  for (const coding of ['gzip', 'deflate', 'br']) {
    it(`curl --compressed decodes every format byte-exactly (${coding})`, async () => {
      await withApp(setup, async ({ base }) => {
        for (const path of PATHS) {
          const plain = await curl([`${base}${path}`]);
          expect(plain.code, plain.stderr).to.equal(0);
          const headers = await curl(['-D', '-', '-o', '/dev/null', '-H', `Accept-Encoding: ${coding}`, `${base}${path}`]);
          expect(headers.stdout.toString().toLowerCase(), path).to.include(`content-encoding: ${coding}`);
          const decoded = await curl(['--compressed', '-H', `Accept-Encoding: ${coding}`, `${base}${path}`]);
          expect(decoded.code, decoded.stderr).to.equal(0);
          expect(decoded.stdout.length, path).to.equal(plain.stdout.length);
          expect(decoded.stdout.equals(plain.stdout), `${path} (${coding})`).to.equal(true);
        }
      });
    });
  }

  for (const coding of ['gzip', 'deflate']) {
    it(`Python zlib decodes every format byte-exactly (${coding})`, async () => {
      await withApp(setup, async ({ base, port }) => {
        for (const path of PATHS) {
          const plain = await curl([`${base}${path}`]);
          const out = await python(port, path, coding);
          expect(out.encoding, path).to.equal(coding);
          expect(out.eof, `${path}: the compressed stream is complete`).to.equal(true);
          expect(out.len, path).to.equal(plain.stdout.length);
          expect(out.sha, path).to.equal(await sha(plain.stdout));
        }
      });
    });
  }
});
