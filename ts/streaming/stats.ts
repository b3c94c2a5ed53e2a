/** Counter snapshots before a native stream or server exists, shaped by the core's own field lists. */
import { constants, type NativeServerStats } from '../native.js';

export { emptyStats } from '../native.js';

/** Server counters of an app that is not listening. */
export function emptyServerStats(): NativeServerStats {
  const out: Record<string, number | number[]> = {};
  for (const name of constants().serverStats) out[name] = 0;
  for (let c = 1; c <= 5; c++) out[`responses${c}xx`] = 0;
  out.writeLatencyBuckets = [];
  return out as unknown as NativeServerStats;
}
