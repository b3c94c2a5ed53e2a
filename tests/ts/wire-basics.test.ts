/**
 * Wire basics: status line, reason phrases, Date, Content-Type / Content-Length,
 * header-name case, and never both framings.
 */
import { expect } from 'chai';
import { HttpResponse, status, redirect, text } from '../../ts/index.js';
import { withApp } from '../helpers/with-app.js';
import { exchange, fetchRaw, requestBytes } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, expectStatus } from '../helpers/assertions.js';
import { isImfFixdate } from '../helpers/http-parse.js';

const setup = (app: any) => {
  app.get(ALIVE_PATH, () => ALIVE_BODY);
  app.get('/hello', () => 'hello world');
  app.get('/cased', () => new HttpResponse('ok', { headers: { 'X-Custom-Header': 'Value', 'x-lower-name': 'v2', 'X-MiXeD-cAsE': 'v3' } }));
  app.get('/s/201', () => status(201, 'made'));
  app.get('/s/204', () => status(204));
  app.get('/s/301', () => redirect('/elsewhere', 301));
  app.get('/s/302', () => redirect('/there'));
  app.get('/s/500', () => status(500, 'broken'));
  app.get('/s/503', () => text('busy', { status: 503 }));
};

describe('wire: basics', () => {
  it('GET /hello answers the exact status line, Content-Type, Content-Length and body', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/hello' });
      expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(r.get('content-type')).to.equal('text/plain; charset=utf-8');
      expect(r.all('content-length')).to.deep.equal(['11']);
      expect(r.chunked).to.equal(false);
      expect(r.text()).to.equal('hello world');
    });
  });

  it('every response carries one valid IMF-fixdate Date header close to now', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/hello' });
      const dates = r.all('date');
      expect(dates, r.head).to.have.length(1);
      expect(isImfFixdate(dates[0]), `Date: ${dates[0]}`).to.equal(true);
      const skew = Math.abs(Date.parse(dates[0]!) - Date.now());
      expect(skew, `Date ${dates[0]} vs now ${new Date().toUTCString()}`).to.be.below(5 * 60 * 1000);
    });
  });

  it('response header names are sent with the case the handler gave', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/cased' });
      expect(r.status).to.equal(200);
      expect(r.head).to.include('\r\nX-Custom-Header: Value\r\n');
      expect(r.head).to.include('\r\nx-lower-name: v2\r\n');
      expect(r.head).to.include('\r\nX-MiXeD-cAsE: v3\r\n');
      expect(r.text()).to.equal('ok');
    });
  });

  for (const [path, code, reason] of [
    ['/s/201', 201, 'Created'],
    ['/s/204', 204, 'No Content'],
    ['/s/301', 301, 'Moved Permanently'],
    ['/s/302', 302, 'Found'],
    ['/nope', 404, 'Not Found'],
    ['/s/500', 500, 'Internal Server Error'],
    ['/s/503', 503, 'Service Unavailable'],
  ] as const) {
    it(`status ${code} has the reason phrase "${reason}"`, async () => {
      await withApp(setup, async ({ port }) => {
        const r = await fetchRaw(port, { path });
        expectStatus(r, code, reason);
      });
    });
  }

  it('status 405 has the reason phrase "Method Not Allowed"', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { method: 'DELETE', path: '/hello' });
      expectStatus(r, 405, 'Method Not Allowed');
    });
  });

  it('redirect() sends Location and the redirect status', async () => {
    await withApp(setup, async ({ port }) => {
      const r301 = await fetchRaw(port, { path: '/s/301' });
      expect(r301.get('location')).to.equal('/elsewhere');
      const r302 = await fetchRaw(port, { path: '/s/302' });
      expect(r302.statusLine).to.equal('HTTP/1.1 302 Found');
      expect(r302.get('location')).to.equal('/there');
    });
  });

  it('a 204 has no Content-Length, no Transfer-Encoding and zero body bytes', async () => {
    await withApp(setup, async ({ port }) => {
      // The 204 is followed by another response on the same connection: any body byte
      // of the 204 would corrupt the next status line.
      const bytes = Buffer.concat([requestBytes({ path: '/s/204' }), requestBytes({ path: '/hello' })]);
      const { client, responses } = await exchange(port, bytes, 2);
      client.destroy();
      const [r204, next] = responses;
      expectStatus(r204!, 204, 'No Content');
      expect(r204!.get('content-length'), r204!.head).to.equal(undefined);
      expect(r204!.get('transfer-encoding'), r204!.head).to.equal(undefined);
      expect(r204!.raw.toString('latin1')).to.equal(r204!.head);
      expect(next!.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(next!.text()).to.equal('hello world');
    });
  });

  it('no response carries both Content-Length and Transfer-Encoding', async () => {
    await withApp(setup, async ({ port }) => {
      const paths = ['/hello', '/cased', '/s/201', '/s/204', '/s/301', '/nope', '/s/500', '/s/503'];
      const bytes = Buffer.concat(paths.map((path) => requestBytes({ path })));
      const { client, responses } = await exchange(port, bytes, paths.length);
      client.destroy();
      for (const r of responses) {
        const framings = [r.get('content-length'), r.get('transfer-encoding')].filter((v) => v !== undefined);
        expect(framings.length, r.head).to.be.at.most(1);
      }
      expect(responses.map((r) => r.status)).to.deep.equal([200, 200, 201, 204, 301, 404, 500, 503]);
    });
  });
});
