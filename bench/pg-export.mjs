#!/usr/bin/env node
// PostgreSQL exports (issue 17): rows/s and server RSS for NDJSON and CSV (COPY) exports of
// generate_series(1, N) (5 columns: id, name, score, ok, created), 1 client and 8 clients, against
// fastify + pg-query-stream and FastAPI + asyncpg, all in the same run.
//
//   node --import tsx bench/pg-export.mjs [--rows 10000000] [--clients 1,8] [--repeat 3] [--formats ndjson,csv]
//                                         [--peers catzilla,catzilla-cursor,fastify,fastapi]
//   variants of the catzilla peer: catzilla@hwm=N (the CSV route's high watermark), catzilla@semi=N
//   (node --max-semi-space-size=N), catzilla@plain / catzilla-cursor@plain (the pool on pg's own
//   sockets, not pgSocket),
//   catzilla-ref (CATZILLA_REF_DIR: another built checkout)
//
// A throwaway PostgreSQL server is started for the run (tests/helpers/postgres.ts: initdb as the
// postgres user in a temporary directory, a free port, stopped by PID). Each peer is started as
// `PORT=<port> PG_URL=<url> bench/servers/<peer>` (catzilla-cursor: the catzilla peer with
// PG_ROWS_MODE=cursor, i.e. pgQuery + ndjson instead of pgCopyNdjson). With C clients, each client
// downloads N/C rows at the same time (the same total as one client), and every body is checked
// (line count). RSS: the server process's VmRSS sampled every 20 ms; "idle" after a 1,000-row warm-up.
// Nothing is pinned: the PostgreSQL backends need a core too (2 cores for client, server, database).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../tests/helpers/postgres.ts';
import { freePort, procStat, rssKiB } from './lib/proc.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1];
};
const ROWS = Number(opt('rows', '1000000'));
const CLIENTS = opt('clients', '1,8').split(',').map(Number);
const PEERS = opt('peers', 'catzilla,catzilla-cursor,fastify,fastapi').split(',');
const FORMATS = opt('formats', 'ndjson,csv').split(',');
const TIMEOUT_MS = Number(opt('timeout', '600000'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** User + system CPU seconds of a process so far. */
function cpuSeconds(pid) {
  return (procStat(pid)?.ticks ?? 0) / 100;
}

/** GET path; counts bytes and LF-terminated lines. */
function download(port, urlPath) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      let bytes = 0;
      let lines = 0;
      res.on('data', (chunk) => {
        bytes += chunk.length;
        for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      });
      res.on('end', () => resolve({ status: res.statusCode, bytes, lines, complete: res.complete }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error('timeout')));
  });
}

async function startPeer(peer, pgUrl) {
  const port = await freePort();
  const script = peer.startsWith('catzilla-cursor') || peer.startsWith('catzilla@') ? 'catzilla' : peer;
  const env = { ...process.env, PORT: String(port), PG_URL: pgUrl, PG_POOL_MAX: '16' };
  const variant = /^(.*)@hwm=(\d+)$/.exec(peer);
  if (variant) env.PG_HWM = variant[2];
  if (peer.startsWith('catzilla-cursor')) env.PG_ROWS_MODE = 'cursor';
  delete env.NODE_OPTIONS; // the driver's tsx loader is not the peer's
  // catzilla@semi=N: the catzilla peer with node --max-semi-space-size=N (README "Memory and tuning")
  const semi = /^catzilla@semi=(\d+)$/.exec(peer);
  if (semi) env.NODE_OPTIONS = `--max-semi-space-size=${semi[1]}`;
  // catzilla@plain: the pool on pg's own sockets instead of pgSocket (a Buffer per socket read)
  if (peer.endsWith('@plain')) env.PG_PLAIN_SOCKETS = '1';
  const child = spawn(path.join(BENCH, 'servers', script), [], { env, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${peer} exited: ${stderr}`);
    try {
      const r = await download(port, '/hello');
      if (r.status === 200) break;
    } catch {
      // not yet
    }
    if (Date.now() > until) throw new Error(`${peer} did not answer: ${stderr}`);
    await sleep(100);
  }
  return {
    port,
    pid: child.pid,
    stop: async () => {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {}
      for (let i = 0; i < 50 && child.exitCode === null && child.signalCode === null; i++) await sleep(50);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    },
  };
}

async function measure(server, urlFor, clients, expectLines) {
  let peak = rssKiB(server.pid);
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, rssKiB(server.pid));
      await sleep(20);
    }
  })();
  const per = Math.floor(ROWS / clients);
  const cpu0 = cpuSeconds(server.pid);
  const t0 = performance.now();
  const results = await Promise.all(Array.from({ length: clients }, () => download(server.port, urlFor(per))));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(server.pid) - cpu0;
  sampling = false;
  await sampler;
  const bad = results.find((r) => r.status !== 200 || !r.complete || r.lines !== expectLines(per));
  if (bad) return { error: `bad body: ${JSON.stringify(bad)} (expected ${expectLines(per)} lines)` };
  const rows = per * clients;
  const bytes = results.reduce((a, r) => a + r.bytes, 0);
  return { rows, seconds: +seconds.toFixed(2), rowsPerSec: Math.round(rows / seconds), MiBps: +(bytes / seconds / 2 ** 20).toFixed(1), serverCpuSecPerMRows: +((cpu / rows) * 1e6).toFixed(2), peakRssMiB: +(peak / 1024).toFixed(1) };
}

const REPEAT = Number(opt('repeat', '1'));
const pg = await startPostgres({ max_connections: 100, shared_buffers: '128MB', work_mem: '64MB' });
const samples = new Map(); // "peer|format|clients" -> runs
try {
  for (let round = 0; round < REPEAT; round++) {
    // Each round measures every peer once, in an order rotated from round to round.
    const order = PEERS.map((_, i) => PEERS[(i + round) % PEERS.length]);
    for (const peer of order) {
      let server;
      try {
        server = await startPeer(peer, pg.url);
      } catch (err) {
        console.error(err.message);
        continue;
      }
      try {
        await download(server.port, '/pg/rows?n=1000');
        await download(server.port, '/pg/rows.csv?n=1000');
        await sleep(300);
        const idleMiB = +(rssKiB(server.pid) / 1024).toFixed(1);
        for (const format of FORMATS) {
          if (format === 'csv' && peer.startsWith('catzilla-cursor')) continue; // the same COPY route as catzilla
          for (const clients of CLIENTS) {
            const r =
              format === 'ndjson'
                ? await measure(server, (n) => `/pg/rows?n=${n}`, clients, (n) => n)
                : await measure(server, (n) => `/pg/rows.csv?n=${n}`, clients, (n) => n + 1);
            const row = { round, peer, format, clients, idleMiB, ...r, rssOverIdleMiB: r.peakRssMiB === undefined ? undefined : +(r.peakRssMiB - idleMiB).toFixed(1) };
            const key = `${peer}|${format}|${clients}`;
            if (!samples.has(key)) samples.set(key, []);
            samples.get(key).push(row);
            console.log(JSON.stringify(row));
          }
        }
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  await pg.stop();
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
};
const results = [];
for (const peer of PEERS) {
  for (const format of FORMATS) {
    for (const clients of CLIENTS) {
      const runs = samples.get(`${peer}|${format}|${clients}`);
      if (!runs) continue;
      const ok = runs.filter((r) => !r.error);
      if (ok.length === 0) {
        results.push({ peer, format, clients, error: runs[0].error });
        continue;
      }
      results.push({
        peer,
        format,
        clients,
        runs: ok.length,
        rowsPerSec: median(ok.map((r) => r.rowsPerSec)),
        MiBps: median(ok.map((r) => r.MiBps)),
        serverCpuSecPerMRows: median(ok.map((r) => r.serverCpuSecPerMRows)),
        idleMiB: median(ok.map((r) => r.idleMiB)),
        peakRssMiB: Math.max(...ok.map((r) => r.peakRssMiB)),
        rssOverIdleMiB: Math.max(...ok.map((r) => r.rssOverIdleMiB)),
      });
    }
  }
}

console.log(`\nPostgreSQL export, ${ROWS.toLocaleString('en')} rows (5 columns), same run\n`);
console.log(`(median of ${REPEAT} round(s) for rows/s and CPU; RSS: the worst round)\n`);
console.log('| peer | format | clients | rows/s | MiB/s | server CPU s / M rows | idle RSS MiB | peak RSS MiB | peak - idle |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  if (r.error) console.log(`| ${r.peer} | ${r.format ?? ''} | ${r.clients ?? ''} | error: ${r.error.slice(0, 80)} | | | | | |`);
  else console.log(`| ${r.peer} | ${r.format} | ${r.clients} | ${r.rowsPerSec.toLocaleString('en')} | ${r.MiBps} | ${r.serverCpuSecPerMRows} | ${r.idleMiB} | ${r.peakRssMiB} | ${r.rssOverIdleMiB} |`);
}
const out = path.join(BENCH, 'results', `pg-export-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify({ rows: ROWS, clients: CLIENTS, repeat: REPEAT, results, runs: [...samples.values()].flat(), node: process.version, date: new Date().toISOString() }, null, 2));
console.log(`\n${out}`);
