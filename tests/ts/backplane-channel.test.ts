/**
 * Channel on a Redis backplane, in one process: each redisBackplane() has its own two
 * connections and its own reader, so two of them on one Redis are two "processes" as far as
 * Redis and the code are concerned (tests/ts/backplane-processes.test.ts runs real separate
 * processes). A real redis-server on a free port, real sockets on 127.0.0.1, every wait bounded.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { App, BackplaneError, Channel, redisBackplane, type ChannelOptions, type RedisBackplane, type RedisBackplaneOptions } from '../../ts/index.js';
import { startProxy } from '../helpers/tcp-proxy.js';
import { RawClient, requestBytes } from '../helpers/raw-client.js';
import { eventually, subscribeToChannel } from '../helpers/backplane-child.js';
import { freePort, redisForSuite } from '../helpers/redis.js';
import { connectSSE, type SSEConnection } from '../helpers/sse-client.js';
import { startApp, type AppContext } from '../helpers/with-app.js';
import { idAfter, seqOf } from '../helpers/stream-ids.js';

const QUIET = { heartbeat: 0 };

/** A new stream's first id is Redis's clock in microseconds: ids count from the first one seen. */
const at = idAfter;

describe('backplane: Channel over Redis', function () {
  this.timeout(60_000);
  const suite = redisForSuite();
  const cleanup = suite.cleanup;

  /** An app with a backplane and the channel `name` on /events (a "process"). */
  async function node(name: string, opts: { replay?: number; url?: string; channel?: ChannelOptions; backplane?: RedisBackplaneOptions } = {}): Promise<{ ctx: AppContext; bp: RedisBackplane; channel: Channel }> {
    let bp!: RedisBackplane;
    let channel!: Channel;
    const ctx = await startApp((app: App) => {
      bp = redisBackplane({ url: opts.url ?? suite.redis.url, app, publishTimeout: 2000, ...opts.backplane });
      channel = new Channel({ name, backplane: bp, replay: opts.replay ?? 1000, sse: QUIET, ...opts.channel });
      app.get('/events', (req) => channel.subscribe(req));
    });
    cleanup.push(() => ctx.close());
    return { ctx, bp, channel };
  }

  const subscribe = (at: { ctx: AppContext; channel: Channel }, last?: string): Promise<SSEConnection> =>
    subscribeToChannel(at.ctx.base, at.channel, cleanup, last);

  it('a publish on one process reaches subscribers on both, with consecutive ids from Redis (0-S, 0-S+1, ...) in one order', async () => {
    const a = await node('basic');
    const b = await node('basic');
    const sa = await subscribe(a);
    const sb = await subscribe(b);
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await (i % 2 ? a : b).channel.publish({ event: 'n', data: { i } }));
    expect(ids[0]).to.match(/^0-\d{16}$/); // a new stream: its first id is Redis's clock in microseconds
    expect(ids).to.deep.equal(Array.from({ length: 5 }, (_, k) => at(ids[0]!, k)));
    for (const s of [sa, sb]) {
      const events = await s.waitEvents(5);
      expect(events.map((e) => [e.id, e.event, e.data])).to.deep.equal(ids.map((id, i) => [id, 'n', JSON.stringify({ i: i + 1 })]));
    }
    expect(a.bp.stats()).to.deep.include({ connected: true, publishErrors: 0 });
    expect(a.bp.stats().delivered + b.bp.stats().delivered).to.equal(10);
  });

  it('Last-Event-ID on the other process: exactly the missed events, from Redis (XRANGE) or from its ring', async () => {
    const a = await node('resume');
    const b = await node('resume', { replay: 3 }); // b's ring is shorter than the stream: XRANGE fills in
    const first = await subscribe(a);
    for (let i = 1; i <= 10; i++) await a.channel.publish(`e${i}`);
    const seen = await first.waitEvents(10);
    first.close();
    const id = (k: number): string => at(seen[0]!.id!, k - 1); // the id of e<k>
    expect(seen.map((e) => e.id)).to.deep.equal(Array.from({ length: 10 }, (_, i) => id(i + 1)));
    // b follows nothing yet: the catch-up comes from the stream
    const resumed = await subscribe(b, seen[3]!.id!);
    await a.channel.publish('e11');
    expect((await resumed.waitEvents(7)).map((e) => [e.id, e.data])).to.deep.equal(
      Array.from({ length: 7 }, (_, i) => [id(i + 5), `e${i + 5}`]),
    );
    // b follows now; an id in its ring (e9..e11's) replays from the ring, an older one from Redis, neither with a gap
    const fromRing = await subscribe(b, id(9));
    const fromStream = await subscribe(b, id(2));
    await b.channel.publish('e12');
    expect((await fromRing.waitEvents(3)).map((e) => e.data)).to.deep.equal(['e10', 'e11', 'e12']);
    expect((await fromStream.waitEvents(10)).map((e) => e.data)).to.deep.equal(['e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9', 'e10', 'e11', 'e12']);
    const up = await subscribe(b, id(12));
    await a.channel.publish('e13');
    expect((await up.waitEvents(1)).map((e) => e.id)).to.deep.equal([id(13)]);
    expect(b.channel.stats().gaps).to.equal(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (const s of [resumed, fromRing, fromStream, up]) expect(s.parser.events.filter((e) => e.event === 'gap')).to.have.length(0);
    expect(fromRing.parser.events.map((e) => e.data)).to.deep.equal(['e10', 'e11', 'e12', 'e13']);
  });

  it('an id older than the stream\'s window gets the gap event, then exactly what Redis still has; an unknown id gets unknown-id', async () => {
    const a = await node('window', { replay: 10 });
    const w1 = await a.channel.publish('w1');
    for (let i = 2; i <= 400; i++) await a.channel.publish(`w${i}`);
    const last = seqOf(at(w1, 399)); // w400's
    // what the stream holds (MAXLEN ~ 10 trims whole nodes of 100 entries: at least 10 remain)
    const kept = await a.bp.range('catzilla:sse:window', 0, last);
    expect(kept.length).to.be.within(10, 200);
    expect(kept.at(-1)!.seq).to.equal(last);
    const oldest = kept[0]!.seq;
    expect(oldest).to.be.greaterThan(seqOf(at(w1, 1))); // w2 was trimmed
    const b = await node('window', { replay: 10 });
    const old = await subscribe(b, at(w1, 1));
    const events = await old.waitEvents(1 + kept.length);
    expect(events[0]!.event).to.equal('gap');
    expect(JSON.parse(events[0]!.data)).to.deep.equal({ lastEventId: at(w1, 1), oldestId: `0-${oldest}`, lastId: `0-${last}`, reason: 'too-old' });
    expect(events.slice(1).map((e) => e.id)).to.deep.equal(kept.map((e) => `0-${e.seq}`));
    // just inside the window: no gap
    const edge = await subscribe(b, `0-${oldest - 1}`);
    const edgeEvents = await edge.waitEvents(kept.length);
    expect(edgeEvents[0]!.id).to.equal(`0-${oldest}`);
    for (const bad of [`0-${last + 999999}`, 'garbage']) { // an id above the stream's last, and not an id at all
      const unknown = await subscribe(b, bad);
      const [gap] = await unknown.waitEvents(1);
      expect(gap!.event).to.equal('gap');
      expect(JSON.parse(gap!.data)).to.include({ lastEventId: bad, reason: 'unknown-id' });
    }
    expect(b.channel.stats().gaps).to.equal(3);
  });

  it('Redis unreachable at start: listen() rejects with EBACKPLANE naming the URL, and the app is not listening', async () => {
    const port = await freePort();
    const app = new App({ logger: { error: () => {} } });
    const bp = redisBackplane({ url: `redis://127.0.0.1:${port}`, app, connectTimeout: 1000 });
    new Channel({ name: 'x', backplane: bp });
    let err: unknown = null;
    const started = Date.now();
    await app.listen({ port: 0, host: '127.0.0.1' }).catch((e: unknown) => (err = e));
    expect(err).to.be.instanceOf(BackplaneError);
    expect((err as BackplaneError).code).to.equal('EBACKPLANE');
    expect((err as Error).message).to.include(`redis://127.0.0.1:${port}`).and.to.include('ECONNREFUSED');
    expect((err as Error).message.split(`redis://127.0.0.1:${port}`), 'the URL named once').to.have.length(2);
    expect(Date.now() - started).to.be.below(5000);
    expect(app.stats().connectionsAccepted ?? 0).to.equal(0);
    await app.close();
    // a publish on a backplane that never connected rejects the same way
    const lone = redisBackplane({ url: `redis://ann:s3cret@127.0.0.1:${port}`, connectTimeout: 500 });
    const ch = new Channel({ name: 'x', backplane: lone });
    const perr = await ch.publish('x').then(() => null, (e: unknown) => e);
    expect((perr as BackplaneError).code).to.equal('EBACKPLANE');
    expect((perr as Error).message).to.include(`redis://ann:***@127.0.0.1:${port}`).and.not.to.include('s3cret');
    await lone.close();
  });

  it('a backplane channel needs a name; startId does not apply', () => {
    const bp = redisBackplane({ url: suite.redis.url });
    expect(() => new Channel({ backplane: bp })).to.throw(TypeError, /name/);
    expect(() => new Channel({ name: '', backplane: bp })).to.throw(TypeError, /name/);
    expect(() => new Channel({ name: 'n', backplane: bp, startId: 5 })).to.throw(TypeError, /startId/);
    expect(() => new Channel({ name: 'n', backplane: {} as never })).to.throw(TypeError, /backplane/);
  });

  it('a channel with no local subscribers does not read its key; many channels come and go and the reader\'s key set follows', async () => {
    const a = await node('idle');
    const b = await node('idle');
    const s = await subscribe(b);
    expect(b.bp.stats().keys).to.equal(1);
    expect(a.bp.stats().keys).to.equal(0); // a only publishes
    await a.channel.publish('one');
    await s.waitEvents(1);
    s.close();
    await eventually(() => b.bp.stats().keys === 0, 'b to stop following the key');
    const delivered = b.bp.stats().delivered;
    for (let i = 0; i < 20; i++) await a.channel.publish(`unread ${i}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(b.bp.stats().delivered, 'nothing read without subscribers').to.equal(delivered);

    // churn: 60 channels, each subscribed, published to, and dropped, 20 at a time
    const app = b.ctx.app;
    const channels = Array.from({ length: 60 }, (_, i) => new Channel({ name: `churn-${i}`, backplane: b.bp, sse: QUIET }));
    channels.forEach((ch, i) => app.get(`/churn/${i}`, (req) => ch.subscribe(req)));
    for (let round = 0; round < 3; round++) {
      const conns: SSEConnection[] = [];
      const slice = channels.slice(round * 20, round * 20 + 20);
      for (let i = 0; i < slice.length; i++) conns.push(await connectSSE(`${b.ctx.base}/churn/${round * 20 + i}`));
      await eventually(() => slice.every((ch) => ch.size === 1), 'the 20 subscribers');
      expect(b.bp.stats().keys).to.equal(20);
      await Promise.all(slice.map((ch, i) => ch.publish(`c${round * 20 + i}`)));
      for (let i = 0; i < conns.length; i++) expect((await conns[i]!.waitEvents(1))[0]!.data).to.equal(`c${round * 20 + i}`);
      for (const c of conns) c.close();
      await eventually(() => b.bp.stats().keys === 0, 'every key of the round to be dropped');
    }
  });

  it('huge events near the limits pass through Redis intact (1 MiB and 8 MiB of data, multi-line)', async () => {
    const a = await node('huge');
    const b = await node('huge');
    const s = await subscribe(b);
    const big = 'x'.repeat(1024 * 1024);
    const lines = Array.from({ length: 8 }, (_, i) => String(i).repeat(1024 * 1024)).join('\n');
    await a.channel.publish(big);
    await a.channel.publish({ event: 'lines', data: lines });
    const events = await s.waitEvents(2, 30_000);
    expect(events[0]!.data.length).to.equal(big.length);
    expect(events[0]!.data === big).to.equal(true);
    expect(events[1]!.event).to.equal('lines');
    expect(events[1]!.data === lines).to.equal(true);
  });

  it('closing the backplane drops live subscribers (they resume elsewhere) and publishes reject with EBACKPLANE', async () => {
    const a = await node('closing');
    const b = await node('closing');
    const s = await subscribe(a);
    await b.channel.publish('before');
    const [ev] = await s.waitEvents(1);
    await a.bp.close();
    await s.waitEnd();
    expect(a.channel.size).to.equal(0);
    const err = await a.channel.publish('after').then(() => null, (e: unknown) => e);
    expect((err as BackplaneError).code).to.equal('EBACKPLANE');
    expect(a.bp.stats().connected).to.equal(false);
    await b.channel.publish('missed');
    const resumed = await subscribe(b, ev!.id!);
    expect((await resumed.waitEvents(1))[0]!.data).to.equal('missed');
  });

  it('publish-to-receive latency through the reader on loopback, 1,000 events at 1,000/s (reported, not asserted)', async () => {
    const a = await node('latency');
    const b = await node('latency');
    const s = await subscribe(b);
    const sent = new Map<string, number>();
    const lat: number[] = [];
    // the reader alone: a second listener on b's backplane, told as the reader reads
    const readerLat: number[] = [];
    const listener = (entries: Array<{ fields: Buffer[] }>) => {
      const now = performance.now();
      for (const e of entries) readerLat.push(now - sent.get(e.fields[e.fields.length - 1]!.toString())!);
    };
    await b.bp.watch('catzilla:sse:latency', listener);
    cleanup.push(() => b.bp.unwatch('catzilla:sse:latency', listener));
    const N = 1000;
    const start = performance.now();
    const pubs: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      const wait = start + i - performance.now(); // 1 ms apart, paced by timers (a busy loop would delay the reader)
      if (wait >= 1) await new Promise((resolve) => setTimeout(resolve, wait));
      sent.set(`l${i}`, performance.now());
      pubs.push(a.channel.publish(`l${i}`));
      for (const e of s.parser.events.slice(lat.length)) lat.push(performance.now() - sent.get(e.data)!);
    }
    await Promise.all(pubs);
    await eventually(() => {
      for (const e of s.parser.events.slice(lat.length)) lat.push(performance.now() - sent.get(e.data)!);
      return lat.length >= N;
    }, 'every event', 20_000);
    const sorted = [...lat].sort((x, y) => x - y);
    const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
    // the same process hosts both apps, the Redis clients and the SSE client
    const r = [...readerLat].sort((x, y) => x - y);
    const rp = (q: number) => r[Math.min(r.length - 1, Math.floor(q * r.length))]!.toFixed(2);
    console.log(`      latency publish -> reader (XADD, XREAD): p50 ${rp(0.5)} ms, p99 ${rp(0.99)} ms, max ${r.at(-1)!.toFixed(2)} ms`);
    console.log(`      latency publish -> SSE client via the reader: p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${sorted.at(-1)!.toFixed(2)} ms (${N} events at 1,000/s)`);
    expect(readerLat).to.have.length(N);
    // a key followed while the reader is blocked on another: CLIENT UNBLOCK makes it join the next read at once (blockMs is 5 s)
    const joins: number[] = [];
    for (let i = 0; i < 20; i++) {
      const got = new Promise<number>((resolve) => {
        const l = () => {
          resolve(performance.now());
          b.bp.unwatch(`catzilla:sse:late-${i}`, l);
        };
        void b.bp.watch(`catzilla:sse:late-${i}`, l).then(async () => {
          t0 = performance.now();
          await a.bp.append(`catzilla:sse:late-${i}`, ['d', 'x'], 10);
        });
      });
      let t0 = 0;
      const started = performance.now();
      const at = await got;
      joins.push(at - started);
      expect(t0).to.be.greaterThan(0);
      expect(at - started, 'the follow did not wait for the 5 s block to end').to.be.below(4000);
    }
    joins.sort((x, y) => x - y);
    console.log(`      a new key while the reader blocks: follow + first event p50 ${joins[10]!.toFixed(2)} ms, max ${joins.at(-1)!.toFixed(2)} ms (20 keys)`);
    expect(s.parser.events.map((e) => e.data)).to.deep.equal(Array.from({ length: N }, (_, i) => `l${i}`));
  });

  it('Redis restarted without its data (no persistence): live subscribers get a gap (reset), then the new stream, never silence', async () => {
    const a = await node('reset');
    const b = await node('reset');
    const s = await subscribe(b);
    for (let i = 1; i <= 5; i++) await a.channel.publish(`old${i}`);
    const old = await s.waitEvents(5);
    const old5 = old[4]!.id!;
    await suite.redis.stop();
    fs.rmSync(path.join(suite.redis.dir, 'appendonlydir'), { recursive: true, force: true }); // as if it had no persistence
    await suite.redis.start();
    // the publisher retries within publishTimeout while its connection comes back
    await eventually(() => a.bp.stats().connected && b.bp.stats().connected, 'both backplanes to reconnect');
    const new1 = await a.channel.publish('new1');
    expect(seqOf(new1), 'the new stream starts above every id of the old one').to.be.greaterThan(seqOf(old5));
    expect(await a.channel.publish('new2')).to.equal(at(new1, 1));
    const events = await s.waitEvents(8);
    expect(events.slice(0, 5).map((e) => e.data)).to.deep.equal(['old1', 'old2', 'old3', 'old4', 'old5']);
    expect(events[5]!.event).to.equal('gap');
    expect(JSON.parse(events[5]!.data)).to.deep.include({ lastEventId: old5, reason: 'reset' });
    expect(events.slice(6).map((e) => [e.id, e.data])).to.deep.equal([[new1, 'new1'], [at(new1, 1), 'new2']]);
    expect(b.bp.stats().reconnects).to.be.greaterThan(0);
  });

  const BLOCKING: ChannelOptions = { policy: 'block', maxQueueBytes: 64 * 1024, sse: { heartbeat: 0, highWaterMark: 4096, lowWaterMark: 1024 } };

  /**
   * A paused raw subscriber on `b` (a 'block' channel), then 8 KiB events published on `a` until
   * b's reader waits for it (bounded: 4,000 events). Returns the slow client and the count.
   */
  async function holdReader(a: { channel: Channel }, b: { ctx: AppContext; channel: Channel }): Promise<{ slow: RawClient; published: number }> {
    const before = b.channel.size;
    const slow = await RawClient.connect(b.ctx.port);
    cleanup.push(() => slow.destroy());
    await slow.send(requestBytes({ path: '/events' }));
    await slow.until(() => slow.buffer.includes(': ok'), 'the slow subscriber');
    slow.socket.pause();
    await eventually(() => b.channel.size === before + 1, 'the slow subscriber to join');
    const EVENT = 'z'.repeat(8 * 1024);
    let published = 0;
    while (b.channel.stats().blocked === 0 && published < 4000) {
      await a.channel.publish(EVENT);
      published++;
      if (published % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(b.channel.stats().blocked, 'b\'s reader waits for its slow subscriber').to.be.greaterThan(0);
    return { slow, published };
  }

  it("policy 'block' holds this process's reader for the channel; a client ahead of that reader (from another process) gets only what follows its id", async () => {
    const a = await node('ahead');
    const b = await node('ahead', { channel: BLOCKING });
    const onA = await subscribe(a);
    const { slow, published } = await holdReader(a, b);
    for (let i = 0; i < 10; i++) await a.channel.publish(`later${i}`);
    const seenOnA = await onA.waitEvents(published + 10, 20_000);
    const first = seenOnA[0]!.id!;
    const n = seenOnA.at(-1)!.id!;
    expect(n).to.equal(at(first, published + 9));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const bPos = Number(b.channel.lastId.slice(2));
    expect(bPos, 'b\'s reader is behind a').to.be.below(seqOf(n));
    // the client moves from a to b with an id b's reader has not reached yet
    const moved = await connectSSE(`${b.ctx.base}/events`, { 'Last-Event-ID': n });
    cleanup.push(() => moved.close());
    await eventually(() => b.channel.size === 2, 'the moved client to join');
    await a.channel.publish('fresh');
    slow.socket.resume(); // b's reader goes on: everything up to n is skipped for the moved client
    const [ev] = await moved.waitEvents(1, 20_000);
    expect([ev!.id, ev!.data]).to.deep.equal([at(first, published + 10), 'fresh']);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(moved.parser.events).to.have.length(1);
    expect(b.channel.lastId).to.equal(at(first, published + 10));
  });

  it('a reader held back past the window while clients that moved in are ahead of it: one that has the whole trimmed hole gets no gap, one that has part of it the gap from its own id', async () => {
    const a = await node('ahead-gap', { replay: 10 });
    const b = await node('ahead-gap', { replay: 10, channel: BLOCKING });
    const { slow } = await holdReader(a, b);
    const cursor = Number(b.channel.lastId.slice(2));
    let lastId = '';
    for (let i = 0; i < 500; i++) lastId = await a.channel.publish(`t${i}`);
    const last = seqOf(lastId);
    const kept = await a.bp.range('catzilla:sse:ahead-gap', 0, last);
    expect(kept[0]!.seq, 'entries after b\'s position were trimmed').to.be.greaterThan(cursor + 3);
    // two clients move to b with ids its reader has not reached: the last one, and one inside the hole
    const whole = await connectSSE(`${b.ctx.base}/events`, { 'Last-Event-ID': `0-${last}` });
    cleanup.push(() => whole.close());
    const part = await connectSSE(`${b.ctx.base}/events`, { 'Last-Event-ID': `0-${cursor + 2}` });
    cleanup.push(() => part.close());
    await eventually(() => b.channel.size === 3, 'the moved clients to join');
    await a.channel.publish('fresh');
    slow.socket.resume();
    const [ev] = await whole.waitEvents(1, 30_000);
    expect([ev!.id, ev!.data]).to.deep.equal([`0-${last + 1}`, 'fresh']);
    const events = await part.waitEvents(1 + kept.length + 1, 30_000);
    expect(events[0]!.event).to.equal('gap');
    expect(JSON.parse(events[0]!.data)).to.deep.equal({ lastEventId: `0-${cursor + 2}`, oldestId: `0-${kept[0]!.seq}`, lastId: `0-${kept[0]!.seq}`, reason: 'too-old' });
    expect(events.slice(1).map((e) => e.id)).to.deep.equal([...kept.map((e) => `0-${e.seq}`), `0-${last + 1}`]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(whole.parser.events).to.have.length(1);
    expect(part.parser.events).to.have.length(events.length);
  });

  it('a stream no backplane wrote (ids not 0-<n>): a subscriber is dropped (joinErrors), a publish is refused with EBACKPLANE', async () => {
    const a = await node('foreign');
    const { createClient } = await import('redis');
    const raw = createClient({ url: suite.redis.url });
    raw.on('error', () => {});
    await raw.connect();
    await raw.sendCommand(['XADD', 'catzilla:sse:foreign', '*', 'd', 'not ours']);
    raw.destroy();
    const conn = await connectSSE(`${a.ctx.base}/events`);
    cleanup.push(() => conn.close());
    await conn.waitEnd(10_000);
    expect(a.channel.stats()).to.deep.include({ subscribers: 0, joining: 0, joinErrors: 1 });
    const err = await a.channel.publish('x').then(() => null, (e: unknown) => e);
    expect((err as BackplaneError).code).to.equal('EBACKPLANE');
    expect((err as Error).message).to.match(/Redis refused the publish to catzilla:sse:foreign/);
    expect(a.bp.stats().keys).to.equal(0);
  });

  it('a reader held back past the window (block) finds the trimmed hole: its live subscribers get the gap event, then what the stream kept', async () => {
    const a = await node('behind', { replay: 10 });
    const b = await node('behind', { replay: 10, channel: BLOCKING });
    const fast = await subscribe(b);
    const { slow, published } = await holdReader(a, b);
    const cursor = Number(b.channel.lastId.slice(2));
    const first = (await fast.waitEvents(1))[0]!.id!; // the stream's first id
    const before = cursor - seqOf(first) + 1; // the events b's reader delivered before it was held
    let lastId = '';
    for (let i = 0; i < 500; i++) lastId = await a.channel.publish(`t${i}`); // the window (~10, trimmed by nodes of 100) moves past b's reader
    expect(lastId).to.equal(at(first, published + 499));
    const kept = await a.bp.range('catzilla:sse:behind', 0, seqOf(lastId));
    expect(kept[0]!.seq, 'entries after b\'s position were trimmed').to.be.greaterThan(cursor + 1);
    slow.socket.resume();
    const events = await fast.waitEvents(before + 1 + kept.length, 30_000);
    expect(events.slice(0, before).map((e) => e.id)).to.deep.equal(Array.from({ length: before }, (_, i) => at(first, i)));
    expect(events[before]!.event).to.equal('gap');
    expect(JSON.parse(events[before]!.data)).to.deep.include({ lastEventId: `0-${cursor}`, oldestId: `0-${kept[0]!.seq}`, reason: 'too-old' });
    expect(events.slice(before + 1).map((e) => e.id)).to.deep.equal(kept.map((e) => `0-${e.seq}`));
  });

  it('connections that go silent without closing (half-open): the reader\'s is replaced after its block timeout plus the watchdog, nothing lost; a publish is bounded and indeterminate', async () => {
    const proxy = await startProxy(suite.redis.port);
    cleanup.push(() => proxy.close());
    const a = await node('silent');
    const b = await node('silent', { url: `redis://127.0.0.1:${proxy.port}`, backplane: { blockMs: 300 } });
    const s = await subscribe(b);
    const p0 = await a.channel.publish('p0');
    await s.waitEvents(1);
    proxy.freeze(); // b's connections stay open, and nothing passes any more
    for (let i = 1; i <= 5; i++) await a.channel.publish(`p${i}`);
    const events = await s.waitEvents(6, 20_000); // 300 ms block + 3 s watchdog, then a new connection
    expect(events.map((e) => [e.id, e.data])).to.deep.equal(Array.from({ length: 6 }, (_, i) => [at(p0, i), `p${i}`]));
    expect(b.bp.stats().reconnects).to.be.at.least(1);
    expect(String(b.bp.stats().lastError)).to.match(/went silent/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(s.parser.events).to.have.length(6);
    // b's command connection is silent too: a publish there is bounded by publishTimeout (2 s)
    // and says it may or may not have been stored (it was sent; no answer came)
    const started = Date.now();
    const err = await b.channel.publish('lost?').then(() => null, (e: unknown) => e);
    expect(Date.now() - started).to.be.within(1900, 4000);
    expect(err).to.be.instanceOf(BackplaneError);
    expect((err as BackplaneError).indeterminate).to.equal(true);
    expect((err as Error).message).to.match(/no answer from Redis at redis:\/\/127\.0\.0\.1:\d+ within publishTimeout \(2000 ms\)/);
  });

  it('a stream created again (key deleted) starts above every id of the old one: a client resuming with an old id gets the too-old gap and every event of the new stream, never a resume in its middle', async () => {
    const a = await node('recreated');
    const oldIds: string[] = [];
    for (let i = 1; i <= 5; i++) oldIds.push(await a.channel.publish(`old${i}`));
    expect(oldIds).to.deep.equal(Array.from({ length: 5 }, (_, k) => at(oldIds[0]!, k)));
    const { createClient } = await import('redis');
    const raw = createClient({ url: suite.redis.url });
    raw.on('error', () => {});
    await raw.connect();
    try {
      expect(await raw.sendCommand(['DEL', 'catzilla:sse:recreated'])).to.equal(1);
    } finally {
      raw.destroy();
    }
    // a process that follows the new stream from its start (no Last-Event-ID): it sees no gap
    const b = await node('recreated');
    const live = await subscribe(b);
    // more events than the old stream had: with ids starting over at 0-1, the new stream would pass the old ids
    const newIds: string[] = [];
    for (let i = 1; i <= 10; i++) newIds.push(await a.channel.publish(`new${i}`));
    expect(seqOf(newIds[0]!), 'the new stream starts above every id of the old one').to.be.greaterThan(seqOf(oldIds[4]!));
    expect(newIds).to.deep.equal(Array.from({ length: 10 }, (_, k) => at(newIds[0]!, k)));
    const expected = newIds.map((id, i) => [id, 'message', `new${i + 1}`]);
    expect((await live.waitEvents(10)).map((e) => [e.id, e.event, e.data])).to.deep.equal(expected);
    const gap = { lastEventId: oldIds[2]!, oldestId: newIds[0]!, lastId: newIds[9]!, reason: 'too-old' };
    // the client resumes with the 3rd old id on a process that follows nothing yet (c: the catch-up comes
    // from Redis), and on one that follows the new stream (b: its ring holds the whole new stream)
    const c = await node('recreated');
    for (const [label, host] of [['c', c], ['b', b]] as const) {
      const resumed = await subscribe(host, oldIds[2]!);
      const events = await resumed.waitEvents(11);
      expect(events[0]!.event, label).to.equal('gap');
      expect(JSON.parse(events[0]!.data), label).to.deep.equal(gap);
      expect(events.slice(1).map((e) => [e.id, e.event, e.data]), label).to.deep.equal(expected);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(resumed.parser.events, `${label}: nothing more`).to.have.length(11);
    }
    expect(live.parser.events, 'b\'s live subscriber: the new stream, no gap').to.have.length(10);
    expect(b.channel.stats().gaps).to.equal(1);
    expect(c.channel.stats().gaps).to.equal(1);
  });
});
