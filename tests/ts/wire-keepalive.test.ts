/**
 * Persistent connections: keep-alive, pipelining order, HTTP/1.0, Connection: close.
 */
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import { RawClient, exchange, requestBytes, sleep } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, connectionTokens } from '../helpers/assertions.js';

const setup = (app: any) => {
  app.get(ALIVE_PATH, () => ALIVE_BODY);
  app.get('/n/:n', (req: any) => `number ${req.params.n}`);
  app.get('/slow', async () => {
    await sleep(200);
    return 'slow done';
  });
  app.get('/medium', async () => {
    await sleep(50);
    return 'medium done';
  });
  app.get('/fast', () => 'fast done');
  app.post('/echo', async (req: any) => `echo:${await req.text()}`);
};

describe('wire: keep-alive and pipelining', () => {
  it('several requests in sequence on one socket', async () => {
    await withApp(setup, async ({ port, app }) => {
      const before = app.stats().connectionsAccepted;
      const client = await RawClient.connect(port);
      try {
        for (let i = 0; i < 5; i++) {
          await client.send(requestBytes({ path: `/n/${i}` }));
          const r = await client.readResponse();
          expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
          expect(r.text()).to.equal(`number ${i}`);
          expect(connectionTokens(r)).to.not.include('close');
          expect(client.gone).to.equal(false);
        }
        expect(app.stats().connectionsAccepted - before).to.equal(1);
      } finally {
        client.destroy();
      }
    });
  });

  it('pipelined requests sent in one write are answered strictly in order (slow first)', async () => {
    await withApp(setup, async ({ port }) => {
      const bytes = Buffer.concat([
        requestBytes({ path: '/slow' }),
        requestBytes({ path: '/fast' }),
        requestBytes({ method: 'POST', path: '/echo', body: 'pipelined body' }),
        requestBytes({ path: '/medium' }),
        requestBytes({ path: '/n/5' }),
      ]);
      const { client, responses } = await exchange(port, bytes, 5);
      try {
        expect(responses.map((r) => r.text())).to.deep.equal(['slow done', 'fast done', 'echo:pipelined body', 'medium done', 'number 5']);
        expect(responses.every((r) => r.statusLine === 'HTTP/1.1 200 OK')).to.equal(true);
        expect(client.unread().length).to.equal(0);
        expect(client.gone).to.equal(false);
      } finally {
        client.destroy();
      }
    });
  });

  it('pipelined requests split at odd byte boundaries are still answered in order', async () => {
    await withApp(setup, async ({ port }) => {
      const bytes = Buffer.concat([requestBytes({ path: '/medium' }), requestBytes({ method: 'POST', path: '/echo', body: 'abc' }), requestBytes({ path: '/fast' })]);
      const client = await RawClient.connect(port);
      try {
        // Cut in the middle of the first request line, headers and body.
        for (const [from, to] of [[0, 7], [7, 30], [30, 70], [70, bytes.length]] as const) {
          await client.send(bytes.subarray(from, to));
          await sleep(10);
        }
        const responses = await client.readResponses(3);
        expect(responses.map((r) => r.text())).to.deep.equal(['medium done', 'echo:abc', 'fast done']);
      } finally {
        client.destroy();
      }
    });
  });

  it('HTTP/1.0 without keep-alive: full response, then the server closes', async () => {
    await withApp(setup, async ({ port }) => {
      const { client, responses } = await exchange(port, requestBytes({ path: '/fast', version: '1.0' }), 1);
      try {
        const r = responses[0]!;
        expect(r.status).to.equal(200);
        expect(r.reason).to.equal('OK');
        expect(r.get('transfer-encoding'), 'no chunked body for HTTP/1.0').to.equal(undefined);
        expect(r.text()).to.equal('fast done');
        expect(connectionTokens(r)).to.not.include('keep-alive');
        await client.waitForClose();
        expect(client.unread().length).to.equal(0);
      } finally {
        client.destroy();
      }
    });
  });

  it('HTTP/1.0 with Connection: keep-alive: answered with Connection: keep-alive, socket stays open', async () => {
    await withApp(setup, async ({ port }) => {
      const req = requestBytes({ path: '/n/1', version: '1.0', headers: [['Connection', 'keep-alive']] });
      const { client, responses } = await exchange(port, req, 1);
      try {
        const r = responses[0]!;
        expect(r.status).to.equal(200);
        expect(connectionTokens(r)).to.deep.equal(['keep-alive']);
        expect(r.get('content-length')).to.equal('8');
        expect(r.text()).to.equal('number 1');
        // Still open: a second request on the same socket is answered.
        await client.send(requestBytes({ path: '/n/2', version: '1.0', headers: [['Connection', 'keep-alive']] }));
        const r2 = await client.readResponse();
        expect(r2.text()).to.equal('number 2');
        expect(connectionTokens(r2)).to.deep.equal(['keep-alive']);
        expect(client.gone).to.equal(false);
      } finally {
        client.destroy();
      }
    });
  });

  it('HTTP/1.1 Connection: close: the response says Connection: close, then the server closes', async () => {
    await withApp(setup, async ({ port }) => {
      const { client, responses } = await exchange(port, requestBytes({ path: '/fast', headers: [['Connection', 'close']] }), 1);
      try {
        const r = responses[0]!;
        expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
        expect(connectionTokens(r)).to.deep.equal(['close']);
        expect(r.text()).to.equal('fast done');
        await client.waitForClose();
        expect(client.unread().length).to.equal(0);
      } finally {
        client.destroy();
      }
    });
  });

  it('requests pipelined after Connection: close are not answered', async () => {
    await withApp(setup, async ({ port }) => {
      const bytes = Buffer.concat([requestBytes({ path: '/n/1', headers: [['Connection', 'close']] }), requestBytes({ path: '/n/2' })]);
      const { client, responses } = await exchange(port, bytes, 1);
      try {
        expect(responses[0]!.text()).to.equal('number 1');
        await client.waitForClose();
        expect(client.unread().toString('latin1')).to.equal('');
      } finally {
        client.destroy();
      }
    });
  });
});
