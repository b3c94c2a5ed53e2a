/**
 * WebSocket over a raw socket: the opening handshake (101 and its accept key, 426 and 400
 * refusals, a refusal by upgrade()), echo of text and binary messages (7-, 16- and 64-bit
 * lengths, fragments), ping/pong, the closing handshake both ways, the close codes the core
 * sends for broken frames (1002, 1007, 1009), a lost connection (1006), backpressure with
 * drain, rooms, and the server still serving HTTP afterwards.
 */
import { expect } from 'chai';
import { HttpError, type WebSocket } from '../../ts/index.js';
import { ALIVE_BODY, ALIVE_PATH, expectStillServing as expectAlive } from '../helpers/assertions.js';
import { deferred, sleep, within } from '../helpers/raw-client.js';
import { withApp, type App } from '../helpers/with-app.js';
import { closePayload, WsClient } from '../helpers/ws-client.js';

interface Closed {
  code: number;
  reason: string;
}

function echoApp(closes: Closed[], opts: { maxPayload?: number } = {}) {
  return (app: App) => {
    app.get(ALIVE_PATH, () => ALIVE_BODY);
    app.ws('/ws', {
      maxPayload: opts.maxPayload,
      protocols: ['chat.v2', 'chat.v1'],
      message: (ws, data, isBinary) => ws.send(data, { binary: isBinary }),
      close: (_ws, code, reason) => closes.push({ code, reason }),
    });
  };
}

describe('wire: WebSocket', () => {
  it('handshake: 101 with the RFC 6455 accept key and the chosen subprotocol; echo of text and binary', async () => {
    const closes: Closed[] = [];
    await withApp(echoApp(closes), async ({ port }) => {
      const { client, head, key } = await WsClient.handshake(port, '/ws', { 'Sec-WebSocket-Protocol': 'chat.v1, chat.v2' });
      expect(head).to.match(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
      expect(head).to.match(/\r\nUpgrade: websocket\r\n/i);
      expect(head).to.match(/\r\nConnection: Upgrade\r\n/i);
      expect(head).to.include(`\r\nSec-WebSocket-Accept: ${WsClient.expectedAccept(key)}\r\n`);
      expect(head).to.include('\r\nSec-WebSocket-Protocol: chat.v1\r\n');
      expect(head).to.not.match(/content-length|transfer-encoding|connection: close/i);
      client.text('héllo');
      let f = await client.next('the text echo');
      expect(f).to.deep.include({ fin: true, opcode: 1 });
      expect(f.payload.toString()).to.equal('héllo');
      for (const size of [0, 125, 126, 65535, 65536, 300_000]) {
        const payload = Buffer.alloc(size, size % 251);
        client.send(0x82, payload);
        f = await client.next(`the ${size}-byte binary echo`);
        expect(f.opcode).to.equal(2);
        expect(f.payload.equals(payload), `${size} bytes`).to.equal(true);
      }
      // a fragmented text message with a ping between its fragments: the pong comes first
      client.send(0x01, 'frag');
      client.send(0x89, 'are you there');
      client.send(0x00, 'men');
      client.send(0x80, 'ted');
      f = await client.next('the pong');
      expect(f.opcode).to.equal(0xa);
      expect(f.payload.toString()).to.equal('are you there');
      f = await client.next('the reassembled echo');
      expect(f.payload.toString()).to.equal('fragmented');
      // closing handshake from the client: the code is echoed, then the server closes TCP
      client.send(0x88, closePayload(1000, 'bye'));
      f = await client.next('the close echo');
      expect(f.opcode).to.equal(8);
      expect(f.payload.readUInt16BE(0)).to.equal(1000);
      await client.waitEnd();
      await expectAlive(port);
    });
    expect(closes).to.deep.equal([{ code: 1000, reason: 'bye' }]);
  });

  it('refusals: 426 for a plain GET and for another version, 400 for a bad key, an HttpError from upgrade()', async () => {
    await withApp((app) => {
      app.get(ALIVE_PATH, () => ALIVE_BODY);
      app.ws('/ws', { message: (ws, d) => ws.send(d) });
      app.ws('/private', {
        upgrade: (req) => {
          if (req.headers['authorization'] !== 'Bearer ok') throw new HttpError(401);
          return { user: 'ok' };
        },
        open: (ws: WebSocket<{ user: string }>) => ws.send(`hello ${ws.data.user}`),
      });
    }, async ({ port }) => {
      const plain = await fetch(`http://127.0.0.1:${port}/ws`);
      expect(plain.status).to.equal(426);
      expect(plain.headers.get('upgrade')).to.equal('websocket');
      await plain.text();
      let r = await WsClient.handshake(port, '/ws', { 'Sec-WebSocket-Version': '8' });
      expect(r.head).to.match(/^HTTP\/1\.1 426 /);
      expect(r.head).to.match(/\r\nSec-WebSocket-Version: 13\r\n/i);
      r.client.close();
      r = await WsClient.handshake(port, '/ws', {}, 'not-a-key');
      expect(r.head).to.match(/^HTTP\/1\.1 400 /);
      r.client.close();
      r = await WsClient.handshake(port, '/private');
      expect(r.head).to.match(/^HTTP\/1\.1 401 /);
      r.client.close();
      const ok = await WsClient.connect(port, '/private', { Authorization: 'Bearer ok' });
      expect((await ok.next('the greeting')).payload.toString()).to.equal('hello ok');
      ok.close();
      await expectAlive(port);
    });
  });

  it('broken frames get the close code that says why, then the connection closes; the server keeps serving', async () => {
    const closes: Closed[] = [];
    await withApp(echoApp(closes, { maxPayload: 1000 }), async ({ port }) => {
      const cases: Array<[string, (c: WsClient) => void, number]> = [
        ['an unmasked frame', (c) => c.send(0x81, 'x', { mask: false }), 1002],
        ['a reserved bit', (c) => c.send(0xc1, 'x'), 1002],
        ['a reserved opcode', (c) => c.send(0x83, 'x'), 1002],
        ['a fragmented ping', (c) => c.send(0x09, 'x'), 1002],
        ['a continuation without a start', (c) => c.send(0x80, 'x'), 1002],
        ['invalid UTF-8', (c) => c.send(0x81, Buffer.from([0xce, 0xba, 0xed, 0xa0, 0x80])), 1007],
        ['a message over maxPayload', (c) => c.send(0x82, Buffer.alloc(1001)), 1009],
        ['fragments over maxPayload', (c) => (c.send(0x02, Buffer.alloc(600)), c.send(0x80, Buffer.alloc(600))), 1009],
        ['a close code that may not be sent', (c) => c.send(0x88, closePayload(1005)), 1002],
      ];
      for (const [what, act, code] of cases) {
        const c = await WsClient.connect(port);
        act(c);
        const f = await c.next(`the close frame for ${what}`);
        expect(f.opcode, what).to.equal(8);
        expect(f.payload.readUInt16BE(0), what).to.equal(code);
        await c.waitEnd();
        c.close();
      }
      await expectAlive(port);
    });
    expect(closes.map((c) => c.code)).to.deep.equal([1002, 1002, 1002, 1002, 1002, 1007, 1009, 1009, 1002]);
  });

  it('server close(): close frame with code and reason, then close(ws) with them; a lost connection is 1006', async () => {
    const closes: Closed[] = [];
    const sockets: WebSocket[] = [];
    await withApp((app) => {
      app.ws('/ws', {
        open: (ws) => sockets.push(ws),
        close: (_ws, code, reason) => closes.push({ code, reason }),
      });
    }, async ({ port }) => {
      const a = await WsClient.connect(port);
      await within((async () => { while (sockets.length < 1) await sleep(5); })(), 2000, 'open');
      sockets[0]!.close(4000, 'done here');
      expect(sockets[0]!.readyState).to.equal('closing');
      expect(() => sockets[0]!.send('late')).to.throw(/closing/);
      const f = await a.next('the close frame');
      expect(f.opcode).to.equal(8);
      expect(f.payload.readUInt16BE(0)).to.equal(4000);
      expect(f.payload.subarray(2).toString()).to.equal('done here');
      a.send(0x88, f.payload); // the client answers
      await a.waitEnd();
      expect(() => sockets[0]!.close(1234)).to.throw(RangeError);

      const b = await WsClient.connect(port);
      await within((async () => { while (sockets.length < 2) await sleep(5); })(), 2000, 'open');
      b.close(); // TCP gone without a close frame
      await within((async () => { while (closes.length < 2) await sleep(5); })(), 2000, 'the 1006 close');
      expect(sockets[1]!.readyState).to.equal('closed');
      expect(() => sockets[1]!.send('x')).to.throw(/closed/);
    });
    expect(closes).to.deep.equal([{ code: 4000, reason: 'done here' }, { code: 1006, reason: '' }]);
  });

  it('backpressure: send() turns false against a client that does not read, drain follows once it reads', async () => {
    const drained = deferred();
    let falseAfter = -1;
    await withApp((app) => {
      app.ws('/ws', {
        highWaterMark: 64 * 1024,
        open: (ws) => {
          const chunk = Buffer.alloc(16 * 1024, 7);
          for (let i = 0; i < 10_000; i++) {
            if (!ws.send(chunk)) {
              falseAfter = i + 1;
              break;
            }
          }
        },
        drain: () => drained.resolve(),
      });
    }, async ({ port }) => {
      const c = await WsClient.connect(port);
      c.socket.pause();
      await sleep(200);
      expect(falseAfter, 'send() returned false before 10,000 x 16 KiB').to.be.greaterThan(0);
      expect(drained.settled).to.equal(false);
      c.socket.resume();
      await within(drained.promise, 5000, 'drain');
      let bytes = 0;
      while (bytes < falseAfter * 16 * 1024) bytes += (await c.next('the queued frames')).payload.length;
      expect(bytes).to.equal(falseAfter * 16 * 1024);
      c.close();
    });
  });

  it('rooms: broadcast reaches every member but the sender; leaving and closing remove members', async () => {
    let appRef: App | null = null;
    await withApp((app) => {
      appRef = app;
      app.ws('/room/:name', {
        open: (ws) => ws.join(app.room(ws.request.params.name!)),
        message: (ws, data) => app.room(ws.request.params.name!).broadcast(data, { except: ws }),
      });
    }, async ({ port }) => {
      const a = await WsClient.connect(port, '/room/blue');
      const b = await WsClient.connect(port, '/room/blue');
      const c = await WsClient.connect(port, '/room/blue');
      const other = await WsClient.connect(port, '/room/red');
      await within((async () => { while (appRef!.room('blue').size < 3) await sleep(5); })(), 2000, 'three members');
      a.text('to blue');
      expect((await b.next('b gets it')).payload.toString()).to.equal('to blue');
      expect((await c.next('c gets it')).payload.toString()).to.equal('to blue');
      await sleep(100);
      expect(a.pending(), 'the sender gets nothing').to.have.length(0);
      expect(other.pending(), 'another room gets nothing').to.have.length(0);
      c.close();
      await within((async () => { while (appRef!.room('blue').size > 2) await sleep(5); })(), 2000, 'c left');
      expect(appRef!.room('blue').broadcast('server news')).to.equal(2);
      expect((await a.next()).payload.toString()).to.equal('server news');
      expect((await b.next()).payload.toString()).to.equal('server news');
      for (const x of [a, b, other]) x.close();
    });
  });
  it('app.close(): open WebSockets get 1001 (going away); a client that answers lets the server close at once', async () => {
    const closes: Closed[] = [];
    await withApp((app) => {
      app.ws('/ws', { close: (_ws, code, reason) => closes.push({ code, reason }) });
    }, async (ctx) => {
      const c = await WsClient.connect(ctx.port);
      const started = Date.now();
      const closing = ctx.close(10_000);
      const f = await c.next('the going-away close frame');
      expect(f.opcode).to.equal(8);
      expect(f.payload.readUInt16BE(0)).to.equal(1001);
      c.send(0x88, f.payload);
      await closing;
      expect(Date.now() - started, 'closed without waiting for the grace period').to.be.below(5000);
      await c.waitEnd();
    });
    expect(closes).to.deep.equal([{ code: 1001, reason: 'server shutting down' }]);
  });
});
