/**
 * A raw TCP client for wire tests: it sends exact bytes and collects exactly the
 * bytes the server sends back, parsing responses with the strict parser.
 * Every wait is bounded in time and fails with what was seen so far.
 */
import net from 'node:net';
import { parseResponse, type ParsedResponse } from './http-parse.js';

export const DEFAULT_WAIT_MS = 5000;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
  settled: boolean;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const d: Deferred<T> = {
    promise,
    settled: false,
    resolve(v) {
      d.settled = true;
      resolve(v);
    },
    reject(e) {
      d.settled = true;
      reject(e);
    },
  };
  return d;
}

/** Resolve with the promise's value, or reject after `ms` naming `what`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RequestSpec {
  method?: string;
  path?: string;
  version?: '1.0' | '1.1';
  /** Header fields in order; Host is added first unless given. */
  headers?: Array<[string, string]> | Record<string, string>;
  body?: string | Buffer;
  /** Add Content-Length for `body` (default true when a body is given). */
  contentLength?: boolean;
}

/** Build the exact bytes of a request. */
export function requestBytes(spec: RequestSpec = {}): Buffer {
  const method = spec.method ?? 'GET';
  const path = spec.path ?? '/';
  const version = spec.version ?? '1.1';
  const fields: Array<[string, string]> = Array.isArray(spec.headers)
    ? [...spec.headers]
    : Object.entries(spec.headers ?? {});
  if (!fields.some(([n]) => n.toLowerCase() === 'host')) fields.unshift(['Host', '127.0.0.1']);
  const body = spec.body === undefined ? undefined : Buffer.isBuffer(spec.body) ? spec.body : Buffer.from(spec.body);
  if (body && spec.contentLength !== false && !fields.some(([n]) => n.toLowerCase() === 'content-length')) {
    fields.push(['Content-Length', String(body.length)]);
  }
  const head = `${method} ${path} HTTP/${version}\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
}

export interface ReadOptions {
  /** Request methods, one per expected response (HEAD responses have no body). */
  methods?: string[];
  timeoutMs?: number;
  /** Return 1xx interim responses too (default: skip them). */
  interim?: boolean;
}

export class RawClient {
  /** Every byte received so far. */
  buffer: Buffer = Buffer.alloc(0);
  /** Bytes of `buffer` already returned as parsed responses. */
  consumed = 0;
  /** The server sent FIN. */
  ended = false;
  /** The socket is fully closed (after FIN, RST or destroy). */
  closed = false;
  error: NodeJS.ErrnoException | null = null;
  private readonly waiters = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('end', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.error = err;
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  static connect(port: number, host = '127.0.0.1', timeoutMs = DEFAULT_WAIT_MS): Promise<RawClient> {
    return within(
      new Promise<RawClient>((resolve, reject) => {
        const socket = net.connect({ port, host });
        socket.setNoDelay(true);
        const onError = (err: Error) => reject(err);
        socket.once('error', onError);
        socket.once('connect', () => {
          socket.off('error', onError);
          resolve(new RawClient(socket));
        });
      }),
      timeoutMs,
      `connect to ${host}:${port}`,
    );
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Peer closed its side or the connection is gone. */
  get gone(): boolean {
    return this.ended || this.closed || this.error !== null;
  }

  /** Write bytes; resolves once they are handed to the kernel. */
  send(data: string | Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Wait until `pred()` holds; re-checked on every socket event. */
  until(pred: () => boolean, what: string, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok: boolean;
        try {
          ok = pred();
        } catch (err) {
          finish();
          reject(err);
          return;
        }
        if (ok) {
          finish();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${this.describe()}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** What was received, for failure messages. */
  describe(): string {
    const text = this.buffer.toString('latin1');
    const shown = text.length > 600 ? `${text.slice(0, 600)}...(${text.length} bytes)` : text;
    return `${JSON.stringify(shown)} (ended=${this.ended}, closed=${this.closed}, error=${this.error?.code ?? 'none'})`;
  }

  /** Bytes received and not yet returned as a parsed response. */
  unread(): Buffer {
    return this.buffer.subarray(this.consumed);
  }

  /** Wait for `n` complete responses after the ones already read. */
  async readResponses(n: number, opts: ReadOptions = {}): Promise<ParsedResponse[]> {
    const out: ParsedResponse[] = [];
    const methods = opts.methods ?? [];
    await this.until(
      () => {
        while (out.length < n) {
          const method = methods[out.length];
          const r = parseResponse(this.buffer, this.consumed, { method, eof: this.gone });
          if (!r) {
            if (this.gone) throw new Error(`connection closed after ${out.length} of ${n} responses; received ${this.describe()}`);
            return false;
          }
          this.consumed = r.next;
          if (r.response.status < 200 && !opts.interim) continue;
          out.push(r.response);
        }
        return true;
      },
      `${n} response(s)`,
      opts.timeoutMs,
    );
    return out;
  }

  async readResponse(opts: { method?: string; timeoutMs?: number; interim?: boolean } = {}): Promise<ParsedResponse> {
    const [r] = await this.readResponses(1, { methods: opts.method ? [opts.method] : [], timeoutMs: opts.timeoutMs, interim: opts.interim });
    return r!;
  }

  /** Wait until the server closes the connection (FIN or RST). */
  waitForClose(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.until(() => this.gone, 'the server to close the connection', timeoutMs);
  }

  /** Wait until at least `n` bytes (in total) were received. */
  waitForBytes(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.until(() => this.buffer.length >= n, `${n} bytes`, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Connect, send `bytes` in one write, and read `n` responses. The client stays open. */
export async function exchange(
  port: number,
  bytes: string | Buffer,
  n = 1,
  opts: ReadOptions = {},
): Promise<{ client: RawClient; responses: ParsedResponse[] }> {
  const client = await RawClient.connect(port);
  try {
    await client.send(bytes);
    const responses = await client.readResponses(n, opts);
    return { client, responses };
  } catch (err) {
    client.destroy();
    throw err;
  }
}

/** One request on a fresh connection; the connection is closed afterwards. */
export async function fetchRaw(port: number, spec: RequestSpec = {}): Promise<ParsedResponse> {
  const { client, responses } = await exchange(port, requestBytes(spec), 1, { methods: [spec.method ?? 'GET'] });
  client.destroy();
  return responses[0]!;
}
