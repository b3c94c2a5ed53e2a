/**
 * `sqliteQuery(db, sql, params, { batchSize, resume })`: a better-sqlite3 query's rows as an
 * async iterable for the format helpers, like pgQuery().
 *
 * better-sqlite3 is synchronous: a batch of `batchSize` rows is read at once (that is the most
 * the event loop is held), then the rows are handed out and the next batch waits for a turn of
 * the loop (setImmediate) and for the response to want more. A client that stops reading stops
 * the reading.
 *
 * With `resume` (a unique ordering key), every batch is its own statement
 * (`WHERE key > last ORDER BY key LIMIT batchSize`), so nothing stays open on the connection
 * between batches and other requests use it freely. Without it, one iterator stays open for
 * the whole export, and better-sqlite3 refuses writes on that connection meanwhile ("This
 * database connection is busy executing a query"; reads still run): give such exports a
 * read-only connection of their own (`new Database(file, { readonly: true })`), or a key.
 */
import { decodeToken, encodeToken, keyColumns, keysetSql, type ResumeOptions } from './resume.js';
import type { SSEEvent } from '../sse/event.js';
import { mapRows } from './map-rows.js';
import { handOn } from './hand-on.js';

/** The parts of a better-sqlite3 Database the helper uses. */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
}
export interface SqliteStatement {
  iterate(...params: unknown[]): IterableIterator<unknown>;
  all(...params: unknown[]): unknown[];
  raw?(raw?: boolean): SqliteStatement;
}

export interface SqliteQueryOptions {
  /** Rows read per turn of the event loop (default 500). */
  batchSize?: number;
  /** Keyset resumption (and batches that leave the connection free). */
  resume?: ResumeOptions;
}

const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function sqliteQuery<R = Record<string, unknown>>(db: SqliteDatabase, sql: string, params: readonly unknown[] = [], options: SqliteQueryOptions = {}): SqliteRows<R> {
  return new SqliteRows<R>(db, sql, params, options);
}

export class SqliteRows<R = Record<string, unknown>> implements AsyncIterable<R> {
  /** Batches read so far. */
  batches = 0;
  /** Rows handed out so far. */
  rows = 0;
  /** The longest a batch held the event loop (ms). */
  longestBatchMs = 0;
  private started = false;
  private readonly keyColumns: string[] | null;
  private readonly batchSize: number;
  private readonly after: unknown[] | null;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly sql: string,
    private readonly params: readonly unknown[],
    options: SqliteQueryOptions,
  ) {
    if (typeof db !== 'object' || db === null || typeof db.prepare !== 'function') throw new TypeError('sqliteQuery() needs a better-sqlite3 Database');
    if (typeof sql !== 'string' || sql.trim() === '') throw new TypeError('sqliteQuery() needs the SQL text of a query');
    if (!Array.isArray(params)) throw new TypeError('sqliteQuery() params must be an array');
    const { batchSize = 500, resume } = options;
    if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new TypeError(`sqliteQuery() batchSize must be a positive integer, got ${String(batchSize)}`);
    this.batchSize = batchSize;
    this.keyColumns = resume === undefined ? null : keyColumns(resume.key);
    this.after = resume?.after ? decodeToken(resume.after, this.keyColumns!.length) : null;
  }

  /** The resume token after `row` (needs the `resume` option). */
  token(row: R): string {
    if (this.keyColumns === null) throw new TypeError('token() needs sqliteQuery() with the resume option');
    const record = row as Record<string, unknown>;
    return encodeToken(this.keyColumns.map((c) => record[c]));
  }

  /** Each row with its resume token in `field` (default `_resume`). */
  withTokens(field = '_resume'): AsyncIterable<R & Record<string, string>> {
    return mapRows(this, (row) => ({ ...row, [field]: this.token(row) }) as R & Record<string, string>);
  }

  /** SSE events: `data` the row, `id` its resume token when resumable. */
  events(event?: string): AsyncIterable<SSEEvent> {
    return mapRows(this, (row) => {
      const e: SSEEvent = { data: row };
      if (this.keyColumns !== null) e.id = this.token(row);
      if (event !== undefined) e.event = event;
      return e;
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<R> {
    if (this.started) throw new TypeError('sqliteQuery() rows can be iterated once; call sqliteQuery() again for another export');
    this.started = true;
    const columns = this.keyColumns;
    return new SqliteRowIterator<R>(this, () => (columns === null ? this.iteratorReader() : this.keysetReader(columns)), this.batchSize);
  }

  /** @internal Times one synchronous batch. */
  timed<T>(fn: () => T): T {
    const start = performance.now();
    try {
      return fn();
    } finally {
      const ms = performance.now() - start;
      if (ms > this.longestBatchMs) this.longestBatchMs = ms;
      this.batches++;
    }
  }

  /** One statement iterator for the whole export (the connection takes no writes meanwhile). */
  private iteratorReader(): BatchReader<R> {
    const it = this.db.prepare(this.sql).iterate(...this.params) as Iterator<R>;
    return {
      read(n) {
        const rows: R[] = [];
        while (rows.length < n) {
          const r = it.next();
          if (r.done) return { rows, ended: true };
          rows.push(r.value);
        }
        return { rows, ended: false };
      },
      close: () => void it.return?.(), // frees the statement (and the connection)
    };
  }

  /** A statement per batch after the last key: nothing stays open between batches. */
  private keysetReader(columns: string[]): BatchReader<R> {
    const first = this.db.prepare(keysetSql(this.sql, columns, false, 0, () => '?') + ' LIMIT ?');
    const rest = this.db.prepare(keysetSql(this.sql, columns, true, 0, () => '?') + ' LIMIT ?');
    let after = this.after;
    const params = this.params;
    return {
      read(n) {
        const rows = (after === null ? first.all(...params, n) : rest.all(...params, ...after, n)) as R[];
        if (rows.length > 0) {
          const last = rows[rows.length - 1] as Record<string, unknown>;
          after = columns.map((c) => last[c]);
        }
        return { rows, ended: rows.length < n };
      },
      close() {},
    };
  }
}

interface BatchReader<R> {
  read(n: number): { rows: R[]; ended: boolean };
  close(): void;
}

/**
 * Rows of a batch are handed on synchronously (no promise per row); the next batch is read at
 * the next turn of the event loop. return() closes the reader at once.
 */
class SqliteRowIterator<R> implements AsyncIterator<R> {
  private reader: BatchReader<R> | null = null;
  private batch: R[] = [];
  private index = 0;
  private ended = false;
  private closed = false;

  constructor(
    private readonly owner: SqliteRows<R>,
    private readonly open: () => BatchReader<R>,
    private readonly batchSize: number,
  ) {}

  next(): Promise<IteratorResult<R>> {
    if (this.index < this.batch.length) {
      this.owner.rows++;
      return { done: false, value: handOn(this.batch, this.index++) } as unknown as Promise<IteratorResult<R>>;
    }
    if (this.ended || this.closed) {
      this.close();
      return Promise.resolve(DONE);
    }
    return this.fetch();
  }

  private async fetch(): Promise<IteratorResult<R>> {
    if (this.reader !== null) await nextTurn();
    if (this.closed) return DONE;
    let read: { rows: R[]; ended: boolean };
    try {
      this.reader ??= this.open();
      const reader = this.reader;
      read = this.owner.timed(() => reader.read(this.batchSize));
    } catch (err) {
      this.close();
      throw err;
    }
    this.batch = read.rows;
    this.index = 0;
    this.ended = read.ended;
    if (this.batch.length === 0) {
      this.close();
      return DONE;
    }
    this.owner.rows++;
    return { done: false, value: handOn(this.batch, this.index++) };
  }

  return(): Promise<IteratorResult<R>> {
    this.close();
    return Promise.resolve(DONE);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.batch = [];
    try {
      this.reader?.close();
    } catch {
      // a closed database: nothing left to release
    }
  }
}
