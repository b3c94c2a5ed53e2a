/**
 * streamsIntrospection(): off by default (404); an enabled one needs a token or an
 * authorize(req) check; it lists a live slow stream with its route, path, client address
 * (the client socket's own port), state, age, bytes, queue and last write, and the
 * compression of a compressed stream; refused without the token.
 */
import { expect } from 'chai';
import { StreamingResponse, compress, streamsIntrospection, type LiveStreamInfo } from '../../ts/index.js';
import { RawClient, requestBytes, sleep } from '../helpers/raw-client.js';
import { withApp } from '../helpers/with-app.js';

const TOKEN = 'debug-token-123';

function slowTicker() {
  return new StreamingResponse(async function* () {
    for (let i = 0; i < 100_000; i++) {
      yield `tick ${i} ${'lorem ipsum dolor sit amet '.repeat(8)}\n`;
      await sleep(5);
    }
  }(), { contentType: 'text/plain; charset=utf-8' });
}

async function list(base: string, path = '/debug/streams', init: RequestInit = { headers: { authorization: `Bearer ${TOKEN}` } }) {
  const res = await fetch(`${base}${path}`, init);
  expect(res.status).to.equal(200);
  expect(res.headers.get('cache-control')).to.equal('no-store');
  return (await res.json()) as { time: number; count: number; streams: LiveStreamInfo[] };
}

describe('metrics: live stream introspection', () => {
  it('is off by default (404), and an enabled one without token or authorize is refused at creation', async () => {
    expect(() => streamsIntrospection({ enabled: true })).to.throw(TypeError, /token or an authorize/);
    expect(() => streamsIntrospection({ enabled: true, token: '' })).to.throw(TypeError, /token/);
    await withApp((app) => {
      app.get('/debug/streams', streamsIntrospection());
      app.get('/debug/off', streamsIntrospection({ enabled: false, token: TOKEN }));
    }, async ({ base }) => {
      expect((await fetch(`${base}/debug/streams`)).status).to.equal(404);
      expect((await fetch(`${base}/debug/off`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).to.equal(404);
    });
  });

  it('lists a live slow stream with its route, path, client address and counters; refused without the token', async () => {
    await withApp((app) => {
      app.get('/debug/streams', streamsIntrospection({ enabled: true, token: TOKEN }));
      app.get('/feeds/:name', () => slowTicker());
    }, async ({ base, port }) => {
      expect((await list(base)).streams).to.deep.equal([]);
      const client = await RawClient.connect(port);
      try {
        await client.send(requestBytes({ path: '/feeds/news?secret=1' }));
        await client.until(() => client.buffer.includes('tick 3 '), 'a few ticks');

        const refused = await fetch(`${base}/debug/streams`);
        expect(refused.status).to.equal(401);
        expect(await refused.text()).not.to.include('feeds');
        expect((await fetch(`${base}/debug/streams`, { headers: { authorization: 'Bearer wrong' } })).status).to.equal(403);
        expect((await fetch(`${base}/debug/streams?token=wrong`)).status).to.equal(403);

        const first = await list(base);
        expect(first.count).to.equal(1);
        const s = first.streams[0]!;
        expect(s).to.include({ route: '/feeds/:name', method: 'GET', path: '/feeds/news' });
        expect(s.client).to.deep.equal({ address: '127.0.0.1', port: client.socket.localPort, family: 'IPv4' });
        expect(s.state).to.be.oneOf(['streaming', 'backpressured']);
        expect(s.bytes).to.be.greaterThan(0);
        expect(s.bytesSent).to.be.greaterThan(s.bytes); // chunked framing and the head
        expect(s.chunks).to.be.greaterThanOrEqual(4);
        expect(s.queuedBytes).to.be.a('number');
        expect(s.backpressureMs).to.be.a('number');
        expect(s.ageMs).to.be.within(0, 60_000);
        expect(s.lastWriteAt).to.be.a('number').and.to.be.at.most(first.time);
        expect(s.compression).to.equal(null);

        // Its numbers move (bounded wait), and ?token= works for clients that cannot set headers.
        const deadline = Date.now() + 10_000;
        let later = s;
        while (later.bytes <= s.bytes && Date.now() < deadline) {
          await sleep(20);
          later = (await list(base, `/debug/streams?token=${TOKEN}`, {})).streams[0]!;
        }
        expect(later.id).to.equal(s.id);
        expect(later.bytes).to.be.greaterThan(s.bytes);
      } finally {
        client.destroy();
      }
      // Gone from the list once the client left (bounded wait).
      const deadline = Date.now() + 10_000;
      while ((await list(base)).count > 0 && Date.now() < deadline) await sleep(20);
      expect((await list(base)).count).to.equal(0);
    });
  });

  it('authorize(req) decides; the compression ratio of a compressed stream is reported', async () => {
    await withApp((app) => {
      app.use(compress({ flushWindow: 1 }));
      app.get('/debug/streams', streamsIntrospection({ enabled: true, authorize: (req) => req.header('x-debug') === 'yes' }));
      app.get('/feed', () => slowTicker());
    }, async ({ base, port }) => {
      expect((await fetch(`${base}/debug/streams`)).status).to.equal(403);
      const client = await RawClient.connect(port);
      try {
        await client.send(requestBytes({ path: '/feed', headers: { 'Accept-Encoding': 'gzip' } }));
        const deadline = Date.now() + 10_000;
        let s: LiveStreamInfo | undefined;
        while (Date.now() < deadline) {
          s = (await list(base, '/debug/streams', { headers: { 'x-debug': 'yes' } })).streams.find((x) => x.route === '/feed');
          if (s !== undefined && s.compression !== null && s.compression.bytesOut > 0 && s.compression.bytesIn > 2000) break;
          await sleep(20);
        }
        expect(s!.compression!.encoding).to.equal('gzip');
        expect(s!.compression!.ratio).to.be.greaterThan(1); // repetitive text compresses
        expect(s!.compression!.ratio).to.be.closeTo(s!.compression!.bytesIn / s!.compression!.bytesOut, 1e-9);
      } finally {
        client.destroy();
      }
    });
  });
});
