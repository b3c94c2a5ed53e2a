/**
 * What a stream carries: strings (sent as UTF-8) and bytes. Anything else is a
 * TypeError that errors the stream, never a silent `String(value)`.
 */

export type Chunk = string | Uint8Array;

/** The size small chunks are joined into before a write (the pump's batches, `writelines()`). */
export const BATCH_BYTES = 16 * 1024;

/** Throws a TypeError naming the value unless it is a string or a Uint8Array (Buffer included). */
export function checkChunk(value: unknown, where = 'stream chunk'): Chunk {
  if (typeof value === 'string' || value instanceof Uint8Array) return value;
  throw new TypeError(`A ${where} must be a string, a Buffer or a Uint8Array, got ${describe(value)}`);
}

/** Payload size used for batching: UTF-16 length for strings (exact for ASCII), byte length for bytes. */
export function chunkSize(chunk: Chunk): number {
  return typeof chunk === 'string' ? chunk.length : chunk.byteLength;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object of class ${value.constructor?.name ?? 'null-prototype'}`;
  return `a value of type ${typeof value}`;
}
