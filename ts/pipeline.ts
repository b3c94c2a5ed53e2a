/**
 * The request pipeline: a Request in, a response value out. It finds the route (setting
 * `req.params` and `req.route`), runs the middleware around the handler (or around the
 * 404/405 fallback), and turns a failure into its HttpResponse. It knows nothing of ids,
 * native calls or streams: the transport (ts/transport.ts) hands it each request and sends
 * what it produces.
 */
import { HttpError } from './errors.js';
import type { MiddlewareChain } from './middleware.js';
import type { Request } from './request.js';
import { HttpResponse, TEXT_PLAIN, type ResponseLike } from './response.js';
import type { Router, RouteMatch } from './router.js';
import { reasonPhrase } from './status.js';
import type { FlowOptions } from './streaming/options.js';

export type Handler = (req: Request) => ResponseLike | Promise<ResponseLike>;

/** Per-route settings (the optional third argument of app.get/post/...). */
export type RouteOptions = FlowOptions;

export interface Logger {
  error(...args: unknown[]): void;
}

/** What the router found for a request. */
export type Route = RouteMatch<Handler, RouteOptions>;

export class Pipeline {
  constructor(
    private readonly router: Router<Handler, RouteOptions>,
    private readonly middleware: MiddlewareChain,
    private readonly logger: Logger,
  ) {}

  /**
   * The route of `req`, its params and pattern set on it. A router failure (a malformed
   * percent-escape: 400) becomes a route whose handler rejects, so middleware sees it.
   */
  route(req: Request): Route {
    let match: Route;
    try {
      match = this.router.find(req.method, req.path);
    } catch (err) {
      return { kind: 'found', handler: () => Promise.reject(err), params: req.params };
    }
    if (match.kind === 'found') {
      // No params (a static route): the request creates its empty object only if asked, instead of
      // keeping the router's (a null-prototype object is a dictionary: ~180 bytes for as long as
      // the request lives, hours for an SSE subscriber).
      if (hasKeys(match.params)) req.params = match.params;
      req.route = match.pattern;
    }
    return match;
  }

  /**
   * Runs the middleware and the handler (or the fallback) for `req` on `route`. Returns the
   * handler's value as it returned it (a string, plain JSON, an HttpResponse...), or a promise
   * of it, or the chain's promise of an HttpResponse: no promise is made for a synchronous
   * handler outside middleware. Never throws: a synchronous failure comes back as its error
   * response; a returned promise may reject, and `recover` maps that.
   */
  run(req: Request, route: Route): ResponseLike | Promise<ResponseLike> {
    const middleware = this.middleware;
    if (middleware.size > 0 && middleware.appliesTo(req.path)) {
      return middleware.run(req, route.kind === 'found' ? route.handler : () => fallback(req, route));
    }
    if (route.kind !== 'found') return fallback(req, route);
    try {
      return route.handler(req);
    } catch (err) {
      return this.recover(err);
    }
  }

  /** The response for a failure: an HttpError's status, anything else a logged 500. Never throws. */
  recover(err: unknown): HttpResponse {
    try {
      return errorResponse(err, this.logger);
    } catch (inner) {
      logError(this.logger, inner); // an HttpError whose headers are invalid, say
      return errorResponse(null, this.logger);
    }
  }
}

/** Logs `err` (its stack when it has one); a throwing logger is ignored. */
export function logError(logger: Logger, err: unknown): void {
  try {
    logger.error(err instanceof Error && err.stack ? err.stack : err);
  } catch {
    // A throwing logger must not take the server down.
  }
}

/** 404, or 405 with Allow (OPTIONS gets 204 with Allow instead). */
function fallback(req: Request, match: Exclude<Route, { kind: 'found' }>): HttpResponse {
  if (match.kind === 'not-found') return new HttpResponse(reasonPhrase(404), { status: 404 });
  if (req.method === 'OPTIONS') return new HttpResponse(null, { status: 204, headers: { Allow: match.allow } });
  return new HttpResponse(reasonPhrase(405), { status: 405, headers: { Allow: match.allow } });
}

/** The response for a thrown value; anything but an HttpError is logged (null: nothing to log). */
function errorResponse(err: unknown, logger: Logger): HttpResponse {
  if (err instanceof HttpError) {
    const body = err.expose ? err.message : reasonPhrase(err.status);
    const res = new HttpResponse(body, { status: err.status, headers: err.headers });
    if (!res.headers.has('content-type') || !err.expose) res.headers.set('Content-Type', TEXT_PLAIN);
    return res;
  }
  if (err !== null) logError(logger, err);
  return new HttpResponse(reasonPhrase(500), { status: 500 });
}

function hasKeys(params: object): boolean {
  for (const _ in params) return true;
  return false;
}
