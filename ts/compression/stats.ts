/**
 * Compression counters: per stream (bytes in, bytes out, flushes) and totals per
 * middleware, summed over every middleware by `compressionStats()` so a metrics
 * endpoint can read one object.
 */
import type { Encoding } from './negotiate.js';

export interface StreamCompressionStats {
  encoding: Encoding;
  /** Uncompressed bytes taken from the body. */
  bytesIn: number;
  /** Compressed bytes produced. */
  bytesOut: number;
  /** Sync flushes (record boundaries). */
  flushes: number;
  /** Estimated native memory of the encoder while it lives. */
  memory: number;
  /** Whether the encoder is still open. */
  active: boolean;
}

export interface CompressionStats {
  /** Whole bodies compressed. */
  bodies: number;
  /** Streaming bodies compressed. */
  streams: number;
  activeStreams: number;
  /** Estimated native memory of the live stream encoders. */
  activeStreamMemory: number;
  bytesIn: number;
  bytesOut: number;
  flushes: number;
  byEncoding: Record<Encoding, { responses: number; bytesIn: number; bytesOut: number }>;
  /** Responses left uncompressed, by reason. */
  skipped: Record<SkipReason, number>;
}

export type SkipReason = 'identity' | 'head' | 'status' | 'range' | 'encoded' | 'type' | 'small' | 'length' | 'empty';

export function emptyCompressionStats(): CompressionStats {
  return {
    bodies: 0, streams: 0, activeStreams: 0, activeStreamMemory: 0, bytesIn: 0, bytesOut: 0, flushes: 0,
    byEncoding: { br: zero(), gzip: zero(), deflate: zero() },
    skipped: { identity: 0, head: 0, status: 0, range: 0, encoded: 0, type: 0, small: 0, length: 0, empty: 0 },
  };
}

function zero() {
  return { responses: 0, bytesIn: 0, bytesOut: 0 };
}

const all = new Set<CompressionStats>();

/** Registers the counters of one middleware in the process-wide total. */
export function registerStats(stats: CompressionStats): void {
  all.add(stats);
}

/** Every compress() middleware's counters added up. */
export function compressionStats(): CompressionStats {
  const out = emptyCompressionStats();
  for (const s of all) addInto(out, s);
  return out;
}

function addInto(out: CompressionStats, s: CompressionStats): void {
  for (const k of ['bodies', 'streams', 'activeStreams', 'activeStreamMemory', 'bytesIn', 'bytesOut', 'flushes'] as const) out[k] += s[k];
  for (const e of ['br', 'gzip', 'deflate'] as const) {
    out.byEncoding[e].responses += s.byEncoding[e].responses;
    out.byEncoding[e].bytesIn += s.byEncoding[e].bytesIn;
    out.byEncoding[e].bytesOut += s.byEncoding[e].bytesOut;
  }
  for (const k of Object.keys(out.skipped) as SkipReason[]) out.skipped[k] += s.skipped[k];
}
