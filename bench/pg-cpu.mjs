#!/usr/bin/env node
// Where the CPU of a PostgreSQL export goes (issue 17): per row, the server process, the
// PostgreSQL backends and the client, each from /proc (user + system), so the figures hold on a
// busy machine where wall-clock time does not.
//
//   node --import tsx bench/pg-cpu.mjs [--rows 2000000] [--clients 1,8] [--repeat 3]
//        [--targets psql,raw,catzilla,fastify,fastapi] [--format csv|ndjson] [--node-flags "..."]
//        [--mem] [--perf /tmp/perf.data]
//
// Targets:
//   psql      `psql -c "COPY (query) TO STDOUT ..." > /dev/null`: the database's own ceiling
//             (the backends' CPU per row, and psql's).
//   raw       a minimal reader in this process (net socket, simple-query protocol, counts bytes):
//             what a client that only strips the protocol costs.
//   <peer>    bench/servers/<peer> with PG_URL, downloaded by raw HTTP sockets in this process
//             (counting bytes and LFs): /pg/rows.csv?n=N (csv) or /pg/rows?n=N (ndjson).
// Reported per run: rows/s (wall clock: take it only on a quiet machine), and CPU ns per row of
// the server, the PostgreSQL processes (postmaster and all its children) and the client (this
// process for raw and peers, psql for psql), the server's user/system split and its read and write
// system calls per MiB (/proc/<pid>/io), and its peak RSS over idle. --node-flags runs the catzilla
// peer as `node <flags> bench/servers/impl/catzilla.mjs`; --mem adds the largest
// process.memoryUsage() fields seen (catzilla peers); --perf records the server with `perf record -g`.
// Add catzilla-ref with CATZILLA_REF_DIR for a before/after in one run. Medians at the end; every
// run in bench/results/pg-cpu-*.json.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgres } from '../tests/helpers/postgres.ts';
import { pgRowsSql } from './servers/impl/pg-sql.mjs';
import { procStat, rssKiB } from './lib/proc.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? def : args[i + 1];
};
const ROWS = Number(opt('rows', '2000000'));
const CLIENTS = opt('clients', '1,8').split(',').map(Number);
const REPEAT = Number(opt('repeat', '1'));
const TARGETS = opt('targets', 'psql,raw,catzilla').split(',');
const FORMAT = opt('format', 'csv');
const NODE_FLAGS = opt('node-flags', '');
const MEM = args.includes('--mem'); // catzilla peers: also sample process.memoryUsage() (GET /pg/mem) every 100 ms
const PERF = opt('perf', ''); // a perf.data path: `perf record -g` of the server during each run (the last one stays)
const TICK = 100; // clock ticks per second (getconf CLK_TCK)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * CPU ticks of a process tree by pid: each live process's own, and the root's reaped children's
 * (cutime + cstime: PostgreSQL backends that exited, psql runs) under the key 'reaped'.
 */
function treeTicks(root) {
  const children = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const c = procStat(Number(d));
    if (c === null) continue;
    if (!children.has(c.ppid)) children.set(c.ppid, []);
    children.get(c.ppid).push(Number(d));
  }
  const out = new Map();
  const rc = procStat(root);
  if (rc !== null) out.set('reaped', rc.reaped);
  const walk = (pid) => {
    const c = procStat(pid);
    if (c !== null) out.set(pid, c.ticks);
    for (const k of children.get(pid) ?? []) walk(k);
  };
  walk(root);
  return out;
}

/** Ticks used between two snapshots (processes born in between count from 0; ones that died and were reaped by the root count in 'reaped'). */
function ticksBetween(a, b) {
  // A process alive in a and gone in b was reaped: its whole life is in b's 'reaped', so what it
  // had used by a is taken off.
  let t = 0;
  for (const [pid, v] of b) t += v - (a.get(pid) ?? 0);
  for (const [pid, v] of a) if (!b.has(pid)) t -= v;
  return t;
}

/** Read and write system calls of a process so far (/proc/<pid>/io). */
function syscalls(pid) {
  try {
    const t = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
    return { r: Number(/syscr: (\d+)/.exec(t)[1]), w: Number(/syscw: (\d+)/.exec(t)[1]) };
  } catch {
    return { r: 0, w: 0 };
  }
}

function copySql(n) {
  return FORMAT === 'csv'
    ? `COPY (${pgRowsSql(n)}) TO STDOUT WITH (FORMAT csv, HEADER true)`
    : `COPY (SELECT row_to_json(r) FROM (${pgRowsSql(n)}) AS r) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`;
}

/** GET over a raw socket; counts body bytes and LFs (chunked framing included: close enough, the counts are checked loosely). */
function httpGet(port, urlPath, keepBody = false) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let bytes = 0;
    const body = [];
    s.on('connect', () => s.write(`GET ${urlPath} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    s.on('data', (c) => {
      bytes += c.length;
      if (keepBody) body.push(c);
    });
    s.on('end', () => {
      if (!keepBody) return resolve({ bytes });
      const text = Buffer.concat(body).toString();
      const start = text.indexOf('{');
      let json = null;
      try {
        json = JSON.parse(text.slice(start, text.lastIndexOf('}') + 1));
      } catch {}
      resolve({ bytes, json });
    });
    s.on('error', reject);
  });
}

/** A minimal PostgreSQL reader: startup (trust auth), simple query, count CopyData bytes. */
function rawCopy(port, sql) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const params = Buffer.from('user\0catzilla\0database\0catzilla_test\0\0');
    const start = Buffer.alloc(8 + params.length);
    start.writeUInt32BE(start.length, 0);
    start.writeUInt32BE(196608, 4);
    params.copy(start, 8);
    let started = false;
    let pending = null;
    let data = 0;
    let skip = 0; // bytes of the current message body still to pass over
    const q = Buffer.from(sql + '\0');
    s.on('connect', () => s.write(start));
    s.on('data', (chunk) => {
      let i = 0;
      if (pending !== null) {
        chunk = Buffer.concat([pending, chunk]);
        pending = null;
      }
      if (skip > 0) {
        const n = Math.min(skip, chunk.length);
        data += n;
        skip -= n;
        i = n;
      }
      while (i < chunk.length) {
        if (chunk.length - i < 5) {
          pending = chunk.subarray(i);
          return;
        }
        const type = chunk[i];
        const len = chunk.readUInt32BE(i + 1) - 4;
        i += 5;
        if (type === 0x64) {
          const n = Math.min(len, chunk.length - i);
          data += n;
          skip = len - n;
          i += n;
          continue;
        }
        if (len > chunk.length - i) {
          pending = chunk.subarray(i - 5);
          return;
        }
        if (type === 0x5a) {
          if (!started) {
            started = true;
            const m = Buffer.alloc(5 + q.length);
            m[0] = 0x51;
            m.writeUInt32BE(4 + q.length, 1);
            q.copy(m, 5);
            s.write(m);
          } else {
            s.end(Buffer.from([0x58, 0, 0, 0, 4]));
            resolve({ bytes: data });
          }
        } else if (type === 0x45) {
          reject(new Error(chunk.toString('utf8', i, i + len)));
          s.destroy();
        }
        i += len;
      }
    });
    s.on('error', reject);
  });
}

async function startPeer(peer, pgUrl) {
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const env = { ...process.env, PORT: String(port), PG_URL: pgUrl, PG_POOL_MAX: '16' };
  delete env.NODE_OPTIONS;
  // --node-flags: the catzilla peer run by node with those flags (some, like --cpu-prof, are refused in NODE_OPTIONS).
  const withFlags = NODE_FLAGS !== '' && peer === 'catzilla';
  if (withFlags) env.CATZILLA_ENTRY = path.join(BENCH, '..', 'dist', 'index.js');
  const [cmd, cmdArgs] = withFlags ? [process.execPath, [...NODE_FLAGS.split(' ').filter(Boolean), path.join(BENCH, 'servers', 'impl', 'catzilla.mjs')]] : [path.join(BENCH, 'servers', peer), []];
  const child = spawn(cmd, cmdArgs, { env, stdio: ['ignore', process.env.PG_CPU_SERVER_OUT ? fs.openSync(process.env.PG_CPU_SERVER_OUT, 'w') : 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`${peer} exited: ${stderr}`);
    try {
      await httpGet(port, '/hello');
      break;
    } catch {
      if (i > 300) throw new Error(`${peer} did not answer: ${stderr}`);
      await sleep(100);
    }
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

function psqlCopy(pg, sql) {
  return new Promise((resolve, reject) => {
    const out = fs.openSync('/dev/null', 'w');
    const child = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', pg.url, '-c', sql], { stdio: ['ignore', out, 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      fs.closeSync(out);
      if (code !== 0) return reject(new Error(`psql ${code}: ${err}`));
      resolve({ pid: child.pid });
    });
  });
}

/** CPU ticks of all children of this process that ended (psql): from /proc/self/stat cutime + cstime. */
function childrenTicks() {
  return procStat('self').reaped;
}

const pg = await startPostgres({ max_connections: 100, shared_buffers: '128MB', work_mem: '64MB' });
const rows = [];
try {
  for (let round = 0; round < REPEAT; round++) {
    for (const target of TARGETS) {
      let server = null;
      if (target !== 'psql' && target !== 'raw') {
        server = await startPeer(target, pg.url);
        const warm = FORMAT === 'csv' ? '/pg/rows.csv?n=1000' : '/pg/rows?n=1000';
        for (let i = 0; i < 3; i++) await Promise.all(Array.from({ length: Math.max(...CLIENTS) }, () => httpGet(server.port, warm)));
        await sleep(300);
      }
      try {
        for (const clients of CLIENTS) {
          const per = Math.floor(ROWS / clients);
          const idle = server ? rssKiB(server.pid) : 0;
          let peak = idle;
          let sampling = server !== null;
          const mem = {}; // catzilla peers: the largest process.memoryUsage() fields seen (GET /pg/mem), MiB
          const sampler = (async () => {
            for (let i = 0; sampling; i++) {
              peak = Math.max(peak, rssKiB(server.pid));
              if (MEM && target.startsWith('catzilla') && i % 5 === 0) {
                const m = await httpGet(server.port, '/pg/mem', true).catch(() => null);
                if (m?.json) for (const [k, v] of Object.entries(m.json)) mem[k] = Math.max(mem[k] ?? 0, +(v / 2 ** 20).toFixed(1));
              }
              await sleep(20);
            }
          })();
          await sleep(300);
          const pg0 = treeTicks(pg.pid);
          const sv0 = server ? treeTicks(server.pid) : null;
          const svSplit0 = server ? procStat(server.pid) : null;
          const io0 = server ? syscalls(server.pid) : null;
          const me0 = process.cpuUsage();
          const ch0 = childrenTicks();
          const perf = PERF && server ? spawn('perf', ['record', '-g', '-o', PERF, '-p', String(server.pid)], { stdio: 'ignore' }) : null;
          if (perf) await sleep(500);
          const t0 = performance.now();
          let results;
          if (target === 'psql') results = await Promise.all(Array.from({ length: clients }, () => psqlCopy(pg, copySql(per))));
          else if (target === 'raw') results = await Promise.all(Array.from({ length: clients }, () => rawCopy(pg.port, copySql(per))));
          else results = await Promise.all(Array.from({ length: clients }, () => httpGet(server.port, FORMAT === 'csv' ? `/pg/rows.csv?n=${per}` : `/pg/rows?n=${per}`)));
          const seconds = (performance.now() - t0) / 1000;
          if (perf) {
            perf.kill('SIGINT');
            await new Promise((r) => perf.once('exit', r));
          }
          const pgTicks = ticksBetween(pg0, treeTicks(pg.pid));
          const svTicks = server ? ticksBetween(sv0, treeTicks(server.pid)) : 0;
          const svSplit1 = server ? procStat(server.pid) : null;
          const io1 = server ? syscalls(server.pid) : null;
          const me = process.cpuUsage(me0);
          const chTicks = childrenTicks() - ch0;
          sampling = false;
          await sampler;
          const n = per * clients;
          const ns = (ticks) => Math.round(((ticks / TICK) * 1e9) / n);
          const clientNs = target === 'psql' ? ns(chTicks) : Math.round(((me.user + me.system) * 1e3) / n);
          const row = {
            round,
            target,
            format: FORMAT,
            clients,
            rows: n,
            seconds: +seconds.toFixed(2),
            rowsPerSec: Math.round(n / seconds),
            MiB: +(results.reduce((a, r) => a + (r.bytes ?? 0), 0) / 2 ** 20).toFixed(1),
            serverNsPerRow: ns(svTicks),
            serverUserSys: server ? `${ns(svSplit1.user - svSplit0.user)}/${ns(svSplit1.sys - svSplit0.sys)}` : undefined,
            serverReadsWritesPerMiB: server ? `${Math.round((io1.r - io0.r) / (results.reduce((a, r) => a + (r.bytes ?? 0), 0) / 2 ** 20))}/${Math.round((io1.w - io0.w) / (results.reduce((a, r) => a + (r.bytes ?? 0), 0) / 2 ** 20))}` : undefined,
            pgNsPerRow: ns(pgTicks),
            clientNsPerRow: clientNs,
            totalNsPerRow: ns(svTicks) + ns(pgTicks) + clientNs,
            rssOverIdleMiB: server ? +((peak - idle) / 1024).toFixed(1) : undefined,
            maxMemoryUsageMiB: Object.keys(mem).length ? mem : undefined,
            loadavg: fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
          };
          rows.push(row);
          console.log(JSON.stringify(row));
        }
      } finally {
        await server?.stop();
      }
    }
  }
} finally {
  await pg.stop();
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v[Math.floor((v.length - 1) / 2)];
};
console.log(`\nCPU per row, ${FORMAT}, ${ROWS.toLocaleString('en')} rows, medians of ${REPEAT} (ns per row: server, PostgreSQL, client)\n`);
console.log('| target | clients | rows/s | server | PostgreSQL | client | server RSS - idle (MiB, worst) |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const target of TARGETS) {
  for (const clients of CLIENTS) {
    const runs = rows.filter((r) => r.target === target && r.clients === clients);
    if (runs.length === 0) continue;
    const pick = (k) => median(runs.map((r) => r[k]));
    const rss = target === 'psql' || target === 'raw' ? '' : Math.max(...runs.map((r) => r.rssOverIdleMiB));
    console.log(`| ${target} | ${clients} | ${pick('rowsPerSec').toLocaleString('en')} | ${pick('serverNsPerRow')} | ${pick('pgNsPerRow')} | ${pick('clientNsPerRow')} | ${rss} |`);
  }
}
const out = path.join(BENCH, 'results', `pg-cpu-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify({ rows: ROWS, format: FORMAT, clients: CLIENTS, repeat: REPEAT, nodeFlags: NODE_FLAGS, runs: rows, node: process.version, date: new Date().toISOString() }, null, 2));
console.log(`\n${out}`);
