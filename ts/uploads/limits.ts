/**
 * Upload limits and the HTTP errors they raise. Every limit that is exceeded fails the whole
 * body with a 413 naming the limit; a body that is not valid multipart/form-data (no boundary,
 * bad part headers, truncated) fails it with a 400. A limit error is raised the moment the
 * offending part is seen: nothing after it is parsed or buffered.
 */
import { HttpError } from '../errors.js';

export interface UploadLimits {
  /** Bytes of one file part (413 above). Default: no limit of its own (the App's maxBodySize bounds it). */
  fileSize?: number;
  /** File parts in one body (413 above). Default: no limit. */
  files?: number;
  /** Non-file fields in one body (413 above). Default 1000. */
  fields?: number;
  /** Bytes of one field's value (413 above). Default 1 MiB. */
  fieldSize?: number;
  /** Bytes of a field's name in an urlencoded body (413 above). Default 200. */
  fieldNameSize?: number;
  /** Parts (fields + files) in one body (413 above). Default: no limit. */
  parts?: number;
  /** Bytes of one part's header block (413 above). Default 8 KiB, at most 16 KiB (the parser's own bound). */
  headerSize?: number;
}

/** The parser's hard bound on a part's header block: busboy rejects a longer one as malformed. */
export const MAX_PART_HEADER_SIZE = 16 * 1024;

export interface ResolvedLimits {
  fileSize: number;
  files: number;
  fields: number;
  fieldSize: number;
  fieldNameSize: number;
  parts: number;
  headerSize: number;
}

export const LIMIT_DEFAULTS: Readonly<ResolvedLimits> = Object.freeze({
  fileSize: Infinity,
  files: Infinity,
  fields: 1000,
  fieldSize: 1024 * 1024,
  fieldNameSize: 200,
  parts: Infinity,
  headerSize: 8 * 1024,
});

/** Defaults filled in; a TypeError naming a bad limit. */
export function resolveLimits(limits: UploadLimits | undefined): ResolvedLimits {
  if (limits !== undefined && (typeof limits !== 'object' || limits === null)) throw new TypeError('upload limits must be an object');
  const out = { ...LIMIT_DEFAULTS };
  for (const key of Object.keys(limits ?? {}) as Array<keyof UploadLimits>) {
    if (!(key in LIMIT_DEFAULTS)) throw new TypeError(`unknown upload limit ${JSON.stringify(key)}; known: ${Object.keys(LIMIT_DEFAULTS).join(', ')}`);
    const value = limits![key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0 || (!Number.isInteger(value) && value !== Infinity)) {
      throw new TypeError(`upload limit ${key} must be a non-negative integer or Infinity, got ${String(value)}`);
    }
    out[key] = value;
  }
  if (out.headerSize > MAX_PART_HEADER_SIZE) throw new TypeError(`upload limit headerSize must be at most ${MAX_PART_HEADER_SIZE} (the parser's bound), got ${out.headerSize}`);
  return out;
}

/** A limit was exceeded: 413 with the limit's name and value in the message. */
export function limitError(limit: keyof ResolvedLimits, value: number, what: string): HttpError {
  const err = new HttpError(413, `upload rejected: ${what} (limits.${limit} = ${value})`);
  (err as HttpError & { limit?: string }).limit = limit;
  return err;
}

/** The body is not a well-formed form: 400. */
export function malformedError(what: string, cause?: unknown): HttpError {
  return new HttpError(400, `malformed form body: ${what}`, cause === undefined ? {} : { cause });
}
