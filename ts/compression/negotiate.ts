/**
 * Content-coding negotiation from Accept-Encoding (q-values, `*`, `identity;q=0`),
 * delegated to `negotiator` (jshttp, the library behind Express and Koa) rather than
 * a hand-rolled parser: it handles the RFC 9110 corner cases and is widely audited.
 * Ties between equal q-values go to the server's preference order.
 */
import Negotiator from 'negotiator';

export type Encoding = 'br' | 'gzip' | 'deflate';

export const ENCODINGS: readonly Encoding[] = ['br', 'gzip', 'deflate'];

/** The best coding the client accepts among `available` (in preference order), or null for identity. */
export function negotiateEncoding(acceptEncoding: string | null | undefined, available: readonly Encoding[] = ENCODINGS): Encoding | null {
  if (acceptEncoding === undefined || acceptEncoding === null || acceptEncoding === '') return null;
  const offered = [...available, 'identity'];
  const negotiator = new Negotiator({ headers: { 'accept-encoding': acceptEncoding } });
  // negotiator 1.x takes { preferred } (its @types still describe 0.6).
  const best = (negotiator.encodings as (available: string[], options: { preferred: string[] }) => string[])(offered, { preferred: offered })[0];
  return best === undefined || best === 'identity' ? null : (best as Encoding);
}
