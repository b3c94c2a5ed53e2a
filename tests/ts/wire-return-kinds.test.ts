/**
 * What a handler may return, as seen on the wire.
 */
import { expect } from 'chai';
import { HttpError, HttpResponse, html, json, status, text } from '../../ts/index.js';
import { withApp } from '../helpers/with-app.js';
import { exchange, fetchRaw, requestBytes } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, expectStatus, expectStillServing } from '../helpers/assertions.js';

const BINARY = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

const setup = (app: any) => {
  app.get(ALIVE_PATH, () => ALIVE_BODY);
  app.get('/string', () => 'héllo');
  app.get('/buffer', () => BINARY);
  app.get('/uint8', () => new Uint8Array([1, 2, 3]));
  app.get('/object', () => ({ a: 1, b: [true, null, 'x'], c: { d: 'é' } }));
  app.get('/array', () => [1, 'two', { three: 3 }]);
  app.get('/whatwg', () => new Response('created!', { status: 201, headers: { 'content-type': 'text/x-thing', 'x-extra': 'yes' } }));
  app.get('/whatwg-json', () => Response.json({ ok: true }, { status: 202 }));
  app.get('/httpresponse', () => new HttpResponse('custom', { status: 203, headers: { 'X-Thing': '1', 'Content-Type': 'text/x-custom' } }));
  app.get('/text', () => text('plain', { status: 202 }));
  app.get('/json', () => json({ x: [1, 2] }, { status: 201 }));
  app.get('/html', () => html('<p>hi</p>'));
  app.get('/status', () => status(202, 'accepted'));
  app.get('/null', () => null);
  app.get('/undefined', () => undefined);
  app.get('/async-null', async () => null);
  app.get('/error404', () => {
    throw new HttpError(404, 'no such user');
  });
  app.get('/error409', async () => {
    throw new HttpError(409, 'version conflict');
  });
  app.get('/error401', () => {
    throw new HttpError(401, 'who are you', { headers: { 'WWW-Authenticate': 'Basic realm="x"' } });
  });
  app.get('/error503', () => {
    throw new HttpError(503, 'secret internals');
  });
  app.get('/error503-exposed', () => {
    throw new HttpError(503, 'try later', { expose: true });
  });
  app.get('/throw', () => {
    throw new Error('boom from handler');
  });
  app.get('/reject', async () => {
    await new Promise((r) => setTimeout(r, 10));
    throw new Error('async boom');
  });
  app.get('/reject-nonerror', () => Promise.reject('a string reason'));
};

describe('wire: handler return kinds', () => {
  it('string -> 200 text/plain; charset=utf-8 with UTF-8 byte length', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/string' });
      expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(r.get('content-type')).to.equal('text/plain; charset=utf-8');
      expect(r.get('content-length')).to.equal('6');
      expect(r.body.equals(Buffer.from('héllo', 'utf8'))).to.equal(true);
    });
  });

  it('Buffer -> 200 application/octet-stream with the exact bytes', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/buffer' });
      expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(r.get('content-type')).to.equal('application/octet-stream');
      expect(r.get('content-length')).to.equal('256');
      expect(r.body.equals(BINARY)).to.equal(true);
      const u = await fetchRaw(port, { path: '/uint8' });
      expect(u.get('content-type')).to.equal('application/octet-stream');
      expect([...u.body]).to.deep.equal([1, 2, 3]);
    });
  });

  it('plain object and array -> 200 application/json; charset=utf-8 (JSON.stringify)', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/object' });
      expect(r.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(r.text()).to.equal(JSON.stringify({ a: 1, b: [true, null, 'x'], c: { d: 'é' } }));
      expect(r.get('content-length')).to.equal(String(Buffer.byteLength(r.text())));
      const a = await fetchRaw(port, { path: '/array' });
      expect(a.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(a.text()).to.equal('[1,"two",{"three":3}]');
    });
  });

  it('WHATWG Response -> its status, headers and body', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/whatwg' });
      expect(r.statusLine).to.equal('HTTP/1.1 201 Created');
      expect(r.get('content-type')).to.equal('text/x-thing');
      expect(r.get('x-extra')).to.equal('yes');
      expect(r.text()).to.equal('created!');
      expect(r.get('content-length')).to.equal('8');
      const j = await fetchRaw(port, { path: '/whatwg-json' });
      expect(j.statusLine).to.equal('HTTP/1.1 202 Accepted');
      expect(j.get('content-type')).to.match(/^application\/json/);
      expect(j.text()).to.equal('{"ok":true}');
    });
  });

  it('HttpResponse and the text/json/html/status helpers', async () => {
    await withApp(setup, async ({ port }) => {
      const paths = ['/httpresponse', '/text', '/json', '/html', '/status'];
      const { client, responses } = await exchange(port, Buffer.concat(paths.map((path) => requestBytes({ path }))), paths.length);
      client.destroy();
      const [hr, t, j, h, s] = responses;
      expect(hr!.statusLine).to.equal('HTTP/1.1 203 Non-Authoritative Information');
      expect(hr!.head).to.include('\r\nX-Thing: 1\r\n');
      expect(hr!.get('content-type')).to.equal('text/x-custom');
      expect(hr!.text()).to.equal('custom');
      expect(t!.statusLine).to.equal('HTTP/1.1 202 Accepted');
      expect(t!.get('content-type')).to.equal('text/plain; charset=utf-8');
      expect(t!.text()).to.equal('plain');
      expect(j!.statusLine).to.equal('HTTP/1.1 201 Created');
      expect(j!.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(j!.text()).to.equal('{"x":[1,2]}');
      expect(h!.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(h!.get('content-type')).to.equal('text/html; charset=utf-8');
      expect(h!.text()).to.equal('<p>hi</p>');
      expect(s!.statusLine).to.equal('HTTP/1.1 202 Accepted');
      expect(s!.text()).to.equal('accepted');
    });
  });

  it('null / undefined -> 204 No Content without Content-Length or body bytes', async () => {
    await withApp(setup, async ({ port }) => {
      const paths = ['/null', '/undefined', '/async-null', ALIVE_PATH];
      const { client, responses } = await exchange(port, Buffer.concat(paths.map((path) => requestBytes({ path }))), paths.length);
      client.destroy();
      for (const r of responses.slice(0, 3)) {
        expectStatus(r, 204, 'No Content');
        expect(r.get('content-length'), r.head).to.equal(undefined);
        expect(r.get('transfer-encoding'), r.head).to.equal(undefined);
        expect(r.raw.length).to.equal(r.head.length);
      }
      expect(responses[3]!.text()).to.equal(ALIVE_BODY);
    });
  });

  it('HttpError(404) and HttpError(409) -> that status with the message as text/plain body', async () => {
    await withApp(setup, async ({ port, logged }) => {
      const r = await fetchRaw(port, { path: '/error404' });
      expectStatus(r, 404, 'Not Found');
      expect(r.get('content-type')).to.equal('text/plain; charset=utf-8');
      expect(r.text()).to.equal('no such user');
      const c = await fetchRaw(port, { path: '/error409' });
      expectStatus(c, 409, 'Conflict');
      expect(c.text()).to.equal('version conflict');
      expect(logged, 'HttpError 4xx is not logged as an error').to.have.length(0);
    });
  });

  it('HttpError headers are sent', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/error401' });
      expectStatus(r, 401, 'Unauthorized');
      expect(r.get('www-authenticate')).to.equal('Basic realm="x"');
      expect(r.text()).to.equal('who are you');
    });
  });

  it('HttpError 5xx hides its message unless expose is set', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/error503' });
      expectStatus(r, 503, 'Service Unavailable');
      expect(r.text()).to.equal('Service Unavailable');
      const e = await fetchRaw(port, { path: '/error503-exposed' });
      expectStatus(e, 503, 'Service Unavailable');
      expect(e.text()).to.equal('try later');
    });
  });

  it('a thrown Error -> 500 "Internal Server Error", the stack is logged, the server keeps serving', async () => {
    await withApp(setup, async ({ port, logged }) => {
      const r = await fetchRaw(port, { path: '/throw' });
      expectStatus(r, 500, 'Internal Server Error');
      expect(r.text()).to.equal('Internal Server Error');
      expect(r.text()).to.not.include('boom');
      const flat = logged.map((args) => args.map((a) => (a instanceof Error ? String(a.stack) : String(a))).join(' ')).join('\n');
      expect(flat).to.include('boom from handler');
      await expectStillServing(port);
    });
  });

  it('the connection stays usable after a 500 from a thrown error', async () => {
    await withApp(setup, async ({ port }) => {
      const bytes = Buffer.concat([requestBytes({ path: '/throw' }), requestBytes({ path: ALIVE_PATH })]);
      const { client, responses } = await exchange(port, bytes, 2);
      client.destroy();
      expect(responses.map((r) => r.statusLine)).to.deep.equal(['HTTP/1.1 500 Internal Server Error', 'HTTP/1.1 200 OK']);
      expect(responses[1]!.text()).to.equal(ALIVE_BODY);
    });
  });

  it('an async handler that rejects -> 500, and the server keeps serving', async () => {
    await withApp(setup, async ({ port, logged }) => {
      const r = await fetchRaw(port, { path: '/reject' });
      expectStatus(r, 500, 'Internal Server Error');
      expect(r.text()).to.equal('Internal Server Error');
      const n = await fetchRaw(port, { path: '/reject-nonerror' });
      expectStatus(n, 500, 'Internal Server Error');
      expect(logged.length).to.be.at.least(2);
      await expectStillServing(port);
    });
  });
});
