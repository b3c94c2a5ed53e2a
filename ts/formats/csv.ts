/**
 * `csv(rows, { columns, header, delimiter, bom })`: RFC 4180 CSV (`text/csv`), CRLF
 * line ends. A field is quoted when it holds the delimiter, a double quote, CR or LF,
 * and quotes inside are doubled. Rows are arrays (by position) or objects (by the
 * `columns` keys, or the first row's keys). null and undefined are empty fields,
 * Dates are ISO 8601, other objects JSON.
 */
import { StreamingResponse, type StreamingOptions } from '../streaming/response.js';
import { isAsyncIterable } from '../streaming/source.js';
import { encodeAsyncRecords, encodeRecords } from './records.js';

export const CSV_TYPE = 'text/csv; charset=utf-8';

/** A column: an object key (also its header), or a key with its own header text. */
export type CsvColumn = string | { key: string; header?: string };

export interface CsvOptions {
  columns?: CsvColumn[];
  /** Write a header line (default true when columns are given or taken from object rows). */
  header?: boolean;
  /** One character, not a quote, CR or LF (default ","). */
  delimiter?: string;
  /** Start with a UTF-8 byte order mark (Excel needs it to read UTF-8). */
  bom?: boolean;
}

export type CsvRow = readonly unknown[] | Readonly<Record<string, unknown>>;

/** The text of one field, quoted when needed. */
export function csvField(value: unknown, delimiter = ','): string {
  let text: string;
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') text = value;
  else if (value instanceof Date) text = value.toISOString();
  else if (typeof value === 'object') text = JSON.stringify(value) ?? '';
  else text = String(value);
  if (text.includes(delimiter) || /["\r\n]/.test(text)) return `"${text.replaceAll('"', '""')}"`;
  return text;
}

/** One CSV line (CRLF included). */
export function csvLine(fields: readonly unknown[], delimiter = ','): string {
  let out = '';
  for (let i = 0; i < fields.length; i++) out += (i === 0 ? '' : delimiter) + csvField(fields[i], delimiter);
  return out + '\r\n';
}

export function csv(rows: Iterable<CsvRow> | AsyncIterable<CsvRow>, options: CsvOptions & StreamingOptions = {}): StreamingResponse {
  const { columns, header, delimiter = ',', bom = false, ...streaming } = options;
  if (typeof delimiter !== 'string' || delimiter.length !== 1 || /["\r\n]/.test(delimiter)) {
    throw new TypeError(`csv() delimiter must be one character other than a double quote, CR or LF, got ${JSON.stringify(delimiter)}`);
  }
  if (columns !== undefined && !Array.isArray(columns)) throw new TypeError('csv() columns must be an array');
  const given = columns?.map(checkColumn);
  const source = isAsyncIterable(rows) ? encodeAsync(rows, given, header, delimiter, bom) : encodeSync(rows as Iterable<CsvRow>, given, header, delimiter, bom);
  return new StreamingResponse(source, { contentType: CSV_TYPE, ...streaming });
}

interface Column {
  key: string;
  header: string;
}

function checkColumn(column: CsvColumn): Column {
  if (typeof column === 'string') return { key: column, header: column };
  if (typeof column === 'object' && column !== null && typeof column.key === 'string') return { key: column.key, header: column.header ?? column.key };
  throw new TypeError(`csv() column must be a string or { key, header? }, got ${JSON.stringify(column)}`);
}

/** Encodes rows once the columns are known (given, or from the first object row). */
function encoder(columns: Column[] | undefined, delimiter: string): (row: CsvRow) => string {
  return (row) => {
    if (Array.isArray(row)) return csvLine(row, delimiter);
    if (typeof row !== 'object' || row === null) throw new TypeError(`A CSV row must be an array or an object, got ${row === null ? 'null' : typeof row}`);
    const record = row as Record<string, unknown>;
    return csvLine((columns ?? []).map((c) => record[c.key]), delimiter);
  };
}

function preamble(columns: Column[] | undefined, header: boolean | undefined, delimiter: string, bom: boolean): string {
  const withHeader = header ?? columns !== undefined;
  return (bom ? '\uFEFF' : '') + (withHeader && columns !== undefined ? csvLine(columns.map((c) => c.header), delimiter) : '');
}

function inferColumns(first: CsvRow | undefined): Column[] | undefined {
  if (first === undefined || Array.isArray(first) || typeof first !== 'object' || first === null) return undefined;
  return Object.keys(first).map((key) => ({ key, header: key }));
}

function* encodeSync(rows: Iterable<CsvRow>, given: Column[] | undefined, header: boolean | undefined, delimiter: string, bom: boolean): Generator<string, void, undefined> {
  const it = rows[Symbol.iterator]();
  let done = false;
  try {
    const first = it.next();
    const columns = given ?? inferColumns(first.done ? undefined : first.value);
    const start = preamble(columns, header, delimiter, bom);
    const all = first.done ? [] : chain(first.value, it);
    done = first.done === true;
    yield* encodeRecords(all, encoder(columns, delimiter), { start }) as Iterable<string>;
    done = true;
  } finally {
    if (!done) it.return?.();
  }
}

function encodeAsync(rows: AsyncIterable<CsvRow>, given: Column[] | undefined, header: boolean | undefined, delimiter: string, bom: boolean): AsyncIterable<string> {
  return encodeAsyncRecords(rows, (first) => {
    const columns = given ?? inferColumns(first);
    return { encode: encoder(columns, delimiter), start: preamble(columns, header, delimiter, bom) };
  });
}

/** `first` followed by the rest of `it` (whose return() the caller handles). */
function* chain<T>(first: T, it: Iterator<T>): Generator<T, void, undefined> {
  yield first;
  for (;;) {
    const r = it.next();
    if (r.done) return;
    yield r.value;
  }
}
