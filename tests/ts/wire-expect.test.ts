/**
 * Expect: 100-continue and unknown expectations.
 */
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import { RawClient, sleep } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, expectCoreError, expectStillServing } from '../helpers/assertions.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

const setup = (app: any) => {
  app.get(ALIVE_PATH, () => ALIVE_BODY);
  app.post('/echo', async (req: any) => `got:${await req.text()}`);
};

describe('wire: Expect', () => {
  it('Expect: 100-continue: exact 100 Continue before the body, then the final response', async () => {
    await withApp(setup, async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n');
        await client.waitForBytes(CONTINUE.length);
        expect(client.buffer.toString('latin1')).to.equal(CONTINUE);
        await client.send('hello world');
        const [interim, final] = await client.readResponses(2, { interim: true });
        expect(interim!.statusLine).to.equal('HTTP/1.1 100 Continue');
        expect(interim!.headers).to.deep.equal([]);
        expect(final!.statusLine).to.equal('HTTP/1.1 200 OK');
        expect(final!.text()).to.equal('got:hello world');
        // The connection stays usable.
        await client.send(`GET ${ALIVE_PATH} HTTP/1.1\r\nHost: x\r\n\r\n`);
        expect((await client.readResponse()).text()).to.equal(ALIVE_BODY);
      } finally {
        client.destroy();
      }
    });
  });

  it('Expect: 100-continue with a chunked body', async () => {
    await withApp(setup, async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-Continue\r\n\r\n');
        await client.waitForBytes(CONTINUE.length);
        expect(client.buffer.toString('latin1')).to.equal(CONTINUE);
        await client.send('4\r\nabcd\r\n0\r\n\r\n');
        const final = await client.readResponse();
        expect(final.statusLine).to.equal('HTTP/1.1 200 OK');
        expect(final.text()).to.equal('got:abcd');
      } finally {
        client.destroy();
      }
    });
  });

  it('a client that sends the body without waiting for 100 Continue still gets one final response', async () => {
    await withApp(setup, async ({ port }) => {
      const client = await RawClient.connect(port);
      try {
        await client.send('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc');
        const responses = await client.readResponses(1);
        expect(responses[0]!.text()).to.equal('got:abc');
        await sleep(50);
        expect(client.unread().length).to.equal(0);
      } finally {
        client.destroy();
      }
    });
  });

  it('an unknown Expect value -> 417 Expectation Failed with Connection: close', async () => {
    await withApp(setup, async ({ port }) => {
      await expectCoreError(port, 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: something-else\r\n\r\nabc', 417, 'Expectation Failed');
      await expectStillServing(port);
    });
  });
});
