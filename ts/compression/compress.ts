/**
 * `compress(options)`: response compression middleware (gzip, deflate, brotli) for
 * whole and streaming bodies.
 *
 *   app.use(compress({ threshold: 1024, flushWindow: 10, gzip: { level: 6 } }));
 *
 * Skipped for: HEAD, 1xx/204/304, 206 and Content-Range responses, bodies that already
 * have a Content-Encoding, media types not worth compressing (mime-db via
 * `compressible`), bodies under `threshold` bytes, and streams with a declared length
 * (their length could no longer be honoured). `Vary: Accept-Encoding` is added to every
 * response whose type is compressible, compressed or not, so caches keep variants apart.
 *
 * `Cache-Control: no-transform` (which sse() sends) is addressed to intermediaries, so
 * the origin still compresses; streams are flushed at record boundaries (see stream.ts),
 * so compressed SSE events still arrive one by one.
 */
import type { Middleware } from '../middleware.js';
import type { Request } from '../request.js';
import { HttpResponse } from '../response.js';
import { StreamBody } from '../streaming/response-body.js';
import type { Chunk } from '../streaming/chunk.js';
import { expandRegions } from '../streaming/file-region.js';
import { StreamingResponse } from '../streaming/response.js';
import { isCompressible } from './compressible.js';
import {
  BODY_DEFAULTS, STREAM_DEFAULTS, compressBody, createStreamEncoder, resolveSettings, streamMemory,
  type EncoderSettings, type ResolvedSettings,
} from './encoders.js';
import { ENCODINGS, negotiateEncoding, type Encoding } from './negotiate.js';
import { emptyCompressionStats, registerStats, type CompressionStats, type SkipReason, type StreamCompressionStats } from './stats.js';
import { CompressedStream } from './stream.js';

export interface CompressOptions extends EncoderSettings {
  /** Codings offered, in the server's order of preference (default br, gzip, deflate). */
  encodings?: Encoding[];
  /** Whole bodies smaller than this many bytes are sent as they are (default 1024). */
  threshold?: number;
  /** Most ms a record may wait in a stream's compressor before a sync flush (default 10; 0 = the next loop turn). */
  flushWindow?: number;
  /** Settings for streaming bodies (default: smaller windows, see encoders.ts). */
  stream?: EncoderSettings;
  /** Overrides the media-type check: return true to compress. */
  filter?: (contentType: string | null, req: Request) => boolean;
}

export interface CompressMiddleware extends Middleware {
  /** Counters of this middleware. */
  stats(): CompressionStats;
}

const BODILESS = (status: number) => status < 200 || status === 204 || status === 304;

const perStream = new WeakMap<HttpResponse, StreamCompressionStats>();

/** Live compression counters of one streaming response (undefined when it was not compressed). */
export function streamCompression(res: HttpResponse): StreamCompressionStats | undefined {
  return perStream.get(res);
}

export function compress(options: CompressOptions = {}): CompressMiddleware {
  if (typeof options !== 'object' || options === null) throw new TypeError('compress() options must be an object');
  const encodings = options.encodings ?? [...ENCODINGS];
  if (!Array.isArray(encodings) || encodings.some((e) => !ENCODINGS.includes(e))) throw new TypeError(`compress(): encodings must be a list of ${ENCODINGS.join(', ')}`);
  const threshold = nonNegative(options.threshold, 1024, 'threshold');
  const flushWindow = nonNegative(options.flushWindow, 10, 'flushWindow');
  const bodySettings = resolveSettings(BODY_DEFAULTS as unknown as ResolvedSettings, options, 'options');
  const streamSettings = resolveSettings(STREAM_DEFAULTS as unknown as ResolvedSettings, options.stream, 'options.stream');
  const filter = options.filter;
  if (filter !== undefined && typeof filter !== 'function') throw new TypeError('compress(): filter must be a function');
  const stats = emptyCompressionStats();
  registerStats(stats);

  const skip = (reason: SkipReason): void => {
    stats.skipped[reason]++;
  };

  const middleware = async (req: Request, next: () => Promise<HttpResponse>): Promise<HttpResponse> => {
    const res = await next();
    const body = res.body;
    if (BODILESS(res.status)) return skip('status'), res;
    if (body === null) return skip('empty'), res;
    if (res.status === 206 || res.headers.has('content-range')) return skip('range'), res;
    const coding = res.headers.get('content-encoding');
    if (coding !== null && coding.trim().toLowerCase() !== 'identity') return skip('encoded'), res;
    const type = res.headers.get('content-type');
    if (!(filter ? filter(type, req) : isCompressible(type))) return skip('type'), res;
    addVary(res);
    if (req.method === 'HEAD') return skip('head'), res;
    const encoding = negotiateEncoding(req.header('accept-encoding'), encodings);
    if (encoding === null) return skip('identity'), res;

    if (body instanceof StreamBody) {
      const declared = res instanceof StreamingResponse ? res.contentLength : -1;
      if (declared >= 0 || res.headers.has('content-length')) return skip(declared >= 0 && declared < threshold ? 'small' : 'length'), res;
      compressStream(res, body, encoding);
      return res;
    }
    const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
    if (bytes.length < threshold) return skip('small'), res;
    const out = await compressBody(encoding, bytes, bodySettings);
    res.body = out;
    markEncoded(res, encoding);
    stats.bodies++;
    count(encoding, bytes.length, out.length);
    return res;
  };

  const count = (encoding: Encoding, bytesIn: number, bytesOut: number): void => {
    stats.bytesIn += bytesIn;
    stats.bytesOut += bytesOut;
    const e = stats.byEncoding[encoding];
    e.responses++;
    e.bytesIn += bytesIn;
    e.bytesOut += bytesOut;
  };

  const compressStream = (res: HttpResponse, body: StreamBody, encoding: Encoding): void => {
    const memory = streamMemory(encoding, streamSettings);
    const own: StreamCompressionStats = { encoding, bytesIn: 0, bytesOut: 0, flushes: 0, memory, active: false };
    const open = () => {
      own.active = true;
      stats.activeStreams++;
      stats.activeStreamMemory += memory;
      stats.byEncoding[encoding].responses++;
      return createStreamEncoder(encoding, streamSettings);
    };
    // file regions in the body are read (a compressor needs their bytes; sendfile cannot apply)
    const transform = (chunks: AsyncIterable<Chunk>) =>
      new CompressedStream(expandRegions(chunks) as AsyncIterable<Chunk>, open, flushWindow, own, stats, stats.byEncoding[encoding]);
    if (res instanceof StreamingResponse) res.transformBody(transform);
    else body.transform(transform);
    markEncoded(res, encoding);
    perStream.set(res, own);
    stats.streams++;
  };

  const mw = middleware as CompressMiddleware;
  mw.stats = () => structuredClone(stats);
  return mw;
}

function markEncoded(res: HttpResponse, encoding: Encoding): void {
  res.headers.set('Content-Encoding', encoding);
  res.headers.delete('content-length');
  // The compressed bytes are another representation: a strong validator no longer matches them.
  const etag = res.headers.get('etag');
  if (etag !== null && !etag.startsWith('W/')) res.headers.set('ETag', `W/${etag}`);
}

function addVary(res: HttpResponse): void {
  const vary = res.headers.get('vary');
  if (vary === null || vary.trim() === '') {
    res.headers.set('Vary', 'Accept-Encoding');
    return;
  }
  const fields = vary.split(',').map((f) => f.trim().toLowerCase());
  if (fields.includes('*') || fields.includes('accept-encoding')) return;
  res.headers.set('Vary', `${vary}, Accept-Encoding`);
}

function nonNegative(value: number | undefined, dflt: number, name: string): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new TypeError(`compress(): ${name} must be a non-negative integer, got ${String(value)}`);
  return value;
}
