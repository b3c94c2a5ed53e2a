/**
 * Koa-style middleware composition. Each middleware receives `next`, which runs
 * the rest of the chain and resolves to its normalised HttpResponse (a
 * StreamingResponse when the body is a stream: wrap it with `mapChunks` /
 * `transformBody`, observe it with `onClose`); whatever the
 * middleware returns becomes the response. Errors propagate outward as rejections
 * so a middleware can catch them; the app turns what escapes into a response.
 */
import type { Request } from './request.js';
import type { HttpResponse, ResponseLike } from './response.js';
import { toHttpResponse } from './normalize.js';
import { StreamingResponse } from './streaming/response.js';

export type Next = () => Promise<HttpResponse>;

/**
 * `(req, next) => ResponseLike`. Returning `undefined` after calling `next()` keeps
 * the downstream response (possibly modified in place); otherwise the return value
 * is normalised like a handler's (so `null`, or nothing without `next()`, is a 204).
 */
export type Middleware = (req: Request, next: Next) => ResponseLike | Promise<ResponseLike>;

/** The innermost step of a chain: the route handler, or the 404/405 fallback. */
export type Endpoint = (req: Request) => ResponseLike | Promise<ResponseLike>;

interface Entry {
  /** Normalised prefix without a trailing '/', or '' to run for every path. */
  readonly prefix: string;
  readonly fn: Middleware;
}

/** Normalises a `use()` prefix; throws a TypeError naming it when invalid. */
export function normalizePrefix(prefix: unknown): string {
  if (typeof prefix !== 'string' || !prefix.startsWith('/')) {
    throw new TypeError(`Middleware prefix must be a string starting with '/', got ${JSON.stringify(prefix)}`);
  }
  return prefix.replace(/\/+$/, '');
}

/** Whether `path` is `prefix` itself or below it (`/api` covers `/api` and `/api/x`, not `/apix`). */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix === '' || path === prefix) return true;
  return path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47; // '/'
}

/** An ordered middleware list that runs around an endpoint. */
export class MiddlewareChain {
  private readonly entries: Entry[] = [];

  get size(): number {
    return this.entries.length;
  }

  /** Whether any middleware runs for `path` (when none does, requests skip the async chain). */
  appliesTo(path: string): boolean {
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) if (underPrefix(path, entries[i]!.prefix)) return true;
    return false;
  }

  add(prefix: string, fn: Middleware): void {
    if (typeof fn !== 'function') throw new TypeError(`Middleware must be a function, got ${typeof fn}`);
    this.entries.push({ prefix, fn });
  }

  /** Runs the chain for `req` around `endpoint`. Never throws synchronously; rejects with what escapes. */
  run(req: Request, endpoint: Endpoint): Promise<HttpResponse> {
    const entries = this.entries;
    const path = req.path;
    const dispatch = async (index: number): Promise<HttpResponse> => {
      let i = index;
      while (i < entries.length && !underPrefix(path, entries[i]!.prefix)) i++;
      if (i === entries.length) return toHttpResponse(await endpoint(req));

      let downstream: Promise<HttpResponse> | undefined;
      const next: Next = () => {
        if (downstream !== undefined) return Promise.reject(new Error('next() called more than once by the same middleware'));
        downstream = dispatch(i + 1);
        // A middleware may answer without awaiting next(); its failure must not become an unhandled rejection.
        downstream.catch(() => {});
        return downstream;
      };
      const result = await entries[i]!.fn(req, next);
      if (result === undefined && downstream !== undefined) return downstream;
      const res = toHttpResponse(result);
      // A streaming response this middleware replaced is never sent: release its source.
      if (downstream !== undefined) {
        Promise.all([downstream, res]).then(([d, r]) => d !== r && d instanceof StreamingResponse && d.discard('finished', null), () => {});
      }
      return res;
    };
    return dispatch(0);
  }
}
