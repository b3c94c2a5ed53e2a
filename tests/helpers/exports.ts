/** Helpers for the database export tests (tests/ts/db-*.test.ts). */
import { decodeChunked, headEnd } from './chunked.js';
import { sleep } from './raw-client.js';

/**
 * Waits (bounded) until `count()` stops moving for one `stepMs` step (socket buffers filled and
 * the producer stopped); returns its value.
 */
export async function settled(count: () => number, stepMs = 200, maxSteps = 50): Promise<number> {
  let before = -1;
  for (let i = 0; i < maxSteps && count() !== before; i++) {
    before = count();
    await sleep(stepMs);
  }
  return before;
}

/** The complete NDJSON lines of a chunked response cut anywhere (the head, framing and a partial last line dropped). */
export function receivedLines(response: Buffer): any[] {
  const body = decodeChunked(response.subarray(headEnd(response))).body.toString('utf8');
  const lines = body.split('\n');
  lines.pop(); // after the last LF: an incomplete line, or nothing
  return lines.map((l) => JSON.parse(l));
}
