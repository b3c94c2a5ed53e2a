#!/usr/bin/env node
// Load clients of bench/scaleout.mjs, run as a child pinned to the client CPU. One JSON argument
// says what to do; one JSON line on stdout is the result. Every wait is bounded by timeoutMs.
//
//   { kind: 'sse', port, path, subscribers, events, publish: { port, path }, resume?, kill?: { pid, atMs }, timeoutMs }
//     `subscribers` SSE connections (raw sockets; events parsed as they arrive, "data: <seq> <us>"),
//     then one POST to publish.path; waits until every subscriber has `events` distinct seqs.
//     resume: a subscriber whose connection drops reconnects at once with Last-Event-ID.
//     kill: { pids, atMs }: SIGKILL the first of `pids` that is not the publisher's worker, atMs after
//     the publish started (a worker, under load).
//     sample: k  every k-th subscriber parses each event (order, duplicates, latency); the others
//     count "data: " markers, so that one client core keeps up with 1,000 x 1,000 events/s.
//     cpuPids: [pid, ...]  the server's processes: their user + system time over the measured window
//     (from the publish request to the last delivery) is reported as cpu.server*, this process's as cpu.client*.
//     dump: true  adds dumpFirst / dumpLast: per seq, the first and last receipt's latency (us) over
//     the parsing subscribers (for a stage-by-stage breakdown against the server's own timestamps).
//   { kind: 'sio', ports, subscribers, events, publish: { port, path }, timeoutMs }
//     the same with socket.io clients (engine.io v4 over WebSocket, the `ws` package), spread over ports.
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));
const HOST = '127.0.0.1';
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

class Subscriber {
  constructor(events, full) {
    /** full: every event parsed (seq, order, duplicates, latency); else only counted (cheap). */
    this.full = full;
    this.events = events;
    this.seen = new Uint8Array(events);
    this.count = 0;
    this.duplicates = 0;
    this.outOfOrder = 0;
    this.lastSeq = -1;
    this.lastId = null;
    this.latencies = [];
    /** Latency of each seq's first receipt (us; 0: not received), for the per-event spread. */
    this.bySeq = full ? new Float64Array(events) : null;
    this.reconnects = [];
    this.reconnectPids = [];
    this.phase = {};
    this.pid = null;
    this.firstPid = null;
    this.done = false;
  }

  event(data, id) {
    const sp = data.indexOf(' ');
    const seq = Number(data.slice(0, sp));
    const stamp = Number(data.slice(sp + 1));
    const latency = nowMicros() - stamp;
    this.latencies.push(latency);
    if (seq >= 0 && seq < this.bySeq.length && this.bySeq[seq] === 0) this.bySeq[seq] = Math.max(1, latency);
    if (id !== null) this.lastId = id;
    if (seq < this.lastSeq) this.outOfOrder++;
    this.lastSeq = seq;
    if (seq < 0 || seq >= this.seen.length) return;
    if (this.seen[seq]) this.duplicates++;
    else {
      this.seen[seq] = 1;
      this.count++;
    }
  }
}

// One kept-alive connection for the publisher: /pid on it names the worker that publishes, so that
// a kill (resume) can spare it.
const publisherAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(port, p, method) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, path: p, method, agent: publisherAgent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${method} ${p}: ${res.statusCode} ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function publish({ port, path: p }) {
  return JSON.parse(await request(port, p, 'POST'));
}

const TICK_MS = 10; // CLK_TCK 100 (getconf CLK_TCK): /proc/<pid>/stat counts in 10 ms ticks

/** User + system ms of `pids` (each with all its threads) from /proc. */
function cpuMs(pids) {
  let t = 0;
  for (const pid of pids ?? []) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      t += (Number(f[11]) + Number(f[12])) * TICK_MS;
    } catch {}
  }
  return t;
}

/** CPU use over the measured window: a start() before the publish, end() at the last delivery. */
function cpuWindow(cfg) {
  let server0 = 0;
  let client0 = null;
  let wall0 = 0;
  let result = null;
  return {
    start() {
      server0 = cpuMs(cfg.cpuPids);
      client0 = process.cpuUsage();
      wall0 = performance.now();
    },
    end(deliveries) {
      if (result !== null || client0 === null) return;
      const wall = performance.now() - wall0;
      const c = process.cpuUsage(client0);
      const server = cpuMs(cfg.cpuPids) - server0;
      const client = (c.user + c.system) / 1000;
      result = { wallMs: wall, serverMs: server, clientMs: client, serverShare: server / wall, clientShare: client / wall, serverUsPerDelivery: (server * 1000) / deliveries(), clientUsPerDelivery: (client * 1000) / deliveries() };
    },
    get result() {
      return result;
    },
  };
}

function percentiles(values) {
  if (values.length === 0) return null;
  const a = Float64Array.from(values).sort();
  const at = (q) => a[Math.min(a.length - 1, Math.floor(q * a.length))];
  return { n: a.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: a[a.length - 1] };
}

/** cfg.sample = k: every k-th subscriber parses every event, the others count (default 1: all). */
function isFull(cfg, i) {
  return i % (cfg.sample ?? 1) === 0;
}

// ---- SSE ----

// Every SSE socket reads into this one buffer (net's `onread`): no Buffer, stream machinery or
// 'data' event per read, so that one client core reading 1,000 sockets adds as little queueing
// as it can to the latencies it measures (each read is handled at once, before the next).
const READ_BUFFER = Buffer.alloc(256 * 1024);

function sseConnect(port, p, sub, opts, onReady) {
  const socket = net.connect({ port, host: HOST, onread: { buffer: READ_BUFFER, callback: (nread, buf) => void onChunk(buf.toString('latin1', 0, nread)) } });
  socket.setNoDelay(true);
  if (sub.reconnectStart) socket.once('connect', () => (sub.phase.connect ??= []).push(performance.now() - sub.reconnectStart));
  let head = true;
  let carry = '';
  let droppedAt = 0;
  const headers = [`GET ${p} HTTP/1.1`, `Host: ${HOST}:${port}`, 'Accept: text/event-stream'];
  if (sub.lastId !== null) headers.push(`Last-Event-ID: ${sub.lastId}`);
  socket.write(headers.join('\r\n') + '\r\n\r\n');
  const onChunk = (chunk) => {
    let text = carry + chunk;
    if (head) {
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return void (carry = text);
      if (!text.startsWith('HTTP/1.1 200')) {
        socket.destroy();
        return;
      }
      head = false;
      if (sub.reconnectStart) (sub.phase.head ??= []).push(performance.now() - sub.reconnectStart);
      text = text.slice(end + 4);
      onReady?.();
      onReady = null;
    }
    if (!sub.full) {
      // count "data: " (the last 5 characters carried over: a read may split the marker)
      let at = 0;
      for (;;) {
        const k = text.indexOf('data: ', at);
        if (k < 0) break;
        sub.count++;
        at = k + 6;
      }
      carry = text.length > 5 ? text.slice(Math.max(at, text.length - 5)) : text.slice(at);
      if (carry.length && carry.indexOf('data: ') >= 0) carry = '';
      if (sub.count >= sub.events) opts.onDone(sub);
      return;
    }
    // chunked framing: the body is "<hex>\r\n<events>\r\n" and a chunk holds whole events, so the
    // chunk-size lines only add lines that are neither data:, id: nor a comment
    let start = 0;
    for (;;) {
      const end = text.indexOf('\n\n', start);
      if (end < 0) break;
      const block = text.slice(start, end);
      start = end + 2;
      let data = null;
      let id = null;
      for (const line of block.split('\n')) {
        if (line.startsWith('data: ')) data = line.slice(6);
        else if (line.startsWith('id: ')) id = line.slice(4);
        else if (line.startsWith(': pid ')) {
          sub.pid = Number(line.slice(6));
          sub.firstPid ??= sub.pid;
        }
      }
      if (data !== null) {
        if (sub.reconnectStart) {
          sub.reconnects.push(performance.now() - sub.reconnectStart);
          sub.reconnectPids.push(sub.pid);
          sub.reconnectStart = 0;
        }
        sub.event(data, id);
        if (sub.count === sub.events) opts.onDone(sub);
      }
    }
    carry = text.slice(start);
  };
  socket.on('error', () => {});
  socket.on('close', () => {
    if (sub.done || opts.stopped()) return;
    if (!opts.resume) return;
    droppedAt = performance.now();
    sub.reconnectStart ||= droppedAt;
    setTimeout(() => sseConnect(port, p, sub, opts, null), 0);
  });
  sub.socket = socket;
}

async function runSse(cfg) {
  const subs = [];
  let ready = 0;
  let done = 0;
  let stopped = false;
  let lastDelivery = 0;
  let finish;
  const finished = new Promise((r) => (finish = r));
  const cpu = cpuWindow(cfg);
  const opts = {
    resume: !!cfg.resume,
    stopped: () => stopped,
    onDone: (sub) => {
      if (sub.done) return;
      sub.done = true;
      lastDelivery = performance.now();
      if (++done === subs.length) {
        cpu.end(() => subs.reduce((n, s) => n + s.count, 0));
        finish();
      }
    },
  };
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${ready}/${cfg.subscribers} subscribers connected`)), cfg.timeoutMs);
    for (let i = 0; i < cfg.subscribers; i++) {
      const sub = new Subscriber(cfg.events, isFull(cfg, i));
      subs.push(sub);
      sseConnect(cfg.port, cfg.path, sub, opts, () => {
        if (++ready === cfg.subscribers) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  });
  await new Promise((r) => setTimeout(r, 200)); // the last subscribers' joins are in
  const t0 = performance.now();
  let killedAt = null;
  let killed = null;
  if (cfg.kill) {
    // kill a worker that is not the publisher's (cfg.kill.pids: the candidates)
    const publisherPid = Number(await request(cfg.publish.port, '/pid', 'GET'));
    killed = cfg.kill.pids.find((pid) => pid !== publisherPid);
    setTimeout(() => {
      killedAt = performance.now() - t0;
      try {
        process.kill(killed, 'SIGKILL');
      } catch {}
    }, cfg.kill.atMs);
  }
  cpu.start();
  const published = await publish(cfg.publish);
  const timeout = new Promise((r) => setTimeout(r, cfg.timeoutMs, 'timeout'));
  const outcome = await Promise.race([finished, timeout]);
  stopped = true;
  for (const s of subs) s.socket?.destroy();
  return summarize(subs, cfg, t0, lastDelivery, published, outcome, { killedAt, killed, cpu: cpu.result });
}

function summarize(subs, cfg, t0, lastDelivery, published, outcome, extra) {
  const latencies = [];
  const reconnects = [];
  let delivered = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let complete = 0;
  let full = 0;
  const pids = {};
  const reconnectsByPid = {};
  for (const s of subs) {
    delivered += s.count;
    duplicates += s.duplicates;
    outOfOrder += s.outOfOrder;
    if (s.count === cfg.events) complete++;
    if (s.full) full++;
    for (const l of s.latencies) latencies.push(l / 1000);
    reconnects.push(...s.reconnects);
    s.reconnectPids.forEach((pid, i) => (reconnectsByPid[pid] ??= []).push(s.reconnects[i]));
    if (s.firstPid !== null) pids[s.firstPid] = (pids[s.firstPid] ?? 0) + 1;
  }
  // Per event, over the subscribers that parse every event: the first receipt's latency (the path
  // to the quickest socket) and the spread from the first to the last receipt (the fan-out's own
  // time plus this client's time to get round its sockets).
  const first = [];
  const spread = [];
  const dumpFirst = [];
  const dumpLast = [];
  const parsed = subs.filter((s) => s.bySeq !== null);
  for (let seq = 0; seq < cfg.events && parsed.length > 0; seq++) {
    let lo = Infinity;
    let hi = 0;
    for (const s of parsed) {
      const v = s.bySeq[seq];
      if (v === 0) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (cfg.dump) {
      dumpFirst[seq] = lo === Infinity ? null : lo;
      dumpLast[seq] = hi === 0 ? null : hi;
    }
    if (hi === 0) continue;
    first.push(lo / 1000);
    spread.push((hi - lo) / 1000);
  }
  const seconds = (lastDelivery - t0) / 1000;
  return {
    outcome: outcome === 'timeout' ? 'timeout' : 'ok',
    subscribers: subs.length,
    parsedFully: full,
    complete,
    delivered,
    missing: subs.length * cfg.events - delivered,
    duplicates,
    outOfOrder,
    seconds,
    deliveredPerSecond: outcome === 'timeout' ? null : delivered / seconds,
    latencyMs: percentiles(latencies),
    firstReceiptMs: percentiles(first),
    spreadMs: percentiles(spread),
    reconnectMs: percentiles(reconnects),
    reconnected: reconnects.length,
    reconnectPhasesMs: Object.fromEntries(['connect', 'head'].map((k) => [k, percentiles(subs.flatMap((s) => s.phase[k] ?? []))])),
    reconnectMsByPid: Object.fromEntries(Object.entries(reconnectsByPid).map(([pid, ms]) => [pid, percentiles(ms)])),
    subscribersByPid: pids, // where each subscriber first landed
    published,
    ...(cfg.dump ? { dumpFirst, dumpLast } : {}),
    ...extra,
  };
}

// ---- socket.io (engine.io v4 over WebSocket) ----

async function runSio(cfg) {
  const WebSocket = require('ws');
  const subs = [];
  let ready = 0;
  let done = 0;
  let lastDelivery = 0;
  let finish;
  const finished = new Promise((r) => (finish = r));
  const cpu = cpuWindow(cfg);
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${ready}/${cfg.subscribers} socket.io clients connected`)), cfg.timeoutMs);
    for (let i = 0; i < cfg.subscribers; i++) {
      const sub = new Subscriber(cfg.events, isFull(cfg, i));
      subs.push(sub);
      const port = cfg.ports[i % cfg.ports.length];
      const ws = new WebSocket(`ws://${HOST}:${port}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate: false });
      sub.socket = ws;
      ws.on('message', (buf) => {
        const m = buf.toString();
        if (m.startsWith('42')) {
          if (sub.full) sub.event(JSON.parse(m.slice(2))[1], null);
          else sub.count++;
          if (sub.count === cfg.events && !sub.done) {
            sub.done = true;
            lastDelivery = performance.now();
            if (++done === subs.length) {
              cpu.end(() => subs.reduce((n, s) => n + s.count, 0));
              finish();
            }
          }
        } else if (m === '2') ws.send('3');
        else if (m.startsWith('0')) ws.send('40');
        else if (m.startsWith('40')) {
          if (++ready === cfg.subscribers) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
      ws.on('error', () => {});
    }
  });
  await new Promise((r) => setTimeout(r, 200));
  const t0 = performance.now();
  cpu.start();
  const published = await publish(cfg.publish);
  const timeout = new Promise((r) => setTimeout(r, cfg.timeoutMs, 'timeout'));
  const outcome = await Promise.race([finished, timeout]);
  for (const s of subs) s.socket.terminate();
  return summarize(subs, cfg, t0, lastDelivery, published, outcome, { cpu: cpu.result });
}

const cfg = JSON.parse(process.argv[2]);
const result = cfg.kind === 'sio' ? await runSio(cfg) : await runSse(cfg);
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(0);
