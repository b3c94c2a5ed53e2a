/**
 * `ndjson(items)`: newline-delimited JSON, one `JSON.stringify(item)` per line
 * (`application/x-ndjson`). Values JSON cannot represent (undefined, functions) become
 * `null`, as they would inside a JSON array.
 */
import { StreamingResponse, type StreamingOptions } from '../streaming/response.js';
import { encodeRecords } from './records.js';

export const NDJSON_TYPE = 'application/x-ndjson';

/** JSON text of a value, `null` for what JSON cannot represent. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}

const line = (item: unknown): string => jsonText(item) + '\n';

export function ndjson(items: Iterable<unknown> | AsyncIterable<unknown>, options: StreamingOptions = {}): StreamingResponse {
  return new StreamingResponse(encodeRecords(items, line), { contentType: NDJSON_TYPE, ...options });
}
