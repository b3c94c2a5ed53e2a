/**
 * zlib settings per coding, for whole bodies and for streams, and the two ways to
 * compress: a whole body at once, or a zlib stream object for a streaming body.
 *
 * Memory is the reason streams get their own settings. A deflate stream holds
 * (1 << (windowBits + 2)) + (1 << (memLevel + 9)) bytes for as long as it lives
 * (256 KiB with zlib's defaults), and SSE streams live for hours. The stream defaults,
 * windowBits 13 and memLevel 6, cost 64 KiB per stream and keep most of the ratio on
 * repetitive records (an 8 KiB window still spans many events). Brotli streams use
 * quality 4 with a 64 KiB window (lgwin 16). Whole bodies are compressed and freed at
 * once, so they keep the full window.
 */
import type * as Zlib from 'node:zlib';
import { promisify } from 'node:util';
import { lazy } from '../lazy.js';
import type { Encoding } from './negotiate.js';

const zlib = lazy<typeof Zlib>('node:zlib');

export interface ZlibLevels {
  /** 0-9 (default 6). */
  level?: number;
  /** 9-15: window of 2^windowBits bytes. */
  windowBits?: number;
  /** 1-9: hash memory of 2^(memLevel+9) bytes. */
  memLevel?: number;
}

export interface BrotliLevels {
  /** 0-11 (default 4: fast enough for dynamic content; 11 is for static assets). */
  quality?: number;
  /** 10-24: window of 2^lgwin bytes. */
  lgwin?: number;
}

export interface EncoderSettings {
  gzip?: ZlibLevels;
  deflate?: ZlibLevels;
  br?: BrotliLevels;
}

export const BODY_DEFAULTS = {
  gzip: { level: 6, windowBits: 15, memLevel: 8 },
  deflate: { level: 6, windowBits: 15, memLevel: 8 },
  br: { quality: 4, lgwin: 22 },
} as const;

export const STREAM_DEFAULTS = {
  gzip: { level: 6, windowBits: 13, memLevel: 6 },
  deflate: { level: 6, windowBits: 13, memLevel: 6 },
  br: { quality: 4, lgwin: 16 },
} as const;

export interface ResolvedSettings {
  gzip: Required<ZlibLevels>;
  deflate: Required<ZlibLevels>;
  br: Required<BrotliLevels>;
}

export function resolveSettings(base: ResolvedSettings, given: EncoderSettings | undefined, where: string): ResolvedSettings {
  const out: ResolvedSettings = { gzip: { ...base.gzip }, deflate: { ...base.deflate }, br: { ...base.br } };
  if (given === undefined) return out;
  for (const name of ['gzip', 'deflate'] as const) {
    const g = given[name];
    if (g === undefined) continue;
    if (g.level !== undefined) out[name].level = int(g.level, 0, 9, `${where}.${name}.level`);
    if (g.windowBits !== undefined) out[name].windowBits = int(g.windowBits, 9, 15, `${where}.${name}.windowBits`);
    if (g.memLevel !== undefined) out[name].memLevel = int(g.memLevel, 1, 9, `${where}.${name}.memLevel`);
  }
  if (given.br?.quality !== undefined) out.br.quality = int(given.br.quality, 0, 11, `${where}.br.quality`);
  if (given.br?.lgwin !== undefined) out.br.lgwin = int(given.br.lgwin, 10, 24, `${where}.br.lgwin`);
  return out;
}

function int(value: unknown, min: number, max: number, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new TypeError(`compress(): ${name} must be an integer from ${min} to ${max}, got ${String(value)}`);
  return value;
}

function zlibOptions(levels: Required<ZlibLevels>): Zlib.ZlibOptions {
  return { level: levels.level, windowBits: levels.windowBits, memLevel: levels.memLevel };
}

function brotliOptions(levels: Required<BrotliLevels>, sizeHint?: number): Zlib.BrotliOptions {
  const params: Record<number, number> = {
    [zlib().constants.BROTLI_PARAM_QUALITY]: levels.quality,
    [zlib().constants.BROTLI_PARAM_LGWIN]: levels.lgwin,
  };
  if (sizeHint !== undefined) params[zlib().constants.BROTLI_PARAM_SIZE_HINT] = sizeHint;
  return { params };
}

let gzipAsync: ((body: Buffer, options: Zlib.ZlibOptions) => Promise<Buffer>) | undefined;
let deflateAsync: ((body: Buffer, options: Zlib.ZlibOptions) => Promise<Buffer>) | undefined;
let brotliAsync: ((body: Buffer, options: Zlib.BrotliOptions) => Promise<Buffer>) | undefined;

/** Bodies up to this size are compressed synchronously: cheaper than a thread-pool round trip. */
export const SYNC_LIMIT = 32 * 1024;

/** Compresses a whole body. */
export function compressBody(encoding: Encoding, body: Buffer, settings: ResolvedSettings): Buffer | Promise<Buffer> {
  const sync = body.length <= SYNC_LIMIT;
  switch (encoding) {
    case 'gzip':
      return sync ? zlib().gzipSync(body, zlibOptions(settings.gzip)) : (gzipAsync ??= promisify(zlib().gzip))(body, zlibOptions(settings.gzip));
    case 'deflate':
      return sync ? zlib().deflateSync(body, zlibOptions(settings.deflate)) : (deflateAsync ??= promisify(zlib().deflate))(body, zlibOptions(settings.deflate));
    case 'br':
      return sync ? zlib().brotliCompressSync(body, brotliOptions(settings.br, body.length)) : (brotliAsync ??= promisify(zlib().brotliCompress))(body, brotliOptions(settings.br, body.length));
  }
}

export type StreamEncoder = Zlib.Gzip | Zlib.Deflate | Zlib.BrotliCompress;

/** A zlib stream object for a streaming body, and the flush kind that ends a record without ending the stream. */
export function createStreamEncoder(encoding: Encoding, settings: ResolvedSettings): { encoder: StreamEncoder; flushKind: number } {
  switch (encoding) {
    case 'gzip':
      return { encoder: zlib().createGzip(zlibOptions(settings.gzip)), flushKind: zlib().constants.Z_SYNC_FLUSH };
    case 'deflate':
      return { encoder: zlib().createDeflate(zlibOptions(settings.deflate)), flushKind: zlib().constants.Z_SYNC_FLUSH };
    case 'br':
      return { encoder: zlib().createBrotliCompress(brotliOptions(settings.br)), flushKind: zlib().constants.BROTLI_OPERATION_FLUSH };
  }
}

/** Approximate native memory held by one stream encoder (zlib's documented formula; brotli: window plus hash tables). */
export function streamMemory(encoding: Encoding, settings: ResolvedSettings): number {
  if (encoding === 'br') return (1 << settings.br.lgwin) * 2 + 64 * 1024;
  const s = settings[encoding];
  return (1 << (s.windowBits + 2)) + (1 << (s.memLevel + 9)) + 6 * 1024;
}
