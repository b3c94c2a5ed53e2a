/**
 * metrics(): the WebSocket series after known traffic, parsed by the reference parser (Python's
 * prometheus_client): one connection closed by each rule the core enforces
 * (catzilla_websocket_closes_total{reason}: pong-timeout, idle-timeout, too-big, fragment-flood,
 * control-flood, connection-limit), the one liveness ping that was sent, and permessage-deflate's
 * messages and bytes both ways (a room broadcast to two compressing members: compressed once,
 * reused once). Every value is exact and equals the server's own counter (app.stats()).
 */
import { expect } from 'chai';
import { metrics, type App } from '../../ts/index.js';
import { ensurePrometheusParser, parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { sleep, within } from '../helpers/raw-client.js';
import { withApp } from '../helpers/with-app.js';
import { WsClient, deflateMessage, inflateMessage, type Frame } from '../helpers/ws-client.js';

const QUIET = { pingInterval: 0 }; // no liveness ping but the one the test asks for

function setup(app: App): void {
  app.get('/metrics', metrics());
  app.ws('/limits', { ...QUIET, maxPayload: 1024, maxFragments: 4, maxControlFramesPerSecond: 10, message: (ws, data) => ws.send(data) });
  app.ws('/one', { ...QUIET, maxConnections: 1 });
  app.ws('/idle', { ...QUIET, idleTimeout: 200 });
  app.ws('/ping', { pingInterval: 100, pongTimeout: 150 });
  app.ws('/z', { ...QUIET, perMessageDeflate: { threshold: 0 }, open: (ws) => ws.join(app.room('z')) });
}

/** The next frame with `opcode`, skipping others (pings). */
async function nextOf(c: WsClient, opcode: number, what: string): Promise<Frame> {
  for (;;) {
    const f = await c.next(what, 10_000);
    if (f.opcode === opcode) return f;
  }
}

async function expectClose(c: WsClient, code: number): Promise<void> {
  const f = await nextOf(c, 8, `a close ${code}`);
  expect(f.payload.readUInt16BE(0)).to.equal(code);
  c.send(0x88, f.payload.subarray(0, 2));
  await c.waitEnd(10_000);
}

describe('metrics: WebSocket series, exact after known traffic', function () {
  this.timeout(60_000);
  before(() => {
    ensurePrometheusParser();
  });

  it('one close per rule by reason, the liveness pings sent, and deflate / inflate messages and bytes', async () => {
    await withApp(setup, async ({ app, port, base }) => {
      // too-big: 2,000 bytes against maxPayload 1,024
      const big = await WsClient.connect(port, '/limits');
      big.text('x'.repeat(2000));
      await expectClose(big, 1009);
      // fragment-flood: 6 frames against maxFragments 4
      const frag = await WsClient.connect(port, '/limits');
      frag.send(0x01, 'a');
      for (let i = 0; i < 4; i++) frag.send(0x00, 'b');
      frag.send(0x80, 'c');
      await expectClose(frag, 1008);
      // control-flood: 50 pings against 10 a second
      const flood = await WsClient.connect(port, '/limits');
      for (let i = 0; i < 50; i++) flood.send(0x89, 'p');
      await expectClose(flood, 1008);
      // connection-limit: a second connection on a route of one
      const one = await WsClient.connect(port, '/one');
      const extra = await WsClient.connect(port, '/one');
      await expectClose(extra, 1013);
      // idle-timeout: nothing either way for 200 ms
      const idle = await WsClient.connect(port, '/idle');
      await expectClose(idle, 1001);
      // pong-timeout: one ping after 100 ms of silence, never answered: dropped (no close frame)
      const dead = await WsClient.connect(port, '/ping');
      await dead.waitEnd(10_000);
      expect(dead.pending().filter((f) => f.opcode === 9)).to.have.length(1);

      // deflate: one broadcast to two compressing members (compressed once, the second reuses it)
      const ext = { 'Sec-WebSocket-Extensions': 'permessage-deflate' };
      const z1 = (await WsClient.handshake(port, '/z', ext)).client;
      const z2 = (await WsClient.handshake(port, '/z', ext)).client;
      await within((async () => { while (app.room('z').size !== 2) await sleep(5); })(), 5000, 'two members');
      const message = JSON.stringify({ items: Array.from({ length: 100 }, (_, i) => ({ i, name: `item ${i}` })) });
      expect(app.room('z').broadcast(message)).to.equal(2);
      const got = [await z1.next('the broadcast'), await z2.next('the broadcast')];
      for (const f of got) {
        expect(f.rsv1).to.equal(true);
        expect(inflateMessage(f.payload).toString()).to.equal(message);
      }
      // inflate: one compressed message from a client
      const sent = 'y'.repeat(5000);
      const compressed = deflateMessage(sent);
      z1.send(0xc1, compressed); // FIN + RSV1, text
      await within((async () => { while (app.stats().wsInflateMessages !== 1) await sleep(5); })(), 5000, 'the message to be inflated');

      const s = app.stats();
      const m = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
      const closes = (reason: string) => sampleValue(m, 'catzilla_websocket_closes_total', { reason });
      expect({
        'pong-timeout': closes('pong-timeout'),
        'idle-timeout': closes('idle-timeout'),
        'too-big': closes('too-big'),
        'fragment-flood': closes('fragment-flood'),
        'control-flood': closes('control-flood'),
        'connection-limit': closes('connection-limit'),
      }).to.deep.equal({ 'pong-timeout': 1, 'idle-timeout': 1, 'too-big': 1, 'fragment-flood': 1, 'control-flood': 1, 'connection-limit': 1 });
      expect([s.wsPongTimeouts, s.wsIdleTimeouts, s.wsTooBig, s.wsFragmentFloods, s.wsControlFloods, s.wsConnectionLimit]).to.deep.equal([1, 1, 1, 1, 1, 1]);
      expect(sampleValue(m, 'catzilla_websocket_pings_sent_total')).to.equal(1);
      expect(s.wsPingsSent).to.equal(1);
      const series = {
        deflateMessages: sampleValue(m, 'catzilla_websocket_deflate_messages_total'),
        deflateReused: sampleValue(m, 'catzilla_websocket_deflate_reused_total'),
        deflateIn: sampleValue(m, 'catzilla_websocket_deflate_in_bytes_total'),
        deflateOut: sampleValue(m, 'catzilla_websocket_deflate_out_bytes_total'),
        inflateMessages: sampleValue(m, 'catzilla_websocket_inflate_messages_total'),
        inflateIn: sampleValue(m, 'catzilla_websocket_inflate_in_bytes_total'),
        inflateOut: sampleValue(m, 'catzilla_websocket_inflate_out_bytes_total'),
      };
      expect(series).to.deep.equal({
        deflateMessages: 2,
        deflateReused: 1,
        deflateIn: 2 * Buffer.byteLength(message),
        deflateOut: got[0]!.payload.length + got[1]!.payload.length,
        inflateMessages: 1,
        inflateIn: compressed.length,
        inflateOut: sent.length,
      });
      expect(series).to.deep.equal({
        deflateMessages: s.wsDeflateMessages,
        deflateReused: s.wsDeflateReused,
        deflateIn: s.wsDeflateBytesIn,
        deflateOut: s.wsDeflateBytesOut,
        inflateMessages: s.wsInflateMessages,
        inflateIn: s.wsInflateBytesIn,
        inflateOut: s.wsInflateBytesOut,
      });
      for (const c of [one, z1, z2]) c.close();
    });
  });
});
