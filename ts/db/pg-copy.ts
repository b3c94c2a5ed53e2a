/**
 * `pgCopyCsv(pool, query, { header })`: CSV made by PostgreSQL itself
 * (`COPY (query) TO STDOUT WITH (FORMAT csv)`), sent as it arrives: no row is parsed or encoded
 * in JavaScript, so it runs at wire speed. `pgCopyNdjson(pool, query)` is the same for NDJSON,
 * each line made by the server's `row_to_json` (timestamps keep PostgreSQL's JSON text, e.g.
 * "2026-01-01T00:00:00+00:00"). The COPY is read by `CopyOut` (`pg-copy-out.ts`): straight from
 * the connection's socket, one Buffer per socket read, not one per row.
 *
 * Paced by the socket like every stream: when the response is over its high watermark, the
 * connection's socket is not read, and TCP stops the server. When the response stops early, a
 * CancelRequest interrupts the COPY and the connection is closed (the backend exits; the pool
 * opens another when needed): a server blocked writing into a full socket does not see a
 * cancel, and draining what it wrote would cost more than a new connection. A COPY that ends or
 * fails by itself commits or rolls back and goes back to the pool.
 *
 * COPY takes no bind parameters: `query` is SQL text; build it from trusted parts only (numbers
 * checked with Number.isSafeInteger, identifiers quoted). Lines end with LF (PostgreSQL's CSV).
 */
import { StreamingResponse, type StreamingOptions } from '../streaming/response.js';
import { pullerSource, type PullResult, type Puller } from '../streaming/source.js';
import { CSV_TYPE } from '../formats/csv.js';
import { NDJSON_TYPE } from '../formats/ndjson.js';
import { sendCancel } from './pg-cancel.js';
import { CopyOut } from './pg-copy-out.js';
import { checkPool, type PgClient, type PgPool } from './pg-types.js';
import type { PgExportEnd } from './pg-query.js';

export interface PgCopyOptions extends StreamingOptions {
  /** CSV: a header line with the column names first (default true). */
  header?: boolean;
  /** Called once the export ended and its client was released (tests, metrics). */
  onEnd?: (end: PgExportEnd) => void;
  /** How long cancelling may take before the client is destroyed rather than reused (ms, default 5000). */
  cleanupTimeout?: number;
}

export function pgCopyCsv(pool: PgPool, query: string, options: PgCopyOptions = {}): StreamingResponse {
  const { header = true, onEnd, cleanupTimeout, ...streaming } = options;
  const sql = `COPY (${checkQuery(query, 'pgCopyCsv()')}) TO STDOUT WITH (FORMAT csv${header ? ', HEADER true' : ''})`;
  return new StreamingResponse(pullerSource(new CopyPuller(checkPool(pool, 'pgCopyCsv()'), sql, onEnd, cleanupTimeout)), { contentType: CSV_TYPE, ...streaming });
}

export function pgCopyNdjson(pool: PgPool, query: string, options: Omit<PgCopyOptions, 'header'> = {}): StreamingResponse {
  const { onEnd, cleanupTimeout, ...streaming } = options;
  // One column of JSON text; in CSV format with a quote and a delimiter JSON never holds raw
  // (row_to_json escapes control characters), a value is never quoted: each line is the JSON.
  const sql = `COPY (SELECT row_to_json(catzilla_row) FROM (${checkQuery(query, 'pgCopyNdjson()')}) AS catzilla_row) TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`;
  return new StreamingResponse(pullerSource(new CopyPuller(checkPool(pool, 'pgCopyNdjson()'), sql, onEnd, cleanupTimeout)), { contentType: NDJSON_TYPE, ...streaming });
}

function checkQuery(query: string, what: string): string {
  if (typeof query !== 'string' || query.trim() === '') throw new TypeError(`${what} needs the SQL text of a query`);
  return query;
}

const enum State {
  Idle,
  Opening,
  Streaming,
  Closing,
  Closed,
}

class CopyPuller implements Puller {
  private state = State.Idle;
  private client: PgClient | null = null;
  private copy: CopyOut | null = null;
  private cleanup: Promise<void> | null = null;
  private lent = false;

  constructor(
    private readonly pool: PgPool,
    private readonly sql: string,
    private readonly onEnd: ((end: PgExportEnd) => void) | undefined,
    private readonly cleanupTimeout = 5000,
  ) {}

  /** The response copies each chunk before the next pull: payloads may be views of the read buffer. */
  lend(): boolean {
    this.lent = true;
    return true;
  }

  pull(): PullResult | PromiseLike<PullResult> {
    if (this.state === State.Streaming) return this.take();
    if (this.state === State.Idle) return this.open();
    return { done: true, value: undefined };
  }

  private async open(): Promise<PullResult> {
    this.state = State.Opening;
    let client: PgClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      this.state = State.Closed;
      this.onEnd?.('failed');
      throw err;
    }
    if (this.state !== State.Opening) {
      client.release();
      return { done: true, value: undefined };
    }
    this.client = client;
    client.query('BEGIN READ ONLY').catch(() => {});
    this.copy = client.query(new CopyOut(this.sql, this.lent));
    this.state = State.Streaming;
    return this.take();
  }

  /** The next chunk; the end or a failure releases the client (before the result is handed on). */
  private take(): PullResult | PromiseLike<PullResult> {
    let r: PullResult | PromiseLike<PullResult>;
    try {
      r = this.copy!.pull();
    } catch (err) {
      return this.close('failed').then(() => Promise.reject(err));
    }
    if (!isPromise(r)) return r.done ? this.close('finished').then(() => r) : r;
    return r.then(
      (res) => (res.done ? this.close('finished').then(() => res) : res),
      (err: unknown) => this.close('failed').then(() => Promise.reject(err)),
    );
  }

  cancel(): void {
    if (this.state === State.Idle || this.state === State.Opening) {
      this.state = State.Closed;
      this.onEnd?.('cancelled');
      return;
    }
    void this.close('cancelled');
  }

  private close(end: PgExportEnd): Promise<void> {
    if (this.cleanup !== null) return this.cleanup;
    this.state = State.Closing;
    const client = this.client!;
    const copy = this.copy!;
    if (end === 'cancelled' && !copy.settled) {
      // A COPY stopped early: the server may be blocked writing megabytes into the socket, and
      // a blocked write does not see a cancel. The CancelRequest stops a COPY still computing,
      // and closing the connection ends the backend at once (its next write fails). The pool
      // opens a new connection when it needs one; draining the rest to reuse this one costs more.
      copy.abort();
      const cancelling = sendCancel(client);
      client.release(new Error('COPY cancelled'));
      this.cleanup = cancelling.then(() => this.finish(end));
      return this.cleanup;
    }
    copy.release(); // a socket paused for a payload nobody will take reads the answer
    const work = client.query(end === 'finished' ? 'COMMIT' : 'ROLLBACK');
    let timer: NodeJS.Timeout;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`COPY clean-up took over ${this.cleanupTimeout} ms; the client is destroyed`)), this.cleanupTimeout);
    });
    this.cleanup = Promise.race([work, timeout])
      .then(
        () => client.release(),
        (err: unknown) => client.release(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => {
        clearTimeout(timer);
        this.finish(end);
      });
    return this.cleanup;
  }

  private finish(end: PgExportEnd): void {
    this.state = State.Closed;
    this.client = null;
    this.onEnd?.(end);
  }
}

function isPromise<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<T>).then === 'function';
}
