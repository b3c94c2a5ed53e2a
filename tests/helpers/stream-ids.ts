/**
 * Backplane stream ids in tests. A new stream's first id is Redis's clock in microseconds
 * (`0-<16 digits>`), then +1 per publish: tests take the first id they observe and count from it.
 */
import { parseStreamId, streamId } from '../../ts/backplane/types.js';

/** The seq of a stream id (`0-<seq>`); throws on anything else. */
export function seqOf(id: string | undefined): number {
  const seq = id === undefined ? null : parseStreamId(id);
  if (seq === null) throw new Error(`not a stream id: ${String(id)}`);
  return seq;
}

/** The id `k` places after `first` in the same stream (ids are consecutive within a stream). */
export function idAfter(first: string, k: number): string {
  return streamId(seqOf(first) + k);
}
