/**
 * Channel: monotonic ids, replay from Last-Event-ID, the gap event, and the three
 * slow-subscriber policies with a raw socket that stops reading while normal clients
 * keep receiving. Publishing loops are bounded by event count.
 */
import { expect } from 'chai';
import { Channel, type OverflowPolicy } from '../../ts/index.js';
import { parseResponse } from '../helpers/http-parse.js';
import { RawClient, requestBytes, within } from '../helpers/raw-client.js';
import { connectSSE, EventParser, type SSEConnection } from '../helpers/sse-client.js';
import { withApp } from '../helpers/with-app.js';

const QUIET = { heartbeat: 0 };
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function until(pred: () => boolean, what: string, max = 10_000): Promise<void> {
  for (let i = 0; i < max && !pred(); i++) await new Promise<void>((resolve) => setTimeout(resolve, 1));
  if (!pred()) throw new Error(`gave up waiting for ${what}`);
}

describe('sse: Channel', () => {
  it('assigns monotonic ids and replays exactly what a reconnecting client missed', async () => {
    const channel = new Channel({ sse: QUIET });
    await withApp((app) => {
      app.get('/events', (req) => channel.subscribe(req));
    }, async ({ base }) => {
      for (let i = 1; i <= 5; i++) expect(await channel.publish(`e${i}`)).to.equal(String(i));
      const conn = await connectSSE(`${base}/events`, { 'Last-Event-ID': '2' });
      await until(() => channel.size === 1, 'the subscriber to join');
      await channel.publish({ event: 'live', data: 'e6' });
      const events = await conn.waitEvents(4);
      expect(events.map((e) => [e.id, e.event, e.data])).to.deep.equal([
        ['3', 'message', 'e3'], ['4', 'message', 'e4'], ['5', 'message', 'e5'], ['6', 'live', 'e6'],
      ]);
      // Up to date: nothing replayed.
      const fresh = await connectSSE(`${base}/events`, { 'Last-Event-ID': '6' });
      await until(() => channel.size === 2, 'the second subscriber');
      await channel.publish('e7');
      expect((await fresh.waitEvents(1))[0]!.id).to.equal('7');
      expect(channel.stats()).to.deep.include({ published: 7, replayed: 3, gaps: 0, lastId: '7' });
      expect(() => channel.publish({ id: 9, data: 'x' } as never)).not.to.throw();
      await channel.publish({ id: 9, data: 'x' } as never).then(() => expect.fail('id accepted'), (err) => expect(err).to.be.instanceOf(TypeError));
      conn.close();
      fresh.close();
      await until(() => channel.size === 0, 'subscribers to leave after the clients closed');
    });
  });

  it('sends a gap event when Last-Event-ID is older than the ring (or unknown), then the ring', async () => {
    const channel = new Channel({ replay: 3, sse: QUIET });
    await withApp((app) => {
      app.get('/events', (req) => channel.subscribe(req));
    }, async ({ base }) => {
      for (let i = 1; i <= 10; i++) await channel.publish(`e${i}`);
      const old = await connectSSE(`${base}/events`, { 'Last-Event-ID': '2' });
      const events = await old.waitEvents(4);
      expect(events[0]!.event).to.equal('gap');
      expect(JSON.parse(events[0]!.data)).to.deep.equal({ lastEventId: '2', oldestId: '8', lastId: '10', reason: 'too-old' });
      expect(events.slice(1).map((e) => e.data)).to.deep.equal(['e8', 'e9', 'e10']);
      // Exactly at the edge of the ring: no gap.
      const edge = await connectSSE(`${base}/events`, { 'Last-Event-ID': '7' });
      expect((await edge.waitEvents(3)).map((e) => e.data)).to.deep.equal(['e8', 'e9', 'e10']);
      const unknown = await connectSSE(`${base}/events`, { 'Last-Event-ID': '999' });
      const u = await unknown.waitEvents(1);
      expect(JSON.parse(u[0]!.data).reason).to.equal('unknown-id');
      expect(channel.stats().gaps).to.equal(2);
      for (const c of [old, edge, unknown]) c.close();
    });
  });

  for (const policy of ['disconnect', 'drop-oldest'] as const) {
    it(`policy '${policy}': a burst above maxQueueBytes in one loop turn reaches every subscriber that keeps up`, async () => {
      // ~220-byte events; 1,500 of them (~330 KiB) pass the 256 KiB default in one synchronous run.
      const channel = new Channel({ policy, sse: QUIET });
      const SUBSCRIBERS = 20;
      const BURST = 1500;
      await withApp((app) => {
        app.get('/events', (req) => channel.subscribe(req));
      }, async ({ base }) => {
        const subs: SSEConnection[] = [];
        for (let i = 0; i < SUBSCRIBERS; i++) subs.push(await connectSSE(`${base}/events`));
        await until(() => channel.size === SUBSCRIBERS, 'every subscriber to join');
        const payload = JSON.stringify({ kind: 'tick', text: 'z'.repeat(170) });
        for (let i = 0; i < BURST; i++) void channel.publish({ event: 'tick', data: payload });
        for (const sub of subs) {
          const events = await sub.waitEvents(BURST, 20_000);
          expect(events.map((e) => Number(e.id))).to.deep.equal(Array.from({ length: BURST }, (_, i) => i + 1));
        }
        const stats = channel.stats();
        expect(stats.disconnected, 'subscribers disconnected').to.equal(0);
        expect(stats.dropped, 'events dropped').to.equal(0);
        expect(stats.subscribers).to.equal(SUBSCRIBERS);
        for (const sub of subs) sub.close();
      });
    });
  }

  async function slowSubscriberScenario(policy: OverflowPolicy) {
    const EVENT = 'x'.repeat(8 * 1024);
    const channel = new Channel({ policy, maxQueueBytes: 64 * 1024, slowAfterMs: 50, replay: 16, sse: { heartbeat: 0, highWaterMark: 4096, lowWaterMark: 1024 } });
    return withApp((app) => {
      app.get('/events', (req) => channel.subscribe(req));
    }, async ({ base, port }) => {
      const fast: SSEConnection[] = [await connectSSE(`${base}/events`), await connectSSE(`${base}/events`)];
      const slow = await RawClient.connect(port);
      await slow.send(requestBytes({ path: '/events' }));
      await slow.until(() => slow.buffer.includes(': ok'), 'the slow subscriber to be subscribed');
      slow.socket.pause(); // stops reading: the kernel buffers fill, then the server's queues
      await until(() => channel.size === 3, 'three subscribers');

      let published = 0;
      let pending: Promise<string> | null = null;
      const stop = () => (policy === 'drop-oldest' ? channel.stats().dropped > 0 : policy === 'disconnect' ? channel.stats().disconnected > 0 : channel.stats().blocked > 0);
      // Bounded: at most 4,000 events of 8 KiB (32 MiB) before the policy must have acted.
      while (!stop() && published < 4000) {
        pending = channel.publish({ data: EVENT });
        published++;
        if (policy !== 'block') await pending;
        // Let the fast clients keep up, so only the paused socket falls behind.
        await until(() => fast.every((f) => f.parser.events.length >= published - 8), 'fast subscribers to keep up');
        await nextTurn();
      }
      expect(stop(), `policy ${policy} acted within ${published} events`).to.equal(true);
      const atStop = channel.stats();
      // Fast subscribers got every event so far, in order.
      for (const f of fast) {
        const events = await f.waitEvents(published);
        expect(events.map((e) => Number(e.id))).to.deep.equal(Array.from({ length: published }, (_, i) => i + 1));
      }
      return { channel, fast, slow, published, pending, atStop };
    });
  }

  it("policy 'drop-oldest': the paused subscriber loses old events, its queue stays bounded, others get everything", async () => {
    const { channel, slow, published, atStop } = await slowSubscriberScenario('drop-oldest');
    const stats = channel.stats();
    // The newest event is always kept, so the queue may pass the limit by at most one event.
    expect(atStop.queuedBytes).to.be.at.most(64 * 1024 + 8 * 1024 + 64);
    expect(atStop.subscribers).to.equal(3);
    expect(stats.dropped).to.be.greaterThan(0);
    expect(published).to.be.greaterThan(stats.dropped);
    slow.destroy();
  });

  it("policy 'disconnect': the paused subscriber is disconnected, others get everything", async () => {
    const { channel, slow } = await slowSubscriberScenario('disconnect');
    expect(channel.stats().disconnected).to.equal(1);
    expect(channel.size).to.equal(0); // the app (and fast clients) closed after the scenario
    slow.socket.resume();
    await slow.waitForClose();
    // The connection was cut: no chunked terminator.
    expect(slow.buffer.subarray(-5).toString('latin1')).not.to.equal('0\r\n\r\n');
  });

  it("policy 'block': the publisher waits for the paused subscriber and nobody loses an event", async () => {
    const EVENT = 'y'.repeat(8 * 1024);
    const channel = new Channel({ policy: 'block', maxQueueBytes: 64 * 1024, replay: 0, sse: { heartbeat: 0, highWaterMark: 4096, lowWaterMark: 1024 } });
    await withApp((app) => {
      app.get('/events', (req) => channel.subscribe(req));
    }, async ({ base, port }) => {
      const fast = await connectSSE(`${base}/events`);
      const slow = await RawClient.connect(port);
      await slow.send(requestBytes({ path: '/events' }));
      await slow.until(() => slow.buffer.includes(': ok'), 'the slow subscriber');
      slow.socket.pause();
      await until(() => channel.size === 2, 'two subscribers');
      let published = 0;
      let blocked: Promise<string> | null = null;
      while (blocked === null && published < 4000) {
        const before = channel.stats().blocked;
        const p = channel.publish({ data: EVENT });
        published++;
        if (channel.stats().blocked > before) blocked = p;
        else await p;
        await until(() => fast.parser.events.length >= published, 'the fast subscriber');
        await nextTurn();
      }
      expect(blocked, 'a publish had to wait').not.to.equal(null);
      let settled = false;
      void blocked!.then(() => (settled = true));
      // The fast subscriber already has the event the publisher is waiting on.
      await fast.waitEvents(published);
      await nextTurn();
      expect(settled).to.equal(false);
      slow.socket.resume();
      expect(await within(blocked!, 10_000, 'the blocked publish')).to.equal(String(published));
      channel.close();
      await slow.waitForClose(10_000);
      await fast.waitEnd(10_000);
      const res = parseResponse(slow.buffer, 0, { eof: true });
      const parser = new EventParser();
      parser.feed(res!.response.body.toString('utf8'));
      expect(parser.events.map((e) => Number(e.id))).to.deep.equal(Array.from({ length: published }, (_, i) => i + 1));
      expect(fast.parser.events).to.have.length(published);
    });
  });
});
