/**
 * Python endpoints over real sockets: what a function returns or yields, the request it
 * receives, status/headers/content type, batching, and slow generators.
 */
import { expect } from 'chai';
import { fetchRaw, RawClient, requestBytes, within } from '../helpers/raw-client.js';
import { decodeChunked } from '../helpers/chunked.js';
import { startPythonApp, withPythonApp, type PythonAppContext } from '../helpers/python.js';

describe('python endpoints: responses', () => {
  let ctx: PythonAppContext;

  before(async () => {
    ctx = await startPythonApp((app, py) => {
      app.get('/rows', py.endpoint('bridge_handlers:rows'));
      app.get('/lines', py.endpoint('bridge_handlers:lines'));
      app.get('/chunks', py.endpoint('bridge_handlers:chunks'));
      app.get('/hello', py.endpoint('bridge_handlers:hello'));
      app.get('/document', py.endpoint('bridge_handlers:document'));
      app.get('/nothing', py.endpoint('bridge_handlers:nothing'));
      app.post('/echo/:id', py.endpoint('bridge_handlers:echo'));
      app.get('/custom', py.endpoint('bridge_handlers:custom_head'));
      app.get('/wrapped', py.endpoint('bridge_handlers:wrapped'));
      app.get('/async-rows', py.endpoint('bridge_handlers:async_rows'));
      app.get('/async-document', py.endpoint('bridge_handlers:async_document'));
      app.get('/not-found', py.endpoint('bridge_handlers:not_found'));
      app.get('/js', () => 'from js');
    });
  });
  after(async () => ctx.close());

  it('streams a sync generator of dicts as NDJSON, chunked, with every row', async () => {
    const r = await fetchRaw(ctx.port, { path: '/rows?n=5000' });
    expect(r.status).to.equal(200);
    expect(r.get('content-type')).to.equal('application/x-ndjson');
    expect(r.chunked).to.equal(true);
    const lines = r.text().split('\n');
    expect(lines.pop()).to.equal('');
    expect(lines).to.have.length(5000);
    expect(JSON.parse(lines[4999]!)).to.deep.equal({ id: 4999, name: 'user-4999' });
  });

  it('batches a fast generator: 20,000 rows leave in far fewer chunks', async () => {
    const r = await fetchRaw(ctx.port, { path: '/rows?n=20000' });
    const body = decodeChunked(r.raw.subarray(r.head.length));
    expect(body.terminated).to.equal(true);
    expect(body.body.toString().split('\n')).to.have.length(20001);
    expect(body.sizes.length, `chunks on the wire: ${body.sizes.length}`).to.be.below(1000);
  });

  it('sends str as UTF-8 text and bytes as they are', async () => {
    const t = await fetchRaw(ctx.port, { path: '/lines?n=2' });
    expect(t.get('content-type')).to.equal('text/plain; charset=utf-8');
    expect(t.text()).to.equal('line 0\nline 1\n');
    const b = await fetchRaw(ctx.port, { path: '/chunks' });
    expect(b.get('content-type')).to.equal('application/octet-stream');
    expect([...b.body]).to.deep.equal([0, 1, 2, 3, 4]);
  });

  it('returns a single str, a dict (JSON) and None (204)', async () => {
    const h = await fetchRaw(ctx.port, { path: '/hello' });
    expect(h.text()).to.equal('hello from python\n');
    const d = await fetchRaw(ctx.port, { path: '/document' });
    expect(d.get('content-type')).to.equal('application/json; charset=utf-8');
    expect(JSON.parse(d.text())).to.deep.equal({ ok: true, items: [1, 2] });
    const n = await fetchRaw(ctx.port, { path: '/nothing' });
    expect(n.status).to.equal(204);
    expect(n.body.length).to.equal(0);
  });

  it('hands method, path, query, headers, params and body to the function', async () => {
    const r = await fetchRaw(ctx.port, {
      method: 'POST', path: '/echo/42?a=1&a=2&b=x%20y', headers: [['X-Test', 'yes']], body: 'the body',
    });
    const got = JSON.parse(r.text());
    expect(got.method).to.equal('POST');
    expect(got.path).to.equal('/echo/42');
    expect(got.query).to.deep.equal({ a: '1', b: 'x y' });
    expect(got.query_items).to.deep.equal([['a', '1'], ['a', '2'], ['b', 'x y']]);
    expect(got.headers['x-test']).to.equal('yes');
    expect(got.params).to.deep.equal({ id: '42' });
    expect(got.body).to.equal('the body');
  });

  it('lets the function set status, headers and content type (request.response or Response)', async () => {
    const c = await fetchRaw(ctx.port, { path: '/custom' });
    expect(c.statusLine).to.equal('HTTP/1.1 201 Created');
    expect(c.get('x-custom')).to.equal('yes');
    expect(c.namesAsSent('x-custom')).to.deep.equal(['X-Custom']);
    expect(c.get('content-type')).to.equal('text/csv');
    expect(c.text()).to.equal('a,b\n1,2\n');
    const w = await fetchRaw(ctx.port, { path: '/wrapped' });
    expect(w.statusLine).to.equal('HTTP/1.1 202 Accepted');
    expect(w.get('x-wrapped')).to.equal('1');
    expect(w.get('content-type')).to.equal('text/x-wrapped');
    expect(w.text()).to.equal('x\ny\n');
  });

  it('runs async generators and coroutines', async () => {
    const r = await fetchRaw(ctx.port, { path: '/async-rows?n=3000' });
    expect(r.text().trim().split('\n')).to.have.length(3000);
    const d = await fetchRaw(ctx.port, { path: '/async-document' });
    expect(JSON.parse(d.text())).to.deep.equal({ async: true });
  });

  it('answers HEAD with the headers only and closes the generator', async () => {
    const r = await fetchRaw(ctx.port, { method: 'HEAD', path: '/rows?n=100' });
    expect(r.status).to.equal(200);
    expect(r.get('content-type')).to.equal('application/x-ndjson');
    expect(r.body.length).to.equal(0);
    const alive = await fetchRaw(ctx.port, { path: '/js' });
    expect(alive.text()).to.equal('from js');
  });

  it('maps catzilla_bridge.HTTPError raised before the first item to its status', async () => {
    const r = await fetchRaw(ctx.port, { path: '/not-found' });
    expect(r.status).to.equal(404);
    expect(r.text()).to.equal('no such export');
    expect(r.get('x-reason')).to.equal('missing');
  });

  it('keeps the connection alive across Python responses', async () => {
    const client = await RawClient.connect(ctx.port);
    try {
      for (let i = 0; i < 3; i++) {
        await client.send(requestBytes({ path: `/lines?n=${i + 1}` }));
        const r = await client.readResponse();
        expect(r.text().split('\n')).to.have.length(i + 2);
      }
    } finally {
      client.destroy();
    }
  });
});

describe('python endpoints: slow generators', () => {
  it('delivers each item of a generator yielding once every 300 ms as soon as it is yielded', async () => {
    await withPythonApp(
      (app, py) => app.get('/slow', py.endpoint('bridge_handlers:slow')),
      async ({ port }) => {
        const client = await RawClient.connect(port);
        try {
          const t0 = Date.now();
          await client.send(requestBytes({ path: '/slow?interval=0.3' }));
          const arrivals: number[] = [];
          for (let i = 0; i < 3; i++) {
            await client.until(() => client.buffer.includes(`tick ${i}\n`), `tick ${i}`, 3000);
            arrivals.push(Date.now() - t0);
          }
          // tick 0 at once, then one every ~300 ms: never held back for a batch.
          expect(arrivals[0], `arrivals ${arrivals}`).to.be.below(1000);
          expect(arrivals[1]! - arrivals[0]!, `arrivals ${arrivals}`).to.be.within(150, 700);
          expect(arrivals[2]! - arrivals[1]!, `arrivals ${arrivals}`).to.be.within(150, 700);
        } finally {
          client.destroy();
        }
      },
    );
  });

  it('delivers the items of an async generator at once too', async () => {
    await withPythonApp(
      (app, py) => app.get('/aslow', py.endpoint('bridge_handlers:async_slow')),
      async ({ port }) => {
        const client = await RawClient.connect(port);
        try {
          const t0 = Date.now();
          await client.send(requestBytes({ path: '/aslow?interval=0.3' }));
          await client.until(() => client.buffer.includes('tick 1\n'), 'tick 1', 3000);
          const elapsed = Date.now() - t0;
          expect(elapsed).to.be.within(200, 1500);
        } finally {
          client.destroy();
        }
      },
    );
  });

  it('closes cleanly even when every request was quick (no stray state)', async () => {
    await withPythonApp(
      (app, py) => app.get('/hello', py.endpoint('bridge_handlers:hello')),
      async ({ port, bridge }) => {
        const results = await within(Promise.all(Array.from({ length: 20 }, () => fetchRaw(port, { path: '/hello' }))), 10000, '20 requests');
        expect(results.every((r) => r.text() === 'hello from python\n')).to.equal(true);
        expect(bridge.stats().activeStreams).to.equal(0);
      },
    );
  });
});
