/**
 * Resumable exports by keyset: rows are ordered by a unique key, and the token after a row is
 * that row's key, opaque to clients: `base64url(JSON.stringify([v1, v2...]))` prefixed with
 * "k1." (the format's version). Resuming with a token runs the same query with
 * `WHERE (key) > (token's values) ORDER BY key`, so a client gets exactly the rows after the
 * last one it received: none lost, none twice, whatever changed in between before that key.
 *
 * Where the client finds the token: the SSE `id:` of each event (EventSource sends it back as
 * Last-Event-ID by itself), a field of each NDJSON / JSON row (`_resume` by default), and it
 * sends it back as the Last-Event-ID header or the `?resume=` query parameter
 * (`resumeToken(req)` reads either).
 */
import { HttpError } from '../errors.js';
import type { Request } from '../request.js';

const PREFIX = 'k1.';

export interface ResumeOptions {
  /** The unique ordering key: one column name, or several (compared as a row). */
  key: string | readonly string[];
  /** A token from an earlier export of the same query (null or undefined: from the start). */
  after?: string | null;
}

/** A token that is not one of ours: a 400 when thrown from a handler. */
export class ResumeTokenError extends HttpError {
  override name = 'ResumeTokenError';
  readonly code = 'ERR_CATZILLA_RESUME_TOKEN';
  constructor(message: string) {
    super(400, message);
  }
}

export function keyColumns(key: string | readonly string[]): string[] {
  const columns = typeof key === 'string' ? [key] : Array.isArray(key) ? [...key] : [];
  if (columns.length === 0 || columns.some((c) => typeof c !== 'string' || c === '')) {
    throw new TypeError(`resume.key must be a column name or a non-empty array of them, got ${JSON.stringify(key)}`);
  }
  return columns;
}

/** A token for a row's key values. */
export function encodeToken(values: readonly unknown[]): string {
  return PREFIX + Buffer.from(JSON.stringify(values.map(plain))).toString('base64url');
}

/** The key values in a token; a ResumeTokenError (status 400) when it is not one of ours. */
export function decodeToken(token: string, arity: number): unknown[] {
  if (typeof token !== 'string' || !token.startsWith(PREFIX) || token.length > 4096) throw new ResumeTokenError('Invalid resume token');
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(token.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw new ResumeTokenError('Invalid resume token');
  }
  if (!Array.isArray(values) || values.length !== arity) throw new ResumeTokenError('Invalid resume token');
  return values;
}

/** A key value as JSON keeps it: Dates as ISO text, bigints as decimal text (the database casts them back). */
function plain(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  if (value === undefined) throw new TypeError('A resume key column is missing from a row (select the key columns)');
  return value;
}

/** The client's resume token: the Last-Event-ID header, else the `resume` query parameter, else null. */
export function resumeToken(req: Request): string | null {
  const header = req.header('last-event-id');
  if (typeof header === 'string' && header !== '') return header;
  if (typeof req.url !== 'string' || !req.url.includes('?')) return null;
  return req.query.get('resume') ?? req.query.get('lastEventId');
}

/** A double-quoted SQL identifier (columns of the resume key). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The keyset form of `sql`: its rows after `values` (none: all of them), ordered by the key.
 * `next` is the number of the first placeholder free after the query's own ($n+1).
 */
export function keysetSql(sql: string, columns: readonly string[], hasAfter: boolean, next: number, placeholder: (n: number) => string): string {
  const cols = columns.map((c) => `catzilla_keyset.${quoteIdent(c)}`);
  const order = ` ORDER BY ${cols.join(', ')}`;
  if (!hasAfter) return `SELECT * FROM (${sql}) AS catzilla_keyset${order}`;
  const params = columns.map((_, i) => placeholder(next + i));
  return `SELECT * FROM (${sql}) AS catzilla_keyset WHERE (${cols.join(', ')}) > (${params.join(', ')})${order}`;
}
