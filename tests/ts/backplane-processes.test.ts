/**
 * The backplane across real processes ("machines"): app children (tests/fixtures/backplane-app.ts)
 * on two ports sharing one real redis-server. Every subscriber's sequence is compared with the
 * stream itself (XRANGE read by a separate node-redis client): exactly once, one order. Faults:
 * SIGKILL of an app (its client resumes on the other with Last-Event-ID), Redis killed and
 * restarted mid-stream (publishes fail clearly or succeed, subscribers lose nothing and get
 * nothing twice). Rooms: WebSocket members on both processes, binary payloads, a slow member.
 */
import { expect } from 'chai';
import { createClient } from 'redis';
import { eventually, startAppChild, type AppChild } from '../helpers/backplane-child.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { connectSSE, type ParsedEvent, type SSEConnection } from '../helpers/sse-client.js';
import { WsClient } from '../helpers/ws-client.js';
import { underAsan } from '../helpers/sanitizer.js';

const KEY = 'catzilla:sse:news';

/** [id, data] of every entry of `key`, read with a client of its own. */
async function streamContents(url: string, key = KEY): Promise<Array<[string, string]>> {
  const client = createClient({ url });
  client.on('error', () => {});
  await client.connect();
  try {
    const reply = (await client.sendCommand(['XRANGE', key, '-', '+'])) as Array<[string, string[]]>;
    return reply.map(([id, fields]) => [id, fields[fields.indexOf('d') + 1]!]);
  } finally {
    client.destroy();
  }
}

const pairs = (events: ParsedEvent[]) => events.filter((e) => e.event !== 'gap').map((e) => [e.id!, e.data] as [string, string]);

async function post(url: string, body = ''): Promise<{ status: number; json: any }> {
  const res = await fetch(url, { method: 'POST', body });
  return { status: res.status, json: await res.json() };
}

describe('backplane: separate processes on one Redis', function () {
  this.timeout(180_000);
  let redis: RedisServer;
  const children: AppChild[] = [];
  const conns: Array<{ close(): void }> = [];

  beforeEach(async () => {
    redis = await startRedis();
  });
  afterEach(async () => {
    for (const c of conns.splice(0)) c.close();
    const stops = children.splice(0).map((c) => c.stop());
    const results = await Promise.allSettled(stops);
    await redis.destroy();
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  async function app(env: Record<string, string> = {}): Promise<AppChild> {
    const child = await startAppChild(redis.url, env);
    children.push(child);
    return child;
  }

  async function subscribe(at: AppChild, last?: string): Promise<SSEConnection> {
    const before = (await at.stats()).channel.subscribers as number;
    const conn = await connectSSE(`${at.base}/events`, last === undefined ? {} : { 'Last-Event-ID': last });
    conns.push(conn);
    await eventually(async () => (await at.stats()).channel.subscribers > before, 'the subscriber to join');
    return conn;
  }

  it('exactly once, in one order: concurrent publishers on two processes, subscribers on both, each equal to XRANGE', async () => {
    const [a, b] = await Promise.all([app(), app()]);
    // in the sanitizer phase the children run the ASan addon too
    expect((await a.stats()).asan).to.equal(underAsan());
    const subs = [await subscribe(a), await subscribe(a), await subscribe(b), await subscribe(b)];
    const N = 300;
    const [ra, rb] = await Promise.all([post(`${a.base}/publish-many?n=${N}&tag=A`), post(`${b.base}/publish-many?n=${N}&tag=B`)]);
    expect(ra.json.errors).to.deep.equal([]);
    expect(rb.json.errors).to.deep.equal([]);
    const stream = await streamContents(redis.url);
    expect(stream).to.have.length(2 * N);
    // a new stream's first id is Redis's clock in µs (0-<16 digits>), then consecutive
    expect(stream[0]![0]).to.match(/^0-\d{16}$/);
    const first = Number(stream[0]![0].slice(2));
    expect(stream.map(([id]) => id)).to.deep.equal(Array.from({ length: 2 * N }, (_, i) => `0-${first + i}`));
    // each publisher's own events in its order, and the two interleaved (they ran at once)
    expect(stream.filter(([, d]) => d.startsWith('A-')).map(([, d]) => d)).to.deep.equal(Array.from({ length: N }, (_, i) => `A-${i}`));
    expect(new Set([...ra.json.ids, ...rb.json.ids]).size).to.equal(2 * N);
    for (const s of subs) expect(pairs(await s.waitEvents(2 * N, 30_000))).to.deep.equal(stream);
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const s of subs) expect(s.parser.events, 'nothing more, nothing twice').to.have.length(2 * N);
  });

  it('SIGKILL of one app process: its client reconnects to the other with Last-Event-ID and loses nothing', async () => {
    const [a, b] = await Promise.all([app(), app()]);
    const first = await subscribe(a);
    let published = 0;
    const failures: unknown[] = [];
    let stop = false;
    const publisher = (async () => {
      while (!stop && published < 2000) {
        const r = await post(`${b.base}/publish`, `k${published}`);
        if (r.status === 200) published++;
        else failures.push(r.json);
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    await first.waitEvents(50, 20_000);
    await a.kill();
    const before = pairs(first.parser.events);
    const last = before.at(-1)![0];
    const second = await subscribe(b, last);
    conns.push(second);
    await new Promise((resolve) => setTimeout(resolve, 200));
    stop = true;
    await publisher;
    expect(failures).to.deep.equal([]);
    const stream = await streamContents(redis.url);
    expect(stream).to.have.length(published);
    const after = pairs(await second.waitEvents(stream.length - before.length, 20_000));
    expect(second.parser.events.filter((e) => e.event === 'gap')).to.have.length(0);
    expect([...before, ...after]).to.deep.equal(stream);
  });

  it('Redis killed and restarted mid-stream: publishes succeed or fail with EBACKPLANE, subscribers resume with no loss and no duplicate', async () => {
    const [a, b] = await Promise.all([app({ BACKPLANE_PUBLISH_TIMEOUT: '300' }), app({ BACKPLANE_PUBLISH_TIMEOUT: '300' })]);
    const subs = [await subscribe(a), await subscribe(b)];
    const ok: Array<[string, string]> = [];
    const failed: Array<{ data: string; err: any }> = [];
    let i = 0;
    let phase = 'before';
    const publish = async () => {
      const data = `r${i++}-${phase}`;
      const r = await post(`${b.base}/publish`, data);
      if (r.status === 200) ok.push([r.json.id, data]);
      else failed.push({ data, err: r.json });
    };
    for (let k = 0; k < 50; k++) await publish();
    await subs[0]!.waitEvents(50);
    await redis.kill(); // SIGKILL: appendfsync always kept every acknowledged entry
    phase = 'down';
    const downSince = Date.now();
    for (let k = 0; k < 5; k++) await publish(); // each fails within publishTimeout (300 ms)
    const downFor = Date.now() - downSince;
    await redis.start();
    phase = 'after';
    for (let k = 0; k < 50; k++) await publish();

    expect(failed.length, 'publishes while Redis was down failed').to.be.at.least(5);
    for (const f of failed) {
      expect(f.err.code).to.equal('EBACKPLANE');
      // unreachable (nothing sent), lost after sending (indeterminate), or not taken in time (not sent:
      // node-redis was reconnecting; seen on a slow ASan run)
      expect(f.err.message).to.match(/Redis at redis:\/\/127\.0\.0\.1:\d+ (is unreachable|did not take the publish)|connection to Redis at .* was lost|no answer from Redis at .* may or may not have been stored/);
      if (/did not take the publish|is unreachable/.test(f.err.message)) expect(f.err.indeterminate).to.equal(false);
    }
    expect(downFor, 'five failed publishes, each bounded by publishTimeout').to.be.below(5 * 300 + 2000);
    const stream = await streamContents(redis.url);
    // every acknowledged publish is in the stream with its data; a failure that was not
    // indeterminate is not; nothing else is there
    const inStream = new Map(stream);
    for (const [id, data] of ok) expect(inStream.get(id)).to.equal(data);
    for (const f of failed) if (!f.err.indeterminate) expect([...inStream.values()]).to.not.include(f.data);
    expect(stream.length).to.equal(ok.length + failed.filter((f) => f.err.indeterminate && [...inStream.values()].includes(f.data)).length);
    for (const s of subs) {
      const events = await s.waitEvents(stream.length, 30_000);
      expect(pairs(events)).to.deep.equal(stream);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const s of subs) expect(s.parser.events).to.have.length(stream.length);
    const stats = (await a.stats()).backplane;
    expect(stats.reconnects).to.be.greaterThan(0);
    expect(stats.connected).to.equal(true);
    expect((await b.stats()).backplane.publishErrors).to.equal(failed.length);
  });

  it('Redis unreachable at start: the app process\'s listen() rejects with EBACKPLANE naming the URL', async () => {
    const url = redis.url;
    await redis.stop();
    let err: Error | null = null;
    await startAppChild(url).then((c) => children.push(c), (e: Error) => (err = e));
    expect(String(err)).to.match(/listen failed .*EBACKPLANE.*cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+.*ECONNREFUSED/);
    await redis.start();
  });

  it('rooms: a broadcast on one process reaches members on both (text and binary), never the sender, one order for all', async () => {
    const [a, b] = await Promise.all([app(), app()]);
    const members = [await WsClient.connect(a.port, '/room/blue'), await WsClient.connect(a.port, '/room/blue'), await WsClient.connect(b.port, '/room/blue'), await WsClient.connect(b.port, '/room/blue')];
    conns.push(...members);
    for (const at of [a, b]) await eventually(async () => (await (await fetch(`${at.base}/room-ready/blue`)).json()).members === 2, 'two members following the room');
    const binary = Buffer.alloc(300_000);
    for (let k = 0; k < binary.length; k++) binary[k] = (k * 7) & 0xff;
    members[0]!.text('héllo from a');
    members[2]!.send(0x82, binary);
    expect((await post(`${b.base}/broadcast/blue`, 'from the server')).status).to.equal(200);
    // senders: 0 sent text, 2 sent binary; everyone but the sender gets each, in the stream's order
    const got = await Promise.all(members.map(async (m, idx) => {
      const want = idx === 0 || idx === 2 ? 2 : 3;
      const frames = [];
      for (let k = 0; k < want; k++) frames.push(await m.next(`member ${idx} frame ${k}`, 10_000));
      return frames;
    }));
    const label = (f: { opcode: number; payload: Buffer }) => (f.opcode === 2 ? (f.payload.equals(binary) ? 'binary' : 'bad binary') : f.payload.toString());
    // the three were sent at once from two processes: Redis picked one order, and every member sees it
    const order = got[1]!.map(label);
    expect([...order].sort()).to.deep.equal(['binary', 'from the server', 'héllo from a']);
    expect(got[3]!.map(label)).to.deep.equal(order);
    expect(got[0]!.map(label)).to.deep.equal(order.filter((x) => x !== 'héllo from a'));
    expect(got[2]!.map(label)).to.deep.equal(order.filter((x) => x !== 'binary'));
    expect(got[1]![order.indexOf('binary')]!.opcode).to.equal(2);
    expect(got[1]![order.indexOf('héllo from a')]!.opcode).to.equal(1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const m of members) expect(m.pending()).to.have.length(0);
  });

  it('rooms: a member that stops reading gets the room\'s policy (drop) on its process; the others get every message in order', async () => {
    const [a, b] = await Promise.all([app(), app()]);
    const fast = await WsClient.connect(b.port, '/room/slow');
    const slow = await WsClient.connect(b.port, '/room/slow');
    const remote = await WsClient.connect(a.port, '/room/slow');
    conns.push(fast, slow, remote);
    await eventually(async () => (await (await fetch(`${b.base}/room-ready/slow`)).json()).members === 2, 'two members on b');
    await eventually(async () => (await (await fetch(`${a.base}/room-ready/slow`)).json()).members === 1, 'one member on a');
    slow.socket.pause();
    const payload = 'm'.repeat(16 * 1024);
    // until the policy acted on b (bounded: 2,000 x 16 KiB), past the paused socket's kernel buffers
    let N = 0;
    while (N < 2000) {
      for (let k = 0; k < 50; k++) expect((await post(`${a.base}/broadcast/slow`, `${N++}:${payload}`)).status).to.equal(200);
      if ((await (await fetch(`${b.base}/room-stats/slow`)).json()).dropped > 0) break;
    }
    for (const m of [fast, remote]) {
      for (let k = 0; k < N; k++) expect((await m.next(`message ${k}`, 10_000)).payload.toString().split(':')[0]).to.equal(String(k));
    }
    const stats = await (await fetch(`${b.base}/room-stats/slow`)).json();
    expect(stats.dropped, 'messages dropped for the paused member').to.be.greaterThan(0);
    expect(stats.size).to.equal(2);
    expect((await (await fetch(`${a.base}/room-stats/slow`)).json()).dropped).to.equal(0);
  });
});
