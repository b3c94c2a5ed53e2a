/**
 * `metrics()`: the mountable metrics endpoint.
 *
 *   app.get('/metrics', metrics());                        // Prometheus text, or JSON when Accept prefers it
 *   app.get('/metrics.json', metrics({ format: 'json' }));
 *
 * `?format=json` / `?format=prometheus` override the negotiation.
 */
import Negotiator from 'negotiator';
import type { App } from '../app.js';
import { HttpError } from '../errors.js';
import type { Request } from '../request.js';
import { HttpResponse } from '../response.js';
import { accessCheck, type AccessOptions } from './access.js';
import { appHandler, type AppHandler } from './mount.js';
import { metricsRegistry } from './registry.js';
import { metricsSnapshot } from './snapshot.js';

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
    if (chooseFormat(req, format) === 'json') {
      return new HttpResponse(JSON.stringify(metricsSnapshot(app)), {
        headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': NO_STORE },
      });
    }
    const registry = metricsRegistry(app);
    return new HttpResponse(await registry.metrics(), { headers: { 'Content-Type': registry.contentType, 'Cache-Control': NO_STORE } });
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
