/**
 * Issue 12, item 10: a compressed stream must not starve next to plain ones. Each write to zlib is
 * a round trip through the thread pool, which costs the stream a loop turn while a plain stream
 * moves a whole slice per turn; so the share of the loop a compressed stream gets is set by how
 * many bytes one round trip carries. This checks that mechanism without timing anything (the time
 * figures are bench workload `gzip-fair`): the round trips per MiB of a fast source, counted at the
 * encoder. With the former 16 KiB batches 4 MiB took 256 writes; it must take about 32.
 */
import { expect } from 'chai';
import zlib from 'node:zlib';
import { CompressedStream } from '../../ts/compression/stream.js';
import { emptyCompressionStats, type StreamCompressionStats } from '../../ts/compression/stats.js';

function counted(): { open: () => { encoder: zlib.Gzip; flushKind: number }; writes: () => number } {
  let writes = 0;
  return {
    open: () => {
      const encoder = zlib.createGzip({ level: 1 });
      const write = encoder.write.bind(encoder) as (chunk: Buffer) => boolean;
      (encoder as unknown as { write: (chunk: Buffer) => boolean }).write = (chunk: Buffer) => {
        writes++;
        return write(chunk);
      };
      return { encoder, flushKind: zlib.constants.Z_SYNC_FLUSH };
    },
    writes: () => writes,
  };
}

function streamStats(): StreamCompressionStats {
  return { encoding: 'gzip', bytesIn: 0, bytesOut: 0, flushes: 0, memory: 0, active: true };
}

async function* rows(total: number, size: number): AsyncGenerator<Buffer> {
  const row = Buffer.alloc(size, 'x');
  row[size - 1] = 0x0a;
  for (let sent = 0; sent < total; sent += size) yield row;
}

describe('compression: a fair share of the loop', () => {
  for (const [label, source] of [
    ['1 KiB rows', () => rows(4 << 20, 1024)],
    ['64-byte rows', () => rows(4 << 20, 64)],
  ] as const) {
    it(`a fast source of ${label} reaches zlib in batches of about 128 KiB (few thread-pool round trips per MiB)`, async () => {
      const { open, writes } = counted();
      const totals = emptyCompressionStats();
      // a flush window longer than the test, so only the batching decides the writes
      const stream = new CompressedStream(source(), open, 60_000, streamStats(), totals, totals.byEncoding.gzip);
      const out: Buffer[] = [];
      for await (const piece of stream) out.push(piece);
      const body = zlib.gunzipSync(Buffer.concat(out));
      expect(body.length).to.equal(4 << 20);
      expect(body.every((b, i) => b === ((i + 1) % (label.startsWith('1') ? 1024 : 64) === 0 ? 0x0a : 0x78))).to.equal(true);
      // 4 MiB / 128 KiB = 32 batches (+1 for the rest at the end); 16 KiB batches made 256
      expect(writes()).to.be.within(30, 40);
    });
  }
});
