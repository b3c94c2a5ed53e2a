/**
 * Metrics and live streams of every worker, in workers mode (ts/workers/). A worker that serves
 * /metrics, introspection or the dashboard asks the primary, which asks every worker (the
 * providers registered by endpoint.ts, introspection.ts and dashboard.ts) and answers within its
 * gather deadline; the merge is done here, by the worker that serves the request. Prometheus
 * text is merged by prom-client's AggregatorRegistry.aggregate (sums; `max` for a gauge that says
 * so); `?by=worker` adds a `worker` label to every sample first, so the default output never
 * counts a worker twice. Workers that did not answer are counted in `catzilla_workers{state="missing"}`.
 * Counters of a worker restart from zero with the worker (Prometheus treats the drop as a reset).
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { App } from '../app.js';
import { HttpError } from '../errors.js';
import type { NativeServerStats } from '../native.js';
import type { Request } from '../request.js';
import type { Collected, Gathered } from '../workers/protocol.js';
import { gather } from '../workers/worker.js';
import { promClient } from './prom.js';

export { gather, provide } from '../workers/worker.js';

type PromMetric = MetricObjectWithValues<MetricValue<string>>;

/** `?by=worker` (per worker, with a `worker` label), or the default (summed over the workers). */
export function byWorker(req: Request): boolean {
  const by = req.query.get('by');
  if (by === null) return false;
  if (by === 'worker') return true;
  throw new HttpError(400, 'by must be worker');
}

/** The Prometheus text of every worker, merged (null outside workers mode or without the primary's answer). */
export async function clusterPrometheus(app: App, perWorker: boolean): Promise<{ text: string; contentType: string } | null> {
  const gathered = await gather(app, 'metrics');
  if (gathered === null) return null;
  const sets = gathered.results.map((r) => (perWorker ? withWorkerLabel(r.data as PromMetric[], r.worker) : (r.data as PromMetric[])));
  sets.push(clusterMetrics(gathered, perWorker));
  const registry = promClient().AggregatorRegistry.aggregate(sets as never);
  return { text: await registry.metrics(), contentType: registry.contentType };
}

function withWorkerLabel(metrics: PromMetric[], worker: number): PromMetric[] {
  return metrics.map((m) => ({ ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker: String(worker) } })) }));
}

/** The primary's own numbers: workers answered and missing, restarts. */
function clusterMetrics(g: Gathered, perWorker: boolean): PromMetric[] {
  const metric = (name: string, help: string, type: string, values: Array<{ labels: Record<string, string>; value: number }>): PromMetric =>
    ({ name, help, type, aggregator: 'sum', values } as unknown as PromMetric);
  const out = [
    metric('catzilla_workers', 'Worker processes asked for this scrape, by whether they answered in time (answered, missing).', 'gauge', [
      { labels: { state: 'answered' }, value: g.results.length }, { labels: { state: 'missing' }, value: g.missing.length },
    ]),
    metric('catzilla_worker_restarts_total', 'Workers that died and were started again since the primary started.', 'counter', [{ labels: {}, value: g.restarts }]),
  ];
  if (perWorker) {
    out.push(metric('catzilla_worker_up', 'Whether the worker answered this scrape (1) or not (0).', 'gauge', [
      ...g.results.map((r) => ({ labels: { worker: String(r.worker) }, value: 1 })),
      ...g.missing.map((m) => ({ labels: { worker: String(m.worker) }, value: 0 })),
    ]));
  }
  return out;
}

/** Keys whose values are not added when numbers are merged: kept from the first, or the largest kept. */
const KEEP = new Set(['time', 'le']);
const MAX = new Set(['peakQueuedBytes']);

/** `b` added into `a`, key by key (numbers summed, objects and arrays merged by key or index). */
export function mergeInto(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  for (const [key, value] of Object.entries(b)) {
    const have = a[key];
    if (typeof value === 'number') {
      if (typeof have !== 'number') a[key] = value;
      else if (MAX.has(key)) a[key] = Math.max(have, value);
      else if (!KEEP.has(key)) a[key] = have + value;
    } else if (Array.isArray(value)) {
      const into = Array.isArray(have) ? have : (a[key] = []);
      value.forEach((item, i) => {
        if (typeof item === 'number') into[i] = (typeof into[i] === 'number' ? into[i] : 0) + item;
        else if (typeof item === 'object' && item !== null) into[i] = mergeInto((into[i] ?? {}) as Record<string, unknown>, item as Record<string, unknown>);
      });
    } else if (typeof value === 'object' && value !== null) {
      a[key] = mergeInto((typeof have === 'object' && have !== null ? have : {}) as Record<string, unknown>, value as Record<string, unknown>);
    } else if (have === undefined) {
      a[key] = value;
    }
  }
  return a;
}

/** Every worker's `data` merged (see mergeInto), and who answered. */
export function merged<T>(g: Gathered): T {
  const out: Record<string, unknown> = {};
  for (const r of g.results) mergeInto(out, structuredClone(r.data) as Record<string, unknown>);
  return out as T;
}

export interface WorkersSummary {
  answered: Array<{ worker: number; pid: number }>;
  missing: Array<{ worker: number; pid: number }>;
  restarts: number;
}

export function summary(g: Gathered): WorkersSummary {
  return { answered: g.results.map(({ worker, pid }) => ({ worker, pid })), missing: g.missing, restarts: g.restarts };
}

/** The server counters of every worker, summed (peakQueuedBytes: the largest). */
export function sumStats(results: Collected[]): NativeServerStats {
  return merged<NativeServerStats>({ results, missing: [], restarts: 0 });
}
