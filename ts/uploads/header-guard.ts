/**
 * Watches each part's header block as the body streams by, for what the parser does not check:
 * its size (`limits.headerSize`: 413; @fastify/busboy would cut a longer block short and go on)
 * and its syntax (a line that is not `name: value` or a folded continuation: 400; the parser
 * would skip the part without a word). It only looks for the delimiter (`\r\n--boundary`) with
 * Buffer#indexOf and, after one, for the blank line that ends the headers; the header bytes
 * themselves (at most the limit, at most 16 KiB) are the only bytes it copies. Inside a large
 * file it need not search at all: see inContent and skip().
 */

/** What push() found. */
export const enum GuardResult {
  Ok,
  /** A header block is longer than the limit. */
  TooLong,
  /** A header line is neither `token: value` nor a folded continuation. */
  Malformed,
}

/** RFC 9110 field-name (token) ':' optional whitespace, then field-value characters (HTAB, SP, VCHAR, obs-text). */
const FIELD_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*$/;
/** obs-fold: a continuation line starts with SP or HTAB. */
const FOLDED_LINE = /^[\t ][\t\x20-\x7e\x80-\xff]*$/;

export class HeaderGuard {
  private readonly delimiter: Buffer;
  /** In a header block: its bytes so far, or -1 while in a part's content. */
  private headerBytes = -1;
  /** The header block's bytes so far (the delimiter line's CRLF included). */
  private header: Buffer[] = [];
  /** The closing delimiter was seen: the rest is epilogue. */
  ended = false;
  /** The last bytes of the previous chunk, to find a delimiter or a blank line split across chunks. */
  private tail: Buffer;

  constructor(boundary: string, private readonly limit: number) {
    this.delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
    this.tail = Buffer.from('\r\n', 'latin1'); // the body may start with the delimiter minus its CRLF
  }

  /** Feeds a chunk. */
  push(chunk: Buffer): GuardResult {
    let pos = 0;
    while (pos < chunk.length && !this.ended) {
      if (this.headerBytes < 0) {
        const found = this.findDelimiter(chunk, pos);
        if (found === -1) {
          this.keepTail(chunk, this.delimiter.length - 1);
          return GuardResult.Ok;
        }
        pos = found;
        this.headerBytes = 0;
        this.tail = Buffer.alloc(0);
      } else {
        if (this.headerBytes === 0 && chunk[pos] === 0x2d /* '-' of the closing '--' */) {
          this.ended = true;
          return GuardResult.Ok;
        }
        const end = this.findBlankLine(chunk, pos);
        if (end === -1) {
          this.headerBytes += chunk.length - pos;
          if (this.headerBytes > this.limit + 4) return GuardResult.TooLong;
          this.header.push(Buffer.from(chunk.subarray(pos)));
          this.keepTail(chunk, 3);
          return GuardResult.Ok;
        }
        // Counted: the delimiter line's CRLF, the field lines and the blank line (4 bytes besides the fields).
        this.headerBytes += end - pos;
        if (this.headerBytes > this.limit + 4) return GuardResult.TooLong;
        this.header.push(chunk.subarray(pos, end));
        if (!this.headerValid()) return GuardResult.Malformed;
        this.headerBytes = -1;
        pos = end;
        this.tail = Buffer.alloc(0);
      }
    }
    return GuardResult.Ok;
  }

  /**
   * In a part's content: a next chunk the parser hands whole to the part in progress holds no
   * complete delimiter (one that ended in it would have ended the part: the bytes before it, plus
   * at most the delimiter's length less one held back from the chunk before, are fewer than the
   * chunk), so it need not be searched: skip().
   */
  get inContent(): boolean {
    return this.headerBytes < 0 && !this.ended;
  }

  /** A chunk known to hold no delimiter (the parser gave all of it to the part in progress). */
  skip(chunk: Buffer): void {
    this.keepTail(chunk, this.delimiter.length - 1);
  }

  /** The header block just completed: `[padding] CRLF *(line CRLF) CRLF` after the delimiter. */
  private headerValid(): boolean {
    const block = (this.header.length === 1 ? this.header[0]! : Buffer.concat(this.header)).toString('latin1');
    this.header = [];
    const start = block.indexOf('\r\n');
    // Transport padding (RFC 2046: spaces and tabs) may follow the boundary before its CRLF.
    if (start === -1 || !/^[\t ]*$/.test(block.slice(0, start))) return false;
    const fields = block.slice(start + 2, block.length - 4);
    if (fields.length === 0) return true; // a part without headers (the parser skips it)
    const lines = fields.split('\r\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (!(FIELD_LINE.test(line) || (i > 0 && FOLDED_LINE.test(line)))) return false;
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
