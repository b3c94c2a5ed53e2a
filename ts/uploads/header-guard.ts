/**
 * Measures each part's header block as the body streams by, so that `limits.headerSize` answers
 * 413 (busboy has a fixed 16 KiB bound and calls anything longer malformed). It only looks for
 * the delimiter (`\r\n--boundary`) with Buffer#indexOf and, after one, for the blank line that
 * ends the headers: it never copies a chunk (only a few bytes carried across chunk edges).
 */
export class HeaderGuard {
  private readonly delimiter: Buffer;
  /** In a header block: its bytes so far, or -1 while in a part's content. */
  private headerBytes = -1;
  /** The closing delimiter was seen: the rest is epilogue. */
  ended = false;
  /** The last bytes of the previous chunk, to find a delimiter or a blank line split across chunks. */
  private tail: Buffer;

  constructor(boundary: string, private readonly limit: number) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    this.tail = Buffer.from('\r\n', 'latin1'); // the body may start with the delimiter minus its CRLF
  }

  /** Feeds a chunk; false when a header block is longer than the limit. */
  push(chunk: Buffer): boolean {
    let pos = 0;
    while (pos < chunk.length && !this.ended) {
      if (this.headerBytes < 0) {
        const found = this.findDelimiter(chunk, pos);
        if (found === -1) {
          this.keepTail(chunk, this.delimiter.length - 1);
          return true;
        }
        pos = found;
        this.headerBytes = 0;
        this.tail = Buffer.alloc(0);
      } else {
        if (this.headerBytes === 0 && chunk[pos] === 0x2d /* '-' of the closing '--' */) {
          this.ended = true;
          return true;
        }
        const end = this.findBlankLine(chunk, pos);
        if (end === -1) {
          this.headerBytes += chunk.length - pos;
          if (this.headerBytes > this.limit + 4) return false;
          this.keepTail(chunk, 3);
          return true;
        }
        // Counted: the delimiter line's CRLF, the field lines and the blank line (4 bytes besides the fields).
        this.headerBytes += end - pos;
        if (this.headerBytes > this.limit + 4) return false;
        this.headerBytes = -1;
        pos = end;
        this.tail = Buffer.alloc(0);
      }
    }
    return true;
  }

  /** Index just after the delimiter at or after `pos` (also one split with the previous chunk), or -1. */
  private findDelimiter(chunk: Buffer, pos: number): number {
    const d = this.delimiter;
    if (pos === 0 && this.tail.length > 0) {
      const edge = Buffer.concat([this.tail, chunk.subarray(0, d.length - 1)]);
      const at = edge.indexOf(d);
      if (at !== -1) return at + d.length - this.tail.length;
    }
    const at = chunk.indexOf(d, pos);
    return at === -1 ? -1 : at + d.length;
  }

  /** Index just after the CRLFCRLF at or after `pos` (also one split with the previous chunk), or -1. */
  private findBlankLine(chunk: Buffer, pos: number): number {
    if (pos === 0 && this.tail.length > 0) {
      const edge = Buffer.concat([this.tail, chunk.subarray(0, 3)]);
      const at = edge.indexOf('\r\n\r\n', 0, 'latin1');
      if (at !== -1) return at + 4 - this.tail.length;
    }
    const at = chunk.indexOf('\r\n\r\n', pos, 'latin1');
    return at === -1 ? -1 : at + 4;
  }

  private keepTail(chunk: Buffer, n: number): void {
    const from = Math.max(0, chunk.length - n);
    this.tail = chunk.length - from >= n ? Buffer.from(chunk.subarray(from)) : Buffer.concat([this.tail, chunk]).subarray(-n);
  }
}
