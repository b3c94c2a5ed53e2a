/**
 * What an idle SSE subscriber keeps alive (bench/lib/sse-idle-memory.mjs measures the bytes; this
 * checks the objects, deterministically): once its stream started, the response keeps no
 * start-up state (the session's spec with the header block, the sse() writer closure with the
 * handler, its preamble and the response), no array for a single close target, and no header
 * arrays of its own (responses built from one set of fields share it, copy on write); a static
 * route leaves no params object on the request. A handler that holds its stream open is
 * collectable itself.
 */
import { expect } from 'chai';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Channel, ResponseHeaders, sse, type StreamingResponse } from '../../ts/index.js';
import type { SSEStream } from '../../ts/sse/stream.js';
import { connectSSE, type SSEConnection } from '../helpers/sse-client.js';
import { withApp } from '../helpers/with-app.js';

async function until(pred: () => boolean, what: string, max = 10_000): Promise<void> {
  for (let i = 0; i < max && !pred(); i++) await new Promise<void>((resolve) => setTimeout(resolve, 1));
  if (!pred()) throw new Error(`gave up waiting for ${what}`);
}

/** A full GC on demand (the suite runs without --expose-gc). */
function gcFunction(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

/** The internals an idle subscriber's response keeps (private fields, read for this test only). */
interface Internals {
  session: { spec: unknown; writer: unknown } | null;
  listeners: unknown;
  body: { source: unknown };
  headers: { names: string[]; keys: string[]; values: string[] };
}
const internals = (res: StreamingResponse): Internals => res as unknown as Internals;

describe('sse: what an idle subscriber keeps', () => {
  it('keeps no start-up state, no close-target array and no header arrays of its own once its stream started', async () => {
    const channel = new Channel({ sse: { heartbeat: 0 } });
    const responses: StreamingResponse[] = [];
    const params: unknown[] = [];
    const conns: SSEConnection[] = [];
    await withApp((app) => {
      app.get('/events', (req) => {
        const res = channel.subscribe(req);
        responses.push(res);
        return res;
      });
      app.get('/params', (req) => {
        params.push({ ...req.params });
        req.params.extra = '1'; // a static route's params: empty and still writable
        params.push({ ...req.params });
        return 'ok';
      });
    }, async ({ base }) => {
      for (let i = 0; i < 3; i++) conns.push(await connectSSE(`${base}/events`));
      await until(() => channel.size === 3, 'three subscribers');
      for (const res of responses) {
        const r = internals(res);
        expect(r.session, 'session').to.not.equal(null);
        expect(r.session!.spec, 'the spec (status, header block, source) once started').to.equal(null);
        expect(typeof r.body.source, 'the writer callback and what its closure holds').to.not.equal('function');
        expect(Array.isArray(r.listeners), 'one close target, kept without an array').to.equal(false);
        expect(res.headers.get('content-type')).to.equal('text/event-stream');
        expect(res.headers.get('cache-control')).to.equal('no-cache, no-transform');
      }
      // one set of header arrays for all three
      const [a, b, c] = responses.map((res) => internals(res).headers);
      expect(a!.names).to.equal(b!.names);
      expect(b!.values).to.equal(c!.values);
      expect(a!.keys).to.equal(c!.keys);
      // still events flow, and a response's own header change stays its own
      responses[0]!.headers.set('X-Late', '1');
      expect(responses[1]!.headers.has('x-late')).to.equal(false);
      await channel.publish('hello');
      for (const conn of conns) expect((await conn.waitEvents(1))[0]!.data).to.equal('hello');
      const res = await fetch(`${base}/params`);
      expect(await res.text()).to.equal('ok');
      expect(params).to.deep.equal([{}, { extra: '1' }]);
      for (const conn of conns) conn.close();
      await until(() => channel.size === 0, 'subscribers to leave');
    });
  });

  it('lets a handler that holds its stream open be collected (the sse() closure is not kept)', async () => {
    const gc = gcFunction();
    const collected: string[] = [];
    const registry = new FinalizationRegistry<string>((what) => collected.push(what));
    const streams: SSEStream[] = [];
    await withApp((app) => {
      app.get('/hold', (req) => {
        const handler = (stream: SSEStream): Promise<never> => {
          streams.push(stream);
          return new Promise<never>(() => {}); // a subscription that never ends by itself
        };
        registry.register(handler, 'handler');
        return sse(req, handler, { heartbeat: 0 });
      });
    }, async ({ base }) => {
      const conn = await connectSSE(`${base}/hold`);
      await until(() => streams.length === 1, 'the handler to run');
      for (let i = 0; i < 20 && collected.length === 0; i++) {
        gc();
        await new Promise<void>((resolve) => setTimeout(resolve, 10));
      }
      expect(collected).to.deep.equal(['handler']);
      expect(streams[0]!.closed).to.equal(false); // the stream itself is still open
      await streams[0]!.send('still here');
      expect((await conn.waitEvents(1))[0]!.data).to.equal('still here');
      conn.close();
      await until(() => streams[0]!.closed, 'the stream to end');
    });
  });
});

describe('ResponseHeaders: shared fields are copied on write', () => {
  it('a collection built from another shares its fields until either side changes', () => {
    const template = new ResponseHeaders({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    const a = new ResponseHeaders(template);
    const b = new ResponseHeaders(template);
    a.set('X-A', '1');
    b.append('Cache-Control', 'no-transform');
    template.delete('content-type');
    expect([...a]).to.deep.equal([['Content-Type', 'text/event-stream'], ['Cache-Control', 'no-cache'], ['X-A', '1']]);
    expect([...b]).to.deep.equal([['Content-Type', 'text/event-stream'], ['Cache-Control', 'no-cache'], ['Cache-Control', 'no-transform']]);
    expect([...template]).to.deep.equal([['Cache-Control', 'no-cache']]);
    const c = new ResponseHeaders(a);
    a.delete('x-a');
    expect(c.get('x-a')).to.equal('1');
    expect(a.get('x-a')).to.equal(null);
    // appending a collection to a non-empty one copies its fields in order
    const d = new ResponseHeaders({ 'X-First': '0' }).appendAll(c);
    expect([...d].map(([name]) => name)).to.deep.equal(['X-First', 'Content-Type', 'Cache-Control', 'X-A']);
    expect(new ResponseHeaders().size).to.equal(0);
    expect(new ResponseHeaders(new ResponseHeaders()).set('a', '1').get('A')).to.equal('1');
  });
});
