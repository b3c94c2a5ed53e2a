/**
 * Routing on the wire: params, wildcard, 404, 405 + Allow, HEAD on GET routes, OPTIONS.
 */
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import { exchange, fetchRaw, requestBytes } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, expectStatus } from '../helpers/assertions.js';

const setup = (app: any) => {
  app.get(ALIVE_PATH, () => ALIVE_BODY);
  app.get('/users/:id', (req: any) => ({ id: req.params.id }));
  app.get('/users/:id/posts/:post', (req: any) => ({ id: req.params.id, post: req.params.post }));
  app.get('/files/*', (req: any) => ({ rest: req.params['*'] }));
  app.get('/thing', () => 'thing via GET');
  app.post('/thing', () => 'thing via POST');
  app.get('/a', () => 'no slash');
  app.get('/a/', () => 'with slash');
  app.get('/q', (req: any) => ({ path: req.path, url: req.url, x: req.query.get('x') }));
  app.get('/sized', () => 'twenty-one bytes long');
  app.options('/custom-options', () => new Response(null, { status: 200, headers: { 'X-Options': 'handled' } }));
};

describe('wire: routing', () => {
  it('route params are extracted and percent-decoded', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/users/42' });
      expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(JSON.parse(r.text())).to.deep.equal({ id: '42' });
      const r2 = await fetchRaw(port, { path: '/users/a%20b/posts/7' });
      expect(JSON.parse(r2.text())).to.deep.equal({ id: 'a b', post: '7' });
    });
  });

  it('a wildcard route gets the rest of the path in params["*"]', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/files/a/b/c.txt' });
      expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(JSON.parse(r.text())).to.deep.equal({ rest: 'a/b/c.txt' });
    });
  });

  it('the query string is not part of the path', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/q?x=1&y=2' });
      expect(JSON.parse(r.text())).to.deep.equal({ path: '/q', url: '/q?x=1&y=2', x: '1' });
    });
  });

  it('/a and /a/ are different routes', async () => {
    await withApp(setup, async ({ port }) => {
      expect((await fetchRaw(port, { path: '/a' })).text()).to.equal('no slash');
      expect((await fetchRaw(port, { path: '/a/' })).text()).to.equal('with slash');
    });
  });

  it('an unknown path answers 404 Not Found with body "Not Found"', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { path: '/no/such/route' });
      expectStatus(r, 404, 'Not Found');
      expect(r.text()).to.equal('Not Found');
      expect(r.get('content-length')).to.equal(String(r.body.length));
    });
  });

  it('a known path with another method answers 405 with the exact sorted Allow header', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { method: 'DELETE', path: '/thing' });
      expectStatus(r, 405, 'Method Not Allowed');
      expect(r.all('allow')).to.deep.equal(['GET, HEAD, POST']);
      const r2 = await fetchRaw(port, { method: 'PUT', path: '/users/9' });
      expectStatus(r2, 405, 'Method Not Allowed');
      expect(r2.all('allow')).to.deep.equal(['GET, HEAD']);
    });
  });

  it('HEAD on a GET route: same headers as GET incl. Content-Length, zero body bytes', async () => {
    await withApp(setup, async ({ port }) => {
      // HEAD then GET pipelined on one keep-alive connection: a body byte after the
      // HEAD response would break the parse of the GET response.
      const bytes = Buffer.concat([requestBytes({ method: 'HEAD', path: '/sized' }), requestBytes({ path: '/sized' })]);
      const { client, responses } = await exchange(port, bytes, 2, { methods: ['HEAD', 'GET'] });
      client.destroy();
      const [head, get] = responses;
      expect(head!.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(head!.raw.toString('latin1')).to.equal(head!.head);
      expect(get!.text()).to.equal('twenty-one bytes long');
      expect(head!.get('content-length')).to.equal('21');
      const withoutDate = (h: Array<[string, string]>) => h.filter(([n]) => n.toLowerCase() !== 'date');
      expect(withoutDate(head!.headers)).to.deep.equal(withoutDate(get!.headers));
    });
  });

  it('HEAD on a keep-alive connection leaves it usable (HEAD, HEAD, GET in sequence)', async () => {
    await withApp(setup, async ({ port }) => {
      const { client, responses } = await exchange(port, requestBytes({ method: 'HEAD', path: '/users/1' }), 1, { methods: ['HEAD'] });
      try {
        expect(responses[0]!.status).to.equal(200);
        await client.send(requestBytes({ method: 'HEAD', path: '/nope' }));
        const r404 = await client.readResponse({ method: 'HEAD' });
        expect(r404.statusLine).to.equal('HTTP/1.1 404 Not Found');
        expect(r404.raw.toString('latin1')).to.equal(r404.head);
        await client.send(requestBytes({ path: '/users/1' }));
        const get = await client.readResponse();
        expect(JSON.parse(get.text())).to.deep.equal({ id: '1' });
        expect(client.unread().length).to.equal(0);
      } finally {
        client.destroy();
      }
    });
  });

  it('OPTIONS without a route answers 204 with Allow listing the path\'s methods', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { method: 'OPTIONS', path: '/thing' });
      expectStatus(r, 204, 'No Content');
      const allow = (r.get('allow') ?? '').split(',').map((s) => s.trim());
      expect(allow).to.include.members(['GET', 'HEAD', 'POST']);
      expect(allow).to.not.include('DELETE');
      expect(allow).to.not.include('PUT');
      expect(r.body.length).to.equal(0);
    });
  });

  it('OPTIONS with an explicit route runs its handler', async () => {
    await withApp(setup, async ({ port }) => {
      const r = await fetchRaw(port, { method: 'OPTIONS', path: '/custom-options' });
      expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(r.get('x-options')).to.equal('handled');
    });
  });
});
