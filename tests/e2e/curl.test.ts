/**
 * Real client: curl.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import { parseAll } from '../helpers/http-parse.js';

function curl(args: string[]): Promise<{ stdout: Buffer; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile('curl', ['--max-time', '15', ...args], { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ stdout, stderr: stderr.toString(), code: err ? ((err as any).code ?? 1) : 0 });
    });
  });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const setup = (app: any) => {
  app.get('/hello', () => 'hello from catzilla');
  app.post('/form', async (req: any) => ({ method: req.method, type: req.header('content-type'), body: await req.text() }));
  app.post('/upload', async (req: any) => {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of req) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    return { bytes, sha256: hash.digest('hex'), expect: req.header('expect') ?? null };
  });
};

describe('e2e: curl', () => {
  it('curl -sS -i GET: exact status line, headers and body', async () => {
    await withApp(setup, async ({ base }) => {
      const { stdout, stderr, code } = await curl(['-sS', '-i', `${base}/hello`]);
      expect(code, stderr).to.equal(0);
      const { responses, leftover } = parseAll(stdout, ['GET'], true);
      expect(responses).to.have.length(1);
      expect(leftover.length).to.equal(0);
      const r = responses[0]!;
      expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(r.get('content-type')).to.equal('text/plain; charset=utf-8');
      expect(r.get('content-length')).to.equal('19');
      expect(r.text()).to.equal('hello from catzilla');
    });
  });

  it('curl --http1.0: answered without chunking, connection closed', async () => {
    await withApp(setup, async ({ base }) => {
      const { stdout, stderr, code } = await curl(['-sS', '-i', '-v', '--http1.0', `${base}/hello`]);
      expect(code, stderr).to.equal(0);
      const { responses } = parseAll(stdout, ['GET'], true);
      const r = responses[0]!;
      expect(r.status).to.equal(200);
      expect(r.get('transfer-encoding')).to.equal(undefined);
      expect(r.text()).to.equal('hello from catzilla');
      expect(stderr).to.match(/> GET \/hello HTTP\/1\.0/);
      expect(stderr).to.match(/Closing connection/i);
    });
  });

  it('curl -d POST: form body received with its Content-Type', async () => {
    await withApp(setup, async ({ base }) => {
      const { stdout, stderr, code } = await curl(['-sS', '-d', 'a=1&b=two', `${base}/form`]);
      expect(code, stderr).to.equal(0);
      expect(JSON.parse(stdout.toString())).to.deep.equal({ method: 'POST', type: 'application/x-www-form-urlencoded', body: 'a=1&b=two' });
    });
  });

  it('curl --data-binary @file (2 MiB) uses Expect: 100-continue and the body arrives intact', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-curl-'));
    try {
      const data = Buffer.alloc(2 * 1024 * 1024);
      for (let i = 0; i < data.length; i++) data[i] = (i * 131 + 17) & 0xff;
      const file = path.join(dir, 'body.bin');
      fs.writeFileSync(file, data);
      await withApp(
        setup,
        async ({ base }) => {
          const { stdout, stderr, code } = await curl(['-sS', '-i', '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${file}`, `${base}/upload`]);
          expect(code, stderr).to.equal(0);
          const text = stdout.toString('latin1');
          expect(text.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n'), JSON.stringify(text.slice(0, 200))).to.equal(true);
          const { responses } = parseAll(stdout, ['POST', 'POST'], true);
          const final = responses.find((r) => r.status === 200)!;
          expect(JSON.parse(final.text())).to.deep.equal({ bytes: data.length, sha256: sha256(data), expect: '100-continue' });
        },
        { maxBodySize: 4 * 1024 * 1024 } as any,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('curl sees 404 and 413 statuses', async () => {
    await withApp(
      setup,
      async ({ base }) => {
        const nf = await curl(['-sS', '-o', '/dev/null', '-w', '%{http_code}', `${base}/missing`]);
        expect(nf.stdout.toString()).to.equal('404');
        const big = await curl(['-sS', '-o', '/dev/null', '-w', '%{http_code}', '--data-binary', 'x'.repeat(2000), `${base}/upload`]);
        expect(big.stdout.toString()).to.equal('413');
      },
      { maxBodySize: 1000 } as any,
    );
  });
});
