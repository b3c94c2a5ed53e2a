#!/usr/bin/env node
// Memory per idle SSE connection, measured from outside as RSS deltas of the server process.
//
//   node bench/lib/sse-idle-memory.mjs [--peers catzilla,node-http] [--subscribers 1000,10000]
//                                      [--repeat 3] [--warmup 100] [--json]
//   node bench/lib/sse-idle-memory.mjs <peer> [N]          (one peer, one count: the old form)
//
// For every count N, round and peer (the peer order rotated from round to round), a fresh
// `bench/servers/<peer>` is started on 127.0.0.1 and:
//   1. warmed up: `--warmup` subscribers (default 100) connect, get their first bytes and leave
//      (JIT, pools, the core's free lists). The warm-up is smaller than N on purpose: warming up
//      with N subscribers and measuring N more mostly measures the reuse of what the first round
//      freed (malloc free lists, V8 pages), which hides the per-connection cost (negative
//      deltas at 10,000);
//   2. RSS_0 is read once it is stable (no change above 64 KiB over 250 ms);
//   3. N subscribers connect (raw sockets, 256 connecting at a time, an EventSource-like
//      request: Accept: text/event-stream, Cache-Control: no-cache), each until its first
//      bytes; RSS_N is read once stable;
//   4. the server is stopped (SIGTERM, then SIGKILL).
// bytes per connection = (RSS_N - RSS_0) / N; medians over rounds; ratios to node-http when it
// ran. RSS counts what the process touched: JS heap (including V8's young generation, which
// grows while the subscribers' objects survive their first scavenges), the core's and Node's
// mallocs, and allocator slack. Needs `ulimit -n` above N (the client holds N sockets too).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv) {
  const o = { peers: ['catzilla'], counts: [1000], repeat: 1, warmup: 100, json: false };
  const pos = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--peers') o.peers = argv[++i].split(',').filter(Boolean);
    else if (a === '--subscribers') o.counts = argv[++i].split(',').map(Number);
    else if (a === '--repeat') o.repeat = Number(argv[++i]);
    else if (a === '--warmup') o.warmup = Number(argv[++i]);
    else if (a === '--json') o.json = true;
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else pos.push(a);
  }
  if (pos[0]) o.peers = [pos[0]];
  if (pos[1]) o.counts = [Number(pos[1])];
  for (const n of o.counts) if (!Number.isInteger(n) || n <= 0) throw new Error(`bad subscriber count ${n}`);
  return o;
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

/** The largest VmRSS (KiB) in the peer's process group (the script may run node as a child). */
function rssKiB(pgid) {
  let best = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp !== pgid) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) best = Math.max(best, Number(m[1]));
    } catch {}
  }
  return best;
}

async function settle(pgid) {
  let last = 0;
  for (let i = 0; i < 40; i++) {
    await sleep(250);
    const now = rssKiB(pgid);
    if (Math.abs(now - last) < 64) return now;
    last = now;
  }
  return last;
}

/** Opens n subscriptions (at most 256 connecting at once); resolves with their sockets once each got bytes. */
function subscribe(port, n) {
  const request = `GET /sse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n`;
  const sockets = [];
  return new Promise((resolve, reject) => {
    let started = 0;
    let ready = 0;
    const timer = setTimeout(() => reject(new Error(`only ${ready} of ${n} subscribers got an answer in 120 s`)), 120_000);
    const next = () => {
      if (started >= n) return;
      started++;
      const s = net.connect(port, '127.0.0.1');
      let got = false;
      s.on('error', (err) => { clearTimeout(timer); reject(err); });
      s.on('data', () => {
        if (got) return;
        got = true;
        if (++ready === n) {
          clearTimeout(timer);
          resolve(sockets);
        }
        next();
      });
      s.write(request);
      sockets.push(s);
    };
    for (let i = 0; i < Math.min(256, n); i++) next();
  });
}

async function closeAll(sockets) {
  for (const s of sockets) s.destroy();
  await sleep(500);
}

async function measure(peer, n, warmup) {
  const port = await freePort();
  const child = spawn(path.join(BENCH, 'servers', peer), { env: { ...process.env, PORT: String(port) }, stdio: 'ignore', detached: true });
  try {
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      try {
        await new Promise((ok, no) => http.get({ host: '127.0.0.1', port, path: '/hello' }, (r) => { r.resume(); ok(); }).on('error', no));
        up = true;
      } catch {
        await sleep(100);
      }
    }
    if (!up) throw new Error(`${peer} did not answer /hello`);
    if (warmup > 0) await closeAll(await subscribe(port, warmup));
    const base = await settle(child.pid);
    const sockets = await subscribe(port, n);
    const loaded = await settle(child.pid);
    await closeAll(sockets);
    return { rssIdleKiB: base, rssWithSubscribersKiB: loaded, bytesPerConnection: Math.round(((loaded - base) * 1024) / n) };
  } finally {
    try { process.kill(-child.pid, 'SIGTERM'); } catch {}
    await sleep(300);
    try { process.kill(-child.pid, 'SIGKILL'); } catch {}
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
};

const opts = parseArgs(process.argv.slice(2));
const results = [];
for (const n of opts.counts) {
  const runs = Object.fromEntries(opts.peers.map((p) => [p, []]));
  for (let round = 0; round < opts.repeat; round++) {
    const order = opts.peers.map((_, i) => opts.peers[(i + round) % opts.peers.length]);
    for (const peer of order) runs[peer].push(await measure(peer, n, Math.min(opts.warmup, n)));
  }
  for (const peer of opts.peers) {
    const per = runs[peer].map((r) => r.bytesPerConnection);
    const row = {
      peer, subscribers: n, warmup: Math.min(opts.warmup, n), runs: per,
      bytesPerConnection: median(per), kibPerConnection: +(median(per) / 1024).toFixed(2),
      rssIdleKiB: median(runs[peer].map((r) => r.rssIdleKiB)),
    };
    results.push(row);
  }
  const ref = results.find((r) => r.subscribers === n && r.peer === 'node-http');
  for (const r of results) if (r.subscribers === n && ref && r.peer !== 'node-http') r.ratioToNodeHttp = +(r.bytesPerConnection / ref.bytesPerConnection).toFixed(2);
}
if (opts.json || results.length === 1) for (const r of results) console.log(JSON.stringify(r));
else {
  console.log('subscribers  peer         KiB/conn (median)  runs (bytes)               ratio to node-http');
  for (const r of results) console.log(`${String(r.subscribers).padEnd(12)} ${r.peer.padEnd(12)} ${String(r.kibPerConnection).padEnd(18)} ${r.runs.join(' / ').padEnd(26)} ${r.ratioToNodeHttp ?? ''}`);
}
