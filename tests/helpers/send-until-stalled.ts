/**
 * Writes a body in pieces until one write has not completed for `stallMs` (the kernel buffers
 * are full because the server stopped reading), bounded by the body's length. Flow-control tests
 * use it to show that a server which does not read stops the client.
 */
import type { RawClient } from './raw-client.js';

export interface Stall {
  /** Bytes handed to the socket so far (the next write starts there). */
  offset: number;
  /** Where the client stalled, or -1 when the whole body went through. */
  stalledAt: number;
  /** The write that stalled (await it before writing more). */
  pending: Promise<void> | null;
}

export async function sendUntilStalled(client: RawClient, body: Buffer, piece = 256 * 1024, stallMs = 500): Promise<Stall> {
  let offset = 0;
  let pending: Promise<void> | null = null;
  while (offset < body.length) {
    pending = client.send(body.subarray(offset, offset + piece));
    offset += piece;
    const done = await Promise.race([pending.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), stallMs))]);
    if (!done) return { offset, stalledAt: offset, pending };
  }
  return { offset, stalledAt: -1, pending };
}
