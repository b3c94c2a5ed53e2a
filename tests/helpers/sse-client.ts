/**
 * A small EventSource-like client for tests: node:http underneath, events parsed by
 * the WHATWG rules (CRLF, CR and LF line ends, `data` lines joined with "\n", comments
 * kept apart so tests can see heartbeats). Every wait is bounded.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import { within } from './raw-client.js';

export interface ParsedEvent {
  event: string;
  data: string;
  id: string | null;
  retry: number | null;
}

/** Incremental parser of an event stream. */
export class EventParser {
  events: ParsedEvent[] = [];
  comments: string[] = [];
  lastEventId: string | null = null;
  private buffer = '';
  private data: string[] = [];
  private type = '';
  private retry: number | null = null;
  private sawId = false;

  feed(text: string): void {
    this.buffer += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (m === null) return;
      // A lone CR at the very end may be the first half of CRLF: wait for more.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) return;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.type = value;
    else if (field === 'id' && !value.includes('\0')) {
      this.lastEventId = value;
      this.sawId = true;
    } else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }

  private dispatch(): void {
    if (this.data.length > 0) {
      this.events.push({ event: this.type || 'message', data: this.data.join('\n'), id: this.sawId ? this.lastEventId : null, retry: this.retry });
    }
    this.data = [];
    this.type = '';
    this.retry = null;
    this.sawId = false;
  }
}

export interface SSEConnection {
  status: number;
  headers: http.IncomingHttpHeaders;
  parser: EventParser;
  /** Raw (decoded) text received. */
  text(): string;
  ended: boolean;
  /** Resolves when `n` events arrived in total. */
  waitEvents(n: number, timeoutMs?: number): Promise<ParsedEvent[]>;
  waitComments(n: number, timeoutMs?: number): Promise<string[]>;
  waitEnd(timeoutMs?: number): Promise<void>;
  close(): void;
}

/** Opens an event stream; decodes gzip/deflate/br when the response says so. */
export function connectSSE(url: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<SSEConnection> {
  return within(
    new Promise<SSEConnection>((resolve, reject) => {
      const req = http.get(url, { headers: { Accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
        const parser = new EventParser();
        let text = '';
        const waiters = new Set<() => void>();
        const wake = () => {
          for (const w of [...waiters]) w();
        };
        const coding = res.headers['content-encoding'];
        const body = coding === 'gzip' ? res.pipe(zlib.createGunzip()) : coding === 'deflate' ? res.pipe(zlib.createInflate()) : coding === 'br' ? res.pipe(zlib.createBrotliDecompress()) : res;
        body.setEncoding('utf8');
        body.on('data', (s: string) => {
          text += s;
          parser.feed(s);
          wake();
        });
        const onEnd = () => {
          conn.ended = true;
          wake();
        };
        body.on('end', onEnd);
        body.on('error', onEnd);
        res.on('error', onEnd);
        res.on('aborted', onEnd);
        const until = <T>(pred: () => boolean, value: () => T, what: string, ms: number): Promise<T> =>
          within(
            new Promise<T>((ok, fail) => {
              const check = () => {
                if (pred()) {
                  waiters.delete(check);
                  ok(value());
                } else if (conn.ended && what !== 'end') {
                  waiters.delete(check);
                  fail(new Error(`stream ended while waiting for ${what}; got ${JSON.stringify(text.slice(-400))}`));
                }
              };
              waiters.add(check);
              check();
            }),
            ms,
            `${what} (received ${JSON.stringify(text.slice(-400))})`,
          );
        const conn: SSEConnection = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          parser,
          text: () => text,
          ended: false,
          waitEvents: (n, ms = 5000) => until(() => parser.events.length >= n, () => parser.events.slice(0, n), `${n} events`, ms),
          waitComments: (n, ms = 5000) => until(() => parser.comments.length >= n, () => parser.comments.slice(0, n), `${n} comments`, ms),
          waitEnd: (ms = 5000) => until(() => conn.ended, () => undefined, 'end', ms),
          close: () => req.destroy(),
        };
        resolve(conn);
      });
      req.on('error', reject);
    }),
    timeoutMs,
    `SSE connection to ${url}`,
  );
}
