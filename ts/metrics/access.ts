/**
 * Who may see an observability endpoint. Introspection and the dashboard are off unless
 * `enabled`, and then need a `token` or an `authorize(req)` check; the metrics endpoint
 * is on by default and takes the same options. A token is sent as
 * `Authorization: Bearer <token>`, or as `?token=<token>` (EventSource cannot set headers).
 * Disabled -> 404 (as if there were no route); no credentials -> 401; refused -> 403.
 */
import type * as Crypto from 'node:crypto';
import { lazy } from '../lazy.js';
import type { Request } from '../request.js';
import { HttpResponse } from '../response.js';
import { reasonPhrase } from '../status.js';

const crypto = lazy<typeof Crypto>('node:crypto');

export interface AccessOptions {
  /** Serve at all (default false for introspection and the dashboard, true for metrics). */
  enabled?: boolean;
  /** A secret the client must send (Authorization: Bearer, or the `token` query parameter). */
  token?: string;
  /** Decides per request, after the token check when both are given. */
  authorize?: (req: Request) => boolean | Promise<boolean>;
}

/** Returns the refusal for `req`, or null when it may pass. */
export type AccessCheck = (req: Request) => HttpResponse | null | Promise<HttpResponse | null>;

export function accessCheck(options: AccessOptions, what: string, enabledByDefault: boolean): AccessCheck {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${what} options must be an object`);
  const { enabled = enabledByDefault, token, authorize } = options;
  if (typeof enabled !== 'boolean') throw new TypeError(`${what}: enabled must be a boolean`);
  if (token !== undefined && (typeof token !== 'string' || token === '')) throw new TypeError(`${what}: token must be a non-empty string`);
  if (authorize !== undefined && typeof authorize !== 'function') throw new TypeError(`${what}: authorize must be a function`);
  if (!enabled) return () => refuse(404);
  if (!enabledByDefault && token === undefined && authorize === undefined) {
    throw new TypeError(`${what}: an enabled endpoint needs a token or an authorize(req) check (authorize: () => true opens it to everyone)`);
  }
  const digest = token === undefined ? null : sha256(token);
  return (req) => {
    if (digest !== null) {
      const given = presentedToken(req);
      if (given === null) return refuse(401);
      if (!crypto().timingSafeEqual(sha256(given), digest)) return refuse(403);
    }
    if (authorize === undefined) return null;
    return Promise.resolve(authorize(req)).then((ok) => (ok === true ? null : refuse(403)));
  };
}

/** The bearer token of `req`, or its `token` query parameter, or null. */
export function presentedToken(req: Request): string | null {
  const header = req.header('authorization');
  if (header !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m !== null) return m[1]!;
  }
  return req.query.get('token');
}

function sha256(text: string): Buffer {
  return crypto().createHash('sha256').update(text).digest();
}

function refuse(status: 401 | 403 | 404): HttpResponse {
  const headers: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' };
  if (status === 401) headers['WWW-Authenticate'] = 'Bearer realm="catzilla"';
  return new HttpResponse(reasonPhrase(status), { status, headers });
}
