/**
 * Record streams: items encoded one by one into text records, framed by an optional
 * start, separator and end. Every chunk produced ends on a record boundary (which is
 * where compression may flush). A sync iterable is encoded in chunks of about 16 KiB,
 * since all of it is at hand; an async one yields each record as soon as its item
 * arrives, so a slow source is never held back. A throwing source or encoder ends the
 * stream with that error (the streaming core then aborts the connection).
 */
import { isAsyncIterable } from '../streaming/source.js';

export interface Framing {
  /** Sent first, even when there are no records. */
  start?: string;
  /** Sent between two records. */
  separator?: string;
  /** Sent after the last record. */
  end?: string;
}

export type Encoder<T> = (item: T) => string;

export const RECORD_BATCH_BYTES = 16 * 1024;

export function encodeRecords<T>(items: Iterable<T> | AsyncIterable<T>, encode: Encoder<T>, framing: Framing = {}): Iterable<string> | AsyncIterable<string> {
  if (isAsyncIterable(items)) return encodeAsync(items, encode, framing);
  if (typeof items !== 'object' || items === null || typeof (items as Iterable<T>)[Symbol.iterator] !== 'function') {
    throw new TypeError(`Expected an iterable or an async iterable of records, got ${items === null ? 'null' : typeof items}`);
  }
  return encodeSync(items as Iterable<T>, encode, framing);
}

function* encodeSync<T>(items: Iterable<T>, encode: Encoder<T>, { start = '', separator = '', end = '' }: Framing): Generator<string, void, undefined> {
  let batch = start;
  let first = true;
  for (const item of items) {
    batch += (first ? '' : separator) + encode(item);
    first = false;
    if (batch.length >= RECORD_BATCH_BYTES) {
      yield batch;
      batch = '';
    }
  }
  batch += end;
  if (batch !== '') yield batch;
}

function encodeAsync<T>(items: AsyncIterable<T>, encode: Encoder<T>, framing: Framing): AsyncIterable<string> {
  return encodeAsyncRecords(items, () => ({ encode, ...framing }));
}

/** What an async record stream is framed and encoded with, decided when its first item (or its end) is known. */
export interface AsyncRecordFormat<T> extends Framing {
  encode: Encoder<T>;
}

const DONE: IteratorResult<string, undefined> = Object.freeze({ done: true, value: undefined });

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<T>).then === 'function';
}

/**
 * The records of an async source, one chunk per item. `format(first)` is asked once, with the
 * first item (undefined when there is none), e.g. for CSV columns taken from the first row.
 * Not an async generator: a generator's return() waits for the pending next() of the source
 * (a database fetch may take long), while this one passes return() to the source at once,
 * so a client that disconnects cancels the source now.
 */
export function encodeAsyncRecords<T>(items: AsyncIterable<T>, format: (first: T | undefined) => AsyncRecordFormat<T>): AsyncIterable<string> {
  return {
    [Symbol.asyncIterator]: () => new AsyncRecordIterator(items[Symbol.asyncIterator](), format),
  };
}

const enum Phase {
  First,
  Records,
  Done,
}

class AsyncRecordIterator<T> implements AsyncIterator<string> {
  private phase = Phase.First;
  private fmt: AsyncRecordFormat<T> | null = null;

  constructor(
    private readonly it: AsyncIterator<T>,
    private readonly format: (first: T | undefined) => AsyncRecordFormat<T>,
  ) {}

  /**
   * A source whose next() returns a result synchronously (rows already fetched: pgQuery) gets
   * its record back synchronously too, so the pump takes a fetched batch without a promise per
   * row; `for await` awaits either.
   */
  next(): Promise<IteratorResult<string>> {
    if (this.phase === Phase.Done) return DONE as unknown as Promise<IteratorResult<string>>;
    let r: IteratorResult<T> | Promise<IteratorResult<T>>;
    try {
      r = this.it.next();
    } catch (err) {
      this.phase = Phase.Done; // the source failed by itself: nothing to return()
      throw err;
    }
    if (!isPromiseLike(r)) return this.step(r) as unknown as Promise<IteratorResult<string>>;
    return Promise.resolve(r).then(
      (res) => this.step(res),
      (err: unknown) => {
        this.phase = Phase.Done;
        throw err;
      },
    );
  }

  private step(r: IteratorResult<T>): IteratorResult<string> {
    if (this.phase === Phase.Done) return DONE; // return() came meanwhile
    try {
      const first = this.phase === Phase.First;
      if (first) this.fmt = this.format(r.done ? undefined : r.value);
      const fmt = this.fmt!;
      if (r.done) {
        this.phase = Phase.Done;
        const tail = (first ? fmt.start ?? '' : '') + (fmt.end ?? '');
        return tail === '' ? DONE : { done: false, value: tail };
      }
      this.phase = Phase.Records;
      return { done: false, value: (first ? fmt.start ?? '' : fmt.separator ?? '') + fmt.encode(r.value) };
    } catch (err) {
      this.stopSource();
      throw err;
    }
  }

  return(): Promise<IteratorResult<string>> {
    const r = this.stopSource();
    return r === undefined ? Promise.resolve(DONE) : r.then(() => DONE, () => DONE);
  }

  private stopSource(): Promise<unknown> | undefined {
    if (this.phase === Phase.Done) return undefined;
    this.phase = Phase.Done;
    try {
      return Promise.resolve(this.it.return?.());
    } catch {
      return undefined;
    }
  }
}
