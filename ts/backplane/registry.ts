/**
 * The backplanes of this process that are connected or connecting, for the metrics endpoint
 * (ts/metrics/collectors.ts): a leaf with no imports, so that metrics can read backplane figures
 * without loading any backplane code.
 */
import type { BackplaneStats } from './types.js';

export interface ObservedBackplane {
  /** The label the metrics use: the URL without its password, and the key prefix. */
  readonly label: string;
  stats(): BackplaneStats;
}

const live = new Set<ObservedBackplane>();

export function observeBackplane(backplane: ObservedBackplane): void {
  live.add(backplane);
}

export function forgetBackplane(backplane: ObservedBackplane): void {
  live.delete(backplane);
}

export function liveBackplanes(): Iterable<ObservedBackplane> {
  return live;
}
