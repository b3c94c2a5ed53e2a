/**
 * Channel on a Redis backplane, in one process: each redisBackplane() has its own two
 * connections and its own reader, so two of them on one Redis are two "processes" as far as
 * Redis and the code are concerned (tests/ts/backplane-processes.test.ts runs real separate
 * processes). A real redis-server on a free port, real sockets on 127.0.0.1, every wait bounded.
 */
import { expect } from 'chai';
import { App, BackplaneError, Channel, redisBackplane, type RedisBackplane } from '../../ts/index.js';
import { eventually } from '../helpers/backplane-child.js';
import { freePort, startRedis, type RedisServer } from '../helpers/redis.js';
import { connectSSE, type SSEConnection } from '../helpers/sse-client.js';
import { startApp, type AppContext } from '../helpers/with-app.js';

const QUIET = { heartbeat: 0 };

describe('backplane: Channel over Redis', function () {
  this.timeout(60_000);
  let redis: RedisServer;
  const cleanup: Array<() => Promise<unknown> | unknown> = [];

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.destroy();
  });
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  /** An app with a backplane and the channel `name` on /events (a "process"). */
  async function node(name: string, opts: { replay?: number; url?: string } = {}): Promise<{ ctx: AppContext; bp: RedisBackplane; channel: Channel }> {
    let bp!: RedisBackplane;
    let channel!: Channel;
    const ctx = await startApp((app: App) => {
      bp = redisBackplane({ url: opts.url ?? redis.url, app, publishTimeout: 2000 });
      channel = new Channel({ name, backplane: bp, replay: opts.replay ?? 1000, sse: QUIET });
      app.get('/events', (req) => channel.subscribe(req));
    });
    cleanup.push(() => ctx.close());
    return { ctx, bp, channel };
  }

  async function subscribe(at: { ctx: AppContext; channel: Channel }, last?: string): Promise<SSEConnection> {
    const before = at.channel.size;
    const conn = await connectSSE(`${at.ctx.base}/events`, last === undefined ? {} : { 'Last-Event-ID': last });
    cleanup.push(() => conn.close());
    await eventually(() => at.channel.size > before, 'the subscriber to join');
    return conn;
  }

  it('a publish on one process reaches subscribers on both, with ids from Redis (0-1, 0-2, ...) in one order', async () => {
    const a = await node('basic');
    const b = await node('basic');
    const sa = await subscribe(a);
    const sb = await subscribe(b);
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await (i % 2 ? a : b).channel.publish({ event: 'n', data: { i } }));
    expect(ids).to.deep.equal(['0-1', '0-2', '0-3', '0-4', '0-5']);
    for (const s of [sa, sb]) {
      const events = await s.waitEvents(5);
      expect(events.map((e) => [e.id, e.event, e.data])).to.deep.equal(ids.map((id, i) => [id, 'n', JSON.stringify({ i: i + 1 })]));
    }
    expect(a.bp.stats()).to.deep.include({ connected: true, publishErrors: 0 });
    expect(a.bp.stats().delivered + b.bp.stats().delivered).to.equal(10);
  });
});
