/**
 * `jsonArray(items)`: one JSON array streamed element by element
 * (`application/json`). The body is valid JSON only once complete; a failure
 * mid-stream aborts the connection, so a client never mistakes a prefix for the array.
 */
import { APPLICATION_JSON } from '../response.js';
import { StreamingResponse, type StreamingOptions } from '../streaming/response.js';
import { jsonText } from './ndjson.js';
import { encodeRecords } from './records.js';

const FRAMING = { start: '[', separator: ',', end: ']' };

export function jsonArray(items: Iterable<unknown> | AsyncIterable<unknown>, options: StreamingOptions = {}): StreamingResponse {
  return new StreamingResponse(encodeRecords(items, jsonText, FRAMING), { contentType: APPLICATION_JSON, ...options });
}
