/**
 * WebSocket rooms on a Redis backplane, in one process with two backplanes (two "processes"
 * for Redis; tests/ts/backplane-processes.test.ts has separate processes): broadcast() returns
 * the Redis id, members on both sides get each message once in one order, the 'disconnect'
 * policy closes a paused member with 1013 on its side, a room without members here is not read,
 * and a closed backplane refuses broadcasts while members stay connected.
 */
import { expect } from 'chai';
import { BackplaneError, Rooms, redisBackplane, type RedisBackplane, type Room } from '../../ts/index.js';
import { eventually } from '../helpers/backplane-child.js';
import { redisForSuite } from '../helpers/redis.js';
import { startApp, type AppContext } from '../helpers/with-app.js';
import { WsClient } from '../helpers/ws-client.js';

describe('backplane: WebSocket rooms over Redis', function () {
  this.timeout(60_000);
  const suite = redisForSuite();
  const cleanup = suite.cleanup;

  async function node(): Promise<{ ctx: AppContext; bp: RedisBackplane; rooms: Rooms<Promise<string>> }> {
    let bp!: RedisBackplane;
    let rooms!: Rooms<Promise<string>>;
    const ctx = await startApp((app) => {
      bp = redisBackplane({ url: suite.redis.url, app, publishTimeout: 1000 });
      rooms = Rooms.shared(bp);
      app.ws('/room/:name', {
        highWaterMark: 16 * 1024,
        open: (ws) => ws.join(rooms.get(ws.request.params.name!)),
        message: (ws, data, isBinary) => void rooms.get(ws.request.params.name!).broadcast(data, { binary: isBinary, except: ws }),
      });
    });
    cleanup.push(() => ctx.close());
    return { ctx, bp, rooms };
  }

  async function member(at: { ctx: AppContext }, room: Room<Promise<string>>, name: string): Promise<WsClient> {
    const before = room.size;
    const c = await WsClient.connect(at.ctx.port, `/room/${name}`);
    cleanup.push(() => c.close());
    await eventually(() => room.size > before, 'the member to join');
    await room.ready();
    return c;
  }

  it('broadcast() resolves with the Redis id; members on both processes get each message once, in one order', async () => {
    const a = await node();
    const b = await node();
    const ra = a.rooms.get('green');
    const rb = b.rooms.get('green');
    const ma = await member(a, ra, 'green');
    const mb = await member(b, rb, 'green');
    const ids = await Promise.all([ra.broadcast('one'), rb.broadcast(Buffer.from([0, 1, 2, 255])), ra.broadcast(new Uint8Array([9, 9]).buffer)]);
    // a new stream's first id is Redis's clock in µs (0-<16 digits>), then consecutive
    for (const id of ids) expect(id).to.match(/^0-\d{16}$/);
    const first = Math.min(...ids.map((id) => Number(id.slice(2))));
    expect([...ids].sort()).to.deep.equal([0, 1, 2].map((k) => `0-${first + k}`));
    const got = async (c: WsClient) => {
      const out: string[] = [];
      for (let i = 0; i < 3; i++) {
        const f = await c.next(`message ${i}`);
        out.push(`${f.opcode}:${f.payload.toString('hex')}`);
      }
      return out;
    };
    const [fa, fb] = await Promise.all([got(ma), got(mb)]);
    expect(fa).to.deep.equal(fb);
    expect([...fa].sort()).to.deep.equal(['1:6f6e65', '2:000102ff', '2:0909']);
    expect(() => ra.broadcast(42 as never)).to.throw(TypeError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(ma.pending()).to.have.length(0);
    expect(mb.pending()).to.have.length(0);
  });

  it("policy 'disconnect': a paused member on one process is closed with 1013, the others get everything", async () => {
    const a = await node();
    const b = await node();
    const rb = b.rooms.get('strict');
    rb.policy = 'disconnect';
    const ra = a.rooms.get('strict');
    const fast = await member(b, rb, 'strict');
    const slow = await member(b, rb, 'strict');
    const remote = await member(a, ra, 'strict');
    slow.socket.pause();
    const payload = 'p'.repeat(16 * 1024);
    let N = 0; // until the policy acted (bounded: 2,000 x 16 KiB), past the paused socket's kernel buffers
    while (rb.disconnected === 0 && N < 2000) await ra.broadcast(`${N++}:${payload}`);
    for (const c of [fast, remote]) for (let i = 0; i < N; i++) expect((await c.next(`message ${i}`)).payload.toString().split(':')[0]).to.equal(String(i));
    expect(rb.disconnected).to.equal(1);
    expect(rb.size).to.equal(1);
    slow.socket.resume();
    let close: { opcode: number; payload: Buffer } | null = null;
    for (let i = 0; i < N + 1 && close === null; i++) {
      const f = await slow.next('the close frame');
      if (f.opcode === 8) close = f;
    }
    expect(close!.payload.readUInt16BE(0)).to.equal(1013);
  });

  it('a room without members here is not read; a closed backplane refuses broadcasts and leaves members connected', async () => {
    const a = await node();
    const b = await node();
    const ra = a.rooms.get('quiet');
    const m = await member(a, ra, 'quiet');
    expect(a.bp.stats().keys).to.equal(1);
    expect(b.bp.stats().keys).to.equal(0);
    const delivered = b.bp.stats().delivered;
    await b.rooms.get('quiet').broadcast('hi');
    expect((await m.next()).payload.toString()).to.equal('hi');
    expect(b.bp.stats().delivered).to.equal(delivered);
    m.close();
    await eventually(() => a.bp.stats().keys === 0, 'the room to be dropped from the reader');

    const m2 = await member(a, a.rooms.get('quiet'), 'quiet');
    await a.bp.close();
    const err = await a.rooms.get('quiet').broadcast('after').then(() => null, (e: unknown) => e);
    expect(err).to.be.instanceOf(BackplaneError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(m2.ended).to.equal(false);
  });
});
