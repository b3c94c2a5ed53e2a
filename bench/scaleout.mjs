#!/usr/bin/env node
// Scale-out benchmarks (issue 14): workers on one port and the Redis backplane. See bench/README.md
// "Scale-out".
//
//   bench/scaleout.mjs [--only hello-workers,sse-fanout,resume] [--repeat 3] [--duration 10]
//
// Every server process (catzilla's primary and workers, socket.io's processes, redis-server) is
// pinned to CPU 1 (taskset -c 1), the load (wrk, bench/lib/scaleout-clients.mjs) to CPU 0. A
// redis-server is started on a free port in a temporary directory and stopped by its pid.
//   hello-workers  GET /hello with WORKERS=1 and WORKERS=2: server CPU per request (user + system of
//                  the primary and every worker, from /proc) and req/s.
//   sse-fanout     1,000 SSE subscribers of catzilla-cluster (2 workers, REDIS_URL) and 1,000
//                  socket.io clients (2 processes on 2 ports, @socket.io/redis-adapter): a burst of
//                  1,000 events published on one process (delivered events/s), then 1,000 events
//                  at 1,000/s (publish-to-receive latency).
//                  --peers (catzilla,socketio[,floor]) runs some of them; floor is bench/lib/fanout-floor.c
//                  (bare C, no Redis) at the same rates: what no server on this core can beat.
//                  --rates 100,300,1000 the paced rates, --paced-events the events of each paced run.
//   resume         1,000 resumable subscribers (/sse-ids, Last-Event-ID) of 2 workers; one worker
//                  is SIGKILLed while 1,000 events go out at 250/s: every subscriber must get every
//                  event exactly once; the reconnect times are reported.
// Results: printed, and written to bench/results/scaleout.json.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, procStat } from './lib/proc.mjs';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const RESULTS = path.join(BENCH, 'results');
const SERVER_CPU = '1';
const CLIENT_CPU = '0';
const TICK = Number(spawnSync('getconf', ['CLK_TCK']).stdout.toString().trim()) || 100;

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const ONLY = opt('only', 'hello-workers,sse-fanout,resume').split(',');
const REPEAT = Number(opt('repeat', '3'));
const DURATION = Number(opt('duration', '10'));
const PEERS = opt('peers', 'catzilla,socketio,floor').split(',');
const RATES = opt('rates', '1000').split(',').map(Number);
const PACED_EVENTS = Number(opt('paced-events', '1000'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function get(port, p, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
  });
}

async function waitHttp(port, p, ms = 20_000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const r = await get(port, p);
    if (r && r.status === 200) return;
    await sleep(100);
  }
  throw new Error(`nothing answered ${p} on port ${port} within ${ms} ms`);
}

/** A server pinned to the server CPU, in its own process group (killed as a group). */
function startServer(cmd, argv, env) {
  const child = spawn('taskset', ['-c', SERVER_CPU, cmd, ...argv], {
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  child.stderrText = () => stderr;
  return child;
}

async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {}
  if ((await Promise.race([gone, sleep(5000).then(() => 'late')])) === 'late') {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {}
    await gone;
  }
}

/** The pids of a process and all its descendants (from /proc/<pid>/task/<tid>/children). */
function tree(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of fs.readdirSync(`/proc/${out[i]}/task`)) {
        const kids = fs.readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (kids) out.push(...kids.split(/\s+/).map(Number));
      }
    } catch {}
  }
  return out;
}

function cmdline(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function cpuTicks(pids) {
  let t = 0;
  for (const pid of pids) t += procStat(pid)?.ticks ?? 0; // utime + stime
  return t;
}

function wrk(port, p, seconds, connections = 64) {
  const r = spawnSync('taskset', ['-c', CLIENT_CPU, 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}${p}`], { encoding: 'utf8' });
  const m = /(\d+) requests in/.exec(r.stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(r.stdout);
  return { requests: m ? Number(m[1]) : 0, rps: rps ? Number(rps[1]) : 0, errors: non2xx ? Number(non2xx[1]) : 0 };
}

function clients(cfg) {
  const r = spawnSync('taskset', ['-c', CLIENT_CPU, process.execPath, path.join(BENCH, 'lib/scaleout-clients.mjs'), JSON.stringify(cfg)], {
    encoding: 'utf8',
    timeout: cfg.timeoutMs + 30_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const line = r.stdout.trim().split('\n').pop();
  if (r.status !== 0 || !line) throw new Error(`clients failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line);
}

// ---- redis-server ----

async function startRedis() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-bench-redis-'));
  const child = startServer('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {});
  const until = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => {
        s.write('PING\r\n');
      });
      s.on('data', (d) => {
        s.destroy();
        resolve(d.toString().startsWith('+PONG'));
      });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > until) throw new Error(`redis-server did not start: ${child.stderrText()}`);
    await sleep(50);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid, // taskset execs in place: the redis-server itself
    async stop() {
      await stopServer(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- workloads ----

const SERVERS = path.join(BENCH, 'servers');

async function helloWorkers() {
  const rows = [];
  for (const workers of [1, 2]) {
    const runs = [];
    for (let i = 0; i < REPEAT; i++) {
      const port = await freePort();
      const server = startServer(path.join(SERVERS, 'catzilla-cluster'), [], { PORT: String(port), WORKERS: String(workers) });
      try {
        await waitHttp(port, '/hello');
        wrk(port, '/hello', 2);
        const pids = tree(server.pid);
        const t0 = cpuTicks(pids);
        const r = wrk(port, '/hello', DURATION);
        const t1 = cpuTicks(pids);
        runs.push({ usPerRequest: ((t1 - t0) / TICK) * 1e6 / r.requests, rps: r.rps, processes: pids.length, errors: r.errors });
      } finally {
        await stopServer(server);
      }
    }
    rows.push({ workers, usPerRequest: median(runs.map((r) => r.usPerRequest)), rps: median(runs.map((r) => r.rps)), runs });
  }
  const ratio = rows[1].usPerRequest / rows[0].usPerRequest;
  return { rows, cpuPerRequestRatio2to1: ratio };
}

async function sseFanout(redis) {
  const out = { catzilla: [], socketio: [] };
  // cpuPids: the client reads their user + system time from /proc over the measured window (from
  // the publish request to the last delivery), so the server side's CPU per delivery is exact.
  const measure = (cfg, serverPids) => clients({ ...cfg, cpuPids: [...serverPids, redis.pid] });
  for (let i = 0; i < REPEAT; i++) {
    // catzilla-cluster: 2 workers on one port, the backplane on
    if (PEERS.includes('catzilla')) {
      const port = await freePort();
      const server = startServer(path.join(SERVERS, 'catzilla-cluster'), [], { PORT: String(port), WORKERS: '2', REDIS_URL: redis.url });
      try {
        await waitHttp(port, '/pid');
        await sleep(300);
        const pids = tree(server.pid);
        const base = { kind: 'sse', port, path: '/sse-ids', subscribers: 1000, sample: 10, timeoutMs: 120_000 };
        const burst = measure({ ...base, events: 1000, publish: { port, path: `/publish-ids?n=1000&from=0` } }, pids);
        const paced = RATES.map((rate) => measure({ ...base, events: PACED_EVENTS, publish: { port, path: `/publish-ids?n=${PACED_EVENTS}&rate=${rate}&from=0` } }, pids));
        out.catzilla.push({ burst, paced });
      } finally {
        await stopServer(server);
      }
    }
    // socket.io: one process per port, both on the adapter
    if (PEERS.includes('socketio')) {
      const ports = [await freePort(), await freePort()];
      const servers = ports.map((port) => startServer(path.join(SERVERS, 'socketio-redis'), [], { PORT: String(port), REDIS_URL: redis.url }));
      try {
        for (const port of ports) await waitHttp(port, '/pid');
        const pids = servers.flatMap((s) => tree(s.pid));
        const base = { kind: 'sio', ports, subscribers: 1000, sample: 10, timeoutMs: 120_000 };
        const burst = measure({ ...base, events: 1000, publish: { port: ports[0], path: `/publish-ids?n=1000&from=0` } }, pids);
        const paced = RATES.map((rate) => measure({ ...base, events: PACED_EVENTS, publish: { port: ports[0], path: `/publish-ids?n=${PACED_EVENTS}&rate=${rate}&from=0` } }, pids));
        out.socketio.push({ burst, paced });
      } finally {
        for (const s of servers) await stopServer(s);
      }
    }
  }
  const complete = (r) => r.outcome === 'ok' && r.missing === 0 && r.duplicates === 0;
  const pick = (runs) =>
    runs.length === 0
      ? null
      : {
          deliveredPerSecond: median(runs.map((r) => r.burst.deliveredPerSecond ?? 0)),
          burstComplete: runs.every((r) => complete(r.burst)),
          burstServerUsPerDelivery: median(runs.map((r) => r.burst.cpu?.serverUsPerDelivery ?? Infinity)),
          paced: RATES.map((rate, k) => ({
            rate,
            p50Ms: median(runs.map((r) => r.paced[k].latencyMs?.p50 ?? Infinity)),
            p99Ms: median(runs.map((r) => r.paced[k].latencyMs?.p99 ?? Infinity)),
            serverUsPerDelivery: median(runs.map((r) => r.paced[k].cpu?.serverUsPerDelivery ?? Infinity)),
            serverCpuShare: median(runs.map((r) => r.paced[k].cpu?.serverShare ?? Infinity)),
            clientCpuShare: median(runs.map((r) => r.paced[k].cpu?.clientShare ?? Infinity)),
            complete: runs.every((r) => complete(r.paced[k])),
          })),
        };
  const c = pick(out.catzilla);
  const s = pick(out.socketio);
  return { catzilla: c, socketio: s, deliveredRatio: c && s ? c.deliveredPerSecond / s.deliveredPerSecond : null, runs: out };
}

/**
 * The floor (bench/lib/fanout-floor.c): a bare C writer on the server CPU fanning the same number
 * of events out to 1,000 loopback sockets read by a bare C reader on the client CPU, batching as
 * well as it can (each round writes all that is due to each socket in one write). What no server
 * on this core can beat: its CPU per write and its latency at each rate.
 */
function floorRuns() {
  const bin = path.join(os.tmpdir(), `catzilla-fanout-floor-${process.pid}`);
  const cc = spawnSync('cc', ['-O2', '-o', bin, path.join(BENCH, 'lib/fanout-floor.c')], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc bench/lib/fanout-floor.c failed: ${cc.stderr}`);
  try {
    const runs = [];
    for (let i = 0; i < REPEAT; i++) {
      runs.push(
        RATES.map((rate) => {
          const r = spawnSync(bin, ['1000', String(rate), String(PACED_EVENTS), SERVER_CPU, CLIENT_CPU], { encoding: 'utf8', timeout: 120_000 });
          const w = /(\d+) writes, CPU ([\d.]+) us per write, ([\d.]+) us per delivery, (\d+)% of its core/.exec(r.stdout);
          const l = /latency ms p50 ([\d.]+) p90 ([\d.]+) p99 ([\d.]+) max ([\d.]+); reader CPU ([\d.]+)/.exec(r.stdout);
          if (r.status !== 0 || !w || !l) throw new Error(`fanout-floor failed (${r.status}): ${r.stdout} ${r.stderr}`);
          return { rate, writes: Number(w[1]), usPerWrite: Number(w[2]), usPerDelivery: Number(w[3]), coreShare: Number(w[4]) / 100, p50Ms: Number(l[1]), p99Ms: Number(l[3]), readerUsPerDelivery: Number(l[5]) };
        }),
      );
    }
    return RATES.map((rate, k) => ({
      rate,
      p50Ms: median(runs.map((r) => r[k].p50Ms)),
      p99Ms: median(runs.map((r) => r[k].p99Ms)),
      usPerWrite: median(runs.map((r) => r[k].usPerWrite)),
      usPerDelivery: median(runs.map((r) => r[k].usPerDelivery)),
      runs: runs.map((r) => r[k]),
    }));
  } finally {
    fs.rmSync(bin, { force: true });
  }
}

async function resume(redis) {
  const runs = [];
  for (let i = 0; i < REPEAT; i++) {
    const port = await freePort();
    const server = startServer(path.join(SERVERS, 'catzilla-cluster'), [], { PORT: String(port), WORKERS: '2', REDIS_URL: redis.url });
    try {
      await waitHttp(port, '/pid');
      await sleep(300);
      // taskset and the wrapper scripts exec in place: server.pid is the primary, its children the workers
      const workers = tree(server.pid).filter((p) => p !== server.pid && cmdline(p).includes('catzilla.mjs'));
      if (workers.length !== 2) throw new Error(`expected 2 workers under pid ${server.pid}, found ${workers.length}`);
      const r = clients({
        kind: 'sse', port, path: '/sse-ids', subscribers: Number(process.env.RESUME_SUBSCRIBERS ?? 1000), events: Number(process.env.RESUME_EVENTS ?? 1000), resume: true,
        publish: { port, path: `/publish-ids?n=${process.env.RESUME_EVENTS ?? 1000}&rate=${process.env.RESUME_RATE ?? 250}&from=0` }, kill: { pids: workers, atMs: 1500 }, timeoutMs: 60_000,
      });
      runs.push(r);
    } finally {
      await stopServer(server);
    }
  }
  return {
    allResumedWithoutLoss: runs.every((r) => r.outcome === 'ok' && r.missing === 0 && r.duplicates === 0 && r.outOfOrder === 0),
    reconnected: runs.map((r) => r.reconnected),
    reconnectMs: runs.map((r) => r.reconnectMs),
    runs,
  };
}

// ---- main ----

const results = { date: new Date().toISOString(), machine: `${os.cpus().length} x ${os.cpus()[0]?.model}`, node: process.version, repeat: REPEAT };
if (ONLY.includes('hello-workers')) {
  results.helloWorkers = await helloWorkers();
  const { rows, cpuPerRequestRatio2to1 } = results.helloWorkers;
  for (const r of rows) console.log(`hello-workers: WORKERS=${r.workers}  ${r.usPerRequest.toFixed(2)} us CPU/request  ${Math.round(r.rps)} req/s`);
  console.log(`hello-workers: CPU per request, 2 workers / 1 worker = ${cpuPerRequestRatio2to1.toFixed(3)} (goal <= 1.10)`);
}
if (ONLY.includes('sse-fanout') || ONLY.includes('resume')) {
  const redis = await startRedis();
  try {
    if (ONLY.includes('sse-fanout')) {
      results.sseFanout = await sseFanout(redis);
      const { catzilla: c, socketio: s, deliveredRatio } = results.sseFanout;
      const line = (name, r) => {
        if (r === null) return;
        console.log(`sse-fanout: ${name} ${Math.round(r.deliveredPerSecond)} delivered events/s (complete: ${r.burstComplete}; server CPU ${r.burstServerUsPerDelivery.toFixed(3)} us per delivery)`);
        for (const p of r.paced) {
          console.log(
            `sse-fanout: ${name} ${p.rate} events/s: p50 ${p.p50Ms.toFixed(2)} ms, p99 ${p.p99Ms.toFixed(2)} ms (complete: ${p.complete}); ` +
              `server CPU ${p.serverUsPerDelivery.toFixed(3)} us per delivery, ${(p.serverCpuShare * 100).toFixed(0)}% of its core; client ${(p.clientCpuShare * 100).toFixed(0)}% of its core`,
          );
        }
      };
      line('catzilla ', c);
      line('socket.io', s);
      if (PEERS.includes('floor')) {
        results.sseFanout.floor = floorRuns();
        for (const f of results.sseFanout.floor) {
          console.log(`sse-fanout: floor     ${f.rate} events/s: p50 ${f.p50Ms.toFixed(2)} ms, p99 ${f.p99Ms.toFixed(2)} ms; writer CPU ${f.usPerWrite.toFixed(2)} us per write, ${f.usPerDelivery.toFixed(3)} us per delivery (bare C, bench/lib/fanout-floor.c)`);
        }
      }
      if (deliveredRatio !== null) console.log(`sse-fanout: delivered events/s ratio catzilla / socket.io = ${deliveredRatio.toFixed(2)} (goal >= 3); p99 goal <= 5 ms at 1,000 events/s`);
    }
    if (ONLY.includes('resume')) {
      results.resume = await resume(redis);
      const r = results.resume;
      console.log(`resume: every subscriber got every event once, in order: ${r.allResumedWithoutLoss}; reconnected per run: ${r.reconnected.join(', ')}`);
      for (const m of r.reconnectMs) if (m) console.log(`resume: reconnect to first event ms: p50 ${m.p50.toFixed(1)}  p90 ${m.p90.toFixed(1)}  p99 ${m.p99.toFixed(1)}  max ${m.max.toFixed(1)} (n=${m.n})`);
    }
  } finally {
    await redis.stop();
  }
}
fs.mkdirSync(RESULTS, { recursive: true });
fs.writeFileSync(path.join(RESULTS, 'scaleout.json'), JSON.stringify(results, null, 2) + '\n');
console.log(`written: ${path.relative(process.cwd(), path.join(RESULTS, 'scaleout.json'))}`);
