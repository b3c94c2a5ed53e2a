/**
 * Prometheus metrics whose values are read at scrape time, not accumulated in JavaScript.
 * Counters are set from the core's 64-bit counters in collect() (reset, then one inc by the
 * exact value), so they are exact and as monotonic as the core's. The write-latency
 * histogram comes from the core's log2 buckets: prom-client's Histogram only takes
 * observations one by one, so NativeHistogram extends it and reports the core's bucket
 * counts in the same shape. ScrapeSource reads each source once per scrape.
 */
import type { Counter, Gauge, Histogram, LabelValues, MetricType, Registry } from 'prom-client';
import type { App } from '../app.js';
import type { NativeServerStats } from '../native.js';
import { promClient } from './prom.js';
import type { RouteMetrics, RouteTotals } from './routes.js';

/** What the collectors of one scrape read: each source is read once per scrape (per microtask turn). */
export class ScrapeSource {
  private server: NativeServerStats | null = null;
  private routes: Map<string, RouteTotals> | null = null;

  constructor(readonly app: App, readonly routeMetrics: RouteMetrics) {}

  serverStats(): NativeServerStats {
    if (this.server === null) {
      this.server = this.app.stats();
      this.forgetSoon();
    }
    return this.server;
  }

  routeTotals(): Map<string, RouteTotals> {
    if (this.routes === null) {
      this.routes = this.routeMetrics.snapshot();
      this.forgetSoon();
    }
    return this.routes;
  }

  private forgetSoon(): void {
    queueMicrotask(() => {
      this.server = null;
      this.routes = null;
    });
  }
}

export type Sample<L extends string> = readonly [LabelValues<L>, number];
type Read<L extends string> = () => number | Iterable<Sample<L>>;

/** A counter whose value is set from `read()` at each scrape. */
export function exactCounter<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], read: Read<L>): Counter<L> {
  const { Counter } = promClient();
  return new Counter<L>({
    name, help, labelNames, registers: [registry],
    collect() {
      this.reset();
      const value = read();
      if (typeof value === 'number') this.inc(value);
      else for (const [labels, v] of value) this.inc(labels, v);
    },
  });
}

/**
 * A gauge set from `read()` at each scrape (label sets not returned disappear). `aggregator`: how
 * workers mode merges the workers' values (prom-client's AggregatorRegistry; default sum).
 */
export function exactGauge<L extends string>(registry: Registry, name: string, help: string, labelNames: readonly L[], read: Read<L>, aggregator: 'sum' | 'max' = 'sum'): Gauge<L> {
  const { Gauge } = promClient();
  return new Gauge<L>({
    name, help, labelNames, registers: [registry], aggregator,
    collect() {
      this.reset();
      const value = read();
      if (typeof value === 'number') this.set(value);
      else for (const [labels, v] of value) this.set(labels, v);
    },
  });
}

/** What a NativeHistogram reads: per-bucket (not cumulative) counts, their sum and count. */
export interface BucketCounts {
  /** counts[i] pairs with bounds[i]; counts past the last bound go to +Inf only. */
  counts: readonly number[];
  sum: number;
  count: number;
}

/** A histogram reporting bucket counts kept elsewhere (the core) rather than observations. */
export function nativeHistogram(registry: Registry, name: string, help: string, bounds: readonly number[], read: () => BucketCounts): Histogram<string> {
  return new (nativeHistogramClass())(registry, name, help, bounds, read);
}

type NativeHistogramClass = new (registry: Registry, name: string, help: string, bounds: readonly number[], read: () => BucketCounts) => Histogram<string>;
let NativeHistogram: NativeHistogramClass | undefined;

/** The class, made once prom-client is loaded (it extends prom-client's Histogram). */
function nativeHistogramClass(): NativeHistogramClass {
  if (NativeHistogram !== undefined) return NativeHistogram;
  const { Histogram } = promClient();
  NativeHistogram = class NativeHistogram extends Histogram<string> {
    constructor(registry: Registry, name: string, help: string, private readonly bounds: readonly number[], private readonly read: () => BucketCounts) {
      super({ name, help, buckets: [...bounds], registers: [registry] });
    }

    override async get(): ReturnType<Histogram<string>['get']> {
      const { counts, sum, count } = this.read();
      // `name`, `help` and `aggregator` are set by prom-client's Metric constructor.
      const self = this as unknown as { name: string; help: string; aggregator: 'sum' };
      const bucket = `${self.name}_bucket`;
      const values: Array<{ metricName: string; labels: LabelValues<string>; value: number }> = [];
      let cumulative = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += counts[i] ?? 0;
        values.push({ metricName: bucket, labels: { le: this.bounds[i] }, value: cumulative });
      }
      values.push({ metricName: bucket, labels: { le: '+Inf' }, value: count });
      values.push({ metricName: `${self.name}_sum`, labels: {}, value: sum });
      values.push({ metricName: `${self.name}_count`, labels: {}, value: count });
      return { name: self.name, help: self.help, type: 'histogram' as unknown as MetricType, aggregator: self.aggregator, values, collect: () => {} };
    }

    /** The registry's text output calls this when present (prom-client's own histogram defines it). */
    getForPromString(): ReturnType<Histogram<string>['get']> {
      return this.get();
    }
  };
  return NativeHistogram;
}
