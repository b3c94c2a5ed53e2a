/**
 * From a representation of known length (memory pieces and file regions) to the
 * response a request gets: validators, conditionals (304/412), ranges (206 single or
 * multipart/byteranges, 416), HEAD, and a StreamingResponse with a declared
 * Content-Length whose body is memory chunks and FileRegions, so the file bytes go
 * out with sendfile and never through JavaScript.
 *
 * Descriptors opened by the framework are released on every path: a body that is
 * never sent (HEAD, 304, 412, 416, response dropped), cancelled (client gone) or
 * ended without using every region.
 */
import { ResponseHeaders, type HeadersInit } from '../headers.js';
import { HttpResponse, TEXT_PLAIN } from '../response.js';
import { reasonPhrase } from '../status.js';
import { StreamingResponse, type StreamingOptions } from '../streaming/response.js';
import { pullerSource, type Puller, type PullResult } from '../streaming/source.js';
import { evaluateConditionals, type HeaderLookup, type Validators } from './conditional.js';
import { httpDate } from './etag.js';
import { byteranges } from './multipart.js';
import { contentRange, DEFAULT_MAX_RANGES, ifRangeAllows, parseRange, unsatisfiedRange, type ByteRange } from './range.js';
import { FdOwner, FileRegion, fileRegion } from '../streaming/file-region.js';

/** A piece of a representation: bytes, or `length` bytes of an open descriptor from `offset`. */
export type Segment =
  | { kind: 'memory'; data: Uint8Array }
  | { kind: 'file'; fd: number; owner: FdOwner | null; offset: number; length: number };

export interface Representation {
  segments: Segment[];
  size: number;
  contentType: string | null;
  /** ETag and Last-Modified (ms, whole seconds). */
  validators: Validators;
  /** Fields sent with 200, 206 and 304 alike (Cache-Control, Vary, Content-Encoding...). */
  headers: ResponseHeaders;
  /** Descriptors the framework opened for this representation. */
  owners: FdOwner[];
}

export interface RespondOptions {
  /** Honour Range (default true). */
  ranges?: boolean;
  /** Ranges above this count (after merging) make the request a plain 200 (default 16). */
  maxRanges?: number;
  /** Status of a full response (default 200); ranges and conditionals only apply to 200. */
  status?: number;
  /** Flow settings and hooks for the StreamingResponse. */
  stream?: Omit<StreamingOptions, 'status' | 'headers' | 'contentType' | 'contentLength'>;
}

/** What respondTo needs of a request. */
export interface RequestLike {
  method: string;
  header(name: string): string | undefined;
}

/** Builds the response to `req` for `rep`; takes over the representation's descriptors. */
export function respondTo(req: RequestLike, rep: Representation, options: RespondOptions = {}): HttpResponse {
  const release = (): void => {
    for (const owner of rep.owners) owner.release();
  };
  try {
    return build(req, rep, options, release);
  } catch (err) {
    release();
    throw err;
  }
}

function build(req: RequestLike, rep: Representation, options: RespondOptions, release: () => void): HttpResponse {
  const status = options.status ?? 200;
  const ranges = options.ranges !== false && status === 200;
  const { etag, lastModified } = rep.validators;
  const headers = new ResponseHeaders(rep.headers);
  if (etag !== null) headers.set('ETag', etag);
  if (lastModified !== null) headers.set('Last-Modified', httpDate(lastModified));
  if (ranges) headers.set('Accept-Ranges', 'bytes');

  const header: HeaderLookup = (name) => req.header(name);
  if (status === 200) {
    const verdict = evaluateConditionals(req.method, header, rep.validators);
    if (verdict === 'not-modified') {
      release();
      return new HttpResponse(null, { status: 304, headers: notModifiedHeaders(headers) });
    }
    if (verdict === 'precondition-failed') {
      release();
      return new HttpResponse(reasonPhrase(412), { status: 412, headers: { 'Content-Type': TEXT_PLAIN } });
    }
  }

  if (ranges && req.method === 'GET') {
    const range = req.header('range');
    if (range !== undefined && ifRangeAllows(req.header('if-range'), rep.validators)) {
      const verdict = parseRange(range, rep.size, options.maxRanges ?? DEFAULT_MAX_RANGES);
      if (verdict.kind === 'unsatisfiable') {
        release();
        return new HttpResponse(reasonPhrase(416), {
          status: 416,
          headers: { 'Content-Type': TEXT_PLAIN, 'Content-Range': unsatisfiedRange(rep.size) },
        });
      }
      if (verdict.kind === 'ranges') {
        if (verdict.ranges.length === 1) {
          const r = verdict.ranges[0]!;
          headers.set('Content-Range', contentRange(r, rep.size));
          return body(rep, 206, headers, rep.contentType, slice(rep.segments, r), r.end - r.start + 1, options, release);
        }
        const multi = byteranges<Uint8Array | FileRegion>(verdict.ranges, rep.size, rep.contentType, (r) => slice(rep.segments, r));
        return body(rep, 206, headers, multi.contentType, multi.chunks, multi.length, options, release);
      }
    }
  }
  const all = slice(rep.segments, { start: 0, end: rep.size - 1 });
  return body(rep, status, headers, rep.contentType, all, rep.size, options, release);
}

function body(
  rep: Representation,
  status: number,
  headers: ResponseHeaders,
  contentType: string | null,
  chunks: Array<Uint8Array | FileRegion>,
  length: number,
  options: RespondOptions,
  release: () => void,
): HttpResponse {
  if (contentType !== null) headers.set('Content-Type', contentType);
  // Regions not cut for this response (outside the ranges) will never be sent.
  for (const owner of rep.owners) if (!chunks.some((c) => c instanceof FileRegion && c.owner === owner)) owner.release();
  const res = new StreamingResponse(pullerSource(new ChunkListPuller(chunks, release)), {
    ...options.stream,
    status,
    headers,
    contentLength: length,
  });
  res.onClose(release);
  return res;
}

/** The memory and region chunks that carry bytes `r.start..r.end` of the segments. */
export function slice(segments: readonly Segment[], r: ByteRange): Array<Uint8Array | FileRegion> {
  const out: Array<Uint8Array | FileRegion> = [];
  let pos = 0;
  for (const seg of segments) {
    const len = seg.kind === 'memory' ? seg.data.byteLength : seg.length;
    const from = Math.max(r.start, pos);
    const to = Math.min(r.end + 1, pos + len);
    if (from < to) {
      const at = from - pos;
      const n = to - from;
      if (seg.kind === 'memory') out.push(seg.data.subarray(at, at + n));
      else if (seg.owner !== null) out.push(FileRegion.owned(seg.owner, seg.offset + at, n));
      else out.push(fileRegion(seg.fd, { offset: seg.offset + at, length: n }));
    }
    pos += len;
    if (pos > r.end) break;
  }
  return out;
}

/** Fields a 304 carries (RFC 9110 section 15.4.5): those that a 200 would have sent and that describe caching. */
function notModifiedHeaders(from: ResponseHeaders): HeadersInit {
  const out = new ResponseHeaders();
  for (const name of ['ETag', 'Last-Modified', 'Cache-Control', 'Expires', 'Vary', 'Content-Location']) {
    const value = from.get(name);
    if (value !== null && value !== undefined) out.set(name, value);
  }
  return out;
}

const DONE: PullResult = Object.freeze({ done: true, value: undefined }) as PullResult;

/** A fixed list of chunks; cancelling it releases the descriptors they came from. */
class ChunkListPuller implements Puller {
  private i = 0;
  constructor(
    private readonly chunks: Array<Uint8Array | FileRegion>,
    private readonly onCancel: () => void,
  ) {}

  pull(): PullResult {
    if (this.i >= this.chunks.length) return DONE;
    return { done: false, value: this.chunks[this.i++] };
  }

  cancel(): void {
    this.i = this.chunks.length;
    this.onCancel();
  }
}
