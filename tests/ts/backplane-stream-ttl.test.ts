/**
 * Stream expiry (redisBackplane({ streamTtl })) on a real redis-server: each publish sets the
 * key's expiry in the same command as its XADD (PTTL), a stream nobody publishes to or follows
 * disappears, a live follower keeps it (the reader's keep-alive), a resume against an expired
 * stream gets the documented gap ('unknown-id' / 'unknown-offset'), publishing again starts a
 * new stream (its first id from Redis's clock, above every id of the expired one, so an old id
 * never names a new event: 'too-old', then the whole new stream) and reaches subscribers of
 * another backplane once each, and a stream that vanished under live subscribers gives them the
 * 'reset' gap, then the new stream exactly once. Ids are `0-<seq>`, consecutive within a stream;
 * a new stream's first seq is not known in advance, so ids are checked relative to the first one
 * seen. Short TTLs, every wait polled and bounded (Redis expires keys lazily and by sampling, so
 * "gone" is polled, never timed).
 */
import { expect } from 'chai';
import { App, Channel, Rooms, metrics, redisBackplane, type RedisBackplane, type RedisBackplaneOptions } from '../../ts/index.js';
import { eventually, subscribeToChannel } from '../helpers/backplane-child.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { redisCommand, redisForSuite } from '../helpers/redis.js';
import { sleep } from '../helpers/raw-client.js';
import type { SSEConnection } from '../helpers/sse-client.js';
import { startApp, type AppContext } from '../helpers/with-app.js';
import { WsClient } from '../helpers/ws-client.js';
import { roomFrames } from '../helpers/room-frames.js';
import { seqOf } from '../helpers/stream-ids.js';
import { streamId } from '../../ts/backplane/types.js';

const QUIET = { heartbeat: 0 };

describe('backplane: stream expiry (streamTtl)', function () {
  this.timeout(90_000);
  const suite = redisForSuite();
  const cleanup = suite.cleanup;

  async function node(name: string, backplane: RedisBackplaneOptions = {}): Promise<{ ctx: AppContext; bp: RedisBackplane; channel: Channel }> {
    let bp!: RedisBackplane;
    let channel!: Channel;
    const ctx = await startApp((app: App) => {
      bp = redisBackplane({ url: suite.redis.url, app, publishTimeout: 2000, ...backplane });
      channel = new Channel({ name, backplane: bp, replay: 1000, sse: QUIET });
      app.get('/events', (req) => channel.subscribe(req));
      app.get('/metrics', metrics());
    });
    cleanup.push(() => ctx.close());
    return { ctx, bp, channel };
  }

  const subscribe = (at: { ctx: AppContext; channel: Channel }, last?: string): Promise<SSEConnection> =>
    subscribeToChannel(at.ctx.base, at.channel, cleanup, last);

  const cmd = async (line: string) => (await redisCommand(suite.redis.port, line)).trim();
  const pttl = async (key: string) => Number((await cmd(`PTTL ${key}`)).slice(1));
  const exists = async (key: string) => (await cmd(`EXISTS ${key}`)) === ':1';
  const gone = (key: string, what: string) => eventually(async () => !(await exists(key)), what, 30_000);
  const idAt = streamId;
  /** Redis's TIME in microseconds. */
  const redisMicros = async (): Promise<number> => {
    const parts = (await cmd('TIME')).split('\r\n').filter((l) => /^\d+$/.test(l));
    expect(parts).to.have.length(2);
    return Number(parts[0]) * 1_000_000 + Number(parts[1]);
  };

  it('each publish sets the key\'s expiry with its XADD and refreshes it (PTTL); default a day, 0 never', async () => {
    const a = await node('ttl-set', { streamTtl: 60_000 });
    expect(a.bp.streamTtl).to.equal(60_000);
    const before = await redisMicros();
    const id1 = await a.channel.publish('e1');
    const after = await redisMicros();
    // a new stream: its first id is Redis's clock in microseconds (16 digits) at the publish
    expect(id1).to.match(/^0-\d{16}$/);
    const s = seqOf(id1);
    expect(s).to.be.within(before, after);
    const first = await pttl('catzilla:sse:ttl-set');
    expect(first).to.be.within(1, 60_000);
    // shorten it by hand: the next publish puts it back to streamTtl
    expect(await cmd('PEXPIRE catzilla:sse:ttl-set 5000')).to.equal(':1');
    expect(await pttl('catzilla:sse:ttl-set')).to.be.at.most(5000);
    expect(await a.channel.publish('e2')).to.equal(idAt(s + 1));
    expect(await pttl('catzilla:sse:ttl-set')).to.be.above(5000).and.at.most(60_000);
    expect(await cmd('XLEN catzilla:sse:ttl-set')).to.equal(':2');

    const d = await node('ttl-default');
    expect(d.bp.streamTtl).to.equal(86_400_000);
    await d.channel.publish('x');
    expect(await pttl('catzilla:sse:ttl-default')).to.be.above(86_400_000 - 60_000).and.at.most(86_400_000);

    const never = await node('ttl-never', { streamTtl: 0 });
    const n1 = seqOf(await never.channel.publish('x')); // creates the stream
    expect(await pttl('catzilla:sse:ttl-never')).to.equal(-1); // a key without expiry
    expect(await never.channel.publish('y')).to.equal(idAt(n1 + 1)); // appends to it
    expect(await pttl('catzilla:sse:ttl-never')).to.equal(-1); // still none
    expect(await cmd('XLEN catzilla:sse:ttl-never')).to.equal(':2');
    expect(() => redisBackplane({ url: suite.redis.url, streamTtl: 50 })).to.throw(TypeError, /streamTtl/);
    expect(() => redisBackplane({ url: suite.redis.url, streamTtl: -1 })).to.throw(TypeError, /streamTtl/);
  });

  it('a stream nobody publishes to or follows is gone after streamTtl; a resume then gets unknown-id; publishing again starts a new stream above the old ids and reaches another backplane\'s subscribers once', async () => {
    const a = await node('expire', { streamTtl: 1500 });
    const b = await node('expire', { streamTtl: 1500 });
    const oldIds: string[] = [];
    for (let i = 1; i <= 3; i++) oldIds.push(await a.channel.publish(`old${i}`));
    const s1 = seqOf(oldIds[0]);
    expect(oldIds).to.deep.equal([idAt(s1), idAt(s1 + 1), idAt(s1 + 2)]);
    const old3 = oldIds[2]!;
    expect(await exists('catzilla:sse:expire')).to.equal(true);
    await gone('catzilla:sse:expire', 'the stream to expire');
    // a client comes back with its old id: the stream is gone, so its id is one Redis does not have
    const resumed = await subscribe(b, old3);
    const fresh = await subscribe(b);
    const [g] = await resumed.waitEvents(1);
    expect(g!.event).to.equal('gap');
    expect(JSON.parse(g!.data)).to.deep.equal({ lastEventId: old3, oldestId: null, lastId: '0-0', reason: 'unknown-id' });
    // publishing again works: a new stream, its ids consecutive and above every id of the expired
    // one; every subscriber gets each new event once, in order
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push(await a.channel.publish(`new${i}`));
    const s2 = seqOf(ids[0]);
    expect(s2).to.be.above(s1 + 2);
    expect(ids).to.deep.equal([0, 1, 2, 3, 4].map((k) => idAt(s2 + k)));
    const want = ids.map((id, i) => [id, `new${i + 1}`]);
    expect((await resumed.waitEvents(6)).slice(1).map((e) => [e.id, e.data])).to.deep.equal(want);
    expect((await fresh.waitEvents(5)).map((e) => [e.id, e.data])).to.deep.equal(want);
    await sleep(300); // nothing more arrives (no duplicate)
    expect(resumed.parser.events).to.have.length(6);
    expect(fresh.parser.events).to.have.length(5);
    expect(await pttl('catzilla:sse:expire')).to.be.within(1, 1500);
    // an id of the expired stream, now that a new one exists, never names one of its events: it
    // is below all of them, so 'too-old' (the new stream's first and last ids), then the whole
    // new stream, once each; from the oldest id of the expired stream as from its last
    const late = await subscribe(b, old3);
    const earliest = await subscribe(b, oldIds[0]);
    for (const [conn, last] of [[late, old3], [earliest, oldIds[0]!]] as const) {
      const events = await conn.waitEvents(6);
      expect(events[0]!.event).to.equal('gap');
      expect(JSON.parse(events[0]!.data)).to.deep.equal({ lastEventId: last, oldestId: ids[0], lastId: ids[4], reason: 'too-old' });
      expect(events.slice(1).map((e) => [e.id, e.data])).to.deep.equal(want);
    }
    expect(await a.channel.publish('new6')).to.equal(idAt(s2 + 5));
    // every subscriber gets it once, after what it had (resumed: its gap + 5, fresh: 5, late / earliest: their gap + 5)
    for (const [conn, n] of [[late, 7], [earliest, 7], [resumed, 7], [fresh, 6]] as const) {
      const last = (await conn.waitEvents(n))[n - 1]!;
      expect([last.id, last.data]).to.deep.equal([idAt(s2 + 5), 'new6']);
    }
    await sleep(300); // nothing more arrives (no duplicate)
    expect([late, earliest, resumed, fresh].map((c) => c.parser.events.length)).to.deep.equal([7, 7, 7, 6]);
    expect(b.bp.stats().streamResets).to.equal(0); // nothing was lost under a live follower
  });

  it('a live follower keeps its stream (the reader refreshes the expiry); once nobody follows, it expires', async () => {
    const a = await node('kept', { streamTtl: 3000 });
    const b = await node('kept', { streamTtl: 3000 });
    const s = await subscribe(b);
    const k1 = seqOf(await a.channel.publish('k1'));
    await s.waitEvents(1);
    // well past the TTL without a publish: b's reader keeps the key (refreshing every 1 s)
    for (let i = 0; i < 8; i++) {
      await sleep(1000);
      expect(await exists('catzilla:sse:kept'), `the followed stream after ${i + 1} s`).to.equal(true);
    }
    expect(await a.channel.publish('k2')).to.equal(idAt(k1 + 1)); // the same stream: the next id
    expect((await s.waitEvents(2)).map((e) => [e.id, e.data])).to.deep.equal([[idAt(k1), 'k1'], [idAt(k1 + 1), 'k2']]);
    s.close();
    await eventually(() => b.channel.size === 0 && b.bp.stats().keys === 0, 'b to stop following');
    await gone('catzilla:sse:kept', 'the unfollowed stream to expire');
    expect(b.bp.stats().streamResets).to.equal(0);
  });

  it('a stream that vanished under live subscribers (expired, deleted): the reset gap, then the new stream exactly once, even past the old position', async () => {
    const a = await node('vanish', { streamTtl: 1500 });
    const b = await node('vanish', { streamTtl: 1500 });
    const s = await subscribe(b);
    const oldIds: string[] = [];
    for (let i = 1; i <= 3; i++) oldIds.push(await a.channel.publish(`old${i}`));
    const s1 = seqOf(oldIds[0]);
    expect(oldIds).to.deep.equal([idAt(s1), idAt(s1 + 1), idAt(s1 + 2)]);
    expect((await s.waitEvents(3)).map((e) => e.id)).to.deep.equal(oldIds);
    // as if it had expired under b (a process with a shorter TTL, a stall, or by hand)
    expect(await cmd('DEL catzilla:sse:vanish')).to.equal(':1');
    await eventually(() => b.bp.stats().streamResets === 1, 'b\'s reader to find the stream gone');
    // the new stream starts above b's old position: a reader going on from there would see a
    // 'too-old' gap instead of the reset, and a reset it did not see would deliver nothing twice
    // only by luck; b must report the reset, then deliver the new stream from its first id
    const s2 = seqOf(await a.channel.publish('new1'));
    expect(s2).to.be.above(s1 + 2);
    for (let i = 2; i <= 5; i++) expect(await a.channel.publish(`new${i}`)).to.equal(idAt(s2 + i - 1));
    const events = await s.waitEvents(9);
    expect(events.slice(0, 3).map((e) => e.data)).to.deep.equal(['old1', 'old2', 'old3']);
    expect(events[3]!.event).to.equal('gap');
    expect(JSON.parse(events[3]!.data)).to.deep.include({ lastEventId: oldIds[2], lastId: '0-0', reason: 'reset' });
    expect(events.slice(4).map((e) => [e.id, e.data])).to.deep.equal(Array.from({ length: 5 }, (_, i) => [idAt(s2 + i), `new${i + 1}`]));
    await sleep(300);
    expect(s.parser.events).to.have.length(9);
    expect(b.bp.stats().streamResets).to.equal(1);
    const m = parsePrometheus(await (await fetch(`${b.ctx.base}/metrics`)).text());
    expect(sampleValue(m, 'catzilla_backplane_stream_resets_total', { backplane: `${suite.redis.url} catzilla` })).to.equal(1);
  });

  it('rooms: an expired room stream gives a resuming member unknown-offset; broadcasts start a new stream above the old offsets and reach members on another backplane once', async () => {
    const nodes: Array<{ ctx: AppContext; rooms: Rooms<Promise<string>> }> = [];
    for (let i = 0; i < 2; i++) {
      let rooms!: Rooms<Promise<string>>;
      const ctx = await startApp((app) => {
        const bp = redisBackplane({ url: suite.redis.url, app, publishTimeout: 2000, streamTtl: 1500 });
        rooms = Rooms.shared(bp);
        app.ws('/r/:name', { open: (ws) => ws.join(rooms.get(ws.request.params.name!, { log: 100, retainEmpty: 0 }), { after: ws.request.query.get('offset') }) });
      });
      cleanup.push(() => ctx.close());
      nodes.push({ ctx, rooms });
    }
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const ra = a.rooms.get('chat', { log: 100, retainEmpty: 0 });
    const s1 = seqOf(await ra.broadcast('old1'));
    for (let i = 2; i <= 3; i++) expect(await ra.broadcast(`old${i}`)).to.equal(idAt(s1 + i - 1));
    const old3 = idAt(s1 + 2);
    expect(await pttl('catzilla:room:chat')).to.be.within(1, 1500);
    await gone('catzilla:room:chat', 'the room stream to expire');
    const rb = b.rooms.get('chat', { log: 100, retainEmpty: 0 });
    const c = await WsClient.connect(b.ctx.port, `/r/chat?offset=${old3}`);
    cleanup.push(() => c.close());
    await eventually(() => rb.size === 1, 'the member to join');
    await rb.ready();
    const [g] = await roomFrames(c, 1);
    expect(g!.kind).to.equal('gap');
    expect(g!.gap).to.deep.include({ after: old3, reason: 'unknown-offset' });
    const s2 = seqOf(await ra.broadcast('new1'));
    expect(s2).to.be.above(s1 + 2); // a new stream: above every offset of the expired one
    for (let i = 2; i <= 4; i++) expect(await ra.broadcast(`new${i}`)).to.equal(idAt(s2 + i - 1));
    const want = Array.from({ length: 4 }, (_, i) => [idAt(s2 + i), `new${i + 1}`]);
    const got = await roomFrames(c, 4);
    expect(got.map((f) => [f.offset, f.payload.toString()])).to.deep.equal(want);
    // an old offset, now that the new stream exists, never names one of its messages: 'too-old', then the whole new stream
    const late = await WsClient.connect(b.ctx.port, `/r/chat?offset=${old3}`);
    cleanup.push(() => late.close());
    const lateFrames = await roomFrames(late, 5);
    expect(lateFrames[0]!.kind).to.equal('gap');
    expect(lateFrames[0]!.gap).to.deep.include({ after: old3, oldest: idAt(s2), last: idAt(s2 + 3), reason: 'too-old' });
    expect(lateFrames.slice(1).map((f) => [f.offset, f.payload.toString()])).to.deep.equal(want);
    for (const ws of [c, late]) {
      let extra = false;
      await ws.next('no more frames', 300).then(() => (extra = true), () => {}); // nothing twice
      expect(extra).to.equal(false);
    }
  });
});
