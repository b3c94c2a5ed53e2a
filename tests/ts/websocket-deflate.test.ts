/**
 * permessage-deflate (RFC 7692) on the wire, with raw frames: the negotiation (offers with and
 * without parameters, quoted values, several offers, a declined first offer, duplicates, window
 * bits 8), compressed messages both ways (RSV1 on the first frame only, the threshold), and the
 * adversarial shapes: a compressed control frame, RSV1 on a continuation, RSV2/RSV3 (1002), bytes
 * that are not DEFLATE (1007), a zip bomb (1009 after at most maxPayload bytes of output, with
 * the server's memory bounded), and the counters.
 */
import { expect } from 'chai';
import zlib from 'node:zlib';
import { negotiateDeflate, checkDeflateOptions, parseExtensions } from '../../ts/websocket/handshake.js';
import { withApp, type App } from '../helpers/with-app.js';
import { deflateMessage, inflateMessage, WsClient } from '../helpers/ws-client.js';

interface Closed {
  code: number;
  reason: string;
}

const PMD = 'permessage-deflate';

function deflateApp(closes: Closed[], opts: { threshold?: number; maxPayload?: number; serverNoContextTakeover?: boolean } = {}) {
  return (app: App) => {
    app.ws('/ws', {
      maxPayload: opts.maxPayload,
      perMessageDeflate: { threshold: opts.threshold ?? 16, serverNoContextTakeover: opts.serverNoContextTakeover },
      message: (ws, data, isBinary) => ws.send(data, { binary: isBinary }),
      close: (_ws, code, reason) => closes.push({ code, reason }),
    });
    app.ws('/plain', { message: (ws, data, isBinary) => ws.send(data, { binary: isBinary }) });
  };
}

function extensionsOf(head: string): string | null {
  const m = /\r\nSec-WebSocket-Extensions: ([^\r]*)\r\n/i.exec(head);
  return m ? m[1]! : null;
}

async function expectClose(client: WsClient, code: number): Promise<void> {
  const f = await client.next(`a close ${code}`);
  expect(f.opcode).to.equal(8);
  expect(f.payload.readUInt16BE(0)).to.equal(code);
  await client.waitEnd();
}

describe('wire: WebSocket permessage-deflate', () => {
  it('negotiation: parameters, quoted values, several offers, declines (unit)', () => {
    const o = checkDeflateOptions(true)!;
    expect(negotiateDeflate(undefined, o)).to.equal(null);
    expect(negotiateDeflate('x-webkit-deflate-frame', o)).to.equal(null);
    expect(negotiateDeflate(PMD, o)!.response).to.equal(`${PMD}; server_no_context_takeover`);
    // Chromium's offer: client_max_window_bits without a value
    expect(negotiateDeflate(`${PMD}; client_max_window_bits`, o)!.response).to.equal(`${PMD}; server_no_context_takeover`);
    const withLimits = checkDeflateOptions({ clientMaxWindowBits: 10, serverMaxWindowBits: 12, clientNoContextTakeover: true })!;
    const a = negotiateDeflate(`${PMD}; client_max_window_bits`, withLimits)!;
    expect(a.response).to.equal(`${PMD}; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=10`);
    expect(a.clientMaxWindowBits).to.equal(10);
    // without client_max_window_bits in the offer the server may not ask for it
    expect(negotiateDeflate(PMD, withLimits)!.response).to.not.include('client_max_window_bits');
    // quoted values, case, spaces
    const q = negotiateDeflate(`Permessage-Deflate ;  server_max_window_bits="10" ; client_max_window_bits=9`, o)!;
    expect(q.serverMaxWindowBits).to.equal(10);
    expect(q.response).to.equal(`${PMD}; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9`);
    // context takeover kept when the route allows it and the client does not forbid it
    const ctx = checkDeflateOptions({ serverNoContextTakeover: false })!;
    expect(negotiateDeflate(PMD, ctx)!.response).to.equal(PMD);
    expect(negotiateDeflate(`${PMD}; server_no_context_takeover`, ctx)!.serverNoContextTakeover).to.equal(true);
    // declined offers: the next acceptable one is taken
    for (const bad of [
      `${PMD}; server_max_window_bits=8`, // zlib cannot compress with a 256-byte window
      `${PMD}; server_max_window_bits=16`,
      `${PMD}; server_max_window_bits`,
      `${PMD}; server_max_window_bits=010`,
      `${PMD}; client_max_window_bits=7`,
      `${PMD}; server_no_context_takeover=1`,
      `${PMD}; server_no_context_takeover; server_no_context_takeover`,
      `${PMD}; unknown_parameter`,
      `${PMD}; server_max_window_bits="1 0"`,
    ]) {
      expect(negotiateDeflate(bad, o), bad).to.equal(null);
      const next = negotiateDeflate(`${bad}, ${PMD}; client_max_window_bits=11`, o);
      expect(next?.response, bad).to.equal(`${PMD}; server_no_context_takeover; client_max_window_bits=11`);
    }
    expect(parseExtensions('a; b="x,y", c').map((e) => e.name)).to.deep.equal(['a', 'c']);
    expect(() => checkDeflateOptions({ serverMaxWindowBits: 8 })).to.throw(TypeError, /serverMaxWindowBits/);
    expect(() => checkDeflateOptions({ memLevel: 10 })).to.throw(TypeError, /memLevel/);
  });

  it('handshake: the 101 names the agreed parameters; a route without the option or a client without the offer gets none', async () => {
    await withApp(deflateApp([]), async ({ port }) => {
      let r = await WsClient.handshake(port, '/ws', { 'Sec-WebSocket-Extensions': `${PMD}; server_max_window_bits=8, ${PMD}; client_max_window_bits` });
      expect(extensionsOf(r.head)).to.equal(`${PMD}; server_no_context_takeover`);
      r.client.close();
      r = await WsClient.handshake(port, '/ws');
      expect(extensionsOf(r.head)).to.equal(null);
      r.client.close();
      r = await WsClient.handshake(port, '/plain', { 'Sec-WebSocket-Extensions': PMD });
      expect(extensionsOf(r.head)).to.equal(null);
      r.client.close();
    });
  });

  it('messages both ways: compressed from the threshold on (RSV1 on the first frame only), fragments, binary and text', async () => {
    await withApp(deflateApp([]), async ({ port, app }) => {
      const client = await WsClient.connect(port, '/ws', { 'Sec-WebSocket-Extensions': PMD });
      // under the threshold (16 bytes): plain both ways
      client.text('short');
      let f = await client.next('a short echo');
      expect(f).to.deep.include({ rsv1: false, opcode: 1 });
      expect(f.payload.toString()).to.equal('short');
      // compressed by the client, echoed compressed
      for (const size of [16, 1000, 70_000, 300_000]) {
        const text = JSON.stringify({ n: size, fill: 'é'.repeat(size) }).slice(0, size);
        client.send(0xc1, deflateMessage(text));
        f = await client.next(`the ${size}-byte echo`);
        expect(f).to.deep.include({ fin: true, rsv1: true, opcode: 1 });
        expect(inflateMessage(f.payload).toString()).to.equal(text);
      }
      // a compressed message in three fragments, RSV1 on the first only, a ping in between
      const parts = deflateMessage(Buffer.alloc(5000, 7));
      client.send(0x42, parts.subarray(0, 3));
      client.send(0x89, 'ping');
      client.send(0x00, parts.subarray(3, 10));
      client.send(0x80, parts.subarray(10));
      f = await client.next('the pong');
      expect(f).to.deep.include({ rsv1: false, opcode: 0xa });
      f = await client.next('the binary echo');
      expect(f).to.deep.include({ rsv1: true, opcode: 2 });
      expect(inflateMessage(f.payload).equals(Buffer.alloc(5000, 7))).to.equal(true);
      // a plain message from the client is fine too
      client.send(0x82, Buffer.alloc(100, 1));
      f = await client.next('the echo of a plain message');
      expect(f.rsv1).to.equal(true);
      expect(inflateMessage(f.payload).equals(Buffer.alloc(100, 1))).to.equal(true);
      const s = app.stats();
      expect(s.wsInflateMessages).to.equal(5);
      expect(s.wsDeflateMessages).to.equal(6);
      expect(s.wsDeflateBytesOut).to.be.lessThan(s.wsDeflateBytesIn);
      client.send(0x88, Buffer.from([0x03, 0xe8]));
      await client.next('the close echo');
      await client.waitEnd();
    });
  });

  it('context takeover: the server keeps its window when the route asks for it (a repeated message shrinks)', async () => {
    await withApp(deflateApp([], { serverNoContextTakeover: false }), async ({ port }) => {
      const client = await WsClient.connect(port, '/ws', { 'Sec-WebSocket-Extensions': PMD });
      const inflater = zlib.createInflateRaw();
      const read = (payload: Buffer) => new Promise<Buffer>((resolve) => {
        const chunks: Buffer[] = [];
        const onData = (c: Buffer) => chunks.push(c);
        inflater.on('data', onData);
        inflater.write(Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]));
        inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          inflater.off('data', onData);
          resolve(Buffer.concat(chunks));
        });
      });
      const text = JSON.stringify({ user: 'ann', items: [1, 2, 3], note: 'a message that repeats' });
      const sizes: number[] = [];
      for (let i = 0; i < 3; i++) {
        client.text(text);
        const f = await client.next('an echo');
        expect(f.rsv1).to.equal(true);
        sizes.push(f.payload.length);
        expect((await read(f.payload)).toString()).to.equal(text);
      }
      expect(sizes[1]).to.be.lessThan(sizes[0]! / 2); // the second refers to the first
      inflater.close();
      client.close();
    });
  });

  it('adversarial frames: compressed control frames, RSV1 on a continuation, RSV2 and RSV3 close with 1002', async () => {
    const closes: Closed[] = [];
    await withApp(deflateApp(closes), async ({ port }) => {
      const shapes: Array<[string, (c: WsClient) => void]> = [
        ['a compressed ping', (c) => c.send(0xc9, deflateMessage('x'))],
        ['a compressed close', (c) => c.send(0xc8, Buffer.from([0x03, 0xe8]))],
        ['RSV1 on a continuation', (c) => {
          c.send(0x41, deflateMessage('abc').subarray(0, 2));
          c.send(0xc0, deflateMessage('abc').subarray(2));
        }],
        ['RSV2', (c) => c.send(0xa1, 'x')],
        ['RSV3', (c) => c.send(0x91, 'x')],
      ];
      for (const [what, shape] of shapes) {
        const client = await WsClient.connect(port, '/ws', { 'Sec-WebSocket-Extensions': PMD });
        shape(client);
        const f = await client.next(`the close for ${what}`);
        expect(f.opcode, what).to.equal(8);
        expect(f.payload.readUInt16BE(0), what).to.equal(1002);
        await client.waitEnd();
      }
      // RSV1 without the extension agreed
      const plain = await WsClient.connect(port, '/ws');
      plain.send(0xc1, deflateMessage('hello'));
      await expectClose(plain, 1002);
    });
    expect(closes.map((c) => c.code)).to.deep.equal([1002, 1002, 1002, 1002, 1002, 1002]);
  });

  it('bytes that are not DEFLATE close with 1007; compressed text that inflates to bad UTF-8 closes with 1007', async () => {
    const closes: Closed[] = [];
    await withApp(deflateApp(closes), async ({ port }) => {
      let client = await WsClient.connect(port, '/ws', { 'Sec-WebSocket-Extensions': PMD });
      client.send(0xc2, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]));
      await expectClose(client, 1007);
      client = await WsClient.connect(port, '/ws', { 'Sec-WebSocket-Extensions': PMD });
      client.send(0xc1, deflateMessage(Buffer.from([0x68, 0xc3, 0x28])));
      await expectClose(client, 1007);
    });
    expect(closes.map((c) => c.code)).to.deep.equal([1007, 1007]);
  });

  it('a zip bomb closes with 1009 after at most maxPayload bytes of output; the server\'s memory stays bounded', async () => {
    const closes: Closed[] = [];
    // 256 MiB of zeros: ~256 KiB on the wire, a 1 MiB limit
    const bomb = deflateMessage(Buffer.alloc(256 * 1024 * 1024));
    expect(bomb.length).to.be.lessThan(300 * 1024);
    await withApp(deflateApp(closes, { maxPayload: 1024 * 1024 }), async ({ port, app }) => {
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 4; i++) {
        const client = await WsClient.connect(port, '/ws', { 'Sec-WebSocket-Extensions': PMD });
        client.send(0xc2, bomb);
        await expectClose(client, 1009);
      }
      const grown = process.memoryUsage().rss - before;
      expect(grown, `RSS grew by ${grown} bytes`).to.be.lessThan(48 * 1024 * 1024);
      expect(app.stats().wsTooBig).to.equal(4);
      // exactly the limit is fine
      const client = await WsClient.connect(port, '/ws', { 'Sec-WebSocket-Extensions': PMD });
      client.send(0xc2, deflateMessage(Buffer.alloc(1024 * 1024, 3)));
      const f = await client.next('the 1 MiB echo');
      expect(inflateMessage(f.payload).length).to.equal(1024 * 1024);
      client.close();
    });
    expect(closes.slice(0, 4).map((c) => c.code)).to.deep.equal([1009, 1009, 1009, 1009]);
  });
});
