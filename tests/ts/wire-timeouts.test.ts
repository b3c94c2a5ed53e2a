/**
 * Timeouts: headers, idle keep-alive, body. Small values; every wait bounded.
 */
import { expect } from 'chai';
import { withApp, type AppOptions } from '../helpers/with-app.js';
import { RawClient, requestBytes, sleep } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, connectionTokens, expectStillServing } from '../helpers/assertions.js';

const SHORT = { headersTimeout: 300, keepAliveTimeout: 300, bodyTimeout: 300 } as AppOptions;

const setup = (app: any) => {
  app.get(ALIVE_PATH, () => ALIVE_BODY);
  app.get('/slow', async () => {
    await sleep(900);
    return 'slow done';
  });
  app.post('/echo', async (req: any) => {
    try {
      return `got:${await req.text()}`;
    } catch {
      return 'body failed';
    }
  });
};

/**
 * Runs `fn` with one raw client of an app with short timeouts, destroys the client whatever
 * happens, then (with stillServing) checks that the server still answers a fresh connection.
 */
async function withTimeoutClient(fn: (client: RawClient) => Promise<void>, { stillServing = false } = {}): Promise<void> {
  await withApp(
    setup,
    async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        await fn(client);
      } finally {
        client.destroy();
      }
      if (stillServing) await expectStillServing(port);
    },
    SHORT,
  );
}

describe('wire: timeouts', () => {
  it('headers sent partially, then silence -> 408 Request Timeout with Connection: close, then close', async () => {
    await withTimeoutClient(async (client) => {
      await client.send('GET /alive HTTP/1.1\r\nHost: x\r\nX-Partial: ');
      const r = await client.readResponse();
      expect(r.statusLine).to.equal('HTTP/1.1 408 Request Timeout');
      expect(connectionTokens(r)).to.include('close');
      await client.waitForClose();
      expect(client.unread().length).to.equal(0);
    }, { stillServing: true });
  });

  it('an idle keep-alive connection is closed silently after keepAliveTimeout', async () => {
    await withTimeoutClient(async (client) => {
      await client.send(requestBytes({ path: ALIVE_PATH }));
      const r = await client.readResponse();
      expect(r.text()).to.equal(ALIVE_BODY);
      await client.waitForClose();
      expect(client.unread().toString('latin1'), 'nothing is sent when an idle connection is closed').to.equal('');
    }, { stillServing: true });
  });

  it('a body that stalls -> 408 with Connection: close, then close', async () => {
    await withTimeoutClient(async (client) => {
      await client.send('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789');
      const r = await client.readResponse();
      expect(r.statusLine).to.equal('HTTP/1.1 408 Request Timeout');
      expect(connectionTokens(r)).to.include('close');
      await client.waitForClose();
      expect(client.unread().length, `bytes after the 408: ${JSON.stringify(client.unread().toString('latin1'))}`).to.equal(0);
    }, { stillServing: true });
  });

  it('a chunked body that stalls between chunks -> 408, then close', async () => {
    await withTimeoutClient(async (client) => {
      await client.send('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
      const r = await client.readResponse();
      expect(r.statusLine).to.equal('HTTP/1.1 408 Request Timeout');
      expect(connectionTokens(r)).to.include('close');
      await client.waitForClose();
    });
  });

  it('a connection that never sends a byte is closed by the server', async () => {
    await withTimeoutClient(async (client) => {
      await client.waitForClose();
      // Nothing was requested, so nothing (not even a 408) must be answered... or a 408 at most.
      const seen = client.buffer.toString('latin1');
      expect(seen === '' || seen.startsWith('HTTP/1.1 408 Request Timeout\r\n'), JSON.stringify(seen)).to.equal(true);
    });
  });

  it('the headers timer runs from the first byte: a slowloris trickling header bytes still gets 408', async () => {
    await withTimeoutClient(async (client) => {
      await client.send('GET /alive HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      // One byte every 50 ms, at most 80 times (4 s), until the server answers or closes.
      for (let i = 0; i < 80 && client.buffer.length === 0 && !client.gone; i++) {
        await sleep(50);
        if (!client.gone) client.socket.write('a');
      }
      const r = await client.readResponse();
      expect(r.statusLine).to.equal('HTTP/1.1 408 Request Timeout');
      expect(connectionTokens(r)).to.include('close');
      await client.waitForClose();
    });
  });

  it('keepAliveTimeout and headersTimeout do not cut a handler that runs longer than them', async () => {
    await withTimeoutClient(async (client) => {
      await client.send(requestBytes({ path: '/slow' }));
      const r = await client.readResponse();
      expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(r.text()).to.equal('slow done');
    });
  });

  it('bodyTimeout is about silence: a body trickling in for longer than the timeout completes', async () => {
    await withApp(
      setup,
      async ({ port }) => {
        const client = await RawClient.connect(port);
        try {
          // 20 pieces, 100 ms apart (2 s in all) against a 1.5 s bodyTimeout.
          await client.send('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n');
          for (let i = 0; i < 20; i++) {
            await sleep(100);
            await client.send(String.fromCharCode(97 + i));
          }
          const r = await client.readResponse();
          expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
          expect(r.text()).to.equal('got:abcdefghijklmnopqrst');
        } finally {
          client.destroy();
        }
      },
      { headersTimeout: 1500, keepAliveTimeout: 1500, bodyTimeout: 1500 } as AppOptions,
    );
  });

  /** Trickles `bytes` one byte every 50 ms (at most 200 writes) until the server answers or closes. */
  async function trickle(client: RawClient, bytes: string): Promise<void> {
    for (let i = 0; i < Math.min(bytes.length, 200) && client.buffer.length === 0 && !client.gone; i++) {
      await sleep(50);
      if (!client.gone) client.socket.write(bytes[i]!);
    }
  }

  const TRICKLE = { headersTimeout: 60_000, keepAliveTimeout: 5000, bodyTimeout: 60_000, requestTimeout: 600 } as AppOptions;

  for (const [what, head, rest] of [
    ['a body trickling a byte at a time', 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n', 'b'.repeat(100)],
    ['a chunked body trickling a byte at a time', 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', '1\r\nb\r\n'.repeat(30)],
    ['a head trickling a byte at a time', 'GET /alive HTTP/1.1\r\nHost: x\r\n', 'X-Slow: ' + 'a'.repeat(100)],
  ] as const) {
    it(`requestTimeout bounds the whole request: ${what} gets 408 and a close although it is never silent`, async () => {
      await withApp(
        setup,
        async ({ port }) => {
          const client = await RawClient.connect(port);
          try {
            const started = Date.now();
            await client.send(head);
            await trickle(client, rest);
            const r = await client.readResponse();
            expect(r.statusLine).to.equal('HTTP/1.1 408 Request Timeout');
            expect(connectionTokens(r)).to.include('close');
            await client.waitForClose();
            // it was the request deadline, not a silence: the client wrote every 50 ms until the answer
            expect(Date.now() - started, 'answered before the trickle ran out').to.be.below(50 * rest.length);
          } finally {
            client.destroy();
          }
          await expectStillServing(port);
        },
        TRICKLE,
      );
    });
  }

  it('requestTimeout does not cut a response: a handler that runs past it still answers', async () => {
    await withApp(
      setup,
      async ({ port }) => {
        const client = await RawClient.connect(port);
        try {
          await client.send(requestBytes({ path: '/slow' })); // 900 ms handler, 300 ms requestTimeout
          const r = await client.readResponse();
          expect(r.text()).to.equal('slow done');
          // and the next request on the connection gets a fresh deadline
          await client.send(requestBytes({ path: ALIVE_PATH }));
          expect((await client.readResponse()).text()).to.equal(ALIVE_BODY);
        } finally {
          client.destroy();
        }
      },
      { requestTimeout: 300 } as AppOptions,
    );
  });
});
