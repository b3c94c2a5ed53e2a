/**
 * Resumable rooms on a real redis-server: offsets are the stream's ids (global), a member
 * resumes on another backplane from the stream (XRANGE) or on its own from the local log, the
 * messages read during its catch-up are held and sent after it (no loss, no duplicate, one
 * order), an offset trimmed from the window gets 'too-old', one Redis never gave
 * 'unknown-offset', a stream replaced under live members 'reset', a catch-up Redis cannot serve
 * closes the member with 1013. Then separate app processes (tests/fixtures/backplane-app.ts): a member of
 * process A leaves, broadcasts go on from B, it reconnects to B with its offset.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { Channel, Rooms, redisBackplane, type RedisBackplane, type Room } from '../../ts/index.js';
import { eventually, startAppChild, type AppChild } from '../helpers/backplane-child.js';
import { redisForSuite } from '../helpers/redis.js';
import { connectSSE } from '../helpers/sse-client.js';
import { sleep } from '../helpers/raw-client.js';
import { startApp, type AppContext } from '../helpers/with-app.js';
import { seqOf } from '../helpers/stream-ids.js';
import { WsClient } from '../helpers/ws-client.js';
import { roomFrames, type RoomFrame } from '../helpers/room-frames.js';

const text = (fs: RoomFrame[]) => fs.map((f) => (f.kind === 'gap' ? `gap:${f.gap!.reason}` : f.kind === 'own' ? `own:${f.offset}` : `${f.offset}:${f.payload.toString()}`));
/**
 * A new stream's first id is `0-<Redis TIME in µs>` (unknown in advance), then consecutive: from
 * the first offset seen, the offset of the stream's k-th message (1-based).
 */
const offsets = (first: string) => {
  const start = seqOf(first);
  expect(first, 'a new stream starts at Redis TIME in microseconds').to.match(/^0-\d{16}$/);
  return (k: number) => `0-${start + k - 1}`;
};

describe('backplane: resumable WebSocket rooms over Redis', function () {
  this.timeout(120_000);
  const suite = redisForSuite();
  const cleanup = suite.cleanup;

  async function node(log = 1000, retainEmpty?: number): Promise<{ ctx: AppContext; bp: RedisBackplane; rooms: Rooms<Promise<string>> }> {
    let bp!: RedisBackplane;
    let rooms!: Rooms<Promise<string>>;
    const ctx = await startApp((app) => {
      bp = redisBackplane({ url: suite.redis.url, app, publishTimeout: 2000 });
      rooms = Rooms.shared(bp);
      app.ws('/resume/:name', {
        open: (ws) => ws.join(rooms.get(ws.request.params.name!, { log, retainEmpty }), { after: ws.request.query.get('offset') }),
        message: (ws, data, isBinary) => void rooms.get(ws.request.params.name!).broadcast(data, { binary: isBinary, except: ws }),
      });
    });
    cleanup.push(() => ctx.close());
    return { ctx, bp, rooms };
  }

  async function member(at: { ctx: AppContext }, room: Room<Promise<string>>, path: string): Promise<WsClient> {
    const before = room.size;
    const c = await WsClient.connect(at.ctx.port, path);
    cleanup.push(() => c.close());
    await eventually(() => room.size > before, 'the member to join');
    await room.ready();
    return c;
  }

  it('offsets are the Redis ids; a member resumes on another process from the stream, then live; on its own from the local log', async () => {
    const a = await node();
    const b = await node();
    const ra = a.rooms.get('talk', { log: 1000 });
    const rb = b.rooms.get('talk', { log: 1000 });
    expect(ra.resumable && rb.resumable).to.equal(true);
    const m = await member(a, ra, '/resume/talk');
    const stay = await member(a, ra, '/resume/talk');
    const o = offsets(await rb.broadcast('t1'));
    for (let i = 2; i <= 3; i++) expect(await rb.broadcast(`t${i}`)).to.equal(o(i));
    expect(text(await roomFrames(m, 3))).to.deep.equal([`${o(1)}:t1`, `${o(2)}:t2`, `${o(3)}:t3`]);
    m.close();
    await eventually(() => ra.size === 1, 'the member to leave');
    for (let i = 4; i <= 8; i++) await rb.broadcast(i === 6 ? Buffer.from([0x20, 0, 0xff]) : `t${i}`);
    // to b, which has no member in the room: its catch-up comes from XRANGE
    const back = await member(b, rb, `/resume/talk?offset=${o(3)}`);
    const got = await roomFrames(back, 5);
    expect(got.map((f) => f.offset)).to.deep.equal([o(4), o(5), o(6), o(7), o(8)]);
    expect(got[2]!.binary).to.equal(true);
    expect(got[2]!.payload.equals(Buffer.from([0x20, 0, 0xff]))).to.equal(true);
    expect(text([got[0]!, got[1]!, got[3]!, got[4]!])).to.deep.equal([`${o(4)}:t4`, `${o(5)}:t5`, `${o(7)}:t7`, `${o(8)}:t8`]);
    // live, from a: and the sender gets its offset alone
    back.text('hello from back');
    expect(text(await roomFrames(back, 1))).to.deep.equal([`own:${o(9)}`]);
    const stayed = await roomFrames(stay, 9);
    expect(stayed.map((f) => f.offset)).to.deep.equal(Array.from({ length: 9 }, (_, k) => o(k + 1)));
    expect(text(stayed).filter((_, k) => k !== 5)).to.deep.equal([...[1, 2, 3, 4, 5, 7, 8].map((i) => `${o(i)}:t${i}`), `${o(9)}:hello from back`]);
    expect(rb.gaps).to.equal(0);
    expect(rb.replayed).to.equal(5);
    // to a, which follows the room (stay is there): from the local log
    const local = await member(a, ra, `/resume/talk?offset=${o(7)}`);
    expect(text(await roomFrames(local, 2))).to.deep.equal([`${o(8)}:t8`, `${o(9)}:hello from back`]);
    expect(ra.replayed).to.equal(2);
    await sleep(50);
    for (const c of [back, local]) expect(c.pending()).to.have.length(0);
  });

  it('an offset trimmed from the window: gap too-old, then what the stream has; an offset Redis never gave: unknown-offset', async () => {
    const a = await node(5);
    const b = await node(5);
    const rb = b.rooms.get('trim', { log: 5 });
    // MAXLEN ~ 5 trims whole nodes of the stream (100 entries by default): 400 leave at least the last 5
    const o = offsets(await rb.broadcast('r1'));
    for (let i = 2; i <= 400; i++) await rb.broadcast(`r${i}`);
    const ra = a.rooms.get('trim', { log: 5 });
    const c = await member(a, ra, `/resume/trim?offset=${o(3)}`);
    const first = (await roomFrames(c, 1))[0]!;
    expect(first.kind).to.equal('gap');
    expect(first.gap).to.deep.include({ after: o(3), last: o(400), reason: 'too-old' });
    const oldest = seqOf(first.gap!.oldest!) - seqOf(o(1)) + 1; // the oldest kept message's rank in the stream
    expect(oldest).to.be.greaterThan(4).and.at.most(396);
    const rest = await roomFrames(c, 400 - oldest + 1);
    expect(rest.map((f) => f.offset)).to.deep.equal(Array.from({ length: 400 - oldest + 1 }, (_, k) => o(oldest + k)));
    expect(rest.every((f, k) => f.payload.toString() === `r${oldest + k}`)).to.equal(true);
    // an offset past the stream's last id: unknown-offset, then the local log (a's log holds what its reader read: nothing yet)
    const u = await member(a, ra, `/resume/trim?offset=${o(9999)}`);
    const g = (await roomFrames(u, 1))[0]!;
    expect(g.gap).to.deep.include({ after: o(9999), reason: 'unknown-offset' });
    await rb.broadcast('next');
    for (const x of [c, u]) expect(text(await roomFrames(x, 1))).to.deep.equal([`${o(401)}:next`]);
    await sleep(50);
    for (const x of [c, u]) expect(x.pending()).to.have.length(0);
  });

  it('broadcasts from another process during catch-ups: every member gets each offset after its own once, in order', async () => {
    const a = await node(10_000);
    const b = await node(10_000);
    const rb = b.rooms.get('flow', { log: 10_000 });
    const ra = a.rooms.get('flow', { log: 10_000 });
    const TOTAL = 1500;
    const o = offsets(await rb.broadcast('f1'));
    let n = 1;
    for (; n < 300; n++) await rb.broadcast(`f${n + 1}`);
    const sending = (async () => {
      while (n < TOTAL) {
        const burst: Array<Promise<string>> = [];
        for (let k = 0; k < 20 && n < TOTAL; k++, n++) burst.push(rb.broadcast(`f${n + 1}`));
        await Promise.all(burst);
      }
    })();
    const clients: Array<{ c: WsClient; after: number }> = [];
    for (let i = 0; i < 6; i++) {
      const after = Math.max(0, n - 250 + i * 13); // how many messages this member had
      const c = await WsClient.connect(a.ctx.port, `/resume/flow?offset=${o(after)}`);
      cleanup.push(() => c.close());
      clients.push({ c, after });
      await sleep(15);
    }
    await sending;
    for (const { c, after } of clients) {
      const got = await roomFrames(c, TOTAL - after, 20_000);
      for (let k = 0; k < got.length; k++) expect(`${got[k]!.offset}:${got[k]!.payload.toString()}`).to.equal(`${o(after + 1 + k)}:f${after + 1 + k}`);
    }
    await sleep(50);
    for (const { c } of clients) expect(c.pending()).to.have.length(0);
    expect(ra.gaps).to.equal(0);
    expect(ra.joinErrors).to.equal(0);
  });

  it('Redis restarted without its data: live members get gap (reset), then the new stream; resuming goes on from the new offsets', async () => {
    const a = await node();
    const b = await node();
    const rb = b.rooms.get('reset', { log: 1000 });
    const ra = a.rooms.get('reset', { log: 1000 });
    const m = await member(b, rb, '/resume/reset');
    const o = offsets(await ra.broadcast('old1'));
    for (let i = 2; i <= 5; i++) await ra.broadcast(`old${i}`);
    expect(text(await roomFrames(m, 5))).to.deep.equal([1, 2, 3, 4, 5].map((i) => `${o(i)}:old${i}`));
    await suite.redis.stop();
    fs.rmSync(path.join(suite.redis.dir, 'appendonlydir'), { recursive: true, force: true }); // as if it had no persistence
    await suite.redis.start();
    await eventually(() => a.bp.stats().connected && b.bp.stats().connected, 'both backplanes to reconnect');
    // the new stream starts over from Redis's clock: above every offset of the old one
    const n = offsets(await ra.broadcast('new1'));
    expect(seqOf(n(1))).to.be.greaterThan(seqOf(o(5)));
    expect(await ra.broadcast('new2')).to.equal(n(2));
    const got = await roomFrames(m, 3, 15_000);
    expect(got[0]!.gap).to.deep.equal({ after: o(5), oldest: null, last: '0-0', reason: 'reset' });
    expect(text(got.slice(1))).to.deep.equal([`${n(1)}:new1`, `${n(2)}:new2`]);
    const again = await member(b, rb, `/resume/reset?offset=${n(1)}`);
    expect(text(await roomFrames(again, 1))).to.deep.equal([`${n(2)}:new2`]);
    expect(rb.gaps).to.equal(1);
    // an offset of the old stream names no message of the new one: too-old, then the whole new stream
    const stale = await member(b, rb, `/resume/reset?offset=${o(1)}`);
    const fromOld = await roomFrames(stale, 3);
    expect(fromOld[0]!.gap).to.deep.include({ after: o(1), oldest: n(1), reason: 'too-old' });
    expect(text(fromOld.slice(1))).to.deep.equal([`${n(1)}:new1`, `${n(2)}:new2`]);
  });

  it('an empty resumable room keeps reading its stream for retainEmpty ms (a member back resumes from the local log); then the key is no longer read and the room dropped, and a resume comes from Redis', async () => {
    const RETAIN = 1500;
    const a = await node(1000, RETAIN);
    const b = await node(1000, RETAIN);
    const rb = b.rooms.get('idle', { log: 1000, retainEmpty: RETAIN });
    const before = { keys: a.bp.stats().keys, rooms: a.rooms.names().length };
    const ra = a.rooms.get('idle', { log: 1000, retainEmpty: RETAIN });
    const m = await member(a, ra, '/resume/idle');
    const o = offsets(await rb.broadcast('i1'));
    for (let i = 2; i <= 3; i++) await rb.broadcast(`i${i}`);
    expect(text(await roomFrames(m, 3))).to.deep.equal([`${o(1)}:i1`, `${o(2)}:i2`, `${o(3)}:i3`]);
    expect(a.bp.stats().keys).to.equal(before.keys + 1);
    m.close();
    await eventually(() => ra.size === 0, 'the member to leave');
    const left = Date.now();
    // empty: a's reader still reads the room, its log keeps what comes
    for (let i = 4; i <= 5; i++) await rb.broadcast(`i${i}`);
    await eventually(() => ra.lastOffset === o(5), 'a\'s reader to read the 5th message');
    expect(a.bp.stats().keys).to.equal(before.keys + 1);
    expect(ra.logStats()).to.deep.include({ messages: 5, oldest: o(1) });
    const back = await member(a, ra, `/resume/idle?offset=${o(3)}`);
    expect(text(await roomFrames(back, 2))).to.deep.equal([`${o(4)}:i4`, `${o(5)}:i5`]);
    expect(ra.replayed).to.equal(2);
    back.close();
    await eventually(() => ra.size === 0, 'the member to leave again');
    // retainEmpty later: the key is not read here any more, the log is freed, the room dropped
    await eventually(() => !a.rooms.names().includes('idle'), 'the room to be dropped', 15_000);
    expect(Date.now() - left).to.be.at.least(RETAIN - 5);
    expect(a.bp.stats().keys).to.equal(before.keys);
    expect(a.rooms.names()).to.have.length(before.rooms);
    expect(ra.logStats()).to.deep.equal({ messages: 0, bytes: 0, oldest: null });
    for (let i = 6; i <= 7; i++) await rb.broadcast(`i${i}`);
    // a resume now comes from the stream (XRANGE), then live
    const late = await member(a, a.rooms.get('idle'), `/resume/idle?offset=${o(5)}`);
    expect(text(await roomFrames(late, 2))).to.deep.equal([`${o(6)}:i6`, `${o(7)}:i7`]);
    expect(a.bp.stats().keys).to.equal(before.keys + 1);
    await rb.broadcast('i8');
    expect(text(await roomFrames(late, 1))).to.deep.equal([`${o(8)}:i8`]);
    await sleep(50);
    expect(late.pending()).to.have.length(0);
  });

  it('a catch-up Redis cannot serve: the member is closed with 1013 (try again later) and counted in joinErrors', async () => {
    const a = await node();
    const b = await node();
    const ra = a.rooms.get('down', { log: 1000 });
    const o = offsets(await b.rooms.get('down', { log: 1000 }).broadcast('d1'));
    for (let i = 2; i <= 3; i++) await b.rooms.get('down').broadcast(`d${i}`);
    const stay = await member(a, ra, '/resume/down'); // a follows from the 3rd message: its log starts there
    await b.rooms.get('down').broadcast('d4');
    expect(text(await roomFrames(stay, 1))).to.deep.equal([`${o(4)}:d4`]);
    await suite.redis.stop();
    try {
      const c = await WsClient.connect(a.ctx.port, `/resume/down?offset=${o(1)}`); // not in a's log: XRANGE, which fails
      cleanup.push(() => c.close());
      const f = await c.next('the close frame', 10_000);
      expect(f.opcode).to.equal(8);
      expect(f.payload.readUInt16BE(0)).to.equal(1013);
      expect(ra.joinErrors).to.equal(1);
      expect(ra.size).to.equal(1);
    } finally {
      await suite.redis.start();
    }
  });
});

describe('backplane: resumable rooms across app processes', function () {
  this.timeout(120_000);
  const suite = redisForSuite();
  const children: AppChild[] = [];
  const conns: WsClient[] = [];
  afterEach(async () => {
    for (const c of conns.splice(0)) c.close();
    const results = await Promise.allSettled(children.splice(0).map((c) => c.stop()));
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  it('a process stalled (SIGSTOP) while another outruns MAXLEN: its reader finds the trimmed hole; its WebSocket member gets the gap notice, then every kept message once, in order, then live; its SSE subscriber the gap event', async () => {
    // A keeps 10 messages per stream (MAXLEN ~ 10: Redis trims whole nodes of 100 entries)
    const a = await startAppChild(suite.redis.url, { BACKPLANE_ROOM_LOG: '10', BACKPLANE_REPLAY: '10' });
    children.push(a);
    // the publisher: a backplane of the test process (another "process" on the same Redis)
    const bp = redisBackplane({ url: suite.redis.url, publishTimeout: 10_000 });
    const room = Rooms.shared(bp).get('stall', { log: 10 });
    const channel = new Channel({ name: 'news', backplane: bp, replay: 10 });
    let stopped = false;
    try {
      const m = await WsClient.connect(a.port, '/resume/stall');
      conns.push(m);
      const sse = await connectSSE(`${a.base}/events`);
      conns.push({ close: () => sse.close() } as WsClient);
      await eventually(async () => (await (await fetch(`${a.base}/room-ready/stall`)).json()).members === 1, 'the member following the room');
      await eventually(async () => (await a.stats()).channel.subscribers === 1, 'the SSE subscriber');
      // two streams, each from its own first id
      const or = offsets(await room.broadcast('s1'));
      const on = offsets(await channel.publish('e1'));
      for (let i = 2; i <= 3; i++) {
        expect(await room.broadcast(`s${i}`)).to.equal(or(i));
        expect(await channel.publish(`e${i}`)).to.equal(on(i));
      }
      // the rank (1-based) in each stream of an entry's seq
      const rankRoom = (seq: number) => seq - seqOf(or(1)) + 1;
      const rankNews = (seq: number) => seq - seqOf(on(1)) + 1;
      expect(text(await roomFrames(m, 3))).to.deep.equal([`${or(1)}:s1`, `${or(2)}:s2`, `${or(3)}:s3`]);
      expect((await sse.waitEvents(3)).map((e) => e.id)).to.deep.equal([on(1), on(2), on(3)]);
      // A stops: its reader's XREAD may take what comes first, and reads nothing more until SIGCONT
      process.kill(a.child.pid!, 'SIGSTOP');
      stopped = true;
      const TOTAL = 403;
      for (let n = 4; n <= TOTAL; n += 50) {
        const burst: Array<Promise<string>> = [];
        for (let i = n; i < n + 50 && i <= TOTAL; i++) burst.push(room.broadcast(`s${i}`), channel.publish(`e${i}`));
        await Promise.all(burst);
      }
      const keptRoom = await bp.range('catzilla:room:stall', 0, seqOf(or(TOTAL)));
      const keptNews = await bp.range('catzilla:sse:news', 0, seqOf(on(TOTAL)));
      expect(rankRoom(keptRoom[0]!.seq), 'the window moved past what A read').to.be.greaterThan(5);
      expect(rankNews(keptNews[0]!.seq), 'the window moved past what A read').to.be.greaterThan(5);
      process.kill(a.child.pid!, 'SIGCONT');
      stopped = false;
      expect(await room.broadcast('live')).to.equal(or(TOTAL + 1));
      expect(await channel.publish('live')).to.equal(on(TOTAL + 1));

      // the WebSocket member: what A read before the hole (the 4th message at most), the gap notice, then what the stream kept, then live
      const frames: RoomFrame[] = [];
      while (frames.length === 0 || frames[frames.length - 1]!.offset !== or(TOTAL + 1)) frames.push(...(await roomFrames(m, 1, 30_000)));
      const at = frames.findIndex((f) => f.kind === 'gap');
      expect(at, text(frames).slice(0, 5).join(' ')).to.be.within(0, 1);
      expect(frames.filter((f) => f.kind === 'gap')).to.have.length(1);
      const before = frames.slice(0, at);
      const after = frames.slice(at + 1);
      expect(text(before)).to.deep.equal(before.map((_, k) => `${or(4 + k)}:s${4 + k}`));
      const lastSeen = 3 + before.length; // rank of the last message A read
      const oldest = after[0]!.offset;
      expect(frames[at]!.gap).to.deep.equal({ after: or(lastSeen), oldest, last: oldest, reason: 'too-old' });
      expect(rankRoom(seqOf(oldest))).to.be.greaterThan(lastSeen + 1);
      const kept = keptRoom.filter((e) => e.seq >= seqOf(oldest));
      expect(kept[0]!.seq, 'the gap starts where the stream does').to.equal(seqOf(oldest));
      expect(text(after)).to.deep.equal([...kept.map((e) => `0-${e.seq}:s${rankRoom(e.seq)}`), `${or(TOTAL + 1)}:live`]);
      expect(after.map((f) => rankRoom(seqOf(f.offset)))).to.deep.equal(Array.from({ length: TOTAL + 2 - rankRoom(seqOf(oldest)) }, (_, k) => rankRoom(seqOf(oldest)) + k));

      // the SSE subscriber on A: the same shape with the channel's gap event
      let events = await sse.waitEvents(4, 30_000);
      while (events[events.length - 1]!.id !== on(TOTAL + 1)) events = await sse.waitEvents(events.length + 1, 30_000);
      const g = events.findIndex((e) => e.event === 'gap');
      expect(g).to.be.within(3, 4);
      expect(events.filter((e) => e.event === 'gap')).to.have.length(1);
      expect(events.slice(0, g).map((e) => [e.id, e.data])).to.deep.equal(Array.from({ length: g }, (_, k) => [on(k + 1), `e${k + 1}`]));
      expect(JSON.parse(events[g]!.data)).to.deep.equal({ lastEventId: on(g), oldestId: `0-${keptNews[0]!.seq}`, lastId: `0-${keptNews[0]!.seq}`, reason: 'too-old' });
      expect(events.slice(g + 1).map((e) => [e.id, e.data])).to.deep.equal([...keptNews.map((e) => [`0-${e.seq}`, `e${rankNews(e.seq)}`]), [on(TOTAL + 1), 'live']]);
      await sleep(100);
      expect(m.pending()).to.have.length(0);
      expect(sse.parser.events).to.have.length(events.length);
      const stats = await (await fetch(`${a.base}/room-stats/stall`)).json();
      expect(stats).to.deep.include({ size: 1, gaps: 1, replayed: 0, dropped: 0 });
    } finally {
      if (stopped) process.kill(a.child.pid!, 'SIGCONT');
      await bp.close();
    }
  });

  it('a member of process A leaves, broadcasts go on from B, it reconnects to B with its offset and gets exactly what it missed', async () => {
    const [a, b] = await Promise.all([startAppChild(suite.redis.url), startAppChild(suite.redis.url)]);
    children.push(a, b);
    const m = await WsClient.connect(a.port, '/resume/proc');
    const other = await WsClient.connect(b.port, '/resume/proc');
    conns.push(m, other);
    for (const at of [a, b]) await eventually(async () => (await (await fetch(`${at.base}/room-ready/proc`)).json()).members === 1, 'a member following the room');
    const post = async (at: AppChild, body: string) => (await (await fetch(`${at.base}/broadcast/proc`, { method: 'POST', body })).json()).id as string;
    const o = offsets(await post(a, 'p1'));
    for (let i = 2; i <= 4; i++) expect(await post(i % 2 ? a : b, `p${i}`)).to.equal(o(i));
    const seen = await roomFrames(m, 4);
    expect(text(seen)).to.deep.equal([`${o(1)}:p1`, `${o(2)}:p2`, `${o(3)}:p3`, `${o(4)}:p4`]);
    m.close();
    await eventually(async () => (await (await fetch(`${a.base}/room-stats/proc`)).json()).size === 0, 'the member to leave a');
    for (let i = 5; i <= 12; i++) await post(b, `p${i}`);
    other.text('from other'); // the 13th, broadcast by b's member
    expect(text(await roomFrames(other, 13))).to.deep.equal([...Array.from({ length: 12 }, (_, k) => `${o(k + 1)}:p${k + 1}`), `own:${o(13)}`]);
    const back = await WsClient.connect(b.port, `/resume/proc?offset=${seen[3]!.offset}`);
    conns.push(back);
    const missed = await roomFrames(back, 9);
    expect(text(missed)).to.deep.equal([...Array.from({ length: 8 }, (_, k) => `${o(k + 5)}:p${k + 5}`), `${o(13)}:from other`]);
    await eventually(async () => (await (await fetch(`${b.base}/room-stats/proc`)).json()).size === 2, 'the member to join b');
    expect(await post(a, 'live')).to.equal(o(14));
    expect(text(await roomFrames(back, 1))).to.deep.equal([`${o(14)}:live`]);
    expect(text(await roomFrames(other, 1))).to.deep.equal([`${o(14)}:live`]);
    await sleep(100);
    expect(back.pending()).to.have.length(0);
    const stats = await (await fetch(`${b.base}/room-stats/proc`)).json();
    expect(stats).to.deep.include({ replayed: 9, gaps: 0, joinErrors: 0 });
  });
});
