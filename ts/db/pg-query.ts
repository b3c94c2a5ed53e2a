/**
 * `pgQuery(pool, sql, params, { batchSize, resume })`: a PostgreSQL query's rows as an async
 * iterable that every format helper takes (`ndjson(rows)`, `csv(rows)`, `jsonArray(rows)`,
 * `sse(req, rows.events())`).
 *
 * Paced by the socket: rows come from a server-side portal (pg-cursor) in batches of
 * `batchSize`, and the next batch is asked for only when the response pulled every row of the
 * last one, which the streaming core does only while the socket is under its high watermark.
 * A client that stops reading stops the fetching; at most one batch is held in memory.
 *
 * Cancelled for sure: when the response stops early (client gone, app closing, stall timeout),
 * `return()` acts at once even while a batch is being fetched: a CancelRequest interrupts the
 * running statement on the server, the portal is closed, the transaction rolled back and the
 * client returned to the pool; a client whose clean-up fails or takes over `cleanupTimeout` is
 * destroyed instead, so a pool never keeps a connection in an unknown state.
 *
 * Each export runs in its own READ ONLY transaction (one snapshot for the whole export).
 */
import { driver } from './driver.js';
import { sendCancel } from './pg-cancel.js';
import { checkPool, type PgClient, type PgPool } from './pg-types.js';
import { decodeToken, encodeToken, keyColumns, keysetSql, type ResumeOptions } from './resume.js';
import type { SSEEvent } from '../sse/event.js';
import { mapRows } from './map-rows.js';
import { handOn } from './hand-on.js';

export interface PgQueryOptions {
  /** Rows per fetch from the server (default 1000). */
  batchSize?: number;
  /** `'array'`: rows as arrays of values instead of objects. */
  rowMode?: 'array';
  /** Keyset resumption: the unique ordering key and the token of the last row received. */
  resume?: ResumeOptions;
  /** How long cancelling may take before the client is destroyed rather than reused (ms, default 5000). */
  cleanupTimeout?: number;
}

/** How an export ended, once it did (`rows.closed`). */
export type PgExportEnd = 'finished' | 'cancelled' | 'failed';

export const DEFAULT_BATCH_SIZE = 1000;

/** SQLSTATE of "canceling statement due to user request". */
const QUERY_CANCELED = '57014';

interface Cursor<R> {
  read(rows: number): Promise<R[]>;
  close(): Promise<void>;
  readonly state?: string;
}
type CursorClass = new (text: string, values?: unknown[], config?: { rowMode?: 'array' }) => Cursor<unknown>;

const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

export function pgQuery<R = Record<string, unknown>>(pool: PgPool, sql: string, params: readonly unknown[] = [], options: PgQueryOptions = {}): PgRows<R> {
  return new PgRows<R>(pool, sql, params, options);
}

/** The rows of one query; iterate it once. */
export class PgRows<R = Record<string, unknown>> implements AsyncIterable<R> {
  /** Batches fetched from the server so far. */
  batches = 0;
  /** Rows handed out so far. */
  rows = 0;
  private started = false;
  private readonly pool: PgPool;
  private readonly keyColumns: string[] | null;
  private readonly sql: string;
  private readonly params: unknown[];
  private readonly batchSize: number;
  private readonly cleanupTimeout: number;
  private readonly rowMode: 'array' | undefined;
  private settle!: (end: PgExportEnd) => void;
  /** Resolves once the export ended and its client went back to the pool (or was destroyed). */
  readonly closed: Promise<PgExportEnd>;

  constructor(pool: PgPool, sql: string, params: readonly unknown[], options: PgQueryOptions) {
    this.pool = checkPool(pool, 'pgQuery()');
    if (typeof sql !== 'string' || sql.trim() === '') throw new TypeError('pgQuery() needs the SQL text of a query');
    if (!Array.isArray(params)) throw new TypeError('pgQuery() params must be an array');
    if (typeof options !== 'object' || options === null) throw new TypeError('pgQuery() options must be an object');
    const { batchSize = DEFAULT_BATCH_SIZE, rowMode, resume, cleanupTimeout = 5000 } = options;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new TypeError(`pgQuery() batchSize must be a positive integer, got ${String(batchSize)}`);
    if (rowMode !== undefined && rowMode !== 'array') throw new TypeError(`pgQuery() rowMode must be 'array' or undefined, got ${String(rowMode)}`);
    this.batchSize = batchSize;
    this.cleanupTimeout = cleanupTimeout;
    this.rowMode = rowMode;
    this.params = [...params];
    if (resume !== undefined) {
      if (rowMode === 'array') throw new TypeError('pgQuery() resume needs object rows (no rowMode)');
      this.keyColumns = keyColumns(resume.key);
      const after = resume.after ?? null;
      const values = after === null || after === '' ? null : decodeToken(after, this.keyColumns.length);
      this.sql = keysetSql(sql, this.keyColumns, values !== null, this.params.length + 1, (n) => `$${n}`);
      if (values !== null) this.params.push(...values);
    } else {
      this.keyColumns = null;
      this.sql = sql;
    }
    this.closed = new Promise((resolve) => (this.settle = resolve));
  }

  /** The resume token after `row` (needs the `resume` option). */
  token(row: R): string {
    const columns = this.keyColumns;
    if (columns === null) throw new TypeError('token() needs pgQuery() with the resume option');
    const record = row as Record<string, unknown>;
    return encodeToken(columns.map((c) => record[c]));
  }

  /** Each row with its resume token in `field` (default `_resume`): for NDJSON and JSON arrays. */
  withTokens(field = '_resume'): AsyncIterable<R & Record<string, string>> {
    return mapRows(this, (row) => ({ ...row, [field]: this.token(row) }) as R & Record<string, string>);
  }

  /** SSE events: `data` the row (as JSON), `id` its resume token when resumable, `event` when given. */
  events(event?: string): AsyncIterable<SSEEvent> {
    const resumable = this.keyColumns !== null;
    return mapRows(this, (row) => {
      const e: SSEEvent = { data: row };
      if (resumable) e.id = this.token(row);
      if (event !== undefined) e.event = event;
      return e;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<R> {
    if (this.started) throw new TypeError('pgQuery() rows can be iterated once; call pgQuery() again for another export');
    this.started = true;
    return new PgRowIterator<R>(this);
  }

  /** @internal */
  spec(): { pool: PgPool; sql: string; params: unknown[]; batchSize: number; rowMode: 'array' | undefined; cleanupTimeout: number } {
    return { pool: this.pool, sql: this.sql, params: this.params, batchSize: this.batchSize, rowMode: this.rowMode, cleanupTimeout: this.cleanupTimeout };
  }

  /** @internal */
  ended(end: PgExportEnd): void {
    this.settle(end);
  }
}


const enum State {
  Idle,
  Opening,
  Open,
  Reading,
  Closing,
  Closed,
}

/**
 * Not an async generator: a generator's return() waits for the await it is suspended in (a
 * fetch that may run for minutes), while this one cancels that fetch at once.
 */
class PgRowIterator<R> implements AsyncIterator<R> {
  private state = State.Idle;
  private client: PgClient | null = null;
  private cursor: Cursor<R> | null = null;
  private batch: R[] = [];
  private index = 0;
  /** The fetch in flight (a connect, or a cursor read). */
  private pending: Promise<unknown> | null = null;
  private cleanup: Promise<void> | null = null;

  constructor(private readonly owner: PgRows<R>) {}

  /**
   * A row already fetched is returned synchronously (the pump and the format encoders take it
   * without a promise; `for await` awaits it either way); a fetch returns a promise.
   */
  next(): Promise<IteratorResult<R>> {
    if (this.index < this.batch.length) {
      this.owner.rows++;
      return { done: false, value: handOn(this.batch, this.index++) } as unknown as Promise<IteratorResult<R>>;
    }
    return this.fetch();
  }

  private async fetch(): Promise<IteratorResult<R>> {
    if (this.state === State.Closing || this.state === State.Closed) return DONE;
    this.batch = [];
    this.index = 0;
    const spec = this.owner.spec();
    if (this.state === State.Idle) {
      const Cursor = driver<CursorClass>('pg-cursor', 'pgQuery()', 'pg pg-cursor');
      this.state = State.Opening;
      const connecting = spec.pool.connect();
      this.pending = connecting;
      let client: PgClient;
      try {
        client = await connecting;
      } catch (err) {
        this.state = State.Closed;
        this.owner.ended('failed');
        throw err;
      } finally {
        this.pending = null;
      }
      if ((this.state as State) !== State.Opening) {
        // Cancelled while connecting: nothing ran on it.
        client.release();
        return DONE;
      }
      this.client = client;
      // Pipelined: BEGIN, then the portal; pg sends them in order without waiting.
      client.query('BEGIN READ ONLY').catch(() => {});
      this.cursor = client.query(new Cursor(spec.sql, spec.params, spec.rowMode === 'array' ? { rowMode: 'array' } : undefined)) as unknown as Cursor<R>;
      this.state = State.Open;
    }
    this.state = State.Reading;
    const reading = this.cursor!.read(spec.batchSize);
    this.pending = reading;
    let rows: R[];
    try {
      rows = await reading;
    } catch (err) {
      this.pending = null;
      if (this.state !== State.Reading) return DONE; // cancelled: the error is the cancel's
      await this.close('failed', true);
      throw err;
    }
    this.pending = null;
    if (this.state !== State.Reading) return DONE;
    this.state = State.Open;
    if (rows.length === 0) {
      await this.close('finished', false);
      return DONE;
    }
    this.owner.batches++;
    this.owner.rows++;
    this.batch = rows;
    this.index = 1;
    return { done: false, value: handOn(rows, 0) };
  }

  /** Stops early: cancels a fetch in flight, closes the portal, rolls back, releases. */
  return(): Promise<IteratorResult<R>> {
    this.batch = [];
    if (this.state === State.Idle) {
      this.state = State.Closed;
      this.owner.ended('cancelled');
      return Promise.resolve(DONE);
    }
    if (this.state === State.Opening) {
      this.state = State.Closed; // next() releases the client when connect() resolves
      this.owner.ended('cancelled');
      return Promise.resolve(DONE);
    }
    return this.close('cancelled', this.state === State.Reading).then(() => DONE);
  }

  private close(end: PgExportEnd, interrupt: boolean): Promise<void> {
    if (this.cleanup !== null) return this.cleanup;
    this.state = State.Closing;
    const client = this.client!;
    const cursor = this.cursor;
    const pending = this.pending;
    const timeout = this.owner.spec().cleanupTimeout;
    const work = async (): Promise<void> => {
      if (interrupt && pending !== null) {
        await sendCancel(client);
        let consumed = false;
        await pending.then(
          () => {},
          (err: unknown) => (consumed = (err as { code?: string } | null)?.code === QUERY_CANCELED),
        );
        // The fetch ended before the cancel reached it: the cancel may still arrive and would
        // hit whatever this connection runs next. Such a connection is never reused.
        if (!consumed) throw new Error('the cancel request raced the fetch; the client is destroyed');
      }
      if (cursor !== null && cursor.state !== 'done' && cursor.state !== 'error') await cursor.close();
      await client.query(end === 'finished' ? 'COMMIT' : 'ROLLBACK');
    };
    this.cleanup = withTimeout(work(), timeout).then(
      () => client.release(),
      (err: unknown) => client.release(err instanceof Error ? err : new Error(String(err))),
    ).then(() => {
      this.state = State.Closed;
      this.client = null;
      this.cursor = null;
      this.owner.ended(end);
    });
    return this.cleanup;
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`database clean-up took over ${ms} ms; the client is destroyed`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
