/**
 * A backplane Channel hands the events of one stream read to each subscriber as one Buffer
 * (one queue push and one write per subscriber per read, not per event). What must not change
 * with it: every subscriber gets each event once, in order; a subscriber whose client is ahead of
 * this process's reader gets only the events after its id, even from the middle of a read; a read
 * that jumps over trimmed entries puts the gap event between the events before and after it; and
 * 'drop-oldest' counts the events it drops, not the Buffers. The reader is the test (a backplane
 * driven by hand), so every read's size is known.
 */
import { expect } from 'chai';
import { Channel } from '../../ts/index.js';
import { HandDrivenBackplane } from '../helpers/hand-driven-backplane.js';
import { RawClient, requestBytes } from '../helpers/raw-client.js';
import { connectSSE, EventParser } from '../helpers/sse-client.js';
import { withApp } from '../helpers/with-app.js';

const QUIET = { heartbeat: 0 };

async function until(pred: () => boolean, what: string, max = 10_000): Promise<void> {
  for (let i = 0; i < max && !pred(); i++) await new Promise<void>((resolve) => setTimeout(resolve, 1));
  if (!pred()) throw new Error(`gave up waiting for ${what}`);
}

/** One channel's stream, in memory; the reader is the test. */
const handDriven = () => new HandDrivenBackplane((data) => [Buffer.from('d'), Buffer.from(data)]);

const ids = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => `0-${from + k}`);

describe('backplane: a Channel delivers each stream read as one batch', () => {
  it('every subscriber gets each event of a read once, in order; a client ahead of the reader gets only what follows its id', async () => {
    const bp = handDriven();
    for (let seq = 1; seq <= 12; seq++) bp.add(seq, `e${seq}`);
    bp.position = 3; // this process's reader is at 0-3; another process's reader was at 0-6
    const channel = new Channel({ name: 'batch', backplane: bp, sse: QUIET });
    await withApp((app) => {
      app.get('/events', (req) => channel.subscribe(req));
    }, async ({ base }) => {
      const fresh = await connectSSE(`${base}/events`);
      await until(() => channel.size === 1, 'the first subscriber');
      const ahead = await connectSSE(`${base}/events`, { 'Last-Event-ID': '0-6' });
      await until(() => channel.size === 2, 'the subscriber that is ahead');
      // one read of 0-4..0-9: the client ahead has 0-4..0-6 already (from the middle of the read)
      await bp.read(3, 9);
      // then a read it is past entirely, and one that carries it on
      await bp.read(9, 12);
      expect((await fresh.waitEvents(9)).map((e) => e.id)).to.deep.equal(ids(4, 12));
      expect((await ahead.waitEvents(6)).map((e) => e.id)).to.deep.equal(ids(7, 12));
      expect((await ahead.waitEvents(6)).map((e) => e.data)).to.deep.equal(['e7', 'e8', 'e9', 'e10', 'e11', 'e12']);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(fresh.parser.events, 'nothing twice').to.have.length(9);
      expect(ahead.parser.events, 'nothing twice').to.have.length(6);
      // the ring holds the events one by one: a resume from the middle of a read
      const resumed = await connectSSE(`${base}/events`, { 'Last-Event-ID': '0-7' });
      expect((await resumed.waitEvents(5)).map((e) => e.id)).to.deep.equal(ids(8, 12));
      for (const c of [fresh, ahead, resumed]) c.close();
    });
  });

  it('a read that jumps over trimmed entries: the events before the jump, the gap event, then the rest', async () => {
    const bp = handDriven();
    for (const seq of [1, 2, 3, 7, 8]) bp.add(seq, `e${seq}`); // 0-4..0-6 were trimmed before this reader got them
    const channel = new Channel({ name: 'jump', backplane: bp, sse: QUIET });
    await withApp((app) => {
      app.get('/events', (req) => channel.subscribe(req));
    }, async ({ base }) => {
      const sub = await connectSSE(`${base}/events`);
      await until(() => channel.size === 1, 'the subscriber');
      await bp.read(0, 8);
      const events = await sub.waitEvents(6);
      expect(events.map((e) => (e.event === 'gap' ? `gap:${JSON.parse(e.data).reason}` : e.id))).to.deep.equal(['0-1', '0-2', '0-3', 'gap:too-old', '0-7', '0-8']);
      sub.close();
    });
  });

  it("a stream followed from nothing: a first entry marked as the stream's start brings no gap; one that is not (its head trimmed before the first read) brings the gap first", async () => {
    const S = 1_796_222_537_869_745; // a new stream's first seq: Redis's clock in microseconds
    for (const trimmed of [false, true]) {
      const bp = handDriven(); // position 0: the stream did not exist when the channel followed it
      if (!trimmed) bp.entries.push({ seq: S, fields: [Buffer.from('s'), Buffer.from('1'), Buffer.from('d'), Buffer.from('first')] });
      for (let k = trimmed ? 5 : 1; k <= 7; k++) bp.add(S + k, `e${k}`);
      const channel = new Channel({ name: `fresh-${trimmed}`, backplane: bp, sse: QUIET });
      await withApp((app) => {
        app.get('/events', (req) => channel.subscribe(req));
      }, async ({ base }) => {
        const sub = await connectSSE(`${base}/events`);
        await until(() => channel.size === 1, 'the subscriber');
        await bp.read(0, S + 7);
        const expected = trimmed ? ['gap:too-old', ...ids(S + 5, S + 7)] : ids(S, S + 7);
        const events = await sub.waitEvents(expected.length);
        expect(events.map((e) => (e.event === 'gap' ? `gap:${JSON.parse(e.data).reason}` : e.id)), trimmed ? 'head trimmed' : 'whole stream').to.deep.equal(expected);
        if (trimmed) expect(JSON.parse(events[0]!.data)).to.deep.include({ oldestId: `0-${S + 5}` });
        await new Promise((resolve) => setTimeout(resolve, 30));
        expect(sub.parser.events, 'nothing more').to.have.length(expected.length);
        sub.close();
      });
    }
  });

  it("'drop-oldest' counts every event of a dropped read, and a paused subscriber ends with each event either received or counted as dropped", async () => {
    const EVENTS_PER_READ = 10;
    const bp = handDriven();
    const channel = new Channel({ name: 'drops', backplane: bp, policy: 'drop-oldest', maxQueueBytes: 32 * 1024, slowAfterMs: 0, replay: 16, sse: { heartbeat: 0, highWaterMark: 4096, lowWaterMark: 1024 } });
    const data = (seq: number) => `${seq} ${'x'.repeat(2000)}`;
    await withApp((app) => {
      app.get('/events', (req) => channel.subscribe(req));
    }, async ({ base, port }) => {
      const fast = await connectSSE(`${base}/events`);
      const slow = await RawClient.connect(port);
      await slow.send(requestBytes({ path: '/events', headers: { Accept: 'text/event-stream' } }));
      await until(() => channel.size === 2, 'two subscribers');
      slow.socket.pause(); // stops reading: the kernel buffers fill, then the stream's, then its queue
      let seq = 0;
      // bounded: at most 2,000 reads of 10 x 2 KB before the policy must have acted
      for (let read = 0; read < 2000 && channel.stats().dropped === 0; read++) {
        const from = seq;
        for (let k = 0; k < EVENTS_PER_READ; k++) bp.add(++seq, data(seq));
        await bp.read(from, seq);
        await until(() => fast.parser.events.length >= seq, 'the fast subscriber to keep up');
      }
      const dropped = channel.stats().dropped;
      expect(dropped, 'the policy acted').to.be.greaterThan(0);
      expect(dropped % EVENTS_PER_READ, `events dropped (${dropped}) count every event of each dropped read`).to.equal(0);
      expect((await fast.waitEvents(seq)).map((e) => e.id)).to.deep.equal(ids(1, seq));
      // the slow client reads again: what it gets and what was dropped make up every event, in order
      slow.socket.resume();
      const parser = new EventParser();
      let fed = 0;
      const feed = () => {
        const text = slow.buffer.toString('latin1');
        const body = text.slice(text.indexOf('\r\n\r\n') + 4);
        // chunked framing: size lines are neither data nor id lines, and each chunk holds whole events
        parser.feed(body.slice(fed));
        fed = body.length;
        return parser.events.length + dropped >= seq;
      };
      await until(feed, 'the slow subscriber to read what was kept for it');
      const got = parser.events.map((e) => Number(e.id!.slice(2)));
      expect(got.length + dropped).to.equal(seq);
      expect(got.every((v, i) => i === 0 || v > got[i - 1]!), 'in order').to.equal(true);
      expect(got.at(-1)).to.equal(seq);
      fast.close();
      slow.destroy();
    });
  });
});
