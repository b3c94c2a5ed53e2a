/**
 * The writer form (`stream(async (writer) => ...)`, `await using`) and middleware
 * over streaming responses, against the fake native server.
 */
import { expect } from 'chai';
import { StreamState } from '../../ts/native.js';
import { HttpResponse } from '../../ts/response.js';
import { StreamingResponse, stream, type CloseReason, type StreamingWriter } from '../../ts/streaming/index.js';
import { fakeApp, turns, until } from '../helpers/fake-native.js';

describe('streaming: writer', () => {
  it('write() resolves at once under the watermark and on drain over it; close() ends the stream', async () => {
    const steps: string[] = [];
    let closedAfter: boolean | null = null;
    const t = fakeApp(({ route }) => route('GET', '/', () => stream(async (w) => {
      await w.write('0123456789');
      steps.push('w1');
      await w.write('0123456789'); // crosses the mark of 15: resolves on drain
      steps.push('w2');
      await w.writeLine('end');
      await w.close();
      closedAfter = w.closed;
    }, { highWaterMark: 15 })));
    const id = t.send('GET', '/');
    await turns(2);
    expect(steps).to.deep.equal(['w1']);
    t.fake.drain(id);
    await until(() => closedAfter !== null, 'close resolved');
    expect(steps).to.deep.equal(['w1', 'w2']);
    expect(t.fake.text(id)).to.equal('01234567890123456789end\n');
    expect(t.fake.streams.get(id)!.endState).to.equal(StreamState.Finished);
  });

  it('closes when the callback resolves; writelines joins lines into few writes', async () => {
    const t = fakeApp(({ route }) => route('GET', '/', () => stream(async (w) => {
      await w.writelines((function* () { for (let i = 0; i < 100; i++) yield `{"i":${i}}`; })());
    })));
    const id = t.send('GET', '/');
    await until(() => t.fake.streams.get(id)?.calls.includes('end') === true, 'end');
    expect(t.fake.text(id).split('\n')).to.have.length(101);
    expect(t.fake.streams.get(id)!.calls).to.deep.equal(['write', 'end']);
  });

  it('await using: closes on scope exit; aborts (after the first chunk) when the scope threw', async () => {
    const closes: CloseReason[] = [];
    const t = fakeApp(({ route }) => {
      route('GET', '/ok', () => stream(async (writer) => {
        await using w = writer;
        await w.write('fine');
      }, { onClose: (r) => closes.push(r) }));
      route('GET', '/throw', () => stream(async (writer) => {
        await using w = writer;
        await w.write('partial');
        throw new Error('scope failed');
      }, { onClose: (r) => closes.push(r) }));
    });
    const ok = t.send('GET', '/ok');
    const bad = t.send('GET', '/throw');
    await until(() => closes.length === 2, 'both closed');
    expect(t.fake.streams.get(ok)!.calls).to.deep.equal(['write', 'end']);
    expect(t.fake.streams.get(bad)!.calls).to.deep.equal(['write', 'abort']);
    expect(closes.sort()).to.deep.equal(['error', 'finished']);
    expect(String(t.logged[0])).to.contain('scope failed');
  });

  it('a callback that throws before writing answers 500; abort(err) after writing truncates', async () => {
    const t = fakeApp(({ route }) => {
      route('GET', '/early', () => stream(async () => { throw new Error('early'); }));
      route('GET', '/late', () => stream(async (w) => {
        await w.write('{"a":1}\n');
        try {
          throw new Error('query failed');
        } catch (err) {
          await w.write(JSON.stringify({ error: (err as Error).message }) + '\n');
          w.abort(err);
        }
        expect(w.aborted).to.equal(true);
        await w.write('more').then(() => { throw new Error('write after abort resolved'); }, (e) => expect(e.code).to.equal('ECLOSED'));
      }));
    });
    const early = t.send('GET', '/early');
    const late = t.send('GET', '/late');
    await until(() => t.fake.streams.get(late)?.endState != null && t.fake.sent.length === 1, 'both done');
    expect(t.fake.sent[0]).to.include({ id: early, status: 500 });
    expect(t.fake.text(late)).to.equal('{"a":1}\n{"error":"query failed"}\n');
    expect(t.fake.streams.get(late)!.calls.at(-1)).to.equal('abort');
  });

  it('client gone: signal aborts, pending and later writes reject with ECLOSED, nothing logged', async () => {
    let writer!: StreamingWriter;
    const results: string[] = [];
    let closed: CloseReason | null = null;
    const t = fakeApp(({ route }) => route('GET', '/', () => stream(async (w) => {
      writer = w;
      await w.write('x'.repeat(100)); // over the mark: waits for a drain that never comes
    }, { highWaterMark: 10, onClose: (r) => (closed = r) })));
    const id = t.send('GET', '/');
    await turns(1);
    const pending = writer.write('y').then(() => 'resolved', (e) => e.code);
    t.fake.disconnect(id);
    results.push(await pending);
    results.push(await writer.write('z').then(() => 'resolved', (e) => e.code));
    expect(results).to.deep.equal(['ECLOSED', 'ECLOSED']);
    expect(writer.signal.aborted).to.equal(true);
    expect(writer.aborted).to.equal(true);
    expect(closed).to.equal('client-closed');
    await turns(2);
    expect(t.logged).to.deep.equal([]);
  });

  it('exposes live stats, then the final snapshot; rejects bad chunks with a TypeError', async () => {
    let writer!: StreamingWriter;
    let live = -1;
    let typeError: unknown = null;
    const t = fakeApp(({ route }) => route('GET', '/', () => stream(async (w) => {
      writer = w;
      await w.write('abc');
      live = w.stats.bytes;
      await w.write(42 as unknown as string).catch((e) => (typeError = e));
    })));
    t.send('GET', '/');
    await until(() => writer?.closed === true && writer.stats.state === StreamState.Finished, 'finished');
    expect(live).to.equal(3);
    expect(writer.stats.bytes).to.equal(3);
    expect(typeError).to.be.instanceOf(TypeError);
  });
});

describe('streaming: middleware', () => {
  it('sees a StreamingResponse from next(): counts bytes, rewrites chunks, observes completion', async () => {
    const seen: string[] = [];
    let counted = 0;
    const t = fakeApp(({ route, use }) => {
      use(async (_req, next) => {
        const res = await next();
        if (res instanceof StreamingResponse) {
          res.mapChunks((c) => { counted += Buffer.byteLength(c as string); return c; });
          res.onClose((reason, stats) => seen.push(`${reason}:${stats.bytes}`));
        }
        return res;
      });
      use(async (_req, next) => {
        const res = await next();
        if (res instanceof StreamingResponse) res.mapChunks((c) => (typeof c === 'string' ? c.toUpperCase() : c));
        return res;
      });
      route('GET', '/', () => new StreamingResponse(function* () { yield 'abc'; yield 'def'; }()));
    });
    const id = t.send('GET', '/');
    await until(() => seen.length === 1, 'onClose');
    expect(t.fake.text(id)).to.equal('ABCDEF');
    expect(counted).to.equal(6);
    expect(seen).to.deep.equal(['finished:6']);
  });

  it('transformBody wraps the chunk sequence (also of a writer-form stream) and sees the disconnect', async () => {
    const t = fakeApp(({ route, use }) => {
      use(async (_req, next) => {
        const res = await next();
        if (res instanceof StreamingResponse) {
          res.transformBody(async function* (chunks) {
            yield '[';
            let first = true;
            for await (const c of chunks) {
              yield (first ? '' : ',') + String(c);
              first = false;
            }
            yield ']';
          });
        }
        return res;
      });
      route('GET', '/gen', () => new StreamingResponse(['1', '2', '3']));
      route('GET', '/writer', () => stream(async (w) => { await w.write('4'); await w.write('5'); }));
    });
    const a = t.send('GET', '/gen');
    const b = t.send('GET', '/writer');
    await until(() => [a, b].every((id) => t.fake.streams.get(id)?.calls.includes('end')), 'ends');
    expect(t.fake.text(a)).to.equal('[1,2,3]');
    expect(t.fake.text(b)).to.equal('[4,5]');
  });

  it('a middleware replacing a streaming response releases its source', async () => {
    let cancelled = false;
    const t = fakeApp(({ route, use }) => {
      use(async (_req, next) => {
        await next();
        return new HttpResponse('replaced');
      });
      route('GET', '/', () => new StreamingResponse(new ReadableStream({ cancel() { cancelled = true; } })));
    });
    t.send('GET', '/');
    await turns(3);
    expect(t.fake.sent[0]!.body).to.equal('replaced');
    expect(cancelled).to.equal(true);
  });
});
