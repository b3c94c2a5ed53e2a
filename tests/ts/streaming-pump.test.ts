/**
 * Streaming responses against the fake native server: pulling under the watermark,
 * batching, yielding, cancellation of every source kind, errors before and after the
 * first chunk, hooks and their order, HEAD, and settings resolution.
 */
import { expect } from 'chai';
import { Readable } from 'node:stream';
import { HttpError } from '../../ts/errors.js';
import { AbortReason, RequestFlags, StreamFlags, StreamState } from '../../ts/native.js';
import type { Request } from '../../ts/request.js';
import { StreamingResponse, type CloseReason } from '../../ts/streaming/index.js';
import { pullerSource, type Puller, type PullResult } from '../../ts/streaming/source.js';
import { Pump, type PumpOwner } from '../../ts/streaming/pump.js';
import { fakeApp, turns, until } from '../helpers/fake-native.js';

describe('streaming: pump', () => {
  it('streams a sync generator in batches: joined strings, one end, onClose(finished) after onStreamEnd', async () => {
    const events: string[] = [];
    const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(function* () {
      for (let i = 0; i < 1000; i++) yield `row ${i}\n`;
    }(), { onStart: () => events.push('start'), onClose: (r) => events.push(`close:${r}`) })));
    const id = t.send('GET', '/');
    const s = t.fake.streams.get(id)!;
    // one synchronous slice on a fast machine; a slow one (sanitizers) may yield in between
    await until(() => s.calls.at(-1) === 'end', 'the stream ended');
    expect(events).to.deep.equal(['start']); // onClose waits for onStreamEnd
    const expected = Array.from({ length: 1000 }, (_, i) => `row ${i}\n`).join('');
    expect(t.fake.text(id)).to.equal(expected);
    expect(s.calls.length).to.be.lessThan(1000 / 32); // one native call per batch, not per row
    expect(s.calls.every((c) => c === 'write' || c === 'end')).to.equal(true);
    expect(s.status).to.equal(200);
    expect(s.contentLength).to.equal(-1);
    expect(s.block).to.equal('Content-Type: application/octet-stream\r\n');
    await turns(2);
    expect(events).to.deep.equal(['start', 'close:finished']);
  });

  it('uses one writev for a batch mixing strings and bytes, and skips empty chunks', () => {
    const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(['a', Buffer.from('b'), '', new Uint8Array([99])])));
    const id = t.send('GET', '/');
    const s = t.fake.streams.get(id)!;
    expect(s.calls).to.deep.equal(['writev:3', 'end']);
    expect(t.fake.text(id)).to.equal('abc');
  });

  it('pulls only while under the high watermark and resumes on drain', async () => {
    let yields = 0;
    const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(function* () {
      for (let i = 0; i < 100; i++) {
        yields++;
        yield '0123456789';
      }
    }(), { highWaterMark: 100, lowWaterMark: 10 })));
    const id = t.send('GET', '/');
    const s = t.fake.streams.get(id)!;
    expect(s.hwm).to.equal(100);
    // A slow build (ASan) may spread a batch over more than one loop turn (the pump's time
    // slice), so each count is read after a few turns: what matters is where pulling stops.
    await turns(3);
    expect(yields).to.equal(10); // one batch of 100 bytes: the write that crossed the mark, nothing pulled past it
    t.fake.drain(id);
    await turns(3);
    expect(yields).to.equal(20);
    for (let i = 0; i < 20 && s.state === 'open'; i++) {
      t.fake.drain(id);
      await turns(3);
    }
    expect(yields).to.equal(100);
    expect(t.fake.text(id)).to.have.length(1000);
    expect(s.peak).to.be.at.most(100 + 10);
  });

  it('never queues more than the high watermark plus one chunk for big chunks', async () => {
    const chunk = Buffer.alloc(16384, 1);
    const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(function* () {
      for (let i = 0; i < 64; i++) yield chunk;
    }(), { highWaterMark: 65536 })));
    t.fake.autoDrain = true;
    const id = t.send('GET', '/');
    await until(() => t.fake.streams.get(id)!.state !== 'open', 'stream end');
    expect(t.fake.streams.get(id)!.peak).to.be.at.most(65536 + 16384);
    expect(t.fake.text(id)).to.have.length(64 * 16384);
  });

  it('yields to the event loop during a long synchronous run', async () => {
    let produced = 0;
    let seenAtImmediate = -1;
    const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(function* () {
      for (let i = 0; i < 20000; i++) {
        produced++;
        const until = performance.now() + 0.002;
        while (performance.now() < until); // 2 us of work per row: 40 ms in all
        yield 'x';
      }
    }(), { highWaterMark: 1 << 30 })));
    setImmediate(() => (seenAtImmediate = produced));
    const id = t.send('GET', '/');
    await until(() => t.fake.streams.get(id)!.state !== 'open', 'stream end', 20000);
    expect(seenAtImmediate).to.be.greaterThan(0);
    expect(seenAtImmediate).to.be.lessThan(20000);
    expect(t.fake.text(id)).to.have.length(20000);
  });

  it('batches an async generator and writes a partial batch when the source waits', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse((async function* () {
      for (let i = 0; i < 10; i++) yield '0123456789abcdef';
      await gate;
      yield 'last';
    })())));
    const id = t.send('GET', '/');
    await turns(3);
    const s = t.fake.streams.get(id)!;
    expect(s.calls).to.deep.equal(['write']); // 10 chunks, one joined write, while the source waits
    expect(t.fake.text(id)).to.have.length(160);
    release();
    await until(() => s.calls.includes('end'), 'end');
    expect(t.fake.text(id).endsWith('last')).to.equal(true);
  });

  describe('cancellation on disconnect', () => {
    it('sync generator: return() runs its finally, onClose(client-closed), request.signal aborted', async () => {
      let finallyRan = false;
      let closed: CloseReason | null = null;
      let signal: AbortSignal | null = null;
      const t = fakeApp(({ route }) => route('GET', '/', (req: Request) => {
        signal = req.signal;
        return new StreamingResponse(function* () {
          try {
            for (;;) yield 'x'.repeat(100);
          } finally {
            finallyRan = true;
          }
        }(), { highWaterMark: 1000, onClose: (r) => (closed = r) });
      }));
      const id = t.send('GET', '/');
      expect(t.fake.streams.get(id)!.over).to.equal(true);
      t.fake.disconnect(id);
      expect(finallyRan).to.equal(true);
      expect(closed).to.equal('client-closed');
      expect(signal!.aborted).to.equal(true);
      expect((signal!.reason as { code: string }).code).to.equal('ECLIENTCLOSED');
    });

    it('async generator blocked on an await: its finally runs once the await settles', async () => {
      let finallyRan = false;
      let wake!: () => void;
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse((async function* () {
        try {
          yield 'first';
          await new Promise<void>((r) => (wake = r));
          yield 'never sent';
        } finally {
          finallyRan = true;
        }
      })())));
      const id = t.send('GET', '/');
      await turns(2);
      t.fake.disconnect(id, AbortReason.Timeout);
      wake();
      await until(() => finallyRan, 'finally');
      expect(t.fake.text(id)).to.equal('first');
    });

    it('async generator paused at a yield (backpressure): finally runs within one turn', async () => {
      let finallyRan = false;
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse((async function* () {
        try {
          for (;;) yield 'y'.repeat(64);
        } finally {
          finallyRan = true;
        }
      })(), { highWaterMark: 128 })));
      const id = t.send('GET', '/');
      await until(() => t.fake.streams.get(id)?.over === true, 'backpressure');
      t.fake.disconnect(id);
      await turns(1);
      expect(finallyRan).to.equal(true);
    });

    it('ReadableStream: cancel() is called with the abort reason', async () => {
      let cancelled: unknown = null;
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(new ReadableStream({
        pull(c) { c.enqueue(new Uint8Array(100)); },
        cancel(reason) { cancelled = reason; },
      }, { highWaterMark: 0 }), { highWaterMark: 1000 })));
      const id = t.send('GET', '/');
      await until(() => t.fake.streams.get(id)?.over === true, 'backpressure');
      t.fake.disconnect(id);
      await turns(2);
      expect((cancelled as { code?: string }).code).to.equal('ECLIENTCLOSED');
    });

    it('Node Readable: destroy() is called', async () => {
      let n = 0;
      const readable = new Readable({ read() { this.push(Buffer.alloc(100, n++)); } });
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(readable, { highWaterMark: 1000 })));
      const id = t.send('GET', '/');
      await until(() => t.fake.streams.get(id)?.over === true, 'backpressure');
      t.fake.disconnect(id);
      expect(readable.destroyed).to.equal(true);
    });

    it('before the first chunk: the source is cancelled and onClose fires without a native stream', async () => {
      let finallyRan = false;
      let closed: CloseReason | null = null;
      let wake!: () => void;
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse((async function* () {
        try {
          await new Promise<void>((r) => (wake = r));
          yield 'late';
        } finally {
          finallyRan = true;
        }
      })(), { onClose: (r) => (closed = r) })));
      const id = t.send('GET', '/');
      await turns(1);
      t.fake.disconnect(id);
      expect(closed).to.equal('client-closed');
      wake();
      await until(() => finallyRan, 'finally');
      expect(t.fake.streams.has(id)).to.equal(false);
      expect(t.fake.sent).to.have.length(0);
    });
  });

  describe('errors', () => {
    it('before the first chunk: 500 (logged), onError + onClose(error), no native stream', async () => {
      const events: string[] = [];
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(function* () {
        throw new Error('db down');
      }(), { onError: (e) => events.push(`error:${(e as Error).message}`), onClose: (r) => events.push(`close:${r}`) })));
      const id = t.send('GET', '/');
      await turns(1);
      expect(t.fake.streams.has(id)).to.equal(false);
      expect(t.fake.sent[0]).to.include({ id, status: 500, body: 'Internal Server Error' });
      expect(events).to.deep.equal(['error:db down', 'close:error']);
      expect(String(t.logged[0])).to.contain('db down');
    });

    it('an HttpError before the first chunk keeps its status', async () => {
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse((async function* () {
        throw new HttpError(404, 'no such export');
      })())));
      t.send('GET', '/');
      await turns(2);
      expect(t.fake.sent[0]).to.include({ status: 404, body: 'no such export' });
    });

    it('after the first chunk: errorRecord, then streamAbort; logged; onError then onClose(error)', async () => {
      const events: string[] = [];
      let finallyRan = false;
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse((async function* () {
        try {
          yield '{"n":1}\n';
          await turns(1);
          throw new Error('broke');
        } finally {
          finallyRan = true;
        }
      })(), {
        errorRecord: (e) => JSON.stringify({ error: (e as Error).message }) + '\n',
        onError: () => events.push('error'),
        onClose: (r) => events.push(`close:${r}`),
      })));
      const id = t.send('GET', '/');
      await until(() => events.includes('close:error'), 'close');
      const s = t.fake.streams.get(id)!;
      expect(s.calls.slice(-2)).to.deep.equal(['write', 'abort']);
      expect(t.fake.text(id)).to.equal('{"n":1}\n{"error":"broke"}\n');
      expect(s.endState).to.equal(StreamState.Errored);
      expect(events).to.deep.equal(['error', 'close:error']);
      expect(finallyRan).to.equal(true);
      expect(String(t.logged[0])).to.contain('broke');
      expect(t.fake.sent).to.have.length(0); // never a second status line
    });

    it('a chunk of the wrong type is a TypeError that errors the stream and cancels the source', async () => {
      let finallyRan = false;
      let err: unknown = null;
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(function* () {
        try {
          yield 'ok';
          yield 42;
        } finally {
          finallyRan = true;
        }
      }(), { flushHeaders: true, onError: (e) => (err = e) })));
      const id = t.send('GET', '/');
      await turns(2);
      expect(err).to.be.instanceOf(TypeError);
      expect(finallyRan).to.equal(true);
      expect(t.fake.streams.get(id)!.calls).to.include('abort');
    });

    it('Content-Length over-run: ELENGTH errors the stream', async () => {
      let err: unknown = null;
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(['12345', '678'], { contentLength: 6, onError: (e) => (err = e) })));
      const id = t.send('GET', '/');
      await turns(2);
      expect((err as { code: string }).code).to.equal('ELENGTH');
      expect(t.fake.streams.get(id)!.contentLength).to.equal(6);
      expect(t.fake.streams.get(id)!.calls.at(-1)).to.equal('abort');
    });
  });

  it('hooks fire in order: start, backpressure, drain, close(finished), each close exactly once', async () => {
    const events: string[] = [];
    const t = fakeApp(({ route }) => route('GET', '/', () => {
      const res = new StreamingResponse(['a'.repeat(60), 'b'.repeat(60)], {
        highWaterMark: 50,
        onStart: () => events.push('start'),
        onBackpressure: () => events.push('backpressure'),
        onDrain: () => events.push('drain'),
        onClose: (r) => events.push(`close:${r}`),
      });
      res.onClose((r, stats) => events.push(`listener:${r}:${stats.bytes}`));
      return res;
    }));
    const id = t.send('GET', '/');
    t.fake.drain(id);
    t.fake.drain(id);
    await turns(2);
    t.fake.disconnect(id); // after the end: no second close
    expect(events).to.deep.equal(['start', 'backpressure', 'drain', 'backpressure', 'drain', 'close:finished', 'listener:finished:120']);
  });

  it('HEAD: headers flushed, stream ended, the generator never advanced, a ReadableStream cancelled', async () => {
    let yields = 0;
    let cancelled = false;
    const t = fakeApp(({ route }) => {
      route('GET', '/gen', () => new StreamingResponse(function* () { yields++; yield 'x'; }()));
      route('GET', '/rs', () => new StreamingResponse(new ReadableStream({ pull(c) { c.enqueue('x'); }, cancel() { cancelled = true; } })));
    });
    const a = t.send('HEAD', '/gen');
    const b = t.send('HEAD', '/rs');
    await turns(2);
    for (const id of [a, b]) {
      const s = t.fake.streams.get(id)!;
      expect(s.flags & StreamFlags.FlushHeaders).to.equal(StreamFlags.FlushHeaders);
      expect(s.calls).to.deep.equal(['end']);
    }
    expect(yields).to.equal(0);
    expect(cancelled).to.equal(true);
  });

  it('flushHeaders starts the native stream before the first chunk', async () => {
    const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse((async function* () {
      await new Promise((r) => setTimeout(r, 20));
      yield 'late';
    })(), { flushHeaders: true, status: 201, headers: { 'X-Kept': 'Case' }, contentType: 'text/event-stream' })));
    const id = t.send('GET', '/');
    const s = t.fake.streams.get(id)!;
    expect(s.flags).to.equal(StreamFlags.FlushHeaders);
    expect(s.status).to.equal(201);
    expect(s.block).to.equal('X-Kept: Case\r\nContent-Type: text/event-stream\r\n');
    expect(s.calls).to.deep.equal([]);
    await until(() => s.calls.includes('end'), 'end');
  });

  it('resolves watermarks: response over route over app over defaults', () => {
    const t = fakeApp(({ route }) => {
      route('GET', '/default', () => new StreamingResponse(['x']));
      route('GET', '/route', () => new StreamingResponse(['x']), { highWaterMark: 4096, lowWaterMark: 1024 });
      route('GET', '/response', () => new StreamingResponse(['x'], { highWaterMark: 999, stallTimeout: 5 }), { highWaterMark: 4096 });
    }, { highWaterMark: 32768, stallTimeout: 100 });
    const ids = ['/default', '/route', '/response'].map((p) => t.send('GET', p));
    const got = ids.map((id) => { const s = t.fake.streams.get(id)!; return [s.hwm, s.lwm, s.stall]; });
    // a low watermark left above the high one is the core's to normalize (catzilla_stream_options_normalize)
    expect(got).to.deep.equal([[32768, 16384, 100], [4096, 1024, 100], [999, 16384, 5]]);
    const plain = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(['x'])));
    const s = plain.fake.streams.get(plain.send('GET', '/'))!;
    expect([s.hwm, s.lwm, s.stall]).to.deep.equal([65536, 16384, 60000]);
  });

  it('streams what a handler returns directly: async generator, Node Readable, generator object, ReadableStream', async () => {
    const t = fakeApp(({ route }) => {
      route('GET', '/agen', async () => (async function* () { yield 'a'; yield 'b'; })());
      route('GET', '/readable', () => Readable.from(['r1', 'r2']));
      route('GET', '/gen', () => (function* () { yield 'g'; })());
      route('GET', '/rs', () => new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('w')); c.close(); } }));
      route('GET', '/array', () => ['json', 'stays']);
    });
    const ids = ['/agen', '/readable', '/gen', '/rs', '/array'].map((p) => t.send('GET', p));
    await until(() => ids.slice(0, 4).every((id) => t.fake.streams.get(id)?.calls.includes('end')), 'all ended');
    expect(ids.slice(0, 4).map((id) => t.fake.text(id))).to.deep.equal(['ab', 'r1r2', 'g', 'w']);
    expect(t.fake.sent.find((s) => s.id === ids[4])!.body).to.equal('["json","stays"]');
  });

  it('a WHATWG Response: a complete body is buffered, a live ReadableStream body is streamed', async () => {
    let push!: (s: string) => void;
    const t = fakeApp(({ route }) => {
      route('GET', '/fixed', () => new Response('fixed body', { headers: { 'Content-Type': 'text/plain' } }));
      route('GET', '/live', () => new Response(new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode('first;'));
          push = (s) => (s === '' ? c.close() : c.enqueue(new TextEncoder().encode(s)));
        },
      }), { status: 202, headers: { 'X-A': '1' } }));
    });
    const fixed = t.send('GET', '/fixed');
    const live = t.send('GET', '/live');
    await until(() => t.fake.streams.get(live)?.chunks.length === 1, 'first chunk streamed before the body ends');
    push('second');
    push('');
    await until(() => t.fake.streams.get(live)!.calls.includes('end'), 'end');
    expect(t.fake.text(live)).to.equal('first;second');
    expect(t.fake.streams.get(live)!.status).to.equal(202);
    expect(t.fake.streams.get(live)!.block).to.equal('x-a: 1\r\n');
    const sent = t.fake.sent.find((s) => s.id === fixed)!;
    expect(Buffer.from(sent.body as Uint8Array).toString()).to.equal('fixed body');
    expect(t.fake.streams.has(fixed)).to.equal(false);
  });

  it('a response for a request whose client already left is released, never started', async () => {
    let cancelled = false;
    let closed: CloseReason | null = null;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = fakeApp(({ route }) => route('GET', '/', async () => {
      await gate;
      return new StreamingResponse(new ReadableStream({ cancel() { cancelled = true; } }), { onClose: (r) => (closed = r) });
    }));
    const id = t.send('GET', '/', '', RequestFlags.KeepAlive);
    t.fake.disconnect(id);
    release();
    await turns(2);
    expect(t.fake.streams.has(id)).to.equal(false);
    expect(cancelled).to.equal(true);
    expect(closed).to.equal('client-closed');
  });
});

describe('streaming: pump, a source that lends its memory (Puller.lend)', () => {
  /** Hands views of ONE buffer, scribbled at every pull, once lend() was called; copies otherwise. */
  class LendingPuller implements Puller {
    lent = false;
    private readonly buffer = Buffer.alloc(80 * 1024);
    private i = 0;
    constructor(
      private readonly sizes: number[],
      private readonly async: boolean,
    ) {}
    lend(): boolean {
      this.lent = true;
      return true;
    }
    pull(): PullResult | Promise<PullResult> {
      let r: PullResult;
      if (this.i >= this.sizes.length) r = { done: true, value: undefined };
      else {
        this.buffer.fill(0xee);
        const view = this.buffer.subarray(0, this.sizes[this.i]!).fill(letter(this.i++));
        r = { done: false, value: this.lent ? view : Buffer.from(view) };
      }
      return this.async ? Promise.resolve(r) : r;
    }
    cancel(): void {}
  }
  const letter = (i: number): number => 97 + (i % 26);
  // small ones batch, large ones pass the batch cap and the high watermark
  const sizes = Array.from({ length: 300 }, (_, i) => [1, 10, 5000, 20_000, 3, 70_000, 16_384, 100][i % 8]!);
  const expected = Buffer.concat(sizes.map((n, i) => Buffer.alloc(n, letter(i)))).toString('latin1');

  for (const async of [false, true]) {
    it(`${async ? 'async' : 'sync'}: every lent chunk is written with copy before the next pull, under backpressure too; bytes exact`, async () => {
      let puller: LendingPuller | null = null;
      const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(pullerSource((puller = new LendingPuller(sizes, async))), { highWaterMark: 32 * 1024, lowWaterMark: 8 * 1024 })));
      t.fake.autoDrain = true;
      const id = t.send('GET', '/');
      await until(() => t.fake.streams.get(id)?.calls.at(-1) === 'end', 'the stream ended');
      const s = t.fake.streams.get(id)!;
      expect(puller!.lent).to.equal(true);
      expect(Buffer.concat(s.chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))).toString('latin1') === expected, 'bytes on the wire').to.equal(true);
      expect(s.lentCopies).to.equal(sizes.length); // one native copy per lent chunk (none batched in JS)
    });
  }

  it('a mapped body (mapChunks) is never lent to: the source copies, the bytes are exact', async () => {
    let puller: LendingPuller | null = null;
    const t = fakeApp(({ route }) =>
      route('GET', '/', () => {
        const res = new StreamingResponse(pullerSource((puller = new LendingPuller(sizes.slice(0, 40), false))));
        res.mapChunks((c) => c);
        return res;
      }),
    );
    t.fake.autoDrain = true;
    const id = t.send('GET', '/');
    const s = t.fake.streams.get(id)!;
    await until(() => s.calls.at(-1) === 'end', 'the stream ended');
    expect(puller!.lent).to.equal(false);
    expect(s.lentCopies).to.equal(0);
    const want = Buffer.concat(sizes.slice(0, 40).map((n, i) => Buffer.alloc(n, letter(i)))).toString('latin1');
    expect(Buffer.concat(s.chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : c))).toString('latin1') === want).to.equal(true);
  });
});

describe('streaming: pump, a lent chunk held while blocked', () => {
  it('a lent chunk batched behind backpressure (idle flush over the mark while a pull waited) is written, with copy, before the next pull', async () => {
    // A string waits in the batch for the idle flush, which finds the stream over its mark while
    // the next (async) pull is pending; the lent view it brings stays batched (Blocked). On the
    // drain the pump must write it before it pulls again: the source refills the same memory.
    const buffer = Buffer.alloc(4);
    let n = 0;
    const puller: Puller = {
      lend: () => true,
      pull(): PullResult | Promise<PullResult> {
        n++;
        if (n === 1) return { done: false, value: 'head' };
        if (n === 2) return new Promise((resolve) => setTimeout(() => resolve({ done: false, value: buffer.fill('A').subarray(0, 4) }), 5));
        if (n === 3) return { done: false, value: buffer.fill('B').subarray(0, 4) };
        return { done: true, value: undefined };
      },
      cancel() {},
    };
    const written: string[] = [];
    let over = true;
    let ended = false;
    const owner: PumpOwner = {
      write(chunk, copy) {
        written.push(String(chunk) + (copy ? '(copy)' : ''));
        return !over;
      },
      writev(chunks, copy) {
        written.push(chunks.map(String).join('|') + (copy ? '(copy)' : ''));
        return !over;
      },
      writeFile: () => true,
      sourceEnded: () => void (ended = true),
      sourceFailed: (err) => {
        throw err;
      },
    };
    const pump = new Pump(puller, owner);
    pump.start();
    await new Promise((r) => setTimeout(r, 40));
    expect(n).to.equal(2); // blocked with the lent chunk: nothing more pulled
    over = false;
    pump.resume();
    await until(() => ended, 'the source ended');
    expect(written).to.deep.equal(['head', 'AAAA(copy)', 'BBBB(copy)']);
  });
});
