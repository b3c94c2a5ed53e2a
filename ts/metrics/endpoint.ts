/**
 * `metrics()`: the mountable metrics endpoint.
 *
 *   app.get('/metrics', metrics());                        // Prometheus text, or JSON when Accept prefers it
 *   app.get('/metrics.json', metrics({ format: 'json' }));
 *
 * `?format=json` / `?format=prometheus` override the negotiation. In workers mode the answer
 * covers every worker (ts/metrics/cluster.ts): summed, or per worker with `?by=worker`.
 */
import Negotiator from 'negotiator';
import type { App } from '../app.js';
import { HttpError } from '../errors.js';
import type { Request } from '../request.js';
import { HttpResponse } from '../response.js';
import { accessCheck, type AccessOptions } from './access.js';
import { byWorker, clusterPrometheus, gather, merged, provide, summary } from './cluster.js';
import { workerRole } from '../workers/worker.js';
import { appHandler, type AppHandler } from './mount.js';
import { metricsRegistry } from './registry.js';
import { metricsSnapshot, type MetricsSnapshot } from './snapshot.js';

// what a worker answers when another worker serves /metrics
provide('metrics', (app) => metricsRegistry(app).getMetricsAsJSON());
provide('snapshot', (app) => metricsSnapshot(app));

export type MetricsFormat = 'prometheus' | 'json' | 'auto';

export interface MetricsOptions extends AccessOptions {
  /** 'auto' (default) picks by Accept: JSON only when the client prefers application/json. */
  format?: MetricsFormat;
  /** The app, for a handler that is not mounted with app.get(path, handler). */
  app?: App;
}

const FORMATS: readonly MetricsFormat[] = ['prometheus', 'json', 'auto'];
const NO_STORE = 'no-store';

export function metrics(options: MetricsOptions = {}): AppHandler {
  const check = accessCheck(options, 'metrics()', true);
  const format = options.format ?? 'auto';
  if (!FORMATS.includes(format)) throw new TypeError(`metrics(): format must be one of ${FORMATS.join(', ')}`);
  return appHandler('metrics()', options.app, async (app, req) => {
    const refused = await check(req);
    if (refused !== null) return refused;
    const perWorker = byWorker(req);
    if (chooseFormat(req, format) === 'json') {
      return new HttpResponse(JSON.stringify(await snapshotOf(app, perWorker)), {
        headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': NO_STORE },
      });
    }
    const all = await clusterPrometheus(app, perWorker);
    if (all !== null) return new HttpResponse(all.text, { headers: { 'Content-Type': all.contentType, 'Cache-Control': NO_STORE } });
    const registry = metricsRegistry(app);
    return new HttpResponse(await registry.metrics(), { headers: { 'Content-Type': registry.contentType, 'Cache-Control': NO_STORE } });
  }, (app) => {
    // A worker answers every scrape of the cluster, whichever worker serves it: load prom-client
    // now rather than at the first request (loading it can outlast the primary's gather deadline).
    if (workerRole() !== null) setImmediate(() => metricsRegistry(app));
  });
}

function chooseFormat(req: Request, format: MetricsFormat): 'prometheus' | 'json' {
  const asked = req.query.get('format');
  if (asked !== null) {
    if (asked === 'json' || asked === 'prometheus') return asked;
    throw new HttpError(400, 'format must be json or prometheus');
  }
  if (format !== 'auto') return format;
  const accept = req.header('accept');
  if (accept === undefined) return 'prometheus';
  const type = new Negotiator({ headers: { accept } }).mediaType(['text/plain', 'application/json']);
  return type === 'application/json' ? 'json' : 'prometheus';
}

/**
 * The JSON snapshot: this process's, or in workers mode every worker's merged (sums), with
 * `workers` (who answered, who is missing, restarts) and, with `?by=worker`, `byWorker`.
 */
async function snapshotOf(app: App, perWorker: boolean): Promise<MetricsSnapshot | (MetricsSnapshot & { workers: unknown; byWorker?: unknown })> {
  const gathered = await gather(app, 'snapshot');
  if (gathered === null) return metricsSnapshot(app);
  const all = merged<MetricsSnapshot>(gathered);
  all.time = Date.now();
  return {
    ...all,
    workers: summary(gathered),
    ...(perWorker ? { byWorker: gathered.results.map((r) => ({ worker: r.worker, pid: r.pid, snapshot: r.data })) } : {}),
  };
}
