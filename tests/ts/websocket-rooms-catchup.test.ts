/**
 * A resumable room's catch-up on a backplane, with the races made deterministic: a backplane
 * whose reader the test drives by hand (entries are handed to the room's listener when the test
 * says) and whose XRANGE answers when the test lets it. Members are real sockets. Checked: what
 * the reader reads during a catch-up is held and sent after the replay (no loss, no duplicate,
 * no interleaving); a member whose offset is ahead of this reader (another process's reader was
 * ahead) skips what it has; a reader that jumps over trimmed entries sends live members a gap.
 */
import { expect } from 'chai';
import { Rooms } from '../../ts/index.js';
import { HandDrivenBackplane } from '../helpers/hand-driven-backplane.js';
import { deferred, sleep, within } from '../helpers/raw-client.js';
import { roomFrames, type RoomFrame } from '../helpers/room-frames.js';
import { startApp, type AppContext } from '../helpers/with-app.js';
import { WsClient } from '../helpers/ws-client.js';

/** One room's stream, in memory; the reader is the test. */
const handDriven = () => new HandDrivenBackplane((data, binary) => [Buffer.from('b'), Buffer.from(binary ? '1' : '0'), Buffer.from('o'), Buffer.from(''), Buffer.from('d'), Buffer.from(data)]);

const text = (fs: RoomFrame[]) => fs.map((f) => (f.kind === 'gap' ? `gap:${JSON.stringify(f.gap)}` : `${f.offset}:${f.payload.toString()}`));
const run = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => `0-${from + k}:e${from + k}`);

describe('websocket: a resumable room\'s catch-up on a backplane (reader driven by the test)', () => {
  let ctx: AppContext | null = null;
  const clients: WsClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await ctx?.close();
    ctx = null;
  });

  async function setup(): Promise<{ bp: HandDrivenBackplane; rooms: Rooms<Promise<string>>; connect(path: string): Promise<WsClient> }> {
    const bp = handDriven();
    const rooms = Rooms.shared(bp);
    ctx = await startApp((app) => {
      app.ws('/resume/:name', {
        open: (ws) => ws.join(rooms.get(ws.request.params.name!, { log: 100 }), { after: ws.request.query.get('offset') }),
      });
    });
    const port = ctx.port;
    return {
      bp,
      rooms,
      async connect(path) {
        const c = await WsClient.connect(port, path);
        clients.push(c);
        return c;
      },
    };
  }

  it('what the reader reads while XRANGE is in flight is held, and sent after the replay: no loss, no duplicate, no interleaving', async () => {
    const { bp, rooms, connect } = await setup();
    for (let i = 1; i <= 30; i++) bp.add(i, `e${i}`);
    bp.position = 10; // this process's reader starts at 0-10
    bp.rangeGate = deferred();
    const room = rooms.get('r', { log: 100 });
    const m = await connect('/resume/r?offset=0-3');
    await within((async () => { while (bp.ranges === 0) await sleep(5); })(), 3000, 'the catch-up XRANGE');
    // the reader goes on meanwhile: 11..15 reach nobody yet (m is catching up)
    bp.read(10, 15);
    await sleep(30);
    expect(m.pending(), 'nothing before the replay').to.have.length(0);
    expect(room.size).to.equal(0);
    bp.rangeGate.resolve();
    expect(text(await roomFrames(m, 12))).to.deep.equal(run(4, 15));
    await within((async () => { while (room.size === 0) await sleep(5); })(), 3000, 'the member to be live');
    // a second member whose offset is in the local log (11..15) joins at once from it
    const n = await connect('/resume/r?offset=0-12');
    expect(text(await roomFrames(n, 3))).to.deep.equal(run(13, 15));
    await within((async () => { while (room.size < 2) await sleep(5); })(), 3000, 'two members');
    bp.read(15, 17);
    for (const c of [m, n]) expect(text(await roomFrames(c, 2))).to.deep.equal(run(16, 17));
    await sleep(30);
    for (const c of [m, n]) expect(c.pending()).to.have.length(0);
    expect(room.replayed).to.equal(7 + 3);
  });

  it('an offset ahead of this reader (another reader was ahead) skips what the client has; a reader that jumps over trimmed entries sends a gap', async () => {
    const { bp, rooms, connect } = await setup();
    for (let i = 1; i <= 20; i++) bp.add(i, `e${i}`);
    bp.position = 16;
    const room = rooms.get('s', { log: 100 });
    const live = await connect('/resume/s');
    await within((async () => { while (room.size === 0) await sleep(5); })(), 3000, 'the first member');
    const ahead = await connect('/resume/s?offset=0-18'); // Redis has 0-20: the client is ahead of this reader
    await within((async () => { while (room.size < 2) await sleep(5); })(), 3000, 'the second member');
    bp.read(16, 20);
    expect(text(await roomFrames(live, 4))).to.deep.equal(run(17, 20));
    expect(text(await roomFrames(ahead, 2))).to.deep.equal(run(19, 20));
    // 21..24 came and were trimmed (with everything before) before this reader read them: it gets 25 next
    bp.entries.splice(0);
    for (let i = 25; i <= 26; i++) bp.add(i, `e${i}`);
    bp.read(20, 26);
    const gap = `gap:${JSON.stringify({ after: '0-20', oldest: '0-25', last: '0-25', reason: 'too-old' })}`;
    for (const c of [live, ahead]) expect(text(await roomFrames(c, 3))).to.deep.equal([gap, ...run(25, 26)]);
    // the log starts over at 0-25: an offset before it comes from the stream, with its gap
    const late = await connect('/resume/s?offset=0-19');
    const got = await roomFrames(late, 3);
    expect(got[0]!.gap).to.deep.equal({ after: '0-19', oldest: '0-25', last: '0-26', reason: 'too-old' });
    expect(text(got.slice(1))).to.deep.equal(run(25, 26));
    await sleep(30);
    for (const c of [live, ahead, late]) expect(c.pending()).to.have.length(0);
    expect(room.gaps).to.equal(3);
  });

  it('a reader that jumps over trimmed entries while members are ahead of it: a member that has the whole hole gets no gap, one that has part of it a gap from its own offset', async () => {
    const { bp, rooms, connect } = await setup();
    for (let i = 1; i <= 20; i++) bp.add(i, `e${i}`);
    bp.position = 15;
    const room = rooms.get('h', { log: 100 });
    const live = await connect('/resume/h');
    await within((async () => { while (room.size === 0) await sleep(5); })(), 3000, 'the first member');
    const whole = await connect('/resume/h?offset=0-18'); // its client has up to 18 (another reader was ahead)
    const part = await connect('/resume/h?offset=0-17');
    await within((async () => { while (room.size < 3) await sleep(5); })(), 3000, 'three members');
    // 16..18 are trimmed before this reader reads them: it reads 19 and 20 next
    bp.entries.splice(0, 18);
    bp.read(15, 20);
    const gapFrom = (after: string) => `gap:${JSON.stringify({ after, oldest: '0-19', last: '0-19', reason: 'too-old' })}`;
    expect(text(await roomFrames(live, 3))).to.deep.equal([gapFrom('0-15'), ...run(19, 20)]);
    expect(text(await roomFrames(part, 3))).to.deep.equal([gapFrom('0-17'), ...run(19, 20)]);
    expect(text(await roomFrames(whole, 2))).to.deep.equal(run(19, 20));
    await sleep(30);
    for (const c of [live, whole, part]) expect(c.pending()).to.have.length(0);
    expect(room.gaps).to.equal(2);
  });
  for (const trimmed of [false, true]) {
    it(`a room's stream followed from nothing: ${trimmed ? 'a first message that is not the stream\'s start (its head trimmed before the first read) brings the gap notice first' : 'a first message marked as the stream\'s start brings no gap notice'}`, async () => {
      const S = 1_796_222_537_869_745; // a new stream's first seq: Redis's clock in microseconds
      const { bp, rooms, connect } = await setup(); // position 0: the stream did not exist when the room followed it
      const startFields = [Buffer.from('s'), Buffer.from('1'), Buffer.from('b'), Buffer.from('0'), Buffer.from('o'), Buffer.from(''), Buffer.from('d'), Buffer.from(`e${S}`)];
      if (!trimmed) bp.entries.push({ seq: S, fields: startFields });
      for (let seq = trimmed ? S + 5 : S + 1; seq <= S + 7; seq++) bp.add(seq, `e${seq}`);
      const room = rooms.get(`fresh-${trimmed}`, { log: 100 });
      const m = await connect(`/resume/fresh-${trimmed}`);
      await within((async () => { while (room.size === 0) await sleep(5); })(), 3000, 'the member');
      bp.read(0, S + 7);
      const gap = `gap:${JSON.stringify({ after: '0-0', oldest: `0-${S + 5}`, last: `0-${S + 5}`, reason: 'too-old' })}`;
      const expected = trimmed ? [gap, ...run(S + 5, S + 7)] : run(S, S + 7);
      expect(text(await roomFrames(m, expected.length)), trimmed ? 'head trimmed' : 'whole stream').to.deep.equal(expected);
      await sleep(30);
      expect(m.pending()).to.have.length(0);
      expect(room.gaps).to.equal(trimmed ? 1 : 0);
    });
  }
});
