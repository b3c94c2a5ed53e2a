#!/usr/bin/env node
// Memory per idle SSE connection: starts `bench/servers/<peer>` (default catzilla), warms it up
// with one round of subscribers, then measures the server's RSS with no subscriber and with
// N idle subscribers (default 1,000), and prints (RSS_N - RSS_0) / N. Loopback only, bounded.
//
//   node bench/lib/sse-idle-memory.mjs [peer] [N]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const peer = process.argv[2] ?? 'catzilla';
const N = Number(process.argv[3] ?? 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const port = await new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const child = spawn(path.join(BENCH, 'servers', peer), { env: { ...process.env, PORT: String(port) }, stdio: 'ignore', detached: true });
const rssKiB = () => {
  // The peer script may exec node directly or run it as a child: take the largest RSS in the group.
  let best = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
      if (pgrp !== child.pid) continue;
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) best = Math.max(best, Number(m[1]));
    } catch {}
  }
  return best;
};

function subscribe(n) {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const reqs = [];
  return new Promise((resolve, reject) => {
    let ready = 0;
    for (let i = 0; i < n; i++) {
      const req = http.get({ host: '127.0.0.1', port, path: '/sse', agent }, (res) => {
        res.once('data', () => { if (++ready === n) resolve({ reqs, agent }); });
      });
      req.on('error', reject);
      reqs.push(req);
    }
  });
}

async function settle() {
  let last = 0;
  for (let i = 0; i < 20; i++) {
    await sleep(250);
    const now = rssKiB();
    if (Math.abs(now - last) < 64) return now;
    last = now;
  }
  return last;
}

try {
  for (let i = 0; i < 100; i++) {
    try { await new Promise((ok, no) => http.get({ host: '127.0.0.1', port, path: '/hello' }, (r) => { r.resume(); ok(); }).on('error', no)); break; } catch { await sleep(100); }
  }
  // Warm-up round: JIT, pools and the core's free lists reach their steady state.
  let round = await subscribe(N);
  await sleep(500);
  for (const r of round.reqs) r.destroy();
  round.agent.destroy();
  await sleep(1000);
  const base = await settle();
  round = await subscribe(N);
  const loaded = await settle();
  for (const r of round.reqs) r.destroy();
  round.agent.destroy();
  const perConn = ((loaded - base) * 1024) / N;
  console.log(JSON.stringify({ peer, subscribers: N, rssIdleKiB: base, rssWithSubscribersKiB: loaded, bytesPerConnection: Math.round(perConn), kibPerConnection: +(perConn / 1024).toFixed(2) }));
} finally {
  try { process.kill(-child.pid, 'SIGTERM'); } catch {}
}
