/**
 * Differential smuggling check against node:http (llhttp 9.3, strict, Host required): pipelined
 * seed requests (Content-Length, chunked with extensions and trailers, HTTP/1.0 keep-alive) are
 * mutated deterministically (a CR, LF, SP, HT, NUL, VT, DEL, 0xFF, colon, quote or a whole
 * framing field inserted, replaced or removed), and each result is sent to both servers. catzilla
 * may refuse more than node:http, never less: every request its handlers complete must be one
 * node:http's handlers completed too, in the same order, with the same body length.
 */
import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import { withApp } from '../helpers/with-app.js';

const SEEDS = [
  'GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /d HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\nHost: x\r\n\r\n',
  'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n',
];
const PIECES = ['\r', '\n', ' ', '\t', '\0', '\r\n', ':', ';', '"', '0', 'f', '\x0b', '\x7f', '\xff', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 3\r\n', ','];
const CASES = 600;

/** A small deterministic PRNG (the same cases on every run). */
function prng(seed: number): (n: number) => number {
  let s = seed;
  return (n) => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s % n;
  };
}

function mutate(rnd: (n: number) => number): string {
  let s = SEEDS[rnd(SEEDS.length)]!;
  for (let m = 1 + rnd(3); m > 0; m--) {
    const pos = rnd(s.length);
    const op = rnd(3);
    const piece = PIECES[rnd(PIECES.length)]!;
    if (op === 0) s = s.slice(0, pos) + piece + s.slice(pos);
    else if (op === 1) s = s.slice(0, pos) + s.slice(pos + 1);
    else s = s.slice(0, pos) + piece + s.slice(pos + 1);
  }
  return s;
}

/** Sends the bytes, half-closes, and waits until the server closes (or 300 ms of nothing). */
function send(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('data', () => {});
    socket.on('error', () => {});
    const timer = setTimeout(() => socket.destroy(), 300);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.on('connect', () => socket.end(bytes));
  });
}

describe('wire: differential against node:http', function () {
  this.timeout(180_000);

  it(`${CASES} mutated pipelines: catzilla's handlers never complete a request node:http's did not`, async () => {
    let ours: string[] = [];
    let theirs: string[] = [];
    const node = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (d: Buffer) => (n += d.length));
      req.on('end', () => {
        theirs.push(`${req.method} ${req.url!.split('?')[0]} ${n}`);
        res.end('ok');
      });
      req.on('error', () => {});
    });
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    const nodePort = (node.address() as net.AddressInfo).port;
    try {
      await withApp(
        (app) => {
          app.all('/*', async (req) => {
            const body = await req.text().catch(() => null); // a body that fails to arrive completes nothing
            if (body !== null) ours.push(`${req.method} ${req.path} ${Buffer.byteLength(body, 'latin1')}`);
            return 'ok';
          });
        },
        async ({ port }) => {
          const rnd = prng(20261202);
          // the seeds themselves: two requests each, on both servers
          for (const seed of SEEDS) {
            ours = [];
            theirs = [];
            await Promise.all([send(port, Buffer.from(seed, 'latin1')), send(nodePort, Buffer.from(seed, 'latin1'))]);
            await new Promise((resolve) => setImmediate(resolve));
            expect(ours, seed).to.have.length(2);
            expect(ours, seed).to.deep.equal(theirs);
          }
          const differences: string[] = [];
          let completed = 0;
          for (let i = 0; i < CASES; i++) {
            const text = mutate(rnd);
            ours = [];
            theirs = [];
            const bytes = Buffer.from(text, 'latin1');
            await Promise.all([send(port, bytes), send(nodePort, bytes)]);
            await new Promise((resolve) => setImmediate(resolve));
            completed += ours.length;
            if (ours.length > theirs.length || ours.some((r, k) => theirs[k] !== r)) {
              differences.push(`${JSON.stringify(text)}\n    catzilla: ${JSON.stringify(ours)}\n    node:http: ${JSON.stringify(theirs)}`);
            }
          }
          expect(differences, differences.slice(0, 5).join('\n')).to.deep.equal([]);
          expect(completed, 'requests catzilla completed over all cases (the mutations leave many valid)').to.be.greaterThan(CASES / 6);
        },
      );
    } finally {
      await new Promise((resolve) => node.close(resolve));
    }
  });
});
