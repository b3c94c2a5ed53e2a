/**
 * A minimal, strict HTTP/1.1 response parser for wire tests.
 *
 * It understands Content-Length, chunked and close-delimited bodies, bodiless
 * statuses (1xx, 204, 304) and HEAD, and it throws on anything a careful client
 * would reject: bare LF, obs-fold, bad header names, both framings at once,
 * several Content-Length fields, malformed chunk sizes.
 */

export class WireParseError extends Error {
  constructor(message: string, readonly bytes: Buffer) {
    super(`${message}; bytes: ${JSON.stringify(bytes.toString('latin1').slice(0, 400))}`);
    this.name = 'WireParseError';
  }
}

export interface ParsedResponse {
  version: string;
  status: number;
  reason: string;
  /** The status line without CRLF, e.g. `HTTP/1.1 200 OK`. */
  statusLine: string;
  /** Header fields in wire order, names with the case sent. */
  headers: Array<[string, string]>;
  /** The raw head (status line + fields + final CRLF), latin1. */
  head: string;
  body: Buffer;
  /** Every byte of this response on the wire. */
  raw: Buffer;
  chunked: boolean;
  /** The body ran until the connection closed (no Content-Length, no chunked). */
  closeDelimited: boolean;
  /** Values of a header (case-insensitive name), in order. */
  all(name: string): string[];
  /** A header's value (case-insensitive), fields joined with ", ", or undefined. */
  get(name: string): string | undefined;
  /** Field names exactly as sent for a header (case-insensitive lookup). */
  namesAsSent(name: string): string[];
  text(): string;
}

export interface ParseOptions {
  /** The request method this response answers (HEAD has no body). */
  method?: string;
  /** The peer closed: a response without framing ends at the end of the buffer. */
  eof?: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^(HTTP\/1\.[01]) ([1-9]\d\d) ([\t \x21-\x7e\x80-\xff]*)$/;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

function makeResponse(fields: Omit<ParsedResponse, 'all' | 'get' | 'namesAsSent' | 'text'>): ParsedResponse {
  return {
    ...fields,
    all(name) {
      const lower = name.toLowerCase();
      return this.headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v);
    },
    get(name) {
      const values = this.all(name);
      return values.length ? values.join(', ') : undefined;
    },
    namesAsSent(name) {
      const lower = name.toLowerCase();
      return this.headers.filter(([n]) => n.toLowerCase() === lower).map(([n]) => n);
    },
    text() {
      return this.body.toString('utf8');
    },
  };
}

/**
 * Parse one response starting at `start`. Returns the response and the offset just
 * after it, or null when more bytes are needed. Throws WireParseError on bad bytes.
 */
export function parseResponse(
  buf: Buffer,
  start: number,
  opts: ParseOptions = {},
): { response: ParsedResponse; next: number } | null {
  const headEnd = buf.indexOf(HEAD_END, start);
  if (headEnd < 0) {
    // A bare LF head would never complete: detect it early so tests fail with a reason.
    const soFar = buf.subarray(start);
    const lf = soFar.indexOf(0x0a);
    if (lf >= 0 && (lf === 0 || soFar[lf - 1] !== 0x0d)) throw new WireParseError('bare LF in response head', soFar);
    if (opts.eof && soFar.length > 0) throw new WireParseError('connection closed inside a response head', soFar);
    return null;
  }
  const head = buf.subarray(start, headEnd + 4).toString('latin1');
  const lines = head.slice(0, -4).split('\r\n');
  for (const line of lines) {
    if (line.includes('\n') || line.includes('\r')) throw new WireParseError('bare CR or LF in response head', buf.subarray(start, headEnd + 4));
  }
  const statusLine = lines[0]!;
  const m = STATUS_LINE.exec(statusLine);
  if (!m) throw new WireParseError(`bad status line ${JSON.stringify(statusLine)}`, buf.subarray(start, headEnd + 4));
  const status = Number(m[2]);
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith(' ') || line.startsWith('\t')) throw new WireParseError(`obs-fold in response: ${JSON.stringify(line)}`, buf.subarray(start, headEnd + 4));
    const colon = line.indexOf(':');
    if (colon <= 0) throw new WireParseError(`header line without name: ${JSON.stringify(line)}`, buf.subarray(start, headEnd + 4));
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new WireParseError(`bad header name ${JSON.stringify(name)}`, buf.subarray(start, headEnd + 4));
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new WireParseError(`control character in header ${name}`, buf.subarray(start, headEnd + 4));
    headers.push([name, value]);
  }
  const lowerValues = (n: string) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  const te = lowerValues('transfer-encoding');
  const cl = lowerValues('content-length');
  if (te.length && cl.length) throw new WireParseError('response has both Content-Length and Transfer-Encoding', buf.subarray(start, headEnd + 4));
  if (cl.length > 1) throw new WireParseError('response has several Content-Length fields', buf.subarray(start, headEnd + 4));
  if (cl.length === 1 && !/^\d+$/.test(cl[0]!)) throw new WireParseError(`bad Content-Length ${JSON.stringify(cl[0])}`, buf.subarray(start, headEnd + 4));

  let pos = headEnd + 4;
  const common = { version: m[1]!, status, reason: m[3]!, statusLine, headers, head };
  const done = (body: Buffer, next: number, chunked: boolean, closeDelimited: boolean) => ({
    response: makeResponse({ ...common, body, raw: buf.subarray(start, next), chunked, closeDelimited }),
    next,
  });

  const bodiless = (status >= 100 && status < 200) || status === 204 || status === 304 || opts.method?.toUpperCase() === 'HEAD';
  if (bodiless) return done(Buffer.alloc(0), pos, false, false);

  if (te.length) {
    const codings = te.join(',').split(',').map((s) => s.trim().toLowerCase());
    if (codings[codings.length - 1] !== 'chunked') {
      if (!opts.eof) return null;
      return done(buf.subarray(pos), buf.length, false, true);
    }
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = buf.indexOf(CRLF, pos);
      if (lineEnd < 0) {
        if (opts.eof) throw new WireParseError('connection closed inside chunked body', buf.subarray(start));
        return null;
      }
      const sizeLine = buf.subarray(pos, lineEnd).toString('latin1');
      const sm = /^([0-9A-Fa-f]{1,16})(;.*)?$/.exec(sizeLine);
      if (!sm) throw new WireParseError(`bad chunk size line ${JSON.stringify(sizeLine)}`, buf.subarray(start));
      const size = parseInt(sm[1]!, 16);
      pos = lineEnd + 2;
      if (size === 0) {
        // Trailer section: fields until an empty line.
        for (;;) {
          const tEnd = buf.indexOf(CRLF, pos);
          if (tEnd < 0) {
            if (opts.eof) throw new WireParseError('connection closed inside chunked trailers', buf.subarray(start));
            return null;
          }
          const empty = tEnd === pos;
          pos = tEnd + 2;
          if (empty) return done(Buffer.concat(parts), pos, true, false);
        }
      }
      if (buf.length < pos + size + 2) {
        if (opts.eof) throw new WireParseError('connection closed inside a chunk', buf.subarray(start));
        return null;
      }
      parts.push(buf.subarray(pos, pos + size));
      if (buf[pos + size] !== 0x0d || buf[pos + size + 1] !== 0x0a) throw new WireParseError('chunk data not followed by CRLF', buf.subarray(start));
      pos += size + 2;
    }
  }

  if (cl.length === 1) {
    const length = Number(cl[0]);
    if (buf.length < pos + length) {
      if (opts.eof) throw new WireParseError(`connection closed after ${buf.length - pos} of ${length} body bytes`, buf.subarray(start));
      return null;
    }
    return done(buf.subarray(pos, pos + length), pos + length, false, false);
  }

  // No framing: the body runs to the end of the connection.
  if (!opts.eof) return null;
  return done(buf.subarray(pos), buf.length, false, true);
}

/** Parse every complete response in `buf` (methods[i] is the method of request i). */
export function parseAll(buf: Buffer, methods: string[] = [], eof = false): { responses: ParsedResponse[]; leftover: Buffer } {
  const responses: ParsedResponse[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const r = parseResponse(buf, pos, { method: methods[responses.length], eof });
    if (!r) break;
    responses.push(r.response);
    pos = r.next;
  }
  return { responses, leftover: buf.subarray(pos) };
}

/** RFC 7231 IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`. */
export const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;

/** True when `value` is an IMF-fixdate whose weekday matches its date. */
export function isImfFixdate(value: string | undefined): boolean {
  if (!value) return false;
  const m = IMF_FIXDATE.exec(value);
  if (!m) return false;
  const t = Date.parse(value);
  if (Number.isNaN(t)) return false;
  return new Date(t).toUTCString() === value;
}
