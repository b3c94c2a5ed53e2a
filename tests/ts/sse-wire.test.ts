/**
 * sse() over the wire: headers flushed at once with a first comment, events as they
 * are produced, heartbeats on idle streams, Last-Event-ID reaching the handler, the
 * iterable form, and a throwing handler aborting the stream.
 */
import { expect } from 'chai';
import { sse, type SSEStream } from '../../ts/index.js';
import { deferred, RawClient, requestBytes, sleep } from '../helpers/raw-client.js';
import { connectSSE } from '../helpers/sse-client.js';
import { withApp } from '../helpers/with-app.js';

describe('sse: responses on the wire', () => {
  it('sends the SSE headers and the first comment before any event is produced', async () => {
    const gate = deferred();
    await withApp((app) => {
      app.get('/events', (req) => sse(req, async (stream) => {
        await gate.promise;
        await stream.send({ event: 'late', data: 'x' });
      }));
    }, async ({ base }) => {
      const conn = await connectSSE(`${base}/events`);
      expect(conn.status).to.equal(200);
      expect(conn.headers['content-type']).to.equal('text/event-stream');
      expect(conn.headers['cache-control']).to.equal('no-cache, no-transform');
      expect(conn.headers['x-accel-buffering']).to.equal('no');
      await conn.waitComments(1);
      expect(conn.text()).to.equal(': ok\n\n');
      expect(conn.parser.events).to.have.length(0);
      gate.resolve();
      const [ev] = await conn.waitEvents(1);
      expect(ev).to.deep.include({ event: 'late', data: 'x' });
      await conn.waitEnd();
    });
  });

  it('delivers each event before the next one is produced (client acknowledges each)', async () => {
    const acks: Array<ReturnType<typeof deferred>> = Array.from({ length: 5 }, () => deferred());
    await withApp((app) => {
      app.get('/events', (req) => sse(req, async (stream) => {
        for (let i = 0; i < 5; i++) {
          await stream.send({ id: i, data: `event ${i}` });
          await acks[i]!.promise;
        }
      }));
    }, async ({ base }) => {
      const conn = await connectSSE(`${base}/events`);
      for (let i = 0; i < 5; i++) {
        const events = await conn.waitEvents(i + 1);
        expect(events[i]).to.deep.equal({ event: 'message', data: `event ${i}`, id: String(i), retry: null });
        acks[i]!.resolve();
      }
      await conn.waitEnd();
    });
  });

  it('passes Last-Event-ID (header, or lastEventId query) to the handler', async () => {
    await withApp((app) => {
      app.get('/events', (req) => sse(req, async (stream: SSEStream) => {
        await stream.send({ data: String(stream.lastEventId) });
      }));
    }, async ({ base }) => {
      const a = await connectSSE(`${base}/events`, { 'Last-Event-ID': '42' });
      expect((await a.waitEvents(1))[0]!.data).to.equal('42');
      const b = await connectSSE(`${base}/events?lastEventId=17`);
      expect((await b.waitEvents(1))[0]!.data).to.equal('17');
      const c = await connectSSE(`${base}/events`);
      expect((await c.waitEvents(1))[0]!.data).to.equal('null');
    });
  });

  it('sends heartbeat comments on an idle stream, and none when turned off', async () => {
    await withApp((app) => {
      app.get('/beat', (req) => sse(req, (stream) => new Promise<void>((resolve) => stream.signal.addEventListener('abort', () => resolve())), { heartbeat: 30, comment: 'hello' }));
      app.get('/quiet', (req) => sse(req, async (stream) => {
        await sleep(200);
        await stream.send('done');
      }, { heartbeat: 0 }));
    }, async ({ base }) => {
      const beat = await connectSSE(`${base}/beat`);
      const comments = await beat.waitComments(3);
      expect(comments[0]).to.equal('hello');
      expect(comments.slice(1)).to.deep.equal(['', '']);
      beat.close();
      const quiet = await connectSSE(`${base}/quiet`);
      await quiet.waitEnd();
      expect(quiet.parser.comments).to.deep.equal(['ok']);
      expect(quiet.parser.events.map((e) => e.data)).to.deep.equal(['done']);
    });
  });

  it('streams an async iterable of events, with retry first and no first comment', async () => {
    async function* events() {
      yield { event: 'a', data: 'line1\nline2' };
      yield 'plain';
      yield { id: 'x-1', data: { n: 1 } };
    }
    await withApp((app) => {
      app.get('/it', () => sse(events(), { retry: 2500, comment: null }));
    }, async ({ base }) => {
      const conn = await connectSSE(`${base}/it`);
      await conn.waitEnd();
      expect(conn.text()).to.equal('retry: 2500\n\nevent: a\ndata: line1\ndata: line2\n\ndata: plain\n\nid: x-1\ndata: {"n":1}\n\n');
      expect(conn.parser.events.map((e) => e.data)).to.deep.equal(['line1\nline2', 'plain', '{"n":1}']);
    });
  });

  it('rejects an event name with a newline in send(), and a throwing handler aborts without the chunked terminator', async () => {
    let sendError: unknown = null;
    const seen = deferred();
    await withApp((app) => {
      app.get('/bad', (req) => sse(req, async (stream) => {
        try {
          await stream.send({ event: 'x\ny', data: 'z' });
        } catch (err) {
          sendError = err;
        }
        await stream.send('before');
        await seen.promise; // bytes on the wire first: a failure before any byte would be a 500
        throw new Error('boom');
      }));
    }, async ({ port, logged }) => {
      const client = await RawClient.connect(port);
      await client.send(requestBytes({ path: '/bad' }));
      await client.until(() => client.buffer.includes('data: before'), 'the first event');
      seen.resolve();
      await client.waitForClose();
      const text = client.buffer.toString('latin1');
      expect(text).to.include('data: before');
      expect(text.endsWith('0\r\n\r\n')).to.equal(false);
      expect(sendError).to.be.instanceOf(TypeError);
      expect(String(logged.flat().join(' '))).to.include('boom');
    });
  });

  it('the handler sees the client leave: send() rejects with ECLOSED and the signal aborts', async () => {
    const left = deferred<string>();
    await withApp((app) => {
      app.get('/leave', (req) => sse(req, async (stream) => {
        await new Promise<void>((resolve) => stream.signal.addEventListener('abort', () => resolve()));
        try {
          for (let i = 0; i < 100; i++) await stream.send('after');
          left.resolve('no error');
        } catch (err) {
          left.resolve((err as { code?: string }).code ?? String(err));
        }
      }, { heartbeat: 0 }));
    }, async ({ base }) => {
      const conn = await connectSSE(`${base}/leave`);
      await conn.waitComments(1);
      conn.close();
      expect(await left.promise).to.equal('ECLOSED');
    });
  });
});
