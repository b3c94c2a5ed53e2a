/**
 * A byte-by-byte chunked-body decoder for wire tests: it reports every chunk size as
 * framed on the wire, whether the terminator `0\r\n\r\n` arrived, and any byte after it.
 */
export interface ChunkedBody {
  sizes: number[];
  body: Buffer;
  /** The last-chunk and the empty trailer section were seen. */
  terminated: boolean;
  /** Bytes after the terminator (should be none). */
  trailing: Buffer;
  /** Bytes that are not a complete chunk (a truncated body). */
  partial: Buffer;
}

export function decodeChunked(buf: Buffer): ChunkedBody {
  const sizes: number[] = [];
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    let sizeEnd = pos;
    while (sizeEnd < buf.length && buf[sizeEnd] !== 0x0d) {
      const c = buf[sizeEnd]!;
      const hex = (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
      if (!hex) throw new Error(`bad chunk size byte 0x${c.toString(16)} at ${sizeEnd}: ${JSON.stringify(buf.toString('latin1', pos, pos + 40))}`);
      sizeEnd++;
    }
    if (sizeEnd + 1 >= buf.length) break; // size line incomplete
    if (buf[sizeEnd + 1] !== 0x0a) throw new Error(`chunk size line not ended by CRLF at ${sizeEnd}`);
    if (sizeEnd === pos) throw new Error(`empty chunk size at ${pos}`);
    const size = parseInt(buf.toString('latin1', pos, sizeEnd), 16);
    const dataStart = sizeEnd + 2;
    if (size === 0) {
      if (buf.length >= dataStart + 2 && buf[dataStart] === 0x0d && buf[dataStart + 1] === 0x0a) {
        return { sizes, body: Buffer.concat(parts), terminated: true, trailing: buf.subarray(dataStart + 2), partial: Buffer.alloc(0) };
      }
      break;
    }
    if (buf.length < dataStart + size + 2) break; // chunk incomplete
    if (buf[dataStart + size] !== 0x0d || buf[dataStart + size + 1] !== 0x0a) throw new Error(`chunk of ${size} bytes at ${pos} not followed by CRLF`);
    sizes.push(size);
    parts.push(buf.subarray(dataStart, dataStart + size));
    pos = dataStart + size + 2;
  }
  return { sizes, body: Buffer.concat(parts), terminated: false, trailing: Buffer.alloc(0), partial: buf.subarray(pos) };
}

/** Index just after the response head (`\r\n\r\n`), or -1. */
export function headEnd(buf: Buffer, from = 0): number {
  const i = buf.indexOf('\r\n\r\n', from, 'latin1');
  return i < 0 ? -1 : i + 4;
}
