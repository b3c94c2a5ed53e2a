/**
 * Limits at their boundary are accepted (a limit is the largest allowed value),
 * and large pipelines / responses are handled byte-exactly.
 */
import { expect } from 'chai';
import { withApp, type AppOptions } from '../helpers/with-app.js';
import { RawClient, exchange, requestBytes } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, expectCoreError } from '../helpers/assertions.js';

const LIMITS = { maxUrlLength: 1024, maxHeaderSize: 4096, maxHeaderCount: 20, maxBodySize: 1024 } as AppOptions;
const BIG = Buffer.alloc(3 * 1024 * 1024 + 17);
for (let i = 0; i < BIG.length; i++) BIG[i] = (i * 13 + (i >> 12)) & 0xff;

const setup = (app: any) => {
  app.get(ALIVE_PATH, () => ALIVE_BODY);
  app.get('/big', () => BIG);
  app.get('/n/:n', (req: any) => `n${req.params.n}`);
  app.post('/len', async (req: any) => String((await req.buffer()).length));
  app.get('/*', (req: any) => `len ${req.url.length}`);
};

describe('wire: limits and volume', () => {
  it('a URL of exactly maxUrlLength is accepted; one byte more -> 414', async () => {
    await withApp(
      setup,
      async ({ port }) => {
        const url = `/${'u'.repeat(1023)}`;
        const { client, responses } = await exchange(port, `GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`, 1);
        client.destroy();
        expect(responses[0]!.text()).to.equal('len 1024');
        await expectCoreError(port, `GET ${url}u HTTP/1.1\r\nHost: x\r\n\r\n`, 414, 'URI Too Long');
      },
      LIMITS,
    );
  });

  it('exactly maxHeaderCount fields are accepted; one more -> 431', async () => {
    await withApp(
      setup,
      async ({ port }) => {
        const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('');
        const { client, responses } = await exchange(port, `GET /x HTTP/1.1\r\nHost: x\r\n${fields(19)}\r\n`, 1);
        client.destroy();
        expect(responses[0]!.statusLine).to.equal('HTTP/1.1 200 OK');
        await expectCoreError(port, `GET /x HTTP/1.1\r\nHost: x\r\n${fields(20)}\r\n`, 431, 'Request Header Fields Too Large');
      },
      LIMITS,
    );
  });

  it('a header block just under maxHeaderSize is accepted', async () => {
    await withApp(
      setup,
      async ({ port }) => {
        const head = `GET /x HTTP/1.1\r\nHost: x\r\nX-Pad: `;
        const pad = 'p'.repeat(4096 - head.length - 4 - 16);
        const { client, responses } = await exchange(port, `${head}${pad}\r\n\r\n`, 1);
        client.destroy();
        expect(responses[0]!.statusLine).to.equal('HTTP/1.1 200 OK');
      },
      LIMITS,
    );
  });

  it('a body of exactly maxBodySize is accepted (Content-Length and chunked); one byte more -> 413', async () => {
    await withApp(
      setup,
      async ({ port }) => {
        const { client, responses } = await exchange(port, requestBytes({ method: 'POST', path: '/len', body: 'b'.repeat(1024) }), 1);
        client.destroy();
        expect(responses[0]!.text()).to.equal('1024');
        const chunked = `POST /len HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n${'c'.repeat(512)}\r\n200\r\n${'c'.repeat(512)}\r\n0\r\n\r\n`;
        const c = await exchange(port, chunked, 1);
        c.client.destroy();
        expect(c.responses[0]!.text()).to.equal('1024');
        await expectCoreError(port, requestBytes({ method: 'POST', path: '/len', body: 'b'.repeat(1025) }), 413, ['Content Too Large', 'Payload Too Large']);
      },
      LIMITS,
    );
  });

  it('200 pipelined requests in one write are all answered, in order', async () => {
    await withApp(setup, async ({ port }) => {
      const n = 200;
      const bytes = Buffer.concat(Array.from({ length: n }, (_, i) => requestBytes({ path: `/n/${i}` })));
      const { client, responses } = await exchange(port, bytes, n, { timeoutMs: 10_000 });
      try {
        expect(responses.map((r) => r.text())).to.deep.equal(Array.from({ length: n }, (_, i) => `n${i}`));
        expect(client.unread().length).to.equal(0);
      } finally {
        client.destroy();
      }
    });
  });

  it('a 3 MiB response reaches a client that reads slowly, byte for byte', async () => {
    await withApp(setup, async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        client.socket.pause();
        await client.send(requestBytes({ path: '/big' }));
        await new Promise((r) => setTimeout(r, 300));
        client.socket.resume();
        const r = await client.readResponse({ timeoutMs: 10_000 });
        expect(r.get('content-length')).to.equal(String(BIG.length));
        expect(r.body.equals(BIG)).to.equal(true);
        // The connection is still in a clean state afterwards.
        await client.send(requestBytes({ path: ALIVE_PATH }));
        expect((await client.readResponse()).text()).to.equal(ALIVE_BODY);
      } finally {
        client.destroy();
      }
    });
  });

  it('HEAD of a 3 MiB resource sends its Content-Length and no body', async () => {
    await withApp(setup, async ({ port }) => {
      const bytes = Buffer.concat([requestBytes({ method: 'HEAD', path: '/big' }), requestBytes({ path: ALIVE_PATH })]);
      const { client, responses } = await exchange(port, bytes, 2, { methods: ['HEAD', 'GET'] });
      client.destroy();
      expect(responses[0]!.get('content-length')).to.equal(String(BIG.length));
      expect(responses[0]!.raw.length).to.equal(responses[0]!.head.length);
      expect(responses[1]!.text()).to.equal(ALIVE_BODY);
    });
  });
});
