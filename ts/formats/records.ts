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

async function* encodeAsync<T>(items: AsyncIterable<T>, encode: Encoder<T>, { start = '', separator = '', end = '' }: Framing): AsyncGenerator<string, void, undefined> {
  let pending = start;
  let first = true;
  for await (const item of items) {
    yield pending + (first ? '' : separator) + encode(item);
    pending = '';
    first = false;
  }
  if (pending + end !== '') yield pending + end;
}
