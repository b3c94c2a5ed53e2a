/**
 * WebSocket liveness and limits on the wire: server pings at pingInterval, a peer that does not
 * answer dropped after pongTimeout (the handler gets 1006), an idle connection closed with 1001,
 * a message in too many fragments and a flood of pings closed with 1008, a route over
 * maxConnections answered with 101 then 1013; each counted in the server's stats.
 */
import { expect } from 'chai';
import { sleep } from '../helpers/raw-client.js';
import { withApp, type App } from '../helpers/with-app.js';
import { WsClient } from '../helpers/ws-client.js';
import { metrics, type WebSocketBehavior } from '../../ts/index.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';

interface Closed {
  code: number;
  reason: string;
}

function app(closes: Closed[], behavior: Partial<WebSocketBehavior<unknown>>, opened: string[] = []) {
  return (a: App) => {
    a.ws('/ws', {
      ...behavior,
      open: (ws) => opened.push(ws.request.query.get('n') ?? ''),
      message: (ws, data, isBinary) => ws.send(data, { binary: isBinary }),
      close: (_ws, code, reason) => closes.push({ code, reason }),
    });
  };
}

async function expectClose(client: WsClient, code: number): Promise<Buffer> {
  for (;;) {
    const f = await client.next(`a close ${code}`);
    if (f.opcode !== 8) continue;
    expect(f.payload.readUInt16BE(0)).to.equal(code);
    return f.payload;
  }
}

describe('wire: WebSocket liveness and limits', () => {
  it('server pings after pingInterval of silence; answered pongs keep the connection; silence after a ping drops it (1006)', async () => {
    const closes: Closed[] = [];
    await withApp(app(closes, { pingInterval: 100, pongTimeout: 150 }), async ({ port, app: a }) => {
      const alive = await WsClient.connect(port, '/ws');
      const dead = await WsClient.connect(port, '/ws');
      for (let i = 0; i < 3; i++) {
        const f = await alive.next('a ping', 1000);
        expect(f.opcode).to.equal(9);
        alive.send(0x8a, f.payload);
      }
      // `dead` never answered: dropped without a closing handshake
      await dead.waitEnd(2000);
      const pings = dead.pending().filter((f) => f.opcode === 9);
      expect(pings.length).to.equal(1);
      expect(dead.pending().some((f) => f.opcode === 8)).to.equal(false);
      alive.text('still here');
      expect((await alive.next('the echo')).payload.toString()).to.equal('still here');
      const s = a.stats();
      expect(s.wsPongTimeouts).to.equal(1);
      expect(s.wsPingsSent).to.be.at.least(4);
      alive.close();
      await sleep(50);
    });
    expect(closes[0]).to.deep.equal({ code: 1006, reason: '' });
  });

  it('a peer that keeps sending messages is not pinged', async () => {
    await withApp(app([], { pingInterval: 150, pongTimeout: 100 }), async ({ port, app: a }) => {
      const client = await WsClient.connect(port, '/ws');
      for (let i = 0; i < 8; i++) {
        client.text(`m${i}`);
        const f = await client.next('the echo');
        expect(f.opcode).to.equal(1);
        await sleep(50);
      }
      expect(a.stats().wsPingsSent).to.equal(0);
      client.close();
    });
  });

  it('idleTimeout: no message either way closes with 1001 "idle timeout"; pongs do not count as activity', async () => {
    const closes: Closed[] = [];
    await withApp(app(closes, { idleTimeout: 200, pingInterval: 60, pongTimeout: 1000 }), async ({ port, app: a }) => {
      const client = await WsClient.connect(port, '/ws');
      const started = Date.now();
      for (;;) {
        const f = await client.next('a ping or the close', 2000);
        if (f.opcode === 9) {
          client.send(0x8a, f.payload);
          continue;
        }
        expect(f.opcode).to.equal(8);
        expect(f.payload.readUInt16BE(0)).to.equal(1001);
        expect(f.payload.subarray(2).toString()).to.equal('idle timeout');
        break;
      }
      expect(Date.now() - started).to.be.within(150, 1500);
      client.send(0x88, Buffer.from([0x03, 0xe9]));
      await client.waitEnd();
      expect(a.stats().wsIdleTimeouts).to.equal(1);
    });
    expect(closes).to.deep.equal([{ code: 1001, reason: '' }]);
  });

  it('maxFragments: a message in more frames closes with 1008 (65,536 empty fragments no longer cost 65,536 frames)', async () => {
    const closes: Closed[] = [];
    await withApp((x) => {
      app(closes, { maxFragments: 16 })(x);
      x.get('/metrics', metrics());
    }, async ({ port, app: a, base }) => {
      let client = await WsClient.connect(port, '/ws');
      client.send(0x01, 'a');
      for (let i = 0; i < 14; i++) client.send(0x00, '');
      client.send(0x80, 'z');
      expect((await client.next('the 16-fragment echo')).payload.toString()).to.equal('az');
      client.send(0x01, 'a');
      for (let i = 0; i < 65_536; i++) client.send(0x00, '');
      await expectClose(client, 1008);
      await client.waitEnd();
      expect(a.stats().wsFragmentFloods).to.equal(1);
      // and on /metrics, by reason
      const m = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
      expect(sampleValue(m, 'catzilla_websocket_closes_total', { reason: 'fragment-flood' })).to.equal(1);
      expect(sampleValue(m, 'catzilla_websocket_closes_total', { reason: 'pong-timeout' })).to.equal(0);
      // the default is 1024
      client.close();
    });
    expect(closes.map((c) => c.code)).to.deep.equal([1008]);
  });

  it('maxControlFramesPerSecond: a ping flood closes with 1008 after the allowed pongs', async () => {
    const closes: Closed[] = [];
    await withApp(app(closes, { maxControlFramesPerSecond: 50 }), async ({ port, app: a }) => {
      const client = await WsClient.connect(port, '/ws');
      for (let i = 0; i < 1000; i++) client.send(0x89, 'p');
      const payload = await expectClose(client, 1008);
      expect(payload.subarray(2).toString()).to.equal('too many control frames');
      await client.waitEnd();
      expect(client.pending().filter((f) => f.opcode === 0xa).length).to.equal(0); // taken by expectClose
      expect(a.stats().wsControlFloods).to.equal(1);
      // a steady rate under the limit is fine
      const calm = await WsClient.connect(port, '/ws');
      for (let i = 0; i < 30; i++) calm.send(0x89, 'p');
      for (let i = 0; i < 30; i++) expect((await calm.next('a pong')).opcode).to.equal(0xa);
      calm.close();
    });
    expect(closes[0]!.code).to.equal(1008);
  });

  it('maxConnections: one more connection is answered 101 then closed with 1013; no hook runs for it; room again after a close', async () => {
    const closes: Closed[] = [];
    const opened: string[] = [];
    await withApp(app(closes, { maxConnections: 2, perMessageDeflate: true }, opened), async ({ port, app: a }) => {
      const one = await WsClient.connect(port, '/ws?n=1');
      const two = await WsClient.connect(port, '/ws?n=2');
      const { client: three, head } = await WsClient.handshake(port, '/ws?n=3', { 'Sec-WebSocket-Extensions': 'permessage-deflate' });
      expect(head).to.match(/^HTTP\/1\.1 101 /);
      expect(head).to.not.match(/Sec-WebSocket-Extensions/i);
      const payload = await expectClose(three, 1013);
      expect(payload.subarray(2).toString()).to.equal('too many connections');
      three.send(0x88, payload);
      await three.waitEnd();
      expect(a.stats().wsConnectionLimit).to.equal(1);
      one.send(0x88, Buffer.from([0x03, 0xe8]));
      await one.waitEnd();
      const four = await WsClient.connect(port, '/ws?n=4');
      four.text('hi');
      expect((await four.next('the echo')).payload.toString()).to.equal('hi');
      two.close();
      four.close();
      await sleep(50);
    });
    expect(opened).to.deep.equal(['1', '2', '4']);
    expect(closes.map((c) => c.code)).to.deep.equal([1000, 1006, 1006]);
  });
});
