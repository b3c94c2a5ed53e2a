/**
 * Fixtures for the file tests: a temporary tree with a root directory to serve and a
 * secret file beside it (outside the root), and a multipart/byteranges parser that is
 * not ours (Python's `email` package, in a subprocess).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { testPython } from './test-python.js';

export const SECRET = 'TOP-SECRET-0123456789';

export interface FileTree {
  dir: string;
  root: string;
  secret: string;
  /** Pseudo-random bytes served as /data.bin. */
  data: Buffer;
  /** Text served as /app.js with .br and .gz siblings. */
  appJs: Buffer;
  remove(): void;
}

export function pseudoRandom(size: number, seed = 0x9e3779b9): Buffer {
  const buf = Buffer.alloc(size);
  let x = seed >>> 0;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    buf[i] = x & 0xff;
  }
  return buf;
}

export function makeTree(): FileTree {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-files-'));
  const root = path.join(dir, 'public');
  fs.mkdirSync(path.join(root, 'docs'), { recursive: true });
  fs.mkdirSync(path.join(root, 'empty'));
  fs.mkdirSync(path.join(root, '.hidden'));
  const secret = path.join(dir, 'secret.txt');
  fs.writeFileSync(secret, SECRET);
  const data = pseudoRandom(200_000);
  fs.writeFileSync(path.join(root, 'data.bin'), data);
  fs.writeFileSync(path.join(root, 'docs', 'index.html'), '<h1>docs</h1>\n');
  fs.writeFileSync(path.join(root, '.env'), SECRET);
  fs.writeFileSync(path.join(root, '.hidden', 'x.txt'), SECRET);
  fs.writeFileSync(path.join(root, 'zero.txt'), '');
  fs.writeFileSync(path.join(root, '%2e%2e%2fsecret.txt'), 'literal name\n');
  const appJs = Buffer.from('function hello() { return "hello"; }\n'.repeat(400));
  fs.writeFileSync(path.join(root, 'app.js'), appJs);
  fs.writeFileSync(path.join(root, 'app.js.br'), zlib.brotliCompressSync(appJs));
  fs.writeFileSync(path.join(root, 'app.js.gz'), zlib.gzipSync(appJs));
  fs.symlinkSync(secret, path.join(root, 'link-out.txt'));
  fs.symlinkSync(path.join(root, 'data.bin'), path.join(root, 'link-in.bin'));
  return { dir, root, secret, data, appJs, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface ParsedPart {
  contentType: string | null;
  contentRange: string | null;
  body: Buffer;
}

/** Parses a multipart body with Python's email package; throws when it finds a defect. */
export function parseMultipartWithPython(contentType: string, body: Buffer): ParsedPart[] {
  const script = `
import sys, json, email
from email import policy
raw = sys.stdin.buffer.read()
msg = email.message_from_bytes(raw, policy=policy.HTTP)
if not msg.is_multipart(): raise SystemExit('not multipart')
if msg.defects: raise SystemExit('defects: %r' % msg.defects)
out = []
for part in msg.iter_parts():
    if part.defects: raise SystemExit('part defects: %r' % part.defects)
    out.append({'type': part.get('Content-Type'), 'range': part.get('Content-Range'), 'hex': part.get_payload(decode=True).hex()})
print(json.dumps(out))
`;
  const input = Buffer.concat([Buffer.from(`Content-Type: ${contentType}\r\nMIME-Version: 1.0\r\n\r\n`, 'latin1'), body]);
  const out = execFileSync(testPython(), ['-c', script], { input, maxBuffer: 64 * 1024 * 1024, timeout: 30_000 });
  return (JSON.parse(out.toString()) as Array<{ type: string | null; range: string | null; hex: string }>).map((p) => ({
    contentType: p.type,
    contentRange: p.range,
    body: Buffer.from(p.hex, 'hex'),
  }));
}

/** Open descriptors of this process (Linux). */
export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}
