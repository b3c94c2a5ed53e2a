/**
 * A client that disconnects while its handler runs: req.signal aborts, server survives.
 */
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import { RawClient, deferred, requestBytes, within } from '../helpers/raw-client.js';
import { ALIVE_BODY, ALIVE_PATH, expectStillServing } from '../helpers/assertions.js';

describe('wire: client disconnect', () => {
  it('a slow async handler sees req.signal abort (event fires) when the client disconnects', async () => {
    const started = deferred<boolean>();
    const aborted = deferred<{ aborted: boolean; viaEvent: boolean }>();
    const finished = deferred<void>();
    await withApp(
      (app: any) => {
        app.get(ALIVE_PATH, () => ALIVE_BODY);
        app.get('/slow', async (req: any) => {
          started.resolve(req.signal.aborted);
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 5000);
            req.signal.addEventListener('abort', () => {
              clearTimeout(timer);
              aborted.resolve({ aborted: req.signal.aborted, viaEvent: true });
              resolve();
            });
          });
          finished.resolve();
          // The response goes nowhere; the server must drop it without crashing.
          return 'too late';
        });
      },
      async ({ port }) => {
        const client = await RawClient.connect(port);
        await client.send(requestBytes({ path: '/slow' }));
        const abortedAtStart = await within(started.promise, 5000, 'the handler to start');
        expect(abortedAtStart, 'signal is not aborted while the client is connected').to.equal(false);
        client.destroy();
        const seen = await within(aborted.promise, 5000, 'req.signal abort event');
        expect(seen).to.deep.equal({ aborted: true, viaEvent: true });
        await within(finished.promise, 5000, 'the handler to finish');
        await expectStillServing(port);
      },
    );
  });

  it('a client that disconnects while sending a body aborts the handler\'s body read', async () => {
    const outcome = deferred<string>();
    await withApp(
      (app: any) => {
        app.get(ALIVE_PATH, () => ALIVE_BODY);
        app.post('/upload', async (req: any) => {
          try {
            await req.text();
            outcome.resolve('completed');
          } catch (err) {
            outcome.resolve(`rejected aborted=${req.signal.aborted}`);
          }
          return 'x';
        });
      },
      async ({ port }) => {
        const client = await RawClient.connect(port);
        await client.send('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly some bytes');
        await new Promise((r) => setTimeout(r, 50));
        client.destroy();
        expect(await within(outcome.promise, 5000, 'the body read to settle')).to.equal('rejected aborted=true');
        await expectStillServing(port);
      },
    );
  });

  it('a client that disconnects with pipelined requests queued behind a slow one: server survives', async () => {
    const started = deferred<void>();
    const aborted = deferred<boolean>();
    await withApp(
      (app: any) => {
        app.get(ALIVE_PATH, () => ALIVE_BODY);
        app.get('/slow', async (req: any) => {
          started.resolve();
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 5000);
            req.signal.addEventListener('abort', () => {
              clearTimeout(timer);
              aborted.resolve(req.signal.aborted);
              resolve();
            });
          });
          return 'slow';
        });
        app.get('/later', () => 'later');
      },
      async ({ port }) => {
        const client = await RawClient.connect(port);
        await client.send(Buffer.concat([requestBytes({ path: '/slow' }), requestBytes({ path: '/later' }), requestBytes({ path: '/later' })]));
        await within(started.promise, 5000, 'the slow handler to start');
        client.destroy();
        expect(await within(aborted.promise, 5000, 'the abort')).to.equal(true);
        await expectStillServing(port);
      },
    );
  });

  it('a client that resets the connection in the middle of a large response: server survives', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
    await withApp(
      (app: any) => {
        app.get(ALIVE_PATH, () => ALIVE_BODY);
        app.get('/big', () => big);
      },
      async ({ port, app }) => {
        for (let i = 0; i < 5; i++) {
          const client = await RawClient.connect(port);
          await client.send(requestBytes({ path: '/big' }));
          await client.waitForBytes(64 * 1024);
          client.socket.resetAndDestroy();
        }
        await expectStillServing(port);
        const deadline = Date.now() + 5000;
        while (app.stats().connectionsActive > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(app.stats().connectionsActive, 'reset connections are released').to.equal(0);
      },
    );
  });
});
