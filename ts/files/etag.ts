/**
 * Validators of a file: ETag and Last-Modified, derived only from what changes when
 * the file does (size and mtime in nanoseconds), so they are stable across restarts
 * and identical on every server that holds the same file with the same mtime (the
 * inode is left out for that reason).
 *
 * ETags are strong by default (`"<size>-<mtime ns>"` in base 36): any write changes the
 * mtime, and a strong validator is what If-Range and If-Match require. `etag: 'weak'`
 * gives `W/"..."` (then If-Range never matches and ranges restart from a full response).
 * A precompressed variant gets its own tag from its own file plus the encoding.
 */

export type EtagMode = 'strong' | 'weak' | false;

export interface FileStamp {
  size: bigint | number;
  mtimeNs: bigint;
}

/** The ETag of a file (or null when disabled). `encoding` distinguishes precompressed variants. */
export function fileEtag(stamp: FileStamp, mode: EtagMode = 'strong', encoding?: string): string | null {
  if (mode === false) return null;
  const tag = `${BigInt(stamp.size).toString(36)}-${stamp.mtimeNs.toString(36)}${encoding ? `-${encoding}` : ''}`;
  return mode === 'weak' ? `W/"${tag}"` : `"${tag}"`;
}

/** An IMF-fixdate (RFC 9110 section 5.6.7) of a time in ms, truncated to the second. */
export function httpDate(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toUTCString();
}

const IMF_FIXDATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * Parses an HTTP date: IMF-fixdate, and the obsolete RFC 850 and asctime forms that
 * recipients must accept (RFC 9110 section 5.6.7). Returns ms since the epoch, or null.
 */
export function parseHttpDate(value: string | undefined): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (!IMF_FIXDATE.test(v) && !/^[A-Za-z]+, \d{2}-[A-Za-z]{3}-\d{2} \d{2}:\d{2}:\d{2} GMT$/.test(v) && !/^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/.test(v)) {
    return null;
  }
  const ms = Date.parse(/GMT$/.test(v) ? v : `${v} GMT`);
  return Number.isFinite(ms) ? ms : null;
}

/** Last-Modified in whole seconds (what the header can carry), for comparisons with request dates. */
export function mtimeSeconds(mtimeNs: bigint): number {
  return Number(mtimeNs / 1_000_000_000n) * 1000;
}
