/**
 * Python's `websockets` library (RFC 6455 + RFC 7692, pinned in tests/requirements.txt) against
 * app.ws() with permessage-deflate: the shapes of Autobahn|Testsuite's sections 12 and 13
 * (text and binary messages from 16 bytes to 1 MiB, many in a row, fragmented, context
 * takeover on and off on either side, window bits 9 to 15 asked by the client or the route,
 * several offers), every message echoed and compared, plus a broadcast to many clients that
 * the server compresses once.
 */
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { testPython } from '../helpers/test-python.js';
import { withApp, type App } from '../helpers/with-app.js';

const PY = String.raw`
import asyncio, json, os, sys, zlib
from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

port, path, spec = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])

def factory(o):
    return ClientPerMessageDeflateFactory(
        server_no_context_takeover=o.get("snct", False),
        client_no_context_takeover=o.get("cnct", False),
        server_max_window_bits=o.get("smwb"),
        client_max_window_bits=o.get("cmwb", True),
    )

async def main():
    results = []
    for offer in spec["offers"]:
        exts = [factory(o) for o in offer]
        async with connect(f"ws://127.0.0.1:{port}{path}", extensions=exts, compression=None, max_size=None) as ws:
            agreed = ws.response.headers.get("Sec-WebSocket-Extensions")
            sent = 0
            for size in spec["sizes"]:
                for rep in range(spec["repeat"]):
                    text = json.dumps({"size": size, "rep": rep, "fill": "x" * size})[:size]
                    await ws.send(text)
                    assert await ws.recv() == text, ("text", size)
                    blob = (bytes(range(256)) * (size // 256 + 1))[:size] if rep % 2 == 0 else os.urandom(size)
                    await ws.send(blob)
                    assert await ws.recv() == blob, ("binary", size)
                    sent += 2
            # fragmented messages: the first fragment carries RSV1
            for size in spec["fragmented"]:
                text = ("fragment " * (size // 9 + 1))[:size]
                step = max(1000, size // 100)  # within the default maxFragments (1024)
                pieces = [text[i:i + step] for i in range(0, len(text), step)] or [""]
                await ws.send(pieces)
                assert await ws.recv() == text, ("fragmented", size)
                sent += 1
            results.append({"agreed": agreed, "messages": sent})
    print(json.dumps(results))

asyncio.run(main())
`;

function runClient(port: number, path: string, spec: unknown): Promise<Array<{ agreed: string | null; messages: number }>> {
  return new Promise((resolve, reject) => {
    execFile(testPython(), ['-c', PY, String(port), path, JSON.stringify(spec)], { timeout: 120_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout)));
  });
}

function echo(app: App, path: string, perMessageDeflate: object) {
  app.ws(path, {
    maxPayload: 2 * 1024 * 1024,
    perMessageDeflate,
    message: (ws, data, isBinary) => ws.send(data, { binary: isBinary }),
  });
}

const SIZES = [0, 16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072];

describe('e2e: Python websockets client with permessage-deflate', function () {
  this.timeout(300_000);

  it('section 12 shapes: many sizes, many messages, text and binary, fragmented, both context modes of the route', async () => {
    await withApp((app) => {
      echo(app, '/nctx', { threshold: 0 });
      echo(app, '/ctx', { threshold: 0, serverNoContextTakeover: false });
      echo(app, '/big', { threshold: 1024, serverNoContextTakeover: false });
    }, async ({ port, app }) => {
      const spec = { offers: [[{}]], sizes: SIZES, repeat: 4, fragmented: [0, 999, 1000, 5000, 65536] };
      const nctx = await runClient(port, '/nctx', spec);
      expect(nctx[0]!.agreed).to.equal('permessage-deflate; server_no_context_takeover');
      const ctx = await runClient(port, '/ctx', spec);
      expect(ctx[0]!.agreed).to.equal('permessage-deflate');
      const big = await runClient(port, '/big', { offers: [[{}]], sizes: [1000, 1024, 1024 * 1024], repeat: 2, fragmented: [1024 * 1024] });
      expect(big[0]!.messages).to.equal(13);
      const s = app.stats();
      expect(s.wsInflateMessages).to.be.greaterThan(100);
      expect(s.wsDeflateMessages).to.be.greaterThan(100);
    });
  });

  it('section 13 shapes: context takeover off on either side, window bits 9..15 asked by the client, several offers', async () => {
    await withApp((app) => {
      echo(app, '/ws', { threshold: 0, serverNoContextTakeover: false });
      echo(app, '/small', { threshold: 0, serverNoContextTakeover: false, serverMaxWindowBits: 10, clientMaxWindowBits: 9, memLevel: 4 });
    }, async ({ port }) => {
      const offers = [
        [{ snct: true }],
        [{ cnct: true }],
        [{ snct: true, cnct: true }],
        [{ smwb: 9 }], [{ smwb: 12 }], [{ smwb: 15 }],
        [{ cmwb: 9 }], [{ cmwb: 12 }], [{ cmwb: 15 }],
        [{ smwb: 9, cmwb: 9, snct: true, cnct: true }],
        // several offers: the first is declined (a 256-byte window zlib cannot compress with)
        [{ smwb: 8 }, { smwb: 11, cnct: true }],
      ];
      const spec = { offers, sizes: [16, 1024, 65536], repeat: 3, fragmented: [5000] };
      const results = await runClient(port, '/ws', spec);
      expect(results.map((r) => r.agreed)).to.deep.equal([
        'permessage-deflate; server_no_context_takeover',
        'permessage-deflate; client_no_context_takeover',
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
        'permessage-deflate; server_max_window_bits=9',
        'permessage-deflate; server_max_window_bits=12',
        'permessage-deflate; server_max_window_bits=15',
        'permessage-deflate; client_max_window_bits=9',
        'permessage-deflate; client_max_window_bits=12',
        'permessage-deflate; client_max_window_bits=15',
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9',
        'permessage-deflate; client_no_context_takeover; server_max_window_bits=11',
      ]);
      for (const r of results) expect(r.messages).to.equal(19);
      // the route's own limits: the client is asked for a 9-bit window, the server uses 10
      const small = await runClient(port, '/small', { offers: [[{}], [{ smwb: 12, cmwb: 11 }]], sizes: [16, 65536], repeat: 2, fragmented: [] });
      expect(small.map((r) => r.agreed)).to.deep.equal([
        'permessage-deflate; server_max_window_bits=10; client_max_window_bits=9',
        'permessage-deflate; server_max_window_bits=10; client_max_window_bits=9',
      ]);
    });
  });

  it('a broadcast to 50 clients is compressed once (no context takeover), and every client reads it', async () => {
    await withApp((app) => {
      app.ws('/room', {
        perMessageDeflate: { threshold: 64 },
        open: (ws) => ws.join(app.room('r')),
        message: (_ws, data) => app.room('r').broadcast(data),
      });
    }, async ({ port, app }) => {
      const script = String.raw`
import asyncio, json, sys
from websockets.asyncio.client import connect
async def main(port):
    clients = [await connect(f"ws://127.0.0.1:{port}/room", compression="deflate") for _ in range(50)]
    msg = json.dumps({"event": "price", "symbol": "CATZ", "values": list(range(40))})
    for i in range(20):
        await clients[i % 50].send(msg + str(i))
        for c in clients:
            assert await c.recv() == msg + str(i)
    print(clients[0].response.headers.get("Sec-WebSocket-Extensions"))
    for c in clients: await c.close()
asyncio.run(main(int(sys.argv[1])))
`;
      const out = await new Promise<string>((resolve, reject) => execFile(testPython(), ['-c', script, String(port)], { timeout: 60_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
      expect(out.trim()).to.equal('permessage-deflate; server_no_context_takeover; client_max_window_bits=15'.replace('; client_max_window_bits=15', ''));
      const s = app.stats();
      expect(s.wsDeflateMessages).to.equal(20 * 50);
      expect(s.wsDeflateReused).to.equal(20 * 49); // one compression per broadcast
    });
  });
});
