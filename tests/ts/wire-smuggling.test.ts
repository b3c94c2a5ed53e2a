/**
 * Request smuggling and framing shapes (RFC 9112, llhttp's and node:http's published advisories),
 * each sent in one write and again one byte per write. A shape is safe when the server answers it
 * with an error and closes, or handles it as exactly the requests it is, and a request hidden
 * inside it never reaches a handler: `/hidden` counts every call, and after the expected answers
 * a keep-alive connection must answer a sentinel request next (nothing in between).
 */
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import type { AppOptions } from '../../ts/index.js';
import { RawClient, sleep } from '../helpers/raw-client.js';
import { connectionTokens, expectStillServing, ALIVE_PATH, ALIVE_BODY } from '../helpers/assertions.js';
import type { ParsedResponse } from '../helpers/http-parse.js';

const HIDDEN = 'GET /hidden HTTP/1.1\r\nHost: x\r\n\r\n';
const SENTINEL = `GET ${ALIVE_PATH} HTTP/1.1\r\nHost: x\r\n\r\n`;
const CHUNKED_POST = 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';

interface Shape {
  name: string;
  bytes: string;
  /** Statuses answered, in order. */
  statuses: number[];
  /** The server closes the connection after them (else a sentinel request must be answered next). */
  closes: boolean;
  /** The body /echo must have seen, for shapes that are valid requests. */
  echo?: string;
  /** App options for this shape (small limits, so byte by byte stays short). */
  options?: AppOptions;
}

const rejected = (name: string, bytes: string, status = 400): Shape => ({ name, bytes, statuses: [status], closes: true });

const SHAPES: Shape[] = [
  // A bare CR taken as a line end (llhttp 8.1 did, in five places): the bytes after it would be a second request.
  rejected('CR X ending the header block, a request after it', `GET /a HTTP/1.1\r\nHost: x\r\n\rX${HIDDEN}`),
  rejected('CR SP ending the header block', `GET /a HTTP/1.1\r\nHost: x\r\n\r ${HIDDEN}`),
  rejected('CR CR LF ending the header block', `GET /a HTTP/1.1\r\nHost: x\r\n\r\r\n${HIDDEN}`),
  rejected('a request line with no fields ended by CR X', `GET /a HTTP/1.1\rX${HIDDEN}`),
  rejected('CRLF CR X with a Content-Length (the bytes after CR X as the body)', `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${HIDDEN.length}\r\n\rX${HIDDEN}`),
  rejected('a header line ended by a bare CR', `GET /a HTTP/1.1\r\nHost: x\rX-A: 1\r\n\r\n${HIDDEN}`),
  rejected('a chunk-size line ended by CR X', `${CHUNKED_POST}5\rXhello\r\n0\r\n\r\n${HIDDEN}`),
  rejected('chunk data followed by CR X', `${CHUNKED_POST}5\r\nhello\rX0\r\n\r\n${HIDDEN}`),
  rejected('the last chunk followed by CR X', `${CHUNKED_POST}5\r\nhello\r\n0\r\n\rX${HIDDEN}`),
  rejected('a trailer field ended by CR X', `${CHUNKED_POST}5\r\nhello\r\n0\r\nT: v\rX\r\n\r\n${HIDDEN}`),
  // Bare LF line ends.
  rejected('a request with bare LF line ends', `GET /a HTTP/1.1\nHost: x\n\n${HIDDEN}`),
  rejected('a chunk-size line ended by a bare LF', `${CHUNKED_POST}5\nhello\r\n0\r\n\r\n${HIDDEN}`),
  rejected('chunk data ended by a bare LF', `${CHUNKED_POST}5\r\nhello\n0\r\n\r\n${HIDDEN}`),
  // obs-fold (RFC 9112 5.2), whatever the segmentation; CVE-2024-27982's shape.
  rejected('obs-fold', `GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n${HIDDEN}`),
  rejected('obs-fold with a tab', `GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n${HIDDEN}`),
  rejected('obs-fold after an empty value', `GET /a HTTP/1.1\r\nHost: x\r\nX:\r\n v\r\n\r\n${HIDDEN}`),
  rejected('obs-fold carrying a Content-Length (CVE-2024-27982)', `POST /echo HTTP/1.1\r\nHost: x\r\n Content-Length: ${HIDDEN.length}\r\n\r\n${HIDDEN}`),
  rejected('a header block starting with whitespace', `GET /a HTTP/1.1\r\n Host: x\r\n\r\n${HIDDEN}`),
  // Content-Length / Transfer-Encoding conflicts.
  rejected('Content-Length then Transfer-Encoding', `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${HIDDEN}`),
  rejected('Transfer-Encoding then Content-Length', `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n${HIDDEN}`),
  rejected('two Content-Length fields with one value', `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc${HIDDEN}`),
  rejected('a Content-Length list', `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc${HIDDEN}`),
  rejected('a Content-Length with a sign', `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc${HIDDEN}`),
  rejected('a Content-Length in hex', `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc${HIDDEN}`),
  rejected('a Content-Length with an inner space', `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\nabc${HIDDEN}`),
  rejected('a Content-Length that overflows 64 bits', `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nabc${HIDDEN}`),
  rejected('Transfer-Encoding twice', `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${HIDDEN}`),
  rejected('chunked twice in one Transfer-Encoding', `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n${HIDDEN}`),
  rejected('Transfer-Encoding with a space before the colon', `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${HIDDEN}`),
  rejected('Transfer-Encoding: xchunked', `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n${HIDDEN}`, 501),
  // RFC 9112 6.3: chunked not last in a request -> 400 and close (not 501: the framing is unknowable).
  rejected('Transfer-Encoding: chunked, identity (chunked not last)', `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${HIDDEN}`),
  rejected('Transfer-Encoding with a vertical tab', `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n${HIDDEN}`),
  // Chunk sizes.
  rejected('a chunk size that overflows 64 bits', `${CHUNKED_POST}fffffffffffffffff1\r\nhello\r\n0\r\n\r\n${HIDDEN}`),
  rejected('a chunk size with 0x', `${CHUNKED_POST}0x5\r\nhello\r\n0\r\n\r\n${HIDDEN}`),
  rejected('a negative chunk size', `${CHUNKED_POST}-5\r\nhello\r\n0\r\n\r\n${HIDDEN}`),
  rejected('a chunk size with a leading space', `${CHUNKED_POST} 5\r\nhello\r\n0\r\n\r\n${HIDDEN}`),
  rejected('chunk data longer than its size', `${CHUNKED_POST}3\r\nhello\r\n0\r\n\r\n${HIDDEN}`),
  rejected('a chunk extension with a bare CR', `${CHUNKED_POST}5;a=b\rX\r\nhello\r\n0\r\n\r\n${HIDDEN}`),
  // HTTP/1.0 with Transfer-Encoding (RFC 9112 6.1): processed, then closed whatever Connection says.
  {
    name: 'HTTP/1.0 with Transfer-Encoding and keep-alive, a request after it',
    bytes: `POST /echo HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n${HIDDEN}`,
    statuses: [200],
    closes: true,
    echo: 'hello',
  },
  // Host (RFC 9112 3.2).
  rejected('HTTP/1.1 without Host', `GET /a HTTP/1.1\r\nX: 1\r\n\r\n`),
  rejected('two Host lines', `GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`),
  rejected('two Host lines with one value', `GET /a HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n`),
  rejected('Host with a space', `GET /a HTTP/1.1\r\nHost: a b\r\n\r\n`),
  rejected('Host with userinfo', `GET /a HTTP/1.1\r\nHost: user@a\r\n\r\n`),
  rejected('Host with a path', `GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n`),
  rejected('Host with a bad port', `GET /a HTTP/1.1\r\nHost: a:80x\r\n\r\n`),
  rejected('Host with an unclosed IP literal', `GET /a HTTP/1.1\r\nHost: [::1\r\n\r\n`),
  // Header names (RFC 9112 5.1).
  rejected('whitespace before the colon (Host : x)', `GET /a HTTP/1.1\r\nHost : x\r\n\r\n`),
  rejected('a tab before the colon', `GET /a HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n`),
  rejected('a space inside a name', `GET /a HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n`),
  rejected('an empty name', `GET /a HTTP/1.1\r\nHost: x\r\n: x\r\n\r\n`),
  rejected('a line without a colon', `GET /a HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n`),
  rejected('NUL in a value', `GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n`),
  // Request lines.
  rejected('a tab inside the target', `GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n`),
  rejected('a lowercase method', `get /a HTTP/1.1\r\nHost: x\r\n\r\n`),
  rejected('HTTP/2.0 on the request line', `GET /a HTTP/2.0\r\nHost: x\r\n\r\n`, 505),
  rejected('Transfer-Encoding: gzip, chunked (a coding that is not decoded)', `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n${HIDDEN}`, 501),
  rejected('a control character (0x01) in a value', `GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n${HIDDEN}`),
  rejected('DEL in a value', `GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n${HIDDEN}`),
  rejected('an unknown Expect', `POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: ${HIDDEN.length}\r\n\r\n${HIDDEN}`, 417),
  // limits (small ones here, so that one byte per write stays short; the defaults are in wire-limits)
  { ...rejected('a request target over maxUrlLength', `GET /${'u'.repeat(300)} HTTP/1.1\r\nHost: x\r\n\r\n${HIDDEN}`, 414), options: { maxUrlLength: 256 } },
  { ...rejected('a header block over maxHeaderSize', `GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ${'v'.repeat(600)}\r\n\r\n${HIDDEN}`, 431), options: { maxHeaderSize: 512 } },
  { ...rejected('more fields than maxHeaderCount', `GET /a HTTP/1.1\r\nHost: x\r\n${'X: 1\r\n'.repeat(12)}\r\n${HIDDEN}`, 431), options: { maxHeaderCount: 8 } },
  { ...rejected('a Content-Length over maxBodySize', `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n${'b'.repeat(1025)}${HIDDEN}`, 413), options: { maxBodySize: 1024 } },
  { ...rejected('a chunked body over maxBodySize', `${CHUNKED_POST}400\r\n${'b'.repeat(1024)}\r\n1\r\nb\r\n0\r\n\r\n${HIDDEN}`, 413), options: { maxBodySize: 1024 } },
  // Upgrade that is not accepted: nothing after the head is HTTP.
  {
    name: 'an Upgrade request to a plain route, a request after it',
    bytes: `GET /a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n${HIDDEN}`,
    statuses: [200],
    closes: true,
  },
  // Valid shapes that must be served as what they are.
  {
    name: 'a chunk extension with two parameters',
    bytes: `${CHUNKED_POST}5;a=b;c=d\r\nhello\r\n0\r\n\r\n`,
    statuses: [200],
    closes: false,
    echo: 'hello',
  },
  {
    name: 'a chunk extension with a parameter then a quoted one',
    bytes: `${CHUNKED_POST}5;a=b;c="d; e"\r\nhello\r\n0\r\n\r\n`,
    statuses: [200],
    closes: false,
    echo: 'hello',
  },
  {
    name: 'trailer fields after the last chunk',
    bytes: `${CHUNKED_POST}5\r\nhello\r\n0\r\nT: v\r\nU: w\r\n\r\n`,
    statuses: [200],
    closes: false,
    echo: 'hello',
  },
  {
    name: 'a body that looks like a request, framed by Content-Length',
    bytes: `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${HIDDEN.length}\r\n\r\n${HIDDEN}`,
    statuses: [200],
    closes: false,
    echo: HIDDEN,
  },
  {
    // RFC 9112 3: a recipient MAY parse the request line on whitespace boundaries (llhttp does).
    name: 'two spaces after the method',
    bytes: `GET  /a HTTP/1.1\r\nHost: x\r\n\r\n`,
    statuses: [200],
    closes: false,
  },
  {
    name: 'HTTP/1.0 without Host, keep-alive',
    bytes: `GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n`,
    statuses: [200],
    closes: false,
  },
  {
    name: 'Host as an IPv6 literal with a port, and an empty Host',
    bytes: `GET /a HTTP/1.1\r\nHost: [::1]:8080\r\n\r\nGET /a HTTP/1.1\r\nHost:\r\n\r\n`,
    statuses: [200, 200],
    closes: false,
  },
];

type Mode = 'one write' | 'byte by byte';

/** Sends `bytes` as one write, or one byte per write with a loop turn between them (the server reads each alone). */
async function send(client: RawClient, bytes: Buffer, mode: Mode): Promise<void> {
  if (mode === 'one write') return client.send(bytes);
  for (let i = 0; i < bytes.length; i++) {
    if (client.gone) return; // answered and closed: the rest is not read
    await client.send(bytes.subarray(i, i + 1)).catch(() => undefined);
    await sleep(1);
  }
}

/** Every complete response in what was received. */
async function responsesOf(client: RawClient, n: number): Promise<ParsedResponse[]> {
  return client.readResponses(n, { timeoutMs: 10_000 });
}

describe('wire: smuggling and framing shapes', function () {
  this.timeout(120_000);

  for (const mode of ['one write', 'byte by byte'] as Mode[]) {
    describe(mode, () => {
      for (const shape of SHAPES) {
        it(`${shape.name}: ${shape.statuses.join(', ')}${shape.closes ? ' and a close' : ''}, nothing hidden`, async () => {
          const hits = { hidden: 0, echo: [] as string[] };
          await withApp(
            (app) => {
              app.get(ALIVE_PATH, () => ALIVE_BODY);
              app.get('/hidden', () => {
                hits.hidden++;
                return 'HIDDEN';
              });
              app.get('/a', () => 'a');
              app.post('/echo', async (req) => {
                const body = await req.text();
                hits.echo.push(body);
                return body;
              });
            },
            async ({ port, logged }) => {
              const client = await RawClient.connect(port);
              try {
                await send(client, Buffer.from(shape.bytes, 'latin1'), mode);
                const responses = await responsesOf(client, shape.statuses.length);
                expect(responses.map((r) => r.status), client.describe()).to.deep.equal(shape.statuses);
                if (shape.closes) {
                  expect(connectionTokens(responses.at(-1)!), responses.at(-1)!.head).to.include('close');
                  await client.waitForClose(10_000);
                  expect(client.unread().toString('latin1'), 'bytes after the last answer').to.equal('');
                } else {
                  await client.send(SENTINEL);
                  const [next] = await responsesOf(client, 1);
                  expect(next!.text(), 'the next answer on the connection is the sentinel').to.equal(ALIVE_BODY);
                }
                expect(hits.hidden, 'requests that reached /hidden').to.equal(0);
                if (shape.echo !== undefined) expect(hits.echo).to.deep.equal([shape.echo]);
                else expect(hits.echo, 'bodies /echo saw').to.deep.equal([]);
                expect(logged, 'logger.error calls').to.deep.equal([]);
              } finally {
                client.destroy();
              }
              await expectStillServing(port);
            },
            shape.options,
          );
        });
      }
    });
  }
});
