/**
 * The settings of workers mode (`app.listen({ workers, cluster: { ... } })`), checked once.
 */
import os from 'node:os';

export interface ClusterOptions {
  /** Milliseconds each worker's close gets at SIGTERM / SIGINT / app.close() / a rolling restart (default 5000). */
  closeTimeout?: number;
  /** Milliseconds a worker may take from its start to listening (default 30000). */
  startTimeout?: number;
  /** First restart delay of a dead worker, ms (default 100); doubles per death up to maxRestartDelay. */
  restartDelay?: number;
  /** Longest restart delay, ms (default 10000). */
  maxRestartDelay?: number;
  /** A worker up this long (ms) resets its restart delay (default 10000). */
  stableAfter?: number;
  /** Milliseconds the primary waits for each worker's answer to a metrics or streams request (default 1000). */
  gatherTimeout?: number;
  /** The primary handles SIGTERM, SIGINT (graceful close) and SIGHUP (rolling restart) (default true). */
  signals?: boolean;
}

export type ClusterSettings = Required<ClusterOptions>;

export function clusterSettings(options: ClusterOptions = {}): ClusterSettings {
  if (typeof options !== 'object' || options === null) throw new TypeError('listen cluster options must be an object');
  const ms = (key: keyof ClusterOptions, fallback: number, min = 0): number => {
    const value = options[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) throw new TypeError(`listen cluster.${key} must be an integer of at least ${min}, got ${String(value)}`);
    return value;
  };
  const signals = options.signals ?? true;
  if (typeof signals !== 'boolean') throw new TypeError('listen cluster.signals must be a boolean');
  return {
    closeTimeout: ms('closeTimeout', 5000),
    startTimeout: ms('startTimeout', 30000, 1),
    restartDelay: ms('restartDelay', 100, 1),
    maxRestartDelay: ms('maxRestartDelay', 10000, 1),
    stableAfter: ms('stableAfter', 10000),
    gatherTimeout: ms('gatherTimeout', 1000, 1),
    signals,
  };
}

/** `workers: N | 'auto'` as a count ('auto': os.availableParallelism()). */
export function workerCount(workers: unknown): number {
  if (workers === 'auto') return os.availableParallelism();
  if (typeof workers !== 'number' || !Number.isSafeInteger(workers) || workers < 1 || workers > 1024) {
    throw new TypeError(`listen workers must be a positive integer or 'auto', got ${String(workers)}`);
  }
  return workers;
}
