/**
 * Range requests (RFC 9110 section 14), for GET only (section 14.2: other methods ignore Range).
 *
 * Policy, in order:
 * 1. A Range header whose unit is not `bytes` or whose syntax is invalid (including
 *    last < first) is ignored: the full representation is sent (200).
 * 2. If-Range must match (strong ETag comparison, or a date equal to Last-Modified),
 *    else Range is ignored (200).
 * 3. Unsatisfiable specs (first >= size, suffix length 0, any range of an empty
 *    representation) are dropped; when none is left: 416 with `Content-Range: bytes *\/size`.
 * 4. When any two ranges overlap or touch, all are sorted and merged (section 14.2 lets a
 *    server coalesce); otherwise the client's order is kept.
 * 5. More than `maxRanges` ranges after merging (default 16): Range is ignored (200), which
 *    costs no more than a plain GET; many tiny parts would cost far more per byte.
 * One range: 206 with Content-Range; several: 206 multipart/byteranges (multipart.ts).
 */
import { strongEqual, type Validators } from './conditional.js';
import { parseHttpDate } from './etag.js';

/** Inclusive byte positions. */
export interface ByteRange {
  start: number;
  end: number;
}

export type RangeVerdict =
  | { kind: 'full' }
  | { kind: 'unsatisfiable' }
  | { kind: 'ranges'; ranges: ByteRange[] };

export const DEFAULT_MAX_RANGES = 16;

const FULL: RangeVerdict = Object.freeze({ kind: 'full' });
const SPEC = /^\s*(\d*)\s*-\s*(\d*)\s*$/;

/** Parses a Range header against a representation of `size` bytes (see the policy above). */
export function parseRange(header: string | undefined, size: number, maxRanges = DEFAULT_MAX_RANGES): RangeVerdict {
  if (header === undefined) return FULL;
  const eq = header.indexOf('=');
  if (eq === -1 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return FULL;
  const specs = header.slice(eq + 1).split(',');
  const ranges: ByteRange[] = [];
  let any = false;
  for (const spec of specs) {
    if (spec.trim() === '') continue; // empty list elements are allowed (RFC 9110 section 5.6.1)
    const m = SPEC.exec(spec);
    if (m === null) return FULL;
    const [, first, last] = m as unknown as [string, string, string];
    any = true;
    if (first === '') {
      if (last === '') return FULL;
      const suffix = Number(last);
      if (suffix === 0 || size === 0) continue;
      ranges.push({ start: Math.max(0, size - suffix), end: size - 1 });
      continue;
    }
    const start = Number(first);
    const end = last === '' ? Infinity : Number(last);
    if (end < start) return FULL;
    if (start >= size) continue;
    ranges.push({ start, end: Math.min(end, size - 1) });
  }
  if (!any) return FULL;
  if (ranges.length === 0) return { kind: 'unsatisfiable' };
  const merged = coalesce(ranges);
  if (merged.length > maxRanges) return FULL;
  return { kind: 'ranges', ranges: merged };
}

/** Sorts and merges when any two ranges overlap or touch; returns them unchanged otherwise. */
export function coalesce(ranges: ByteRange[]): ByteRange[] {
  if (ranges.length < 2) return ranges;
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  let touching = false;
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.start <= sorted[i - 1]!.end + 1) {
      touching = true;
      break;
    }
  }
  if (!touching) return ranges;
  const out: ByteRange[] = [{ ...sorted[0]! }];
  for (let i = 1; i < sorted.length; i++) {
    const r = sorted[i]!;
    const last = out[out.length - 1]!;
    if (r.start <= last.end + 1) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/**
 * Whether If-Range lets the Range apply: an entity-tag must match strongly, a date must
 * equal Last-Modified exactly. A missing If-Range allows it.
 */
export function ifRangeAllows(ifRange: string | undefined, v: Validators): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return v.etag !== null && strongEqual(value, v.etag);
  const date = parseHttpDate(value);
  return date !== null && v.lastModified !== null && date === v.lastModified;
}

/** `bytes first-last/size` */
export function contentRange(r: ByteRange, size: number): string {
  return `bytes ${r.start}-${r.end}/${size}`;
}

/** `bytes *\/size` for a 416. */
export function unsatisfiedRange(size: number): string {
  return `bytes */${size}`;
}
