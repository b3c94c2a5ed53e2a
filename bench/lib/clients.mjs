#!/usr/bin/env node
// Custom load clients for workloads wrk cannot measure. Run by bench/run as
//   taskset -c 0 node bench/lib/clients.mjs <client> <port> '<json options>'
// and prints one JSON line: { value, unit, elapsedMs, ...details } or { error }.
// Every client is bounded in work and in time (options.timeoutMs).
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import zlib from 'node:zlib';
import * as common from '../servers/impl/common.mjs';

const HOST = '127.0.0.1';

function get(port, path, agent = false) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path, agent }, resolve);
    req.on('error', reject);
  });
}

function withTimeout(promise, ms, what) {
  let t;
  const timeout = new Promise((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(t));
}

/** Reads /rows?n=N and counts the newline-terminated rows it receives. */
async function rows(port, { n = 1_000_000, timeoutMs = 180_000, path = '/rows' }) {
  const t0 = process.hrtime.bigint();
  const run = (async () => {
    const res = await get(port, `${path}?n=${n}`);
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    let lines = 0;
    let bytes = 0;
    let last = null;
    for await (const chunk of res) {
      bytes += chunk.length;
      let i = -1;
      while ((i = chunk.indexOf(10, i + 1)) !== -1) lines++;
      last = chunk;
    }
    return { lines, bytes, last };
  })();
  const { lines, bytes, last } = await withTimeout(run, timeoutMs, 'rows');
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (lines !== n) throw new Error(`expected ${n} rows, got ${lines}`);
  const tail = last.toString('latin1');
  if (n > 0 && !tail.endsWith(`{"id":${n - 1},"name":"user-${n - 1}","score":${((n - 1) * 7) % 1000},"ok":true}\n`)) {
    throw new Error('last row differs from the contract');
  }
  return { value: lines / (ms / 1000), unit: 'rows/s', elapsedMs: ms, rows: lines, bytes, mibPerSec: bytes / 1048576 / (ms / 1000) };
}

/** Downloads `url` with curl into /dev/null; resolves to curl's `-w` report. */
function curlDiscard(url, report, extraArgs = []) {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-o', '/dev/null', '-w', report, ...extraArgs, url]);
    let text = '';
    let err = '';
    child.stdout.on('data', (d) => { text += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`curl exited ${code}: ${err.trim()}`))));
  });
}

/**
 * Reads /bulk?mb=M with curl (C, decodes chunked framing at memory speed: a Node client
 * tops out near the servers' own rate here) and measures MiB/s.
 */
async function bulk(port, { mb = 1024, fresh = false, timeoutMs = 120_000 }) {
  const url = `http://${HOST}:${port}/bulk?mb=${mb}${fresh ? '&fresh=1' : ''}`;
  const out = await withTimeout(curlDiscard(url, '%{http_code} %{size_download} %{time_total}'), timeoutMs, 'bulk');
  const [status, size, seconds] = out.trim().split(' ').map(Number);
  if (status !== 200) throw new Error(`status ${status}`);
  if (size !== mb * 1048576) throw new Error(`expected ${mb * 1048576} bytes, got ${size}`);
  return { value: size / 1048576 / seconds, unit: 'MiB/s', elapsedMs: seconds * 1000, bytes: size };
}

/**
 * Reads /pybulk?size=S&mb=M with curl: M MiB yielded by a Python generator as items of S
 * bytes each; checks the length, measures MiB/s.
 */
async function pybulk(port, { size = 1024, mb = 256, timeoutMs = 120_000 }) {
  const url = `http://${HOST}:${port}/pybulk?size=${size}&mb=${mb}`;
  const out = await withTimeout(curlDiscard(url, '%{http_code} %{size_download} %{time_total}'), timeoutMs, 'pybulk');
  const [status, got, seconds] = out.trim().split(' ').map(Number);
  if (status !== 200) throw new Error(`status ${status}`);
  if (got !== mb * 1048576) throw new Error(`expected ${mb * 1048576} bytes, got ${got}`);
  return { value: got / 1048576 / seconds, unit: 'MiB/s', elapsedMs: seconds * 1000, bytes: got, itemBytes: size, items: Math.ceil(got / size) };
}

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The process's peak RSS since it started (VmHWM), KiB. */
function hwmKiB(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** User + system CPU time of the process so far, ms. */
function cpuMs(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // clock ticks (USER_HZ 100)
}

/**
 * `readers` clients read /bulk?mb=M&fresh=1 at `rate` bytes/s each for `seconds`, while the
 * server's RSS is sampled: reports the peak over the idle RSS (MiB). The server must stay
 * within idle + 10 MiB + readers x its high watermark whatever the readers' speed. Also
 * reported: the server's VmHWM at the end (its peak RSS since it started, start-up and warm-up
 * included: what an outside probe of the process sees), and its CPU time during the run.
 */
async function slowreaders(port, { readers = 20, mb = 512, rate = 2_000_000, seconds = 15, serverPid, timeoutMs = 60_000 }) {
  if (!serverPid) throw new Error('slowreaders needs the server pid');
  const idle = rssKiB(serverPid);
  const cpu0 = cpuMs(serverPid);
  let peak = idle;
  const sampler = setInterval(() => { const r = rssKiB(serverPid); if (r > peak) peak = r; }, 50);
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const reqs = [];
  let received = 0;
  try {
    await withTimeout(Promise.all(Array.from({ length: readers }, () => new Promise((resolve, reject) => {
      const req = http.get({ host: HOST, port, path: `/bulk?mb=${mb}&fresh=1`, agent }, (res) => {
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
        const t0 = Date.now();
        let got = 0;
        res.on('data', (chunk) => {
          got += chunk.length;
          received += chunk.length;
          // token bucket: pause until the reader's budget catches up with what it took
          const ahead = got / rate * 1000 - (Date.now() - t0);
          if (ahead > 0) {
            res.pause();
            setTimeout(() => res.resume(), ahead);
          }
        });
        res.on('error', () => {});
        setTimeout(resolve, seconds * 1000);
      });
      req.on('error', reject);
      reqs.push(req);
    }))), timeoutMs, 'slowreaders');
  } finally {
    clearInterval(sampler);
    for (const r of reqs) r.destroy();
    agent.destroy();
  }
  const overMiB = (peak - idle) / 1024;
  return {
    value: overMiB, unit: 'MiB over idle', idleMiB: idle / 1024, peakMiB: peak / 1024,
    hwmMiB: hwmKiB(serverPid) / 1024, cpuMs: cpuMs(serverPid) - cpu0,
    readers, ratePerReader: rate, seconds, receivedMiB: received / 1048576,
  };
}

/** POST `publishPath?n=events`; checks the server saw `clients` subscribers. */
async function publish(port, publishPath, events, clients, timeoutMs, label) {
  const body = await withTimeout(new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method: 'POST', path: `${publishPath}?n=${events}`, agent: false }, (res) => {
      let s = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { s += d; });
      res.on('end', () => (res.statusCode === 200 ? resolve(s) : reject(new Error(`publish status ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  }), timeoutMs, `${label} publish`);
  const parsed = JSON.parse(body);
  if (parsed.subscribers !== clients) throw new Error(`publish saw ${parsed.subscribers} subscribers, expected ${clients}`);
}

/**
 * The fan-out measurement shared by sse and wsBroadcast: `clients` subscribers, each fed bytes
 * by `subscribe(c, sub)`; a subscriber counts as subscribed after its first `helloBytes` and as
 * done once it has exactly `helloBytes + frameBytes * events`, the last `frameBytes` equal to
 * `lastFrame`. Then POST `publishPath?n=events` and time until every subscriber is done.
 */
async function fanOut(port, { clients, events, timeoutMs, label, publishPath, helloBytes, frameBytes, lastFrame, subscribe }) {
  const want = helloBytes + frameBytes * events;
  let subscribed = 0;
  let done = 0;
  let onSubscribed;
  let onDone;
  let fail;
  const allSubscribed = new Promise((resolve, reject) => { onSubscribed = resolve; fail = reject; });
  const allDone = new Promise((resolve, reject) => {
    onDone = resolve;
    const prev = fail;
    fail = (e) => { prev(e); reject(e); };
  });
  allDone.catch(() => {});
  allSubscribed.catch(() => {});
  /** One subscriber's byte counter: `data(chunk)` for every body byte, `end()` when its stream ends. */
  const counter = () => {
    let got = 0;
    let tail = '';
    let isSub = false;
    return {
      data(chunk) {
        got += chunk.length;
        if (!isSub && got >= helloBytes) {
          isSub = true;
          if (++subscribed === clients) onSubscribed();
        }
        if (got >= want - frameBytes) tail = (tail + chunk.toString('latin1')).slice(-frameBytes);
        if (got === want) {
          if (tail !== lastFrame) fail(new Error(`last ${label} message differs: ${JSON.stringify(tail)}`));
          else if (++done === clients) onDone();
        } else if (got > want) fail(new Error(`received more than ${events} ${label} messages`));
      },
      end() {
        if (got < want) fail(new Error(`${label} subscription ended early`));
      },
      fail: (e) => fail(e),
    };
  };
  const handles = [];
  for (let c = 0; c < clients; c++) handles.push(subscribe(c, counter()));
  try {
    await withTimeout(allSubscribed, 30_000, `${label} subscribe`);
    const t0 = process.hrtime.bigint();
    await publish(port, publishPath, events, clients, timeoutMs, label);
    await withTimeout(allDone, timeoutMs, `${label} delivery`);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { value: (clients * events) / (ms / 1000), elapsedMs: ms, clients, events };
  } finally {
    for (const h of handles) h.destroy();
  }
}

/**
 * Opens `clients` SSE subscriptions, then POST /publish?n=events and times until every
 * subscriber has received every event. Each event is exactly 20 bytes
 * ("data: " + 12 digits + "\n\n") after the 14-byte ": subscribed\n\n" preamble, so
 * delivery is counted in bytes; the last event's text is checked.
 */
async function sse(port, { clients = 1000, events = 1000, timeoutMs = 180_000 }) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  try {
    const r = await fanOut(port, {
      clients, events, timeoutMs, label: 'sse', publishPath: '/publish',
      helloBytes: ': subscribed\n\n'.length, frameBytes: 20, lastFrame: `data: ${String(events - 1).padStart(12, '0')}\n\n`,
      subscribe: (_c, sub) => {
        const req = http.get({ host: HOST, port, path: '/sse', agent }, (res) => {
          if (res.statusCode !== 200) { sub.fail(new Error(`status ${res.statusCode}`)); return; }
          res.on('data', (chunk) => sub.data(chunk));
          res.on('error', (e) => sub.fail(e));
          res.on('end', () => sub.end());
        });
        req.on('error', (e) => sub.fail(e));
        return req;
      },
    });
    return { ...r, unit: 'events/s' };
  } finally {
    agent.destroy();
  }
}

/**
 * `clients` WebSocket subscribers (raw sockets: handshake, then server frames counted by bytes),
 * then POST /ws-publish?n=events: every subscriber must receive the "subscribed" text frame and
 * `events` text frames of 12 zero-padded digits (14 bytes each on the wire), the last one checked.
 */
async function wsBroadcast(port, { clients = 1000, events = 1000, timeoutMs = 180_000 }) {
  const r = await fanOut(port, {
    clients, events, timeoutMs, label: 'ws', publishPath: '/ws-publish',
    helloBytes: 2 + 'subscribed'.length, frameBytes: 2 + 12, lastFrame: '\x81\x0c' + String(events - 1).padStart(12, '0'),
    subscribe: (c, sub) => {
      const socket = net.connect({ host: HOST, port });
      let head = '';
      socket.on('connect', () => {
        socket.write(`GET /ws HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${Buffer.from(String(c).padStart(16, '0')).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      });
      socket.on('data', (chunk) => {
        if (!head.endsWith('\r\n\r\n')) {
          const text = head + chunk.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          if (end < 0) { head = text; return; }
          head = text.slice(0, end + 4);
          if (!head.startsWith('HTTP/1.1 101 ')) { sub.fail(new Error(`handshake: ${head.split('\r\n')[0]}`)); return; }
          chunk = Buffer.from(text.slice(end + 4), 'latin1');
        }
        sub.data(chunk);
      });
      socket.on('error', (e) => sub.fail(e));
      socket.on('end', () => sub.end());
      return socket;
    },
  });
  return { ...r, unit: 'msgs/s' };
}

/**
 * `clients` concurrent curl processes each GET `path` once and check they got `bytes`;
 * reports the total MiB/s over the wall time of the whole set (curl: a C client, so the
 * reading side costs as little as it can on the shared client CPU).
 */
async function download(port, { path = '/file', clients = 1, bytes, timeoutMs = 120_000 }) {
  const url = `http://${HOST}:${port}${path}`;
  const one = () => curlDiscard(url, '%{http_code} %{size_download}');
  const t0 = process.hrtime.bigint();
  const outs = await withTimeout(Promise.all(Array.from({ length: clients }, one)), timeoutMs, 'download');
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let total = 0;
  for (const out of outs) {
    const [status, size] = out.trim().split(' ').map(Number);
    if (status !== 200) throw new Error(`status ${status}`);
    if (bytes !== undefined && size !== bytes) throw new Error(`expected ${bytes} bytes, got ${size}`);
    total += size;
  }
  return { value: total / 1048576 / (ms / 1000), unit: 'MiB/s', elapsedMs: ms, bytes: total, clients };
}

/**
 * Reads /gzip-rows?n=N with Accept-Encoding: gzip, gunzips it and counts rows; checks the
 * last row and that the response really was gzip. rows/s of decoded rows.
 */
async function gziprows(port, { n = 1_000_000, timeoutMs = 180_000 }) {
  const zlib = await import('node:zlib');
  const t0 = process.hrtime.bigint();
  const run = new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: `/gzip-rows?n=${n}`, agent: false, headers: { 'Accept-Encoding': 'gzip' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`));
      if (res.headers['content-encoding'] !== 'gzip') return reject(new Error(`not gzip: ${res.headers['content-encoding']}`));
      let lines = 0;
      let bytes = 0;
      let wire = 0;
      let last = Buffer.alloc(0);
      res.on('data', (c) => { wire += c.length; });
      const gunzip = res.pipe(zlib.createGunzip());
      gunzip.on('data', (chunk) => {
        bytes += chunk.length;
        let i = -1;
        while ((i = chunk.indexOf(10, i + 1)) !== -1) lines++;
        last = chunk.length >= 200 ? chunk : Buffer.concat([last, chunk]).subarray(-400);
      });
      gunzip.on('end', () => resolve({ lines, bytes, wire, last }));
      gunzip.on('error', reject);
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  const { lines, bytes, wire, last } = await withTimeout(run, timeoutMs, 'gzip-rows');
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (lines !== n) throw new Error(`expected ${n} rows, got ${lines}`);
  if (n > 0 && !last.toString('latin1').endsWith(`{"id":${n - 1},"name":"user-${n - 1}","score":${((n - 1) * 7) % 1000},"ok":true}\n`)) {
    throw new Error('last row differs from the contract');
  }
  return { value: lines / (ms / 1000), unit: 'rows/s', elapsedMs: ms, rows: lines, bytes, wireBytes: wire, ratio: bytes / Math.max(1, wire) };
}

/**
 * Fairness between plain and compressed streams on one loop: a compressed stream of `gzipRows`
 * rows alone, then the same stream started together with `plain` plain streams of `plainRows`
 * rows each. Reports the compressed stream's slowdown under load (value; with S streams sharing
 * one core a fair share is at most S) and every stream's time.
 */
async function gzipfair(port, { plain = 6, plainRows = 1_000_000, gzipRows = 50_000, timeoutMs = 120_000 }) {
  const gz = () => curlDiscard(`http://${HOST}:${port}/gzip-rows?n=${gzipRows}`, '%{http_code} %{time_total}', ['-H', 'Accept-Encoding: gzip']);
  const pl = () => curlDiscard(`http://${HOST}:${port}/rows?n=${plainRows}`, '%{http_code} %{time_total}');
  const seconds = (out) => {
    const [status, t] = out.trim().split(' ');
    if (Number(status) !== 200) throw new Error(`status ${status}`);
    return Number(t);
  };
  const alone = seconds(await withTimeout(gz(), timeoutMs, 'gzip alone'));
  const [g, ...p] = await withTimeout(Promise.all([gz(), ...Array.from({ length: plain }, pl)]), timeoutMs, 'gzip with plain streams');
  const underLoad = seconds(g);
  const plainTimes = p.map(seconds).sort((a, b) => a - b);
  return {
    value: underLoad / alone, unit: 'x slower', elapsedMs: underLoad * 1000,
    gzipAloneMs: alone * 1000, gzipUnderLoadMs: underLoad * 1000, plainMs: plainTimes.map((t) => t * 1000), streams: plain + 1,
  };
}

/**
 * POST /upload (the bench contract): `uploads` multipart bodies, each one field and one file of
 * `size` bytes, `concurrency` at a time over keep-alive connections. The file's bytes are one
 * pseudo-random slice of at most 1 MiB repeated, written with backpressure; each answer is
 * checked (size, sha256, filename, the field). Reports MiB/s of file bytes over the whole set,
 * and the server's memory: RSS before the run (idle), its peak sampled every 20 ms during the
 * run, and VmHWM at the end (its peak since it started, warm-up included); and the server's CPU
 * time over the run (MiB per CPU-second). `checkSha256: false` accepts any sha256 (upload-floor's
 * FLOOR_NO_HASH variant, bench/lib/upload-floor-cost.mjs).
 */
async function upload(port, { uploads = 1, size = 1024 * 1024 * 1024, concurrency = 1, serverPid, checkSha256 = true, timeoutMs = 180_000 }) {
  const { createHash } = await import('node:crypto');
  const slice = Buffer.alloc(Math.min(size, 1024 * 1024));
  let x = 0x2545f491;
  for (let i = 0; i < slice.length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    slice[i] = x & 0xff;
  }
  const hash = createHash('sha256');
  for (let done = 0; done < size; done += slice.length) hash.update(slice.subarray(0, Math.min(slice.length, size - done)));
  const sha256 = hash.digest('hex');
  const boundary = '----benchUploadBoundary' + Date.now().toString(16);
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nbench\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const length = head.length + size + tail.length;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const one = () => new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, path: '/upload', method: 'POST', agent, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(length) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}: ${text.slice(0, 200)}`));
        let body;
        try { body = JSON.parse(text); } catch { return reject(new Error(`not JSON: ${text.slice(0, 200)}`)); }
        const f = body.files?.[0];
        if (body.files?.length !== 1 || f.size !== size || (checkSha256 && f.sha256 !== sha256) || f.filename !== 'upload.bin' || f.field !== 'file' || body.fields?.note !== 'bench') {
          return reject(new Error(`wrong answer: ${text.slice(0, 300)}`));
        }
        resolve();
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    (async () => {
      const write = (b) => (req.write(b) ? null : new Promise((r) => req.once('drain', r)));
      await write(head);
      for (let done = 0; done < size; done += slice.length) {
        const wait = write(slice.subarray(0, Math.min(slice.length, size - done)));
        if (wait) await wait;
      }
      req.end(tail);
    })().catch(reject);
  });
  const idle = serverPid ? rssKiB(serverPid) : NaN;
  const cpu0 = serverPid ? cpuMs(serverPid) : NaN;
  let peak = idle;
  const sampler = serverPid ? setInterval(() => { const r = rssKiB(serverPid); if (r > peak) peak = r; }, 20) : null;
  const t0 = process.hrtime.bigint();
  try {
    let next = 0;
    const lane = async () => {
      while (next < uploads) {
        next++;
        await one();
      }
    };
    await withTimeout(Promise.all(Array.from({ length: Math.min(concurrency, uploads) }, lane)), timeoutMs, 'upload');
  } finally {
    if (sampler) clearInterval(sampler);
    agent.destroy();
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const bytes = uploads * size;
  const out = { value: bytes / 1048576 / (ms / 1000), unit: 'MiB/s', elapsedMs: ms, bytes, uploads, concurrency };
  if (serverPid) {
    const last = rssKiB(serverPid);
    if (last > peak) peak = last;
    const cpu = cpuMs(serverPid) - cpu0;
    // Server CPU per MiB is what a loaded machine (2 cores shared with other work) distorts least.
    Object.assign(out, { idleMiB: idle / 1024, peakMiB: peak / 1024, overIdleMiB: (peak - idle) / 1024, hwmMiB: hwmKiB(serverPid) / 1024, cpuMs: cpu, mibPerCpuSec: bytes / 1048576 / (cpu / 1000) });
  }
  return out;
}

/**
 * ws-broadcast-deflate: `clients` raw WebSocket subscribers offering permessage-deflate with
 * server_no_context_takeover (so every compressed frame inflates on its own), then
 * POST /wsz-publish?n=events. Every server frame is parsed (header, RSV1) and counted; a
 * subscriber is done after "subscribed" + `events` messages; the last message is inflated and
 * checked against wsJsonMessage(events - 1), and a sample of others too. Reports msgs/s, the
 * server's CPU time from publish to the last delivery, and bytes on the wire per message.
 */
async function wsBroadcastDeflate(port, { clients = 1000, events = 1000, timeoutMs = 300_000, serverPid }) {
  if (!serverPid) throw new Error('wsBroadcastDeflate needs the server pid');
  const tail = Buffer.from([0, 0, 0xff, 0xff]);
  const inflate = (p) => zlib.inflateRawSync(Buffer.concat([p, tail]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
  let subscribed = 0;
  let done = 0;
  let wire = 0;
  let compressed = 0;
  let onSubscribed;
  let onDone;
  let fail;
  const allSubscribed = new Promise((resolve, reject) => { onSubscribed = resolve; fail = reject; });
  const allDone = new Promise((resolve, reject) => { onDone = resolve; const prev = fail; fail = (e) => { prev(e); reject(e); }; });
  allDone.catch(() => {});
  allSubscribed.catch(() => {});
  const sockets = [];
  for (let c = 0; c < clients; c++) {
    const socket = net.connect({ host: HOST, port });
    sockets.push(socket);
    let head = null;
    let buf = Buffer.alloc(0);
    let messages = 0;
    socket.on('connect', () => {
      socket.write(`GET /wsz HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${Buffer.from(String(c).padStart(16, '0')).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        'Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits\r\n\r\n');
    });
    socket.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (head === null) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101 ') || !/sec-websocket-extensions: permessage-deflate/i.test(head)) {
          fail(new Error(`handshake without permessage-deflate: ${head.split('\r\n')[0]}`));
          return;
        }
        buf = buf.subarray(end + 4);
      }
      wire += chunk.length;
      let off = 0;
      while (buf.length - off >= 2) {
        const b0 = buf[off];
        let len = buf[off + 1] & 0x7f;
        let h = 2;
        if (len === 126) { if (buf.length - off < 4) break; len = buf.readUInt16BE(off + 2); h = 4; }
        else if (len === 127) { if (buf.length - off < 10) break; len = Number(buf.readBigUInt64BE(off + 2)); h = 10; }
        if (buf.length - off < h + len) break;
        const payload = buf.subarray(off + h, off + h + len);
        off += h + len;
        if ((b0 & 0x0f) !== 1 || !(b0 & 0x80)) { fail(new Error(`unexpected frame 0x${b0.toString(16)}`)); return; }
        if (b0 & 0x40) compressed++;
        messages++;
        if (messages === 1) {
          if (++subscribed === clients) onSubscribed();
          continue;
        }
        const i = messages - 2;
        // check the last message, and a sample of the others, byte for byte
        if (i === events - 1 || (c % 97 === 0 && i % 101 === 0)) {
          const text = b0 & 0x40 ? inflate(payload) : payload.toString();
          if (text !== common.wsJsonMessage(i)) { fail(new Error(`message ${i} differs: ${text.slice(0, 60)}`)); return; }
        }
        if (messages === events + 1 && ++done === clients) onDone();
        if (messages > events + 1) { fail(new Error(`more than ${events} messages`)); return; }
      }
      buf = buf.subarray(off);
    });
    socket.on('error', (e) => fail(e));
    socket.on('end', () => { if (messages < events + 1) fail(new Error('subscription ended early')); });
  }
  try {
    await withTimeout(allSubscribed, 60_000, 'wsz subscribe');
    const wire0 = wire;
    const compressed0 = compressed;
    const cpu0 = cpuMs(serverPid);
    const t0 = process.hrtime.bigint();
    await publish(port, '/wsz-publish', events, clients, timeoutMs, 'wsz');
    await withTimeout(allDone, timeoutMs, 'wsz delivery');
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const msgs = clients * events;
    return {
      value: msgs / (ms / 1000), unit: 'msgs/s', elapsedMs: ms, clients, events, cpuMs: cpuMs(serverPid) - cpu0,
      wireBytesPerMsg: (wire - wire0) / msgs, payloadBytesPerMsg: Buffer.byteLength(common.wsJsonMessage(events - 1)),
      compressedShare: (compressed - compressed0) / msgs,
    };
  } finally {
    for (const s of sockets) s.destroy();
  }
}

const CLIENTS = { upload, rows, bulk, pybulk, sse, wsBroadcast, wsBroadcastDeflate, slowreaders, download, gziprows, gzipfair };

const [name, portArg, optsArg] = process.argv.slice(2);
const client = CLIENTS[name];
if (!client) {
  console.error(`usage: clients.mjs <${Object.keys(CLIENTS).join('|')}> <port> '<json options>'`);
  process.exit(2);
}
try {
  const out = await client(Number(portArg), optsArg ? JSON.parse(optsArg) : {});
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
} catch (e) {
  process.stdout.write(JSON.stringify({ error: String(e && e.message ? e.message : e) }) + '\n');
  process.exit(1);
}
