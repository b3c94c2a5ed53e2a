/**
 * `serveStatic(root, options)`: files under a directory, as a route handler or a middleware.
 *
 *   app.get('/static/*', serveStatic('public'));                       // the wildcard is the file path
 *   app.use('/static', serveStatic('public', { prefix: '/static' }));   // middleware: falls through on 404
 *   app.use(serveStatic('public'));                                     // the whole request path
 *
 * The path is taken raw from the request target (the wildcard's raw text, or the path
 * after `prefix`), percent-decoded once and resolved safely (path.ts). Directories:
 * without a trailing slash -> 301 to the slashed URL; with it -> the first index file
 * (index.html by default) or 404. Methods other than GET/HEAD: 405 as a handler, the
 * next middleware as a middleware (which also gets every 404 unless `fallthrough: false`).
 */
import fs from 'node:fs';
import nodePath from 'node:path';
import { HttpError } from '../errors.js';
import type { Request } from '../request.js';
import { HttpResponse, type ResponseLike } from '../response.js';
import type { Next } from '../middleware.js';
import { checkSymlinks, decodeUrlPath, resolveUnder, safeLocation, type DotfilesPolicy, type SymlinksPolicy } from './path.js';
import { respondTo } from './respond.js';
import { checkOptions, openFile, type FileResponseOptions } from './send-file.js';

export interface StaticOptions extends FileResponseOptions {
  /** Index files tried for a directory URL ending in '/' (default ['index.html']; false: none). */
  index?: string | readonly string[] | false;
  /** Redirect a directory URL without a trailing slash to the slashed one with 301 (default true; false: 404). */
  redirect?: boolean;
  /** Dotfile segments: 'ignore' -> 404 (default), 'deny' -> 403, 'allow'. */
  dotfiles?: DotfilesPolicy;
  /** Symlinks: 'inside' (default: followed only when the target is under the root), 'follow', 'deny' (none under the root). */
  symlinks?: SymlinksPolicy;
  /** As a middleware, pass 404s and other methods to the next middleware (default true). */
  fallthrough?: boolean;
  /** Mount prefix stripped from the request path when there is no wildcard param (e.g. with app.use('/static', ...)). */
  prefix?: string;
}

export type StaticHandler = (req: Request, next?: Next) => Promise<ResponseLike>;

export function serveStatic(root: string, options: StaticOptions = {}): StaticHandler {
  if (typeof root !== 'string' || root === '') throw new TypeError('serveStatic(root): root must be a non-empty string');
  checkOptions(options);
  const absRoot = nodePath.resolve(root);
  const index = options.index === false ? [] : typeof options.index === 'string' ? [options.index] : [...(options.index ?? ['index.html'])];
  for (const name of index) {
    if (typeof name !== 'string' || name === '' || name.includes('/') || name.includes('\\')) throw new TypeError(`serveStatic: invalid index file name ${JSON.stringify(name)}`);
  }
  const dotfiles = options.dotfiles ?? 'ignore';
  const symlinks = options.symlinks ?? 'inside';
  if (!['inside', 'follow', 'deny'].includes(symlinks)) throw new TypeError(`serveStatic: symlinks must be 'inside', 'follow' or 'deny', got ${String(symlinks)}`);
  const prefix = options.prefix === undefined ? '' : options.prefix.replace(/\/+$/, '');
  if (options.prefix !== undefined && !options.prefix.startsWith('/')) throw new TypeError(`serveStatic: prefix must start with '/', got ${JSON.stringify(options.prefix)}`);
  const fallthrough = options.fallthrough !== false;
  let realRoot: Promise<string> | null = null;
  const getRealRoot = (): Promise<string> => {
    realRoot ??= fs.promises.realpath(absRoot).catch((err: unknown) => {
      realRoot = null; // the root may appear later
      throw err;
    });
    return realRoot;
  };

  const serve = async (req: Request): Promise<HttpResponse | null> => {
    const raw = rawRelativePath(req, prefix);
    if (raw === null) return null;
    const decoded = decodeUrlPath(raw);
    if (decoded === null) throw new HttpError(400, 'Bad Request: malformed percent-encoding in the path');
    const resolved = resolveUnder(absRoot, decoded, dotfiles);
    if (!resolved.ok) {
      if (resolved.status === 404) return null;
      throw new HttpError(resolved.status);
    }
    let real: string;
    try {
      real = await getRealRoot();
    } catch {
      return null;
    }
    const file = await checkSymlinks(real, resolved.segments, symlinks);
    if (file === null) return null;
    const st = await fs.promises.stat(file).catch(() => null);
    if (st === null) return null;
    let target = file;
    let segments = resolved.segments;
    if (st.isDirectory()) {
      if (!req.path.endsWith('/')) {
        if (options.redirect === false) return null;
        const q = req.url.indexOf('?');
        const location = safeLocation(req.path + '/') + (q === -1 ? '' : req.url.slice(q));
        return new HttpResponse(null, { status: 301, headers: { Location: location } });
      }
      let found: string | null = null;
      for (const name of index) {
        const candidate = await checkSymlinks(real, [...segments, name], symlinks);
        if (candidate === null) continue;
        const ist = await fs.promises.stat(candidate).catch(() => null);
        if (ist?.isFile()) {
          found = candidate;
          segments = [...segments, name];
          break;
        }
      }
      if (found === null) return null;
      target = found;
    }
    const rep = await openFile(req, target, options, async (p) => {
      const sibling = [...segments.slice(0, -1), segments[segments.length - 1] + p.slice(target.length)];
      return checkSymlinks(real, sibling, symlinks);
    });
    if (rep === null) return null;
    return respondTo(req, rep, options);
  };

  return async (req: Request, next?: Next): Promise<ResponseLike> => {
    const asMiddleware = typeof next === 'function';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      if (asMiddleware && fallthrough) return next();
      throw new HttpError(405, undefined, { headers: { Allow: 'GET, HEAD' } });
    }
    const res = await serve(req);
    if (res !== null) return res;
    if (asMiddleware && fallthrough) return next();
    throw new HttpError(404);
  };
}

/**
 * The still-encoded path of the file relative to the root: the raw text of the wildcard
 * param (the router decodes params; decoding twice would undo the traversal checks), else
 * the path after `prefix`, else the whole path. Null when the path is not under `prefix`.
 */
export function rawRelativePath(req: Request, prefix: string): string | null {
  const wildcard = req.params['*'];
  if (wildcard !== undefined) {
    const p = req.path;
    if (wildcard === '') return '';
    // The raw tail whose decoding is the param; it starts after a '/', and it is unique
    // (decoding a shorter tail gives a strictly shorter string).
    for (let i = p.length - 1; i >= 0; i--) {
      if (p.charCodeAt(i) !== 47) continue;
      const tail = p.slice(i + 1);
      if (tail === wildcard || decodeUrlPath(tail) === wildcard) return tail;
    }
    return null;
  }
  if (prefix !== '') {
    if (req.path !== prefix && !req.path.startsWith(prefix + '/')) return null;
    return req.path.slice(prefix.length);
  }
  return req.path;
}
