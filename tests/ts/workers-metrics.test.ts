/**
 * Workers mode, what every worker serves: /metrics on any worker reports the whole server (sums
 * across workers, per worker with ?by=worker, parsed by Python's prometheus_client), the JSON
 * snapshot the same, introspection lists the streams of both workers, a worker that does not
 * answer is reported missing without holding the scrape, and streams and WebSockets work in
 * workers as elsewhere.
 */
import { expect } from 'chai';
import { WsClient } from '../helpers/ws-client.js';
import { parsePrometheus, sampleValue, samplesOf } from '../helpers/prometheus.js';
import { childrenOf, get, Primary, SLOW, until, whoAnswers } from '../helpers/workers-child.js';
import fs from 'node:fs';
import net from 'node:net';

describe('workers: metrics, introspection, streams and WebSockets across workers', function () {
  this.timeout(180_000);
  let p: Primary;
  const extra: Primary[] = [];
  before(async () => {
    p = await Primary.start({ WORKERS: '2' });
  });
  after(async () => {
    await Promise.all([p, ...extra].map((x) => x.stop()));
  });

  it('/metrics sums the workers\' counters; ?by=worker gives each worker\'s, labelled, equal to what the clients saw', async () => {
    const bySlot = new Map<number, number>();
    for (let i = 0; i < 40; i++) {
      const { slot } = await whoAnswers(p.port);
      bySlot.set(slot, (bySlot.get(slot) ?? 0) + 1);
    }
    expect([...bySlot.keys()].sort()).to.deep.equal([1, 2]);
    const total = parsePrometheus((await get(p.port, '/metrics')).body);
    expect(sampleValue(total, 'catzilla_responses_total', { route: '/pid', status: '200' })).to.equal(40);
    expect(sampleValue(total, 'catzilla_workers', { state: 'answered' })).to.equal(2);
    expect(sampleValue(total, 'catzilla_workers', { state: 'missing' })).to.equal(0);
    expect(samplesOf(total).some((s) => 'worker' in s.labels), 'no worker label by default').to.equal(false);
    const per = parsePrometheus((await get(p.port, '/metrics?by=worker')).body);
    for (const slot of [1, 2]) {
      expect(sampleValue(per, 'catzilla_responses_total', { route: '/pid', status: '200', worker: String(slot) }), `worker ${slot}`).to.equal(bySlot.get(slot));
      expect(sampleValue(per, 'catzilla_worker_up', { worker: String(slot) })).to.equal(1);
    }
    // the server-wide counters of the core: the sum equals the workers' figures
    const requests = (f: typeof per, labels: Record<string, string> = {}) => sampleValue(f, 'catzilla_requests_total', labels)!;
    const after = parsePrometheus((await get(p.port, '/metrics?by=worker')).body);
    const again = parsePrometheus((await get(p.port, '/metrics')).body);
    // 40 /pid and the scrapes so far (this one included), each counted by the worker that served it
    expect(requests(after, { worker: '1' }) + requests(after, { worker: '2' })).to.equal(43);
    expect(requests(again)).to.equal(44);
    expect((await get(p.port, '/metrics?by=route')).status).to.equal(400);
  });

  it('the JSON snapshot merges the workers too (workers, byWorker)', async () => {
    const answer = await get(p.port, '/metrics?format=json&by=worker');
    const body = JSON.parse(answer.body) as {
      server: { requests: number }; routes: Record<string, { responses: Record<string, number> }>;
      workers: { answered: Array<{ worker: number }>; missing: unknown[] }; byWorker: Array<{ worker: number; snapshot: { server: { requests: number } } }>;
    };
    expect(body.workers.answered.map((w) => w.worker).sort()).to.deep.equal([1, 2]);
    expect(body.workers.missing).to.deep.equal([]);
    expect(body.routes['/pid']!.responses['200']).to.be.at.least(40);
    expect(body.byWorker).to.have.length(2);
    expect(body.byWorker.reduce((n, w) => n + w.snapshot.server.requests, 0)).to.equal(body.server.requests);
  });

  /** Opens /hold streams on new connections until both workers hold one (at most 30). */
  async function holdOnBoth(port: number): Promise<{ holds: net.Socket[]; held: Set<number> }> {
    const holds: net.Socket[] = [];
    const held = new Set<number>();
    for (let i = 0; i < 30 && held.size < 2; i++) {
      const socket = net.connect({ port, host: '127.0.0.1' });
      holds.push(socket);
      socket.on('error', () => {});
      socket.write('GET /hold HTTP/1.1\r\nHost: t\r\n\r\n');
      const first = await new Promise<string>((resolve, reject) => {
        socket.once('data', (d) => resolve(d.toString()));
        setTimeout(() => reject(new Error('no first chunk')), 10000);
      });
      held.add(Number(/held by (\d+)/.exec(first)![1]));
    }
    return { holds, held };
  }

  it('introspection lists the live streams of both workers, each tagged with its worker', async () => {
    const { holds, held } = await holdOnBoth(p.port);
    try {
      expect(held.size).to.equal(2);
      const answer = JSON.parse((await get(p.port, '/debug/streams')).body) as { count: number; streams: Array<{ route: string; worker: number; pid: number }> };
      const holdStreams = answer.streams.filter((s) => s.route === '/hold');
      expect(holdStreams).to.have.length(holds.length);
      expect(new Set(holdStreams.map((s) => s.worker))).to.deep.equal(new Set([1, 2]));
      expect(new Set(holdStreams.map((s) => s.pid))).to.deep.equal(held);
    } finally {
      for (const s of holds) s.destroy();
    }
  });

  it('the dashboard\'s samples count every worker\'s streams and list them with their worker', async () => {
    const { holds, held } = await holdOnBoth(p.port);
    const events = net.connect({ port: p.port, host: '127.0.0.1' });
    try {
      expect(held.size).to.equal(2);
      let text = '';
      events.on('data', (d) => (text += d.toString()));
      events.on('error', () => {});
      events.write('GET /debug/dashboard/events HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n');
      // the second sample (the first has no rates yet): JSON on one data: line
      const sample = await until(() => {
        const found = [...text.matchAll(/event: sample\ndata: (.*)\n/g)];
        return found.length >= 2 ? (JSON.parse(found[1]![1]!) as { streamCount: number; activeStreams: number; streams: Array<{ route: string; worker: number }> }) : undefined;
      }, 10000 * SLOW, `two samples; got ${text.slice(0, 300)}`);
      const holdRows = sample.streams.filter((s) => s.route === '/hold');
      expect(holdRows).to.have.length(holds.length);
      expect(new Set(holdRows.map((s) => s.worker))).to.deep.equal(new Set([1, 2]));
      // the events stream itself is a live stream of one worker: every worker's streams are counted
      expect(sample.streamCount).to.equal(holds.length + 1);
      expect(sample.activeStreams).to.equal(holds.length + 1);
    } finally {
      events.destroy();
      for (const s of holds) s.destroy();
    }
  });

  it('a streaming route and a WebSocket work in workers', async () => {
    const slow = await get(p.port, '/slow?ms=100');
    expect(slow.status).to.equal(200);
    expect(slow.body).to.match(/^chunk 0 from (\d+)\n[\s\S]*chunk 9 from \1\ndone\n$/);
    const pids = new Set(p.workerPids());
    const ws = await WsClient.connect(p.port, '/ws');
    try {
      ws.text('hello');
      const frame = await ws.next('the echo');
      const [pid, text] = frame.payload.toString().split(':');
      expect(pids.has(Number(pid))).to.equal(true);
      expect(text).to.equal('hello');
    } finally {
      ws.socket.destroy();
    }
  });

  it('a PythonBridge runs one pool per worker (its onListen hook runs in the workers, not in the primary)', async () => {
    const q = await Primary.start({ WORKERS: '2', PYTHON: '1' });
    extra.push(q);
    const workers = q.workerPids();
    expect(workers).to.have.length(2);
    // new connections spread over both workers: 30 answers from both pools
    for (let i = 0; i < 30; i++) {
      const answer = await get(q.port, '/py');
      expect(answer.status).to.equal(200);
      expect(answer.body).to.equal('hello from python\n');
    }
    // the primary's children are the two workers only; each worker has its python process
    expect(q.workerPids()).to.deep.equal(workers);
    const cmdline = (pid: number) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    };
    const python = (pid: number) => childrenOf(pid).filter((c) => /python/.test(cmdline(c)));
    for (const pid of workers) expect(python(pid).length, `python under worker ${pid}`).to.be.at.least(1);
    expect(python(q.pid)).to.deep.equal([]);
  });

  it('a worker that does not answer is reported missing, and the scrape does not wait for it', async () => {
    const gatherTimeout = 500 * SLOW;
    const q = await Primary.start({ WORKERS: '2', STALL_SLOT: '1', GATHER_TIMEOUT: String(gatherTimeout) });
    extra.push(q);
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      const families = parsePrometheus((await get(q.port, '/metrics?by=worker', 10000 * SLOW)).body);
      expect(Date.now() - t0).to.be.below(gatherTimeout + 1500 * SLOW);
      expect(sampleValue(families, 'catzilla_workers', { state: 'missing' })).to.equal(1);
      expect(sampleValue(families, 'catzilla_worker_up', { worker: '1' })).to.equal(0);
      expect(sampleValue(families, 'catzilla_worker_up', { worker: '2' })).to.equal(1);
    }
    const streams = JSON.parse((await get(q.port, '/debug/streams', 10000 * SLOW)).body) as { workers: { missing: Array<{ worker: number }> } };
    expect(streams.workers.missing.map((m) => m.worker)).to.deep.equal([1]);
  });
});
