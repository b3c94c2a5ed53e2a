/**
 * Handler misuse must not reach the wire: invalid header values -> 500, no injection.
 */
import { expect } from 'chai';
import { HttpResponse, text } from '../../ts/index.js';
import { withApp } from '../helpers/with-app.js';
import { exchange, fetchRaw, requestBytes } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, expectStatus, expectStillServing } from '../helpers/assertions.js';

const setup = (app: any) => {
  app.get(ALIVE_PATH, () => ALIVE_BODY);
  app.get('/crlf-value', () => new HttpResponse('x', { headers: { 'X-Bad': 'a\r\nInjected: yes' } }));
  app.get('/lf-value', () => text('x', { headers: { 'X-Bad': 'a\nSet-Cookie: evil=1' } }));
  app.get('/cr-name', () => new HttpResponse('x', { headers: { 'X-Bad\r\nInjected': 'yes' } }));
  app.get('/nul-value', () => new HttpResponse('x', { headers: { 'X-Bad': 'a\0b' } }));
  app.get('/body-split', () => new HttpResponse('x', { headers: { 'X-Bad': 'a\r\n\r\nHTTP/1.1 200 OK\r\nInjected: yes\r\n\r\n' } }));
};

describe('wire: handler misuse', () => {
  for (const path of ['/crlf-value', '/lf-value', '/cr-name', '/nul-value', '/body-split']) {
    it(`an invalid header from the handler (${path}) -> 500, nothing injected on the wire`, async () => {
      await withApp(setup, async ({ port, logged }) => {
        const r = await fetchRaw(port, { path });
        expectStatus(r, 500, 'Internal Server Error');
        expect(r.text()).to.equal('Internal Server Error');
        const wire = r.raw.toString('latin1');
        expect(wire).to.not.match(/Injected/i);
        expect(wire).to.not.match(/Set-Cookie/i);
        expect(wire).to.not.include('X-Bad');
        expect(logged.length, 'the TypeError is logged').to.be.at.least(1);
        await expectStillServing(port);
      });
    });
  }

  it('after a rejected header the same connection answers the next request correctly', async () => {
    await withApp(setup, async ({ port }) => {
      const bytes = Buffer.concat([requestBytes({ path: '/body-split' }), requestBytes({ path: ALIVE_PATH })]);
      const { client, responses } = await exchange(port, bytes, 2);
      try {
        expect(responses.map((r) => r.statusLine)).to.deep.equal(['HTTP/1.1 500 Internal Server Error', 'HTTP/1.1 200 OK']);
        expect(responses[1]!.text()).to.equal(ALIVE_BODY);
        await new Promise((r) => setTimeout(r, 50));
        expect(client.unread().length).to.equal(0);
      } finally {
        client.destroy();
      }
    });
  });
});
