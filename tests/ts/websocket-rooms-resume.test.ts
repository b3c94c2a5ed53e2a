/**
 * Resumable rooms in one process, over raw sockets: a room with a log prefixes each message with
 * its offset (`<offset> <payload>`, binary kept binary), a member that reconnects with
 * `?offset=` gets exactly what it missed and then live messages, an offset older than the log
 * gets `gap {...}` and then the log, an unknown or future offset gets the 'unknown-offset' gap,
 * the sender of a message gets its offset alone, and broadcasts going on while members resume
 * never reach one twice or out of order.
 */
import { expect } from 'chai';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Rooms, type App, type RoomOptions } from '../../ts/index.js';
import { sleep, within } from '../helpers/raw-client.js';
import { withApp } from '../helpers/with-app.js';
import { roomFrames, type RoomFrame } from '../helpers/room-frames.js';
import { WsClient } from '../helpers/ws-client.js';

const text = (fs: RoomFrame[]) => fs.map((f) => (f.kind === 'gap' ? `gap:${f.gap!.reason}` : `${f.offset}:${f.payload.toString()}`));

function resumableApp(log: number, logBytes?: number) {
  return (app: App) => {
    app.ws('/r/:name', {
      open: (ws) => ws.join(app.room(ws.request.params.name!, { log, logBytes }), { after: ws.request.query.get('offset') }),
      message: (ws, data, isBinary) => app.room(ws.request.params.name!).broadcast(data, { binary: isBinary, except: ws }),
    });
    app.ws('/plain/:name', {
      open: (ws) => ws.join(app.room(ws.request.params.name!), { after: ws.request.query.get('offset') }),
    });
  };
}

async function members(app: App, name: string, n: number): Promise<void> {
  await within((async () => { while (app.room(name).size !== n) await sleep(5); })(), 3000, `${n} members in ${name}`);
}

describe('wire: resumable WebSocket rooms (in-process)', () => {
  it('a member that disconnects mid-stream and reconnects with its last offset gets exactly what it missed, then live ones', async () => {
    await withApp(resumableApp(100), async ({ app, port }) => {
      const room = app.room('chat', { log: 100 });
      expect(room.resumable).to.equal(true);
      const a = await WsClient.connect(port, '/r/chat');
      const b = await WsClient.connect(port, '/r/chat');
      await members(app, 'chat', 2);
      for (let i = 1; i <= 3; i++) expect(room.broadcast(`m${i}`)).to.equal(2);
      expect(text(await roomFrames(a, 3))).to.deep.equal(['1:m1', '2:m2', '3:m3']);
      a.close();
      await members(app, 'chat', 1);
      for (let i = 4; i <= 8; i++) room.broadcast(`m${i}`);
      // b sends one itself: it gets its offset alone, the others the message
      b.text('from b');
      const bs = await roomFrames(b, 9);
      expect(text(bs.slice(0, 8))).to.deep.equal(['1:m1', '2:m2', '3:m3', '4:m4', '5:m5', '6:m6', '7:m7', '8:m8']);
      expect(bs[8]).to.deep.include({ kind: 'own', offset: '9' });
      expect(room.lastOffset).to.equal('9');
      const a2 = await WsClient.connect(port, '/r/chat?offset=3');
      await members(app, 'chat', 2);
      room.broadcast('live');
      expect(text(await roomFrames(a2, 7))).to.deep.equal(['4:m4', '5:m5', '6:m6', '7:m7', '8:m8', '9:from b', '10:live']);
      expect(text(await roomFrames(b, 1))).to.deep.equal(['10:live']);
      await sleep(50);
      expect(a2.pending(), 'nothing more').to.have.length(0);
      expect(room.replayed).to.equal(6);
      expect(room.gaps).to.equal(0);
      // reconnecting with the last offset gets nothing but live messages
      a2.close();
      await members(app, 'chat', 1);
      const a3 = await WsClient.connect(port, '/r/chat?offset=10');
      await members(app, 'chat', 2);
      room.broadcast('after');
      expect(text(await roomFrames(a3, 1))).to.deep.equal(['11:after']);
      for (const c of [b, a3]) c.close();
    });
  });

  it('an offset older than the log: a gap notice, then the whole log; logBytes bounds it too', async () => {
    await withApp(resumableApp(5, 64), async ({ app, port }) => {
      const room = app.room('small', { log: 5, logBytes: 64 });
      for (let i = 1; i <= 20; i++) room.broadcast(`n${i}`);
      expect(room.size).to.equal(0);
      expect(room.logStats()).to.deep.equal({ messages: 5, bytes: 5 * Buffer.byteLength('16 n16'), oldest: '16' });
      const c = await WsClient.connect(port, '/r/small?offset=3');
      const got = await roomFrames(c, 6);
      expect(got[0]!.gap).to.deep.equal({ after: '3', oldest: '16', last: '20', reason: 'too-old' });
      expect(text(got.slice(1))).to.deep.equal(['16:n16', '17:n17', '18:n18', '19:n19', '20:n20']);
      // offset 14: 15 was trimmed, so a gap; offset 15: exactly 16..20, no gap
      const d = await WsClient.connect(port, '/r/small?offset=15');
      expect(text(await roomFrames(d, 5))).to.deep.equal(['16:n16', '17:n17', '18:n18', '19:n19', '20:n20']);
      const e = await WsClient.connect(port, '/r/small?offset=14');
      expect((await roomFrames(e, 6)).map((f) => f.kind)).to.deep.equal(['gap', 'message', 'message', 'message', 'message', 'message']);
      // the byte budget: three 20-byte messages do not fit in 64 bytes with their prefixes
      for (let i = 0; i < 3; i++) room.broadcast('x'.repeat(20));
      await sleep(20);
      expect(room.logStats().messages).to.equal(2);
      expect(room.logStats().bytes).to.be.at.most(64);
      for (const x of [c, d, e]) x.close();
    });
  });

  it('an unknown or future offset: gap notice (unknown-offset), then the log; offset 0 asks for the whole log', async () => {
    await withApp(resumableApp(100), async ({ app, port }) => {
      const room = app.room('u', { log: 100 });
      for (let i = 1; i <= 4; i++) room.broadcast(`u${i}`);
      for (const offset of ['999', 'abc', '0-3']) {
        const c = await WsClient.connect(port, `/r/u?offset=${offset}`);
        const got = await roomFrames(c, 5);
        expect(got[0]!.gap, offset).to.deep.equal({ after: offset, oldest: '1', last: '4', reason: 'unknown-offset' });
        expect(text(got.slice(1))).to.deep.equal(['1:u1', '2:u2', '3:u3', '4:u4']);
        c.close();
      }
      const all = await WsClient.connect(port, '/r/u?offset=0');
      expect(text(await roomFrames(all, 4))).to.deep.equal(['1:u1', '2:u2', '3:u3', '4:u4']);
      const none = await WsClient.connect(port, '/r/u');
      await members(app, 'u', 2);
      room.broadcast('u5');
      expect(text(await roomFrames(none, 1))).to.deep.equal(['5:u5']);
      expect(text(await roomFrames(all, 1))).to.deep.equal(['5:u5']);
      expect(room.gaps).to.equal(3);
      // a room without a log refuses an offset (the open hook's error is logged; the socket joins nothing)
      expect(() => app.room('u', { log: 50 })).to.throw(TypeError, /already keeps a log of 100/);
      expect(app.room('u', { log: 100 })).to.equal(room);
      expect(() => app.room('v', { log: -1 })).to.throw(TypeError, /log must be a non-negative integer/);
      const p = await WsClient.connect(port, '/plain/p?offset=3');
      await sleep(50);
      expect(app.room('p').size).to.equal(0);
      expect(app.room('p').resumable).to.equal(false);
      // a log is given before the first join, not to a room with members already
      const q = await WsClient.connect(port, '/plain/q');
      await members(app, 'q', 1);
      expect(() => app.room('q', { log: 5 })).to.throw(TypeError, /has members already/);
      expect(app.room('q').resumable).to.equal(false);
      q.close();
      for (const c of [all, none, p]) c.close();
    });
  });

  it('binary messages stay binary: the offset prefix, then the exact bytes, live and replayed', async () => {
    await withApp(resumableApp(100), async ({ app, port }) => {
      const room = app.room('bin', { log: 100 });
      const live = await WsClient.connect(port, '/r/bin');
      await members(app, 'bin', 1);
      const big = Buffer.alloc(300_000);
      for (let k = 0; k < big.length; k++) big[k] = (k * 31) & 0xff;
      const payloads = [Buffer.alloc(0), Buffer.from([0x20, 0x00, 0xff, 0x20]), big];
      for (const p of payloads) room.broadcast(p);
      room.broadcast(new Uint8Array([7, 8, 9]).buffer);
      room.broadcast('text too');
      const want = [...payloads, Buffer.from([7, 8, 9])];
      const check = (got: RoomFrame[], from: number) => {
        for (let i = 0; i < got.length - 1; i++) {
          expect(got[i]).to.deep.include({ kind: 'message', binary: true, offset: String(from + i) });
          expect(got[i]!.payload.equals(want[from - 1 + i]!), `payload ${from + i}`).to.equal(true);
        }
        expect(got[got.length - 1]).to.deep.include({ kind: 'message', binary: false, offset: '5' });
        expect(got[got.length - 1]!.payload.toString()).to.equal('text too');
      };
      check(await roomFrames(live, 5), 1);
      const resumed = await WsClient.connect(port, '/r/bin?offset=1');
      check(await roomFrames(resumed, 4), 2);
      // a member's own binary message: the others get it binary, it gets its offset
      resumed.send(0x82, Buffer.from([1, 2, 3]));
      const f = await roomFrames(live, 1);
      expect(f[0]).to.deep.include({ kind: 'message', binary: true, offset: '6' });
      expect(f[0]!.payload.equals(Buffer.from([1, 2, 3]))).to.equal(true);
      expect((await roomFrames(resumed, 1))[0]).to.deep.include({ kind: 'own', offset: '6' });
      for (const c of [live, resumed]) c.close();
    });
  });

  it('broadcasts going on while members resume: each member gets every offset after its own once, in order', async () => {
    await withApp(resumableApp(10_000), async ({ app, port }) => {
      const room = app.room('busy', { log: 10_000 });
      const TOTAL = 3000;
      let n = 0;
      // broadcasts in bursts on every loop turn while the clients connect and resume
      const done = new Promise<void>((resolve) => {
        const tick = () => {
          for (let k = 0; k < 10 && n < TOTAL; k++) room.broadcast(`b${++n}`);
          if (n < TOTAL) setImmediate(tick);
          else resolve();
        };
        setImmediate(tick);
      });
      const clients: Array<{ c: WsClient; after: number }> = [];
      for (let i = 0; i < 8; i++) {
        await sleep(5);
        const after = Math.max(0, n - 200 + i * 17);
        clients.push({ c: await WsClient.connect(port, `/r/busy?offset=${after}`), after });
      }
      await within(done, 20_000, 'the broadcasts');
      for (const { c, after } of clients) {
        const got = await roomFrames(c, TOTAL - after, 10_000);
        for (let k = 0; k < got.length; k++) {
          const off = after + 1 + k;
          expect(got[k]!.kind, `offset ${off}`).to.equal('message');
          expect(`${got[k]!.offset}:${got[k]!.payload.toString()}`).to.equal(`${off}:b${off}`);
        }
        await sleep(10);
        expect(c.pending()).to.have.length(0);
        c.close();
      }
      expect(room.gaps).to.equal(0);
    });
  });

  /** An app whose rooms are `rooms` (a Rooms of the test's, so it can count them). */
  function retainingApp(rooms: Rooms, options: RoomOptions) {
    return (app: App) => {
      app.ws('/r/:name', {
        open: (ws) => ws.join(rooms.get(ws.request.params.name!, options), { after: ws.request.query.get('offset') }),
        message: (ws, data, isBinary) => rooms.get(ws.request.params.name!).broadcast(data, { binary: isBinary, except: ws }),
      });
      app.ws('/plain/:name', { open: (ws) => ws.join(rooms.get(ws.request.params.name!)) });
    };
  }

  it('an empty resumable room keeps its log for retainEmpty ms: a member back within it resumes; then the room is dropped and a resume gets the gap notice (too-old), offsets going on above the old ones', async function () {
    this.timeout(60_000);
    const rooms = new Rooms();
    const RETAIN = 2000;
    await withApp(retainingApp(rooms, { log: 100, retainEmpty: RETAIN }), async ({ port }) => {
      const before = rooms.names().length;
      const a = await WsClient.connect(port, '/r/keep');
      await within((async () => { while (rooms.get('keep').size !== 1) await sleep(5); })(), 3000, 'the member');
      for (let i = 1; i <= 3; i++) rooms.get('keep').broadcast(`k${i}`);
      expect(text(await roomFrames(a, 3))).to.deep.equal(['1:k1', '2:k2', '3:k3']);
      a.close();
      await within((async () => { while (rooms.get('keep').size !== 0) await sleep(5); })(), 3000, 'the member to leave');
      const left = Date.now();
      // empty, within the retention: still there with its log, broadcasts to it are logged
      expect(rooms.names()).to.include('keep');
      rooms.get('keep').broadcast('k4');
      expect(rooms.get('keep').logStats()).to.deep.equal({ messages: 4, bytes: 4 * Buffer.byteLength('1 k1'), oldest: '1' });
      const back = await WsClient.connect(port, '/r/keep?offset=3');
      expect(text(await roomFrames(back, 1))).to.deep.equal(['4:k4']);
      await within((async () => { while (rooms.get('keep').size !== 1) await sleep(5); })(), 3000, 'the member back');
      back.close();
      await within((async () => { while (rooms.get('keep').size !== 0) await sleep(5); })(), 3000, 'the member to leave again');
      expect(rooms.names()).to.include('keep');
      // retainEmpty after the last leave (which came after `left`), the room goes with its log
      await within((async () => { while (rooms.names().includes('keep')) await sleep(10); })(), 15_000, 'the room to be dropped');
      expect(Date.now() - left, 'not before retainEmpty').to.be.at.least(RETAIN - 5);
      expect(rooms.names()).to.have.length(before);
      // a client with an offset of the dropped room: told of the gap, and the offsets go on above 4
      const late = await WsClient.connect(port, '/r/keep?offset=2');
      const g = (await roomFrames(late, 1))[0]!;
      expect(g.gap).to.deep.equal({ after: '2', oldest: null, last: '4', reason: 'too-old' });
      const upToDate = await WsClient.connect(port, '/r/keep?offset=4');
      await within((async () => { while (rooms.get('keep').size !== 2) await sleep(5); })(), 3000, 'two members');
      rooms.get('keep').broadcast('k5');
      for (const c of [late, upToDate]) expect(text(await roomFrames(c, 1))).to.deep.equal(['5:k5']);
      await sleep(30);
      for (const c of [late, upToDate]) expect(c.pending()).to.have.length(0);
      // a plain room is still dropped as soon as its last member leaves
      const p = await WsClient.connect(port, '/plain/p');
      await within((async () => { while (!rooms.names().includes('p')) await sleep(5); })(), 3000, 'the plain room');
      p.close();
      await within((async () => { while (rooms.names().includes('p')) await sleep(5); })(), 3000, 'the plain room to be dropped');
      for (const c of [late, upToDate]) c.close();
    });
  });

  it('a room the application holds is the same room after it was dropped: its broadcasts reach members who join by name', async () => {
    const rooms = new Rooms();
    await withApp(retainingApp(rooms, { log: 10, retainEmpty: 0 }), async ({ port }) => {
      const held = rooms.get('held', { log: 10, retainEmpty: 0 });
      const c = await WsClient.connect(port, '/r/held');
      await within((async () => { while (held.size !== 1) await sleep(5); })(), 3000, 'the member');
      held.broadcast('h1');
      expect(text(await roomFrames(c, 1))).to.deep.equal(['1:h1']);
      c.close();
      await within((async () => { while (rooms.names().includes('held')) await sleep(5); })(), 3000, 'the room to be dropped (retainEmpty 0)');
      expect(held.logStats()).to.deep.equal({ messages: 0, bytes: 0, oldest: null });
      const d = await WsClient.connect(port, '/r/held?offset=1');
      await within((async () => { while (held.size !== 1) await sleep(5); })(), 3000, 'the member to join the held room');
      expect(rooms.get('held')).to.equal(held);
      expect(rooms.names()).to.include('held');
      held.broadcast('h2');
      expect(text(await roomFrames(d, 1))).to.deep.equal(['2:h2']);
      d.close();
    });
  });

  it('memory: 200 emptied resumable rooms with 20 KB logs each are kept within retainEmpty, then freed (room count and heap back)', async function () {
    this.timeout(120_000);
    const gc = (() => {
      v8.setFlagsFromString('--expose-gc');
      return vm.runInNewContext('gc') as () => void;
    })();
    const rooms = new Rooms();
    const RETAIN = 1500;
    const N = 200;
    await withApp(retainingApp(rooms, { log: 20, retainEmpty: RETAIN }), async ({ port }) => {
      const before = rooms.names().length;
      const payload = 'x'.repeat(1000);
      const clients: WsClient[] = [];
      for (let i = 0; i < N; i++) clients.push(await WsClient.connect(port, `/r/m${i}`));
      await within((async () => { while (rooms.names().length < before + N || !rooms.names().every((n) => rooms.get(n).size === 1)) await sleep(10); })(), 20_000, 'every member');
      for (let i = 0; i < N; i++) for (let k = 0; k < 20; k++) rooms.get(`m${i}`).broadcast(payload);
      for (const c of clients) c.close();
      await within((async () => { while (rooms.names().some((n) => rooms.get(n).size > 0)) await sleep(10); })(), 20_000, 'every member to leave');
      const used = () => {
        const m = process.memoryUsage();
        return m.heapUsed + m.arrayBuffers; // the logged messages are Buffers (outside the JS heap)
      };
      gc();
      const kept = used();
      let logged = 0;
      for (const n of rooms.names()) logged += rooms.get(n).logStats().bytes;
      expect(logged).to.equal(N * 20 * Buffer.byteLength(`20 ${payload}`) - N * 9 * 1); // offsets 1..9 are one digit shorter
      expect(rooms.names()).to.have.length(before + N);
      await within((async () => { while (rooms.names().length > before) await sleep(20); })(), 30_000, 'the rooms to be dropped');
      gc();
      await sleep(50);
      gc();
      const freed = kept - used();
      expect(freed, `heap + buffers ${kept} -> ${used()}`).to.be.greaterThan(N * 20 * 1000 * 0.75);
    });
  });
});
