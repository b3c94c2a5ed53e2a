/**
 * Slow readers of fresh 64 KiB chunks: the core references chunks of 4 KiB and more instead of
 * copying them, so they stay alive until the socket took them. What a stalled stream keeps alive
 * must stay bounded by its high watermark: once the clients stop reading and the kernel buffers
 * are full, only about one high watermark of chunks per stream survives a full GC (counted with
 * a FinalizationRegistry), however many the generators made.
 */
import { expect } from 'chai';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { StreamingResponse } from '../../ts/index.js';
import { withApp } from '../helpers/with-app.js';

const CHUNK = 64 * 1024;
const READERS = 4;
const HWM = 64 * 1024;

describe('slow readers: chunks referenced until written stay bounded', () => {
  it('keeps about one high watermark of fresh chunks alive per stalled stream', async function () {
    this.timeout(20_000);
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    let made = 0;
    let collected = 0;
    const registry = new FinalizationRegistry<void>(() => collected++);
    const template = Buffer.alloc(CHUNK, 97);
    const sockets: net.Socket[] = [];
    await withApp((app) => {
      app.get('/bulk', () => new StreamingResponse(function* () {
        for (let i = 0; i < 4096; i++) { // 256 MiB at most: the readers stall long before
          const chunk = Buffer.from(template);
          registry.register(chunk, undefined);
          made++;
          yield chunk;
        }
      }(), { highWaterMark: HWM }));
    }, async ({ port }) => {
      for (let i = 0; i < READERS; i++) {
        const s = net.connect(port, '127.0.0.1');
        s.write('GET /bulk HTTP/1.1\r\nHost: t\r\n\r\n');
        s.once('data', () => s.pause()); // the head, then the client stops reading
        sockets.push(s);
      }
      // wait until the producers stopped (kernel buffers full, streams backpressured)
      let last = -1;
      for (let i = 0; i < 200 && made !== last; i++) {
        last = made;
        await new Promise<void>((resolve) => setTimeout(resolve, 50));
      }
      expect(made).to.be.greaterThan(READERS * 4); // the kernel took several chunks per stream
      for (let i = 0; i < 10; i++) {
        gc();
        await new Promise<void>((resolve) => setTimeout(resolve, 10));
      }
      const alive = made - collected;
      // per stream: what the core holds (up to the high watermark: one 64 KiB chunk) and the
      // chunk the pump took past it; nothing else keeps a chunk
      expect(alive, `${made} made, ${collected} collected`).to.be.at.most(READERS * (HWM / CHUNK + 1));
      for (const s of sockets) s.destroy();
    });
  });
});
