#!/usr/bin/env node
// Custom load clients for workloads wrk cannot measure. Run by bench/run as
//   taskset -c 0 node bench/lib/clients.mjs <client> <port> '<json options>'
// and prints one JSON line: { value, unit, elapsedMs, ...details } or { error }.
// Every client is bounded in work and in time (options.timeoutMs).
import http from 'node:http';

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
async function rows(port, { n = 1_000_000, timeoutMs = 180_000 }) {
  const t0 = process.hrtime.bigint();
  const run = (async () => {
    const res = await get(port, `/rows?n=${n}`);
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

/** Reads /bulk?mb=M and measures MiB/s. */
async function bulk(port, { mb = 1024, fresh = false, timeoutMs = 120_000 }) {
  const t0 = process.hrtime.bigint();
  const run = (async () => {
    const res = await get(port, `/bulk?mb=${mb}${fresh ? '&fresh=1' : ''}`);
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    let bytes = 0;
    for await (const chunk of res) bytes += chunk.length;
    return bytes;
  })();
  const bytes = await withTimeout(run, timeoutMs, 'bulk');
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (bytes !== mb * 1048576) throw new Error(`expected ${mb * 1048576} bytes, got ${bytes}`);
  return { value: bytes / 1048576 / (ms / 1000), unit: 'MiB/s', elapsedMs: ms, bytes };
}

/**
 * Opens `clients` SSE subscriptions, then POST /publish?n=events and times until every
 * subscriber has received every event. Each event is exactly 20 bytes
 * ("data: " + 12 digits + "\n\n") after the 14-byte ": subscribed\n\n" preamble, so
 * delivery is counted in bytes; the last event's text is checked.
 */
async function sse(port, { clients = 1000, events = 1000, timeoutMs = 180_000 }) {
  const PREAMBLE = ': subscribed\n\n';
  const EVENT = 20;
  const want = PREAMBLE.length + EVENT * events;
  const lastEvent = `data: ${String(events - 1).padStart(12, '0')}\n\n`;
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const reqs = [];
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

  for (let c = 0; c < clients; c++) {
    const req = http.get({ host: HOST, port, path: '/sse', agent }, (res) => {
      if (res.statusCode !== 200) { fail(new Error(`status ${res.statusCode}`)); return; }
      let got = 0;
      let tail = '';
      let isSub = false;
      res.on('data', (chunk) => {
        got += chunk.length;
        if (!isSub && got >= PREAMBLE.length) {
          isSub = true;
          if (++subscribed === clients) onSubscribed();
        }
        if (got >= want - EVENT) tail = (tail + chunk.toString('latin1')).slice(-EVENT);
        if (got === want) {
          if (tail !== lastEvent) fail(new Error(`last event differs: ${JSON.stringify(tail)}`));
          else if (++done === clients) onDone();
        } else if (got > want) fail(new Error(`received more than ${events} events`));
      });
      res.on('error', (e) => fail(e));
      res.on('end', () => { if (got < want) fail(new Error('subscription ended early')); });
    });
    req.on('error', (e) => fail(e));
    reqs.push(req);
  }
  try {
    await withTimeout(allSubscribed, 30_000, 'sse subscribe');
    const t0 = process.hrtime.bigint();
    const body = await withTimeout(new Promise((resolve, reject) => {
      const req = http.request({ host: HOST, port, method: 'POST', path: `/publish?n=${events}`, agent: false }, (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { s += d; });
        res.on('end', () => (res.statusCode === 200 ? resolve(s) : reject(new Error(`publish status ${res.statusCode}`))));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    }), timeoutMs, 'sse publish');
    const parsed = JSON.parse(body);
    if (parsed.subscribers !== clients) throw new Error(`publish saw ${parsed.subscribers} subscribers, expected ${clients}`);
    await withTimeout(allDone, timeoutMs, 'sse delivery');
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { value: (clients * events) / (ms / 1000), unit: 'events/s', elapsedMs: ms, clients, events };
  } finally {
    for (const r of reqs) r.destroy();
    agent.destroy();
  }
}

const CLIENTS = { rows, bulk, sse };

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
