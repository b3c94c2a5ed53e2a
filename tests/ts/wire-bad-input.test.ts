/**
 * Bad input is answered by the core with the right status, `Connection: close`
 * and a close; the server then still serves fresh connections.
 */
import { expect } from 'chai';
import { withApp, type AppOptions } from '../helpers/with-app.js';
import { exchange, requestBytes } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, connectionTokens, expectCoreError, expectStillServing } from '../helpers/assertions.js';

const LIMITS = { maxUrlLength: 1024, maxHeaderSize: 4096, maxHeaderCount: 20, maxBodySize: 1024 } as AppOptions;
const TOO_LARGE = ['Content Too Large', 'Payload Too Large'];

interface Hits {
  echo: number;
  smuggled: number;
}

function makeSetup(hits: Hits) {
  return (app: any) => {
    app.get(ALIVE_PATH, () => ALIVE_BODY);
    app.get('/smuggled', () => {
      hits.smuggled++;
      return 'smuggled';
    });
    app.post('/echo', async (req: any) => {
      hits.echo++;
      return `got:${await req.text()}`;
    });
    app.get('/*', () => 'any');
  };
}

/** Run `fn` against an app with small limits, then check the server still serves. */
async function withLimits(fn: (port: number, hits: Hits) => Promise<void>): Promise<void> {
  const hits: Hits = { echo: 0, smuggled: 0 };
  await withApp(
    makeSetup(hits),
    async ({ port }) => {
      await fn(port, hits);
      await expectStillServing(port);
    },
    LIMITS,
  );
}

describe('wire: bad input', () => {
  it('a garbage request line -> 400', async () => {
    await withLimits(async (port) => {
      await expectCoreError(port, 'this is not http\r\n\r\n', 400, 'Bad Request');
    });
  });

  it('a request line with a bad protocol token -> 400', async () => {
    await withLimits(async (port) => {
      await expectCoreError(port, 'GET / HTXP/1.1\r\nHost: x\r\n\r\n', 400, 'Bad Request');
    });
  });

  it('a request line with a space inside the target -> 400', async () => {
    await withLimits(async (port) => {
      await expectCoreError(port, 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'Bad Request');
    });
  });

  it('a valid request pipelined before garbage gets its 200, then the 400 and a close', async () => {
    await withLimits(async (port) => {
      const bytes = Buffer.concat([requestBytes({ path: ALIVE_PATH }), Buffer.from('\x01\x02garbage\r\n\r\n', 'latin1')]);
      const { client, responses } = await exchange(port, bytes, 2);
      try {
        expect(responses[0]!.statusLine).to.equal('HTTP/1.1 200 OK');
        expect(responses[0]!.text()).to.equal(ALIVE_BODY);
        expect(responses[1]!.statusLine).to.equal('HTTP/1.1 400 Bad Request');
        expect(connectionTokens(responses[1]!)).to.include('close');
        await client.waitForClose();
      } finally {
        client.destroy();
      }
    });
  });

  it('a URL longer than maxUrlLength -> 414 URI Too Long', async () => {
    await withLimits(async (port) => {
      const url = `/${'u'.repeat(2000)}`;
      await expectCoreError(port, `GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`, 414, 'URI Too Long');
    });
  });

  it('a header block larger than maxHeaderSize -> 431', async () => {
    await withLimits(async (port) => {
      await expectCoreError(port, `GET /x HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(8000)}\r\n\r\n`, 431, 'Request Header Fields Too Large');
    });
  });

  it('many small headers adding up past maxHeaderSize -> 431', async () => {
    await withLimits(async (port) => {
      // 15 fields (below maxHeaderCount) of ~400 bytes each: about 6 KB > 4096.
      const fields = Array.from({ length: 15 }, (_, i) => `X-F${i}: ${'v'.repeat(400)}\r\n`).join('');
      await expectCoreError(port, `GET /x HTTP/1.1\r\nHost: x\r\n${fields}\r\n`, 431, 'Request Header Fields Too Large');
    });
  });

  it('more header fields than maxHeaderCount -> 431', async () => {
    await withLimits(async (port) => {
      const fields = Array.from({ length: 40 }, (_, i) => `X-H${i}: v\r\n`).join('');
      await expectCoreError(port, `GET /x HTTP/1.1\r\nHost: x\r\n${fields}\r\n`, 431, 'Request Header Fields Too Large');
    });
  });

  it('Content-Length above maxBodySize -> 413 before any body byte is sent; the handler never runs', async () => {
    await withLimits(async (port, hits) => {
      // Only the head is sent: the 413 must come without waiting for the body.
      await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2048\r\n\r\n', 413, TOO_LARGE);
      expect(hits.echo).to.equal(0);
    });
  });

  it('Content-Length above maxBodySize with Expect: 100-continue -> 413 and no 100 Continue', async () => {
    await withLimits(async (port) => {
      const r = await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n', 413, TOO_LARGE);
      expect(r.raw.toString('latin1')).to.not.include('100 Continue');
    });
  });

  it('a chunked body growing past maxBodySize -> 413', async () => {
    await withLimits(async (port) => {
      const chunk = `400\r\n${'c'.repeat(0x400)}\r\n`;
      await expectCoreError(port, `POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}0\r\n\r\n`, 413, TOO_LARGE);
    });
  });

  it('Transfer-Encoding: gzip, chunked -> 501 Not Implemented', async () => {
    await withLimits(async (port, hits) => {
      await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 501, 'Not Implemented');
      expect(hits.echo).to.equal(0);
    });
  });

  it('Transfer-Encoding: foo -> 501 Not Implemented', async () => {
    await withLimits(async (port, hits) => {
      await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\nabc', 501, 'Not Implemented');
      expect(hits.echo).to.equal(0);
    });
  });

  it('smuggling: Content-Length together with Transfer-Encoding -> 400, nothing smuggled', async () => {
    await withLimits(async (port, hits) => {
      const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
      const body = `0\r\n\r\n${smuggled}`;
      await expectCoreError(
        port,
        `POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
        400,
        'Bad Request',
      );
      expect(hits.echo).to.equal(0);
      expect(hits.smuggled).to.equal(0);
    });
  });

  it('smuggling: Transfer-Encoding before Content-Length -> 400', async () => {
    await withLimits(async (port, hits) => {
      await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', 400, 'Bad Request');
      expect(hits.echo).to.equal(0);
    });
  });

  it('smuggling: two differing Content-Length headers -> 400', async () => {
    await withLimits(async (port, hits) => {
      await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde', 400, 'Bad Request');
      expect(hits.echo).to.equal(0);
    });
  });

  it('smuggling: obs-fold (a header line starting with a space) -> 400', async () => {
    await withLimits(async (port) => {
      await expectCoreError(port, 'GET /x HTTP/1.1\r\nHost: x\r\nX-Folded: first\r\n second\r\n\r\n', 400, 'Bad Request');
    });
  });

  it('smuggling: an invalid chunk size (zz) -> 400', async () => {
    await withLimits(async (port) => {
      await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 400, 'Bad Request');
    });
  });

  it('smuggling: a negative Content-Length -> 400', async () => {
    await withLimits(async (port, hits) => {
      await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400, 'Bad Request');
      expect(hits.echo).to.equal(0);
    });
  });

  it('smuggling: a non-numeric Content-Length -> 400', async () => {
    await withLimits(async (port, hits) => {
      await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n', 400, 'Bad Request');
      await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 400, 'Bad Request');
      expect(hits.echo).to.equal(0);
    });
  });
});
