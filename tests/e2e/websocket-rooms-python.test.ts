/**
 * Python's `websockets` library as a resuming room client (tests/requirements.txt pins it): it
 * reads the offset prefix of each message (text and binary, compressed with permessage-deflate),
 * disconnects mid-stream three times while the server keeps broadcasting, reconnects with
 * `?offset=<last>`, and must end with every message exactly once, in order.
 */
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { testPython } from '../helpers/test-python.js';
import { withApp } from '../helpers/with-app.js';

const PY = String.raw`
import asyncio, json, sys
from websockets.asyncio.client import connect

port, total = int(sys.argv[1]), int(sys.argv[2])

def split(msg):
    if isinstance(msg, str):
        head, sep, body = msg.partition(" ")
        return head, sep == " ", ("t", body)
    head, sep, body = msg.partition(b" ")
    return head.decode("ascii"), sep == b" ", ("b", body.hex())

async def main():
    got, last, sessions = [], None, 0
    while True:
        url = f"ws://127.0.0.1:{port}/r/py" + ("" if last is None else f"?offset={last}")
        sessions += 1
        async with connect(url, max_size=None) as ws:
            n = 0
            while True:
                head, sep, body = split(await asyncio.wait_for(ws.recv(), 10))
                assert sep and head != "gap", (head, body)
                got.append([int(head), body[0], body[1]])
                last = head
                n += 1
                if int(head) >= total or (sessions < 4 and n >= 40):
                    break
        if int(last) >= total:
            break
        await asyncio.sleep(0.05)
    print(json.dumps({"sessions": sessions, "got": got}))

asyncio.run(main())
`;

describe('e2e: Python websockets client resuming a room', function () {
  this.timeout(120_000);

  it('disconnects three times mid-stream and resumes with ?offset=: every message once, in order, text and binary intact', async () => {
    const TOTAL = 600;
    await withApp((app) => {
      const room = app.room('py', { log: 10_000 });
      app.ws('/r/:name', {
        perMessageDeflate: { threshold: 0 },
        open: (ws) => {
          ws.join(room, { after: ws.request.query.get('offset') });
          if (ws.request.query.get('offset') !== null) return;
          // the first connection starts the broadcasts: one every 2 ms, text and binary in turn
          let n = 0;
          const timer = setInterval(() => {
            n++;
            room.broadcast(n % 3 === 0 ? Buffer.from([n & 0xff, 0x20, 0, (n >> 8) & 0xff]) : `msg ${n}`);
            if (n >= TOTAL) clearInterval(timer);
          }, 2);
        },
      });
    }, async ({ port }) => {
      const out = await new Promise<string>((resolve, reject) => {
        execFile(testPython(), ['-c', PY, String(port), String(TOTAL)], { timeout: 90_000, maxBuffer: 8 << 20 }, (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout));
      });
      const { sessions, got } = JSON.parse(out) as { sessions: number; got: Array<[number, string, string]> };
      expect(sessions).to.equal(4);
      expect(got.map((g) => g[0])).to.deep.equal(Array.from({ length: TOTAL }, (_, k) => k + 1));
      for (const [n, kind, body] of got) {
        if (n % 3 === 0) expect([kind, body], `message ${n}`).to.deep.equal(['b', Buffer.from([n & 0xff, 0x20, 0, (n >> 8) & 0xff]).toString('hex')]);
        else expect([kind, body], `message ${n}`).to.deep.equal(['t', `msg ${n}`]);
      }
    });
  });
});
