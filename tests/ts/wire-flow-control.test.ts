/**
 * Flow control on the wire: a handler that does not read its body makes the core
 * stop reading the socket, so the client's writes stall instead of the server
 * buffering the whole body; reading again resumes and every byte arrives.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import { RawClient, deferred, requestBytes, within } from '../helpers/raw-client.js';

const SIZE = 32 * 1024 * 1024;
const PIECE = 256 * 1024;

describe('wire: request body flow control', () => {
  it('an unread 32 MiB body stalls the client instead of being buffered, then completes exactly', async () => {
    const body = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i += 4096) body.writeUInt32BE(i, i);
    const entered = deferred();
    const release = deferred();
    await withApp(
      (app: any) => {
        app.post('/held', async (req: any) => {
          entered.resolve();
          await release.promise;
          const hash = createHash('sha256');
          let bytes = 0;
          for await (const chunk of req) {
            hash.update(chunk);
            bytes += chunk.length;
          }
          return { bytes, sha256: hash.digest('hex') };
        });
      },
      async ({ port, app }) => {
        const client = await RawClient.connect(port);
        try {
          await client.send(requestBytes({ method: 'POST', path: '/held', headers: [['Content-Length', String(SIZE)]] }));
          await within(entered.promise, 5000, 'the handler to start');
          // Write until a write has not completed for 500 ms (the kernel buffers are full
          // because the server stopped reading), bounded by the body size.
          let off = 0;
          let stalledAt = -1;
          let pending: Promise<void> | null = null;
          while (off < SIZE) {
            pending = client.send(body.subarray(off, off + PIECE));
            off += PIECE;
            const done = await Promise.race([pending.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 500))]);
            if (!done) {
              stalledAt = off;
              break;
            }
          }
          const readWhileHeld = app.stats().bytesRead;
          expect(stalledAt, 'the client never stalled: the server read the whole unread body').to.be.greaterThan(0);
          expect(readWhileHeld, `server read ${readWhileHeld} bytes of an unread ${SIZE}-byte body`).to.be.below(SIZE / 2);
          release.resolve();
          await pending;
          for (; off < SIZE; off += PIECE) await client.send(body.subarray(off, off + PIECE));
          const r = await client.readResponse({ timeoutMs: 15_000 });
          expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
          expect(JSON.parse(r.text())).to.deep.equal({ bytes: SIZE, sha256: createHash('sha256').update(body).digest('hex') });
        } finally {
          release.resolve();
          client.destroy();
        }
      },
      { maxBodySize: 64 * 1024 * 1024 } as any,
    );
  });
});
