// Shared payload generators for the Node.js peers, so every peer streams byte-identical bodies.
// The contract is documented in bench/README.md ("Endpoint contract").

export const HELLO = 'Hello, World!';
export const SMALL_CHUNK = Buffer.from('0123456789abcdef'); // 16 bytes
export const SMALL_COUNT = 10;
export const BULK_CHUNK_SIZE = 64 * 1024;
export const MIB = 1024 * 1024;

// 64 KiB of printable bytes, reused for every /bulk chunk unless fresh=1.
export const BULK_TEMPLATE = Buffer.alloc(BULK_CHUNK_SIZE);
for (let i = 0; i < BULK_CHUNK_SIZE; i++) BULK_TEMPLATE[i] = 97 + (i % 26);

export function port() {
  const p = Number(process.env.PORT);
  if (!Number.isInteger(p) || p <= 0 || p > 65535) {
    console.error('PORT must be set to a TCP port');
    process.exit(2);
  }
  return p;
}

export const HOST = '127.0.0.1';

export async function* smallChunks() {
  for (let i = 0; i < SMALL_COUNT; i++) yield SMALL_CHUNK;
}

export function rowLine(i) {
  return `{"id":${i},"name":"user-${i}","score":${(i * 7) % 1000},"ok":true}\n`;
}

// rows and bulk are plain generators: every peer gets its fastest idiom (a sync iterable
// needs no promise per item); /small stays async as the contract says.
export function* rows(n) {
  for (let i = 0; i < n; i++) yield rowLine(i);
}

export function* bulk(mb, fresh) {
  const chunks = (mb * MIB) / BULK_CHUNK_SIZE;
  for (let i = 0; i < chunks; i++) yield fresh ? Buffer.from(BULK_TEMPLATE) : BULK_TEMPLATE;
}

/** Parses a non-negative integer query parameter, clamped to max. */
export function intParam(value, dflt, max) {
  const n = value == null || value === '' ? dflt : Number(value);
  if (!Number.isInteger(n) || n < 0) return dflt;
  return Math.min(n, max);
}

export const MAX_ROWS = 100_000_000;
export const MAX_MB = 64 * 1024;
export const MAX_EVENTS = 10_000_000;

/** A WebSocket broadcast message (ws-broadcast workload): i zero-padded to 12 digits. */
export function wsMessage(i) {
  return String(i).padStart(12, '0');
}

// ws-broadcast-deflate: a ~200-byte JSON message (a market tick), deterministic for message i.
export function wsJsonMessage(i) {
  return JSON.stringify({
    type: 'tick', seq: i, symbol: ['CATZ', 'ZILA', 'MEOW', 'PURR'][i % 4], price: 100 + ((i * 37) % 1000) / 100,
    size: (i * 13) % 500, exchange: 'XNAS', conditions: ['regular', 'odd-lot'], ts: 1764633600000 + i,
    note: 'catzilla websocket broadcast benchmark payload',
  });
}

export function sseEvent(i) {
  return `data: ${String(i).padStart(12, '0')}\n\n`;
}

export const SSE_HELLO = ': subscribed\n\n';

export function benchFile() {
  const f = process.env.BENCH_FILE;
  return f && f.length ? f : null;
}

/** Exit cleanly on SIGTERM/SIGINT (the driver kills the process group). */
export function onStop(fn) {
  const stop = () => {
    Promise.resolve()
      .then(fn)
      .catch(() => {})
      .finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

// /mixed (catzilla only): a memory header, the $BENCH_FILE file, a memory footer.
export const MIXED_HEADER = Buffer.from('--- mixed header ---\n');
export const MIXED_FOOTER = Buffer.from('\n--- mixed footer ---\n');

/** Wall-clock microseconds (comparable across the processes of one machine). */
export function nowMicros() {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * POST /publish-ids (bench/scaleout.mjs): calls publish(`<seq> <publish time in us>`) n times, seq
 * from `from`, `rate` per second (0: all at once); resolves with what the calls returned and the
 * milliseconds it took.
 */
export async function publishPaced(n, rate, from, publish) {
  const results = [];
  const t0 = performance.now();
  for (let i = 0; i < n; ) {
    const due = rate > 0 ? Math.min(n, Math.floor(((performance.now() - t0) * rate) / 1000) + 1) : n;
    if (due <= i) {
      await new Promise((resolve) => setTimeout(resolve, 1));
      continue;
    }
    for (; i < due; i++) results.push(publish(`${from + i} ${nowMicros()}`));
  }
  return { results, ms: Math.round(performance.now() - t0) };
}

// ---- POST /upload (issue 16): each file part streamed to a per-request temporary directory ----
// The contract (bench/README.md): the answer is { files: [{ field, filename, size, sha256 }],
// fields: { name: value } } and the directory is removed before the answer leaves. Every Node
// peer writes and hashes the part's stream the same way: one 'data' listener for the hash, the
// stream piped into fs.createWriteStream (1 MiB high-water mark).
import fsp from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import os from 'node:os';
import nodePath from 'node:path';
import { pipeline as pipelineP } from 'node:stream/promises';

/** A fresh directory under $UPLOAD_TMPDIR (the driver sets it per workload), else the OS's. */
export function uploadDir() {
  return fsp.mkdtemp(nodePath.join(process.env.UPLOAD_TMPDIR || os.tmpdir(), 'bench-upload-'));
}

export function removeUploadDir(dir) {
  return fsp.rm(dir, { recursive: true, force: true });
}

/** Streams `stream` into `file` while hashing it; { size, sha256 }. */
export async function saveAndHash(stream, file) {
  const hash = createHash('sha256');
  let size = 0;
  stream.on('data', (chunk) => {
    hash.update(chunk);
    size += chunk.length;
  });
  await pipelineP(stream, createWriteStream(file, { highWaterMark: MIB }));
  return { size, sha256: hash.digest('hex') };
}
