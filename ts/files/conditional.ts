/**
 * Conditional requests (RFC 9110 section 13), evaluated in the order of section 13.2.2:
 * If-Match, else If-Unmodified-Since (-> 412); then If-None-Match, else
 * If-Modified-Since for GET/HEAD (-> 304 for GET/HEAD, 412 otherwise).
 * If-Range is part of range handling (see range.ts).
 */
import { parseHttpDate } from './etag.js';

export interface Validators {
  /** The representation's ETag (`"x"` or `W/"x"`), or null. */
  etag: string | null;
  /** Last-Modified in ms, whole seconds, or null. */
  lastModified: number | null;
}

export type ConditionalVerdict = 'proceed' | 'not-modified' | 'precondition-failed';

/** Request header lookup (lowercase names). */
export type HeaderLookup = (name: string) => string | undefined;

export function evaluateConditionals(method: string, header: HeaderLookup, v: Validators): ConditionalVerdict {
  const ifMatch = header('if-match');
  if (ifMatch !== undefined) {
    if (!matchesAny(ifMatch, v.etag, true)) return 'precondition-failed';
  } else {
    const since = parseHttpDate(header('if-unmodified-since'));
    if (since !== null && v.lastModified !== null && v.lastModified > since) return 'precondition-failed';
  }
  const ifNoneMatch = header('if-none-match');
  const safe = method === 'GET' || method === 'HEAD';
  if (ifNoneMatch !== undefined) {
    if (matchesAny(ifNoneMatch, v.etag, false)) return safe ? 'not-modified' : 'precondition-failed';
  } else if (safe) {
    const since = parseHttpDate(header('if-modified-since'));
    if (since !== null && v.lastModified !== null && v.lastModified <= since) return 'not-modified';
  }
  return 'proceed';
}

/**
 * Whether an If-Match / If-None-Match list matches `etag`: `*` matches any existing
 * representation; strong comparison for If-Match, weak for If-None-Match.
 */
export function matchesAny(list: string, etag: string | null, strong: boolean): boolean {
  if (list.trim() === '*') return true; // only evaluated for a representation that exists
  if (etag === null) return false;
  for (const tag of parseEtagList(list)) {
    if (strong ? strongEqual(tag, etag) : opaque(tag) === opaque(etag)) return true;
  }
  return false;
}

/** Strong comparison: both strong and the same opaque tag. */
export function strongEqual(a: string, b: string): boolean {
  return !a.startsWith('W/') && !b.startsWith('W/') && a === b;
}

/** The entity-tags of a comma-separated list, up to the first malformed member. */
export function parseEtagList(list: string): string[] {
  const out: string[] = [];
  const re = /\s*((?:W\/)?"[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(list)) !== null) {
    out.push(m[1]!);
    if (re.lastIndex >= list.length) break;
  }
  return out;
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}
