/**
 * Server-Sent Events wire format (WHATWG HTML, "Server-sent events"): one event is a
 * block of `field: value` lines ended by an empty line. Multi-line data becomes one
 * `data:` line per line (CRLF, CR and LF all split, as browsers do). `event` and `id`
 * are single-line fields: a CR or LF there would inject fields, so it is a TypeError.
 */

/** One event. `data` that is not a string is sent as JSON. */
export interface SSEEvent {
  data?: unknown;
  /** Event type (`addEventListener(type)` in a browser); default "message". */
  event?: string;
  /** Becomes the client's Last-Event-ID. */
  id?: string | number;
  /** Reconnection delay the client should use, in ms. */
  retry?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;
const FORBIDDEN_IN_FIELD = /[\r\n]/;

/** The data as text: strings as they are, anything else as JSON. */
export function dataText(data: unknown): string {
  if (typeof data === 'string') return data;
  const text = JSON.stringify(data);
  if (text === undefined) throw new TypeError(`SSE data must be a string or a JSON value, got ${typeof data}`);
  return text;
}

/** Throws a TypeError unless `value` is a single-line field value. */
export function checkField(name: 'event' | 'id', value: string): string {
  if (FORBIDDEN_IN_FIELD.test(value)) throw new TypeError(`SSE ${name} must not contain CR or LF, got ${JSON.stringify(value)}`);
  // Browsers ignore an id with NUL in it, which would silently break resumption.
  if (name === 'id' && value.includes('\0')) throw new TypeError(`SSE id must not contain NUL, got ${JSON.stringify(value)}`);
  return value;
}

function prefixLines(prefix: string, text: string): string {
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += `${prefix}${line}\n`;
  return out;
}

/** Serializes one event, including the empty line that ends it. A string is the data. */
export function serializeEvent(event: SSEEvent | string): string {
  if (typeof event === 'string') return prefixLines('data: ', event) + '\n';
  if (typeof event !== 'object' || event === null) throw new TypeError(`An SSE event must be an object or a string, got ${event === null ? 'null' : typeof event}`);
  let out = '';
  if (event.event !== undefined) out += `event: ${checkField('event', String(event.event))}\n`;
  if (event.id !== undefined) out += `id: ${checkField('id', String(event.id))}\n`;
  if (event.retry !== undefined) out += retryLine(event.retry);
  if (event.data !== undefined) out += prefixLines('data: ', dataText(event.data));
  if (out === '') throw new TypeError('An SSE event needs at least one of data, event, id or retry');
  return out + '\n';
}

/** `retry: ms\n`; ms must be a non-negative integer. */
export function retryLine(ms: number): string {
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) throw new TypeError(`SSE retry must be a non-negative integer (ms), got ${String(ms)}`);
  return `retry: ${ms}\n`;
}

/** A comment block (ignored by clients; keeps proxies and load balancers from idling out). */
export function serializeComment(text = ''): string {
  if (typeof text !== 'string') throw new TypeError(`An SSE comment must be a string, got ${typeof text}`);
  return (text === '' ? ':\n' : prefixLines(': ', text)) + '\n';
}
