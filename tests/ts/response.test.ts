/** Response helpers and normalisation of every ResponseLike kind into an HttpResponse. */
import { expect } from 'chai';
import { HttpResponse, html, json, redirect, status, text } from '../../ts/response.js';
import { toHttpResponse } from '../../ts/normalize.js';

async function normalize(value: unknown): Promise<HttpResponse> {
  return toHttpResponse(value);
}

function bodyText(res: HttpResponse): string | null {
  if (res.body === null) return null;
  return typeof res.body === 'string' ? res.body : Buffer.from(res.body).toString('utf8');
}

describe('HttpResponse', () => {
  it('defaults to 200 and types string and byte bodies', () => {
    const s = new HttpResponse('hi');
    expect(s.status).to.equal(200);
    expect(s.headers.get('content-type')).to.equal('text/plain; charset=utf-8');
    expect(new HttpResponse(new Uint8Array([1])).headers.get('content-type')).to.equal('application/octet-stream');
    expect(new HttpResponse(null, { status: 204 }).headers.size).to.equal(0);
  });

  it('keeps an explicit Content-Type in any case', () => {
    const res = new HttpResponse('<p>', { headers: { 'content-type': 'text/html' } });
    expect(res.headers.getAll('Content-Type')).to.deep.equal(['text/html']);
  });

  it('rejects invalid statuses and bodies', () => {
    expect(() => new HttpResponse('x', { status: 99 })).to.throw(RangeError, /status/);
    expect(() => new HttpResponse('x', { status: 600 })).to.throw(RangeError);
    expect(() => new HttpResponse('x', { status: 200.5 })).to.throw(RangeError);
    expect(() => new HttpResponse(42 as unknown as string)).to.throw(TypeError, /body/);
  });

  it('rejects invalid headers with a TypeError', () => {
    expect(() => new HttpResponse('x', { headers: { 'X-A': 'a\r\nb' } })).to.throw(TypeError);
  });
});

describe('helpers', () => {
  it('text, html and json set status, type and body', () => {
    const t = text('hello', { status: 201, headers: { 'X-A': '1' } });
    expect([t.status, t.headers.get('content-type'), t.headers.get('x-a'), t.body]).to.deep.equal([201, 'text/plain; charset=utf-8', '1', 'hello']);
    const h = html('<b>x</b>');
    expect([h.status, h.headers.get('content-type'), h.body]).to.deep.equal([200, 'text/html; charset=utf-8', '<b>x</b>']);
    const j = json({ a: [1, 'two'] }, { status: 202 });
    expect([j.status, j.headers.get('content-type'), j.body]).to.deep.equal([202, 'application/json; charset=utf-8', '{"a":[1,"two"]}']);
  });

  it('json keeps a caller-provided content type and rejects unrepresentable values', () => {
    expect(json([], { headers: { 'Content-Type': 'application/problem+json' } }).headers.get('content-type')).to.equal('application/problem+json');
    expect(() => json(undefined)).to.throw(TypeError, /no JSON representation/);
    expect(() => json({ n: 1n })).to.throw(TypeError);
  });

  it('status builds bodiless or bodied responses', () => {
    expect(status(204)).to.include({ status: 204, body: null });
    const s = status(418, 'short and stout');
    expect([s.status, s.body, s.headers.get('content-type')]).to.deep.equal([418, 'short and stout', 'text/plain; charset=utf-8']);
    expect(() => status(1000)).to.throw(RangeError, /status code/);
  });

  it('redirect sets Location and a 3xx status', () => {
    const r = redirect('/login');
    expect([r.status, r.headers.get('location'), r.body]).to.deep.equal([302, '/login', null]);
    expect(redirect(new URL('https://example.com/a'), 301).headers.get('Location')).to.equal('https://example.com/a');
    expect(() => redirect('/x', 200)).to.throw(RangeError, /redirect status/);
    expect(() => redirect('/x\r\nSet-Cookie: a=1')).to.throw(TypeError);
  });
});

describe('toHttpResponse', () => {
  it('string -> 200 text/plain', async () => {
    const res = await normalize('hello');
    expect([res.status, res.headers.get('content-type'), res.body]).to.deep.equal([200, 'text/plain; charset=utf-8', 'hello']);
  });

  it('Buffer / Uint8Array / ArrayBuffer / views -> 200 application/octet-stream', async () => {
    for (const value of [Buffer.from('abc'), new Uint8Array([97, 98, 99]), new Uint8Array([97, 98, 99]).buffer, new DataView(new Uint8Array([97, 98, 99]).buffer)]) {
      const res = await normalize(value);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('application/octet-stream');
      expect(bodyText(res)).to.equal('abc');
    }
  });

  it('plain object / array / class instance -> 200 JSON', async () => {
    for (const [value, body] of [[{ a: 1 }, '{"a":1}'], [[1, 2], '[1,2]'], [new Date(0), '"1970-01-01T00:00:00.000Z"']] as const) {
      const res = await normalize(value);
      expect([res.status, res.headers.get('content-type'), res.body]).to.deep.equal([200, 'application/json; charset=utf-8', body]);
    }
  });

  it('null / undefined -> 204 without body or type', async () => {
    for (const value of [null, undefined]) {
      const res = await normalize(value);
      expect([res.status, res.body, res.headers.size]).to.deep.equal([204, null, 0]);
    }
  });

  it('HttpResponse -> itself', async () => {
    const original = text('x');
    expect(toHttpResponse(original)).to.equal(original);
  });

  it('WHATWG Response -> its status, headers and body, minus framing fields', async () => {
    const res = await normalize(new Response('made', {
      status: 201,
      headers: [['Content-Type', 'text/x-custom'], ['X-A', '1'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['Content-Length', '4']],
    }));
    expect(res.status).to.equal(201);
    expect(res.headers.get('content-type')).to.equal('text/x-custom');
    expect(res.headers.get('x-a')).to.equal('1');
    expect(res.headers.getAll('set-cookie')).to.deep.equal(['a=1', 'b=2']);
    expect(res.headers.has('content-length')).to.equal(false);
    expect(bodyText(res)).to.equal('made');
  });

  it('WHATWG Response without a body, with a 204, and Response.json / redirect', async () => {
    const empty = await normalize(new Response(null, { status: 202 }));
    expect([empty.status, empty.body, empty.headers.has('content-type')]).to.deep.equal([202, null, false]);
    const noContent = await normalize(new Response(null, { status: 204 }));
    expect([noContent.status, noContent.body]).to.deep.equal([204, null]);
    const j = await normalize(Response.json({ ok: true }));
    expect([j.headers.get('content-type'), bodyText(j)]).to.deep.equal(['application/json', '{"ok":true}']);
    const r = await normalize(Response.redirect('https://example.com/', 307));
    expect([r.status, r.headers.get('location')]).to.deep.equal([307, 'https://example.com/']);
  });

  it('WHATWG Response with a streamed body is read whole', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('one '));
        controller.enqueue(new TextEncoder().encode('two'));
        controller.close();
      },
    });
    expect(bodyText(await normalize(new Response(stream)))).to.equal('one two');
  });

  it('rejects Response.error() and unsupported values', async () => {
    let error: unknown;
    try {
      await normalize(Response.error());
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(TypeError);
    for (const value of [42, true, () => 1, Symbol('s'), 1n]) {
      expect(() => toHttpResponse(value)).to.throw(TypeError, /handler returned/);
    }
  });

  it('lets middleware replace the body and status in place', () => {
    const res = text('inner');
    res.body = res.body + ' wrapped';
    res.status = 203;
    expect([res.status, res.body]).to.deep.equal([203, 'inner wrapped']);
  });
});
