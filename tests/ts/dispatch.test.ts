/**
 * The request pipeline and the transport against a fake native server: routing,
 * middleware, error mapping, body flow control and aborts, without the C addon.
 */
import { expect } from 'chai';
import { CoreError, HttpError } from '../../ts/errors.js';
import { MiddlewareChain, normalizePrefix } from '../../ts/middleware.js';
import { Pipeline, type Handler } from '../../ts/pipeline.js';
import { AbortReason, METHODS, RequestFlags, RespondFlags, type NativeAddress, type NativeServerCallbacks } from '../../ts/native.js';
import type { Request } from '../../ts/request.js';
import { redirect, status, text } from '../../ts/response.js';
import { ANY_METHOD, Router } from '../../ts/router.js';
import { Transport } from '../../ts/transport.js';
import { FakeNative as FakeServer, type Sent as FakeSent } from '../helpers/fake-native.js';

type Sent = FakeSent;

function setup(build: (r: { route(m: string, p: string, h: Handler): void; use(mw: Parameters<MiddlewareChain['add']>[1], prefix?: string): void }) => void) {
  const router = new Router<Handler>();
  const chain = new MiddlewareChain();
  const logged: unknown[] = [];
  build({ route: (m, p, h) => router.add(m, p, h), use: (mw, prefix) => chain.add(prefix === undefined ? '' : normalizePrefix(prefix), mw) });
  const logger = { error: (...args: unknown[]) => logged.push(args.join(' ')) };
  const transport = new Transport(new Pipeline(router, chain, logger), logger);
  const server = new FakeServer();
  const cb: NativeServerCallbacks = transport.callbacks();
  transport.attach(server);
  let nextId = 1;
  const send = (method: string, url: string, rawHeaders = '', flags = 0): number => {
    const id = nextId++;
    cb.onRequest(id, METHODS.indexOf(method), url, rawHeaders, flags);
    if (!(flags & RequestFlags.HasBody)) cb.onBodyEnd(id);
    return id;
  };
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return { server, cb, logged, send, settle };
}

const bodyOf = (s: Sent) => (s.body === null ? null : Buffer.from(s.body as Uint8Array | string).toString());

describe('Transport and pipeline', () => {
  it('answers a sync string handler synchronously with a text block', () => {
    const t = setup(({ route }) => route('GET', '/', () => 'hi'));
    t.send('GET', '/');
    expect(t.server.sent).to.deep.equal([{ id: 1, status: 200, block: 'Content-Type: text/plain; charset=utf-8\r\n', body: 'hi', flags: 0 }]);
  });

  it('answers plain JSON, async handlers, HttpResponses and WHATWG Responses', async () => {
    const t = setup(({ route }) => {
      route('GET', '/json', () => ({ a: 1 }));
      route('GET', '/async', async () => text('later', { headers: { 'X-Case': 'Kept' } }));
      route('GET', '/fetch', () => new Response('w', { status: 202, headers: { 'X-W': '1' } }));
      route('GET', '/none', () => undefined);
      route('GET', '/redirect', () => redirect('/x', 303));
    });
    ['/json', '/async', '/fetch', '/none', '/redirect'].forEach((p) => t.send('GET', p));
    await t.settle();
    const byId = new Map(t.server.sent.map((s) => [s.id, s]));
    expect(byId.get(1)).to.include({ status: 200, block: 'Content-Type: application/json; charset=utf-8\r\n', body: '{"a":1}' });
    expect(byId.get(2)).to.include({ status: 200, body: 'later' });
    expect(byId.get(2)!.block).to.equal('X-Case: Kept\r\nContent-Type: text/plain; charset=utf-8\r\n');
    expect(byId.get(3)!.status).to.equal(202);
    expect(byId.get(3)!.block).to.contain('x-w: 1\r\n');
    expect(bodyOf(byId.get(3)!)).to.equal('w');
    expect(byId.get(4)).to.include({ status: 204, body: null, flags: RespondFlags.NoContentLength });
    expect(byId.get(5)).to.include({ status: 303, block: 'Location: /x\r\n' });
  });

  it('drops bodies and Content-Length for 204/304 and strips core-managed fields', () => {
    const t = setup(({ route }) => route('GET', '/', () => status(304, 'ignored', { headers: { ETag: '"1"', 'Content-Length': '7', Date: 'x' } })));
    t.send('GET', '/');
    expect(t.server.sent[0]).to.include({ status: 304, body: null, flags: RespondFlags.NoContentLength, block: 'ETag: "1"\r\nContent-Type: text/plain; charset=utf-8\r\n' });
  });

  it('turns Connection: close into the Close flag', () => {
    const t = setup(({ route }) => route('GET', '/', () => text('bye', { headers: { Connection: 'close' } })));
    t.send('GET', '/');
    expect(t.server.sent[0]!.flags).to.equal(RespondFlags.Close);
    expect(t.server.sent[0]!.block).not.to.contain('Connection');
  });

  it('answers 404, 405 with Allow, and OPTIONS with 204 + Allow', () => {
    const t = setup(({ route }) => { route('GET', '/a', () => 'a'); route('POST', '/a', () => 'a'); });
    t.send('GET', '/nope');
    t.send('DELETE', '/a');
    t.send('OPTIONS', '/a');
    const [nf, na, opt] = t.server.sent;
    expect(nf).to.include({ status: 404, body: 'Not Found' });
    expect(na).to.include({ status: 405, body: 'Method Not Allowed' });
    expect(na!.block).to.contain('Allow: GET, HEAD, POST\r\n');
    expect(opt).to.include({ status: 204, body: null, block: 'Allow: GET, HEAD, POST\r\n' });
  });

  it('maps HttpError to its status and other errors to a logged 500', async () => {
    const t = setup(({ route }) => {
      route('GET', '/401', () => { throw new HttpError(401, 'who are you', { headers: { 'WWW-Authenticate': 'Basic' } }); });
      route('GET', '/503', async () => { throw new HttpError(503, 'db down: secret detail'); });
      route('GET', '/503e', () => { throw new HttpError(503, 'try later', { expose: true }); });
      route('GET', '/boom', () => { throw new Error('boom'); });
      route('GET', '/reject', () => Promise.reject(new Error('async boom')));
      route('GET', '/badheader', () => text('x', { headers: { 'X-A': 'a\nb' } }));
      route('GET', '/badvalue', () => 42 as unknown as string);
    });
    for (const p of ['/401', '/503', '/503e', '/boom', '/reject', '/badheader', '/badvalue']) t.send('GET', p);
    await t.settle();
    const byId = new Map(t.server.sent.map((s) => [s.id, s]));
    expect(byId.get(1)).to.include({ status: 401, body: 'who are you' });
    expect(byId.get(1)!.block).to.contain('WWW-Authenticate: Basic\r\n');
    expect(byId.get(2)).to.include({ status: 503, body: 'Service Unavailable' });
    expect(byId.get(3)).to.include({ status: 503, body: 'try later' });
    for (const id of [4, 5, 6, 7]) expect(byId.get(id)).to.include({ status: 500, body: 'Internal Server Error' });
    expect(t.logged).to.have.length(4);
    expect(String(t.logged[0])).to.contain('Error: boom');
  });

  it('survives a respond() that throws, and ignores ECLOSED', () => {
    const t = setup(({ route }) => route('GET', '/', () => 'x'));
    t.server.dead.add(1);
    t.send('GET', '/');
    expect(t.server.sent).to.have.length(0);
    expect(t.logged).to.have.length(0);
  });

  it('exposes lazily parsed request fields', async () => {
    let seen: Record<string, unknown> = {};
    const t = setup(({ route }) => route('GET', '/u/:id', (req: Request) => {
      seen = { path: req.path, q: req.query.get('x'), id: req.params.id, ua: req.header('User-Agent'), cookie: req.headers.cookie, ip: req.ip, v: req.httpVersion };
      return 'ok';
    }));
    t.send('GET', '/u/a%20b?x=1', 'User-Agent: t\r\nCookie: a=1\r\ncookie: b=2\r\n', RequestFlags.Http10);
    expect(seen).to.deep.equal({ path: '/u/a%20b', q: '1', id: 'a b', ua: 't', cookie: 'a=1; b=2', ip: '10.0.0.1', v: '1.0' });
  });

  it('answers malformed percent-encoding in params with 400', async () => {
    const t = setup(({ route }) => route('GET', '/u/:id', () => 'x'));
    t.send('GET', '/u/%ZZ');
    await t.settle();
    expect(t.server.sent[0]).to.include({ status: 400 });
  });

  describe('middleware', () => {
    it('runs onion-style and sees the downstream HttpResponse, including 404', async () => {
      const order: string[] = [];
      const t = setup(({ route, use }) => {
        route('GET', '/', () => 'base');
        use(async (_req, next) => { order.push('a>'); const res = await next(); order.push('<a'); res.headers.set('X-Outer', '1'); });
        use(async (_req, next) => { order.push('b>'); const res = await next(); order.push('<b'); res.body = `[${res.body}]`; return res; });
      });
      t.send('GET', '/');
      await t.settle();
      t.send('GET', '/missing');
      await t.settle();
      expect(order).to.deep.equal(['a>', 'b>', '<b', '<a', 'a>', 'b>', '<b', '<a']);
      expect(t.server.sent[0]).to.include({ status: 200, body: '[base]' });
      expect(t.server.sent[0]!.block).to.contain('X-Outer: 1\r\n');
      expect(t.server.sent[1]).to.include({ status: 404, body: '[Not Found]' });
    });

    it('applies prefix middleware to the prefix and below only', async () => {
      const t = setup(({ route, use }) => {
        route(ANY_METHOD, '/*', () => 'x');
        use(async () => 'guarded', '/api/');
      });
      const bodies: string[] = [];
      for (const p of ['/api', '/api/v1', '/apix', '/']) {
        t.send('GET', p);
        await t.settle();
        bodies.push(String(t.server.sent.at(-1)!.body));
      }
      expect(bodies).to.deep.equal(['guarded', 'guarded', 'x', 'x']);
    });

    it('skips the async chain when no middleware applies to the path: a sync handler answers at once', () => {
      const t = setup(({ route, use }) => {
        route('GET', '/plain', () => 'plain');
        use(async (_req, next) => next(), '/api');
      });
      t.send('GET', '/plain');
      expect(t.server.sent.map((s) => s.body)).to.deep.equal(['plain']); // no await: answered synchronously
    });

    it('lets middleware catch downstream errors and rejects a second next()', async () => {
      const t = setup(({ route, use }) => {
        route('GET', '/boom', () => { throw new Error('inner'); });
        route('GET', '/twice', () => 'x');
        use(async (req, next) => {
          if (req.path === '/twice') { await next(); return next(); }
          try { return await next(); } catch (err) { return text(`caught ${(err as Error).message}`, { status: 502 }); }
        });
      });
      t.send('GET', '/boom');
      t.send('GET', '/twice');
      await t.settle();
      expect(t.server.sent[0]).to.include({ status: 502, body: 'caught inner' });
      expect(t.server.sent[1]).to.include({ status: 500 });
      expect(String(t.logged[0])).to.contain('next() called more than once');
    });

    it('turns a synchronous middleware throw into a 500', async () => {
      const t = setup(({ route, use }) => { route('GET', '/', () => 'x'); use(() => { throw new TypeError('sync'); }); });
      t.send('GET', '/');
      await t.settle();
      expect(t.server.sent[0]).to.include({ status: 500 });
    });
  });

  describe('bodies and aborts', () => {
    it('collects the body with text() and json(); a second read throws', async () => {
      const results: unknown[] = [];
      const t = setup(({ route }) => {
        route('POST', '/t', async (req) => { results.push(await req.text()); try { await req.text(); } catch (e) { results.push((e as Error).message); } return 'ok'; });
        route('POST', '/j', async (req) => req.json());
      });
      const a = t.send('POST', '/t', '', RequestFlags.HasBody);
      t.cb.onBody(a, Buffer.from('hel'));
      t.cb.onBody(a, Buffer.from('lo'));
      t.cb.onBodyEnd(a);
      const b = t.send('POST', '/j', '', RequestFlags.HasBody);
      t.cb.onBody(b, Buffer.from('{bad'));
      t.cb.onBodyEnd(b);
      await t.settle();
      expect(results[0]).to.equal('hello');
      expect(results[1]).to.match(/already read/);
      expect(t.server.sent.find((s) => s.id === b)).to.include({ status: 400 });
    });

    it('pauses above 64 KiB of unread body and resumes when drained', async () => {
      const chunks: number[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const t = setup(({ route }) => route('POST', '/', async (req) => {
        await gate;
        for await (const chunk of req) chunks.push(chunk.length);
        return 'done';
      }));
      const id = t.send('POST', '/', '', RequestFlags.HasBody);
      for (let i = 0; i < 5; i++) t.cb.onBody(id, Buffer.alloc(16 * 1024));
      expect(t.server.calls).to.deep.equal([`pause ${id}`]);
      release();
      await t.settle();
      expect(t.server.calls).to.deep.equal([`pause ${id}`, `resume ${id}`]);
      t.cb.onBodyEnd(id);
      await t.settle();
      expect(chunks).to.have.length(5);
      expect(t.server.sent[0]).to.include({ body: 'done' });
    });

    it('aborts the signal, rejects pending reads and drops the late response', async () => {
      let signal!: AbortSignal;
      let readError: unknown;
      const t = setup(({ route }) => route('POST', '/', async (req) => {
        signal = req.signal;
        try { await req.text(); } catch (err) { readError = err; }
        return 'too late';
      }));
      const id = t.send('POST', '/', '', RequestFlags.HasBody);
      t.cb.onBody(id, Buffer.from('partial'));
      t.cb.onAbort(id, AbortReason.ClientClosed);
      t.server.dead.add(id);
      await t.settle();
      expect(signal.aborted).to.equal(true);
      expect(signal.reason).to.include({ name: 'AbortError', code: 'ECLIENTCLOSED' });
      expect(readError).to.equal(signal.reason);
      expect(t.server.sent).to.have.length(0);
      expect(t.logged).to.have.length(0);
    });

    it('gives an already-aborted signal and empty ip when accessed after the abort', async () => {
      let state: unknown[] = [];
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const t = setup(({ route }) => route('GET', '/', async (req) => { await gate; state = [req.signal.aborted, req.ip]; return 'x'; }));
      const id = t.send('GET', '/');
      t.cb.onAbort(id, AbortReason.Timeout);
      t.server.dead.add(id);
      release();
      await t.settle();
      expect(state).to.deep.equal([true, '']);
    });
  });
});
