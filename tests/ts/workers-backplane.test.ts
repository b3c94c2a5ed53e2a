/**
 * Workers mode on a Redis backplane (issue 14): the workers of tests/fixtures/workers-app.ts share
 * one port and the channel "news" through a real redis-server; events come from another app
 * process on the same Redis (tests/fixtures/backplane-app.ts: "another machine"). A worker killed
 * with SIGKILL: its subscribers reconnect to the same port (the kernel hands them to a worker still
 * listening), resume with Last-Event-ID, and every subscriber ends with every event exactly once,
 * in order.
 */
import { expect } from 'chai';
import { startAppChild, type AppChild } from '../helpers/backplane-child.js';
import { redisForSuite } from '../helpers/redis.js';
import { connectSSE, type SSEConnection } from '../helpers/sse-client.js';
import { Primary, SLOW, sleep, until } from '../helpers/workers-child.js';

/** An EventSource-like subscriber: reconnects with Last-Event-ID whenever its stream ends. */
class Subscriber {
  readonly data: string[] = [];
  readonly pids: number[] = [];
  lastId: string | null = null;
  reconnects = 0;
  private conn: SSEConnection | null = null;
  private seen = 0;
  private stopped = false;

  constructor(private readonly port: number) {}

  async connect(): Promise<void> {
    const headers: Record<string, string> = this.lastId === null ? {} : { 'Last-Event-ID': this.lastId };
    const conn = await connectSSE(`http://127.0.0.1:${this.port}/events`, headers, 10_000 * SLOW);
    expect(conn.status).to.equal(200);
    const [comment] = await conn.waitComments(1, 10_000 * SLOW);
    this.pids.push(Number(/pid (\d+)/.exec(comment!)![1]));
    this.conn = conn;
    this.seen = 0;
  }

  /** Takes what arrived; reconnects (after a moment, as EventSource does) when the stream ended. */
  async poll(): Promise<void> {
    const conn = this.conn;
    if (conn === null || this.stopped) return;
    const events = conn.parser.events;
    for (; this.seen < events.length; this.seen++) {
      const e = events[this.seen]!;
      this.data.push(e.data);
      if (e.id !== null) this.lastId = e.id;
    }
    if (conn.ended) {
      this.conn = null;
      this.reconnects++;
      for (let attempt = 0; ; attempt++) {
        try {
          await this.connect();
          return;
        } catch (err) {
          if (attempt >= 20) throw err;
          await sleep(50);
        }
      }
    }
  }

  close(): void {
    this.stopped = true;
    this.conn?.close();
  }
}

describe('workers on a Redis backplane', function () {
  this.timeout(240_000);
  const suite = redisForSuite();
  const started: Primary[] = [];
  const publishers: AppChild[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop()));
    await Promise.all(publishers.splice(0).map((a) => a.stop()));
  });

  it('a worker killed with SIGKILL: its subscribers resume on another worker with Last-Event-ID, none misses or repeats an event', async () => {
    const primary = await Primary.start({ WORKERS: '2', REDIS_URL: suite.redis.url });
    started.push(primary);
    const publisher = await startAppChild(suite.redis.url, { BACKPLANE_REPLAY: '10000' });
    publishers.push(publisher);

    // subscribers on both workers (new connections spread by the kernel's hash)
    const subs: Subscriber[] = [];
    for (let i = 0; i < 40 && (subs.length < 12 || new Set(subs.map((s) => s.pids[0])).size < 2); i++) {
      const s = new Subscriber(primary.port);
      await s.connect();
      subs.push(s);
    }
    const byPid = new Map<number, number>();
    for (const s of subs) byPid.set(s.pids[0]!, (byPid.get(s.pids[0]!) ?? 0) + 1);
    expect(byPid.size, 'subscribers on both workers').to.equal(2);
    const victim = [...byPid.keys()][0]!;
    expect(primary.workerPids()).to.include(victim);
    await sleep(300); // both workers' readers follow the key

    const polling = (async () => {
      while (subs.some((s) => s.data.length < 300)) {
        await Promise.all(subs.map((s) => s.poll()));
        await sleep(5);
      }
    })();
    const total = 300;
    for (let i = 0; i < total; i++) {
      if (i === 100) process.kill(victim, 'SIGKILL');
      const res = await fetch(`${publisher.base}/publish`, { method: 'POST', body: `k-${i}` });
      expect(res.status, `publish ${i}`).to.equal(200);
      if (i % 10 === 0) await sleep(10);
    }
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`subscribers stuck at ${subs.map((s) => s.data.length).join(',')}`)), 60_000 * SLOW);
    });
    await Promise.race([polling, stuck]).finally(() => clearTimeout(timer));
    for (const s of subs) s.close();

    const expected = Array.from({ length: total }, (_, i) => `k-${i}`);
    const moved = subs.filter((s) => s.pids[0] === victim);
    expect(moved.length).to.be.greaterThan(0);
    for (const s of subs) {
      expect(s.data, `subscriber first served by ${s.pids[0]}, then ${s.pids.slice(1).join(',')}`).to.deep.equal(expected);
    }
    // the victim's subscribers reconnected, to a worker that is not the dead one
    for (const s of moved) {
      expect(s.reconnects).to.be.at.least(1);
      expect(s.pids.slice(1)).to.not.include(victim);
    }
    // the others were not disturbed
    for (const s of subs.filter((x) => x.pids[0] !== victim)) expect(s.reconnects).to.equal(0);
    await until(() => /catzilla: worker \d \(pid \d+\) was killed by SIGKILL/.test(primary.stderr), 10_000, 'the restart line');
  });
});
