/**
 * Flow-control settings of a streaming response (watermarks in bytes of queued,
 * not yet written data; stall timeout in ms, 0 = off). They can be set per app,
 * per route and per response; the most specific setting wins.
 */
import { constants } from '../native.js';

export interface FlowOptions {
  /** Above this many queued bytes the producer is paused (write() waits, generators are not advanced). Default 64 KiB. */
  highWaterMark?: number;
  /** The producer resumes once the queue fell to this many bytes. Default 16 KiB. */
  lowWaterMark?: number;
  /** Abort a stream that stays backpressured without progress for this many ms (0 = never). Default 60000. */
  stallTimeout?: number;
}

export type ResolvedFlow = Required<FlowOptions>;

/** The core's defaults (catzilla_stream_options_default). */
export const FLOW_DEFAULTS: Readonly<ResolvedFlow> = Object.freeze({ ...constants().streamOptions });

const KEYS = ['highWaterMark', 'lowWaterMark', 'stallTimeout'] as const;

/** A layer that sets nothing (shared, frozen). */
const NO_FLOW: FlowOptions = Object.freeze({});

/** Validates the flow fields of `options` (ignoring other fields) and returns only those that are set. */
export function checkFlow(options: FlowOptions | undefined, where: string): FlowOptions {
  if (options === undefined || options === null) return NO_FLOW;
  if (typeof options !== 'object') throw new TypeError(`${where} must be an object, got ${typeof options}`);
  // The common case (no flow field set) shares one frozen empty layer: nothing to allocate per response.
  if (options.highWaterMark === undefined && options.lowWaterMark === undefined && options.stallTimeout === undefined) return NO_FLOW;
  const out: FlowOptions = {};
  for (const key of KEYS) {
    const value = options[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`${where}: ${key} must be a non-negative integer, got ${String(value)}`);
    }
    out[key] = value;
  }
  if (out.highWaterMark === 0) throw new TypeError(`${where}: highWaterMark must be at least 1 byte`);
  if (out.highWaterMark !== undefined && out.lowWaterMark !== undefined && out.lowWaterMark > out.highWaterMark) {
    throw new TypeError(`${where}: lowWaterMark (${out.lowWaterMark}) must not exceed highWaterMark (${out.highWaterMark})`);
  }
  return out;
}

/**
 * Merges layers from the least to the most specific. A layer that sets only the high watermark
 * below an inherited low watermark leaves it to the core's one rule (catzilla_stream_options_normalize:
 * a quarter of the high watermark).
 */
export function resolveFlow(...layers: Array<FlowOptions | undefined>): ResolvedFlow {
  // Every layer empty (the usual case): the shared, frozen defaults.
  let i = 0;
  while (i < layers.length && isEmptyLayer(layers[i])) i++;
  if (i === layers.length) return FLOW_DEFAULTS;
  const out: ResolvedFlow = { highWaterMark: FLOW_DEFAULTS.highWaterMark, lowWaterMark: FLOW_DEFAULTS.lowWaterMark, stallTimeout: FLOW_DEFAULTS.stallTimeout };
  for (; i < layers.length; i++) {
    const layer = layers[i];
    if (layer === undefined) continue;
    if (layer.highWaterMark !== undefined) out.highWaterMark = layer.highWaterMark;
    if (layer.lowWaterMark !== undefined) out.lowWaterMark = layer.lowWaterMark;
    if (layer.stallTimeout !== undefined) out.stallTimeout = layer.stallTimeout;
  }
  return out;
}

function isEmptyLayer(layer: FlowOptions | undefined): boolean {
  return layer === undefined || layer === NO_FLOW || (layer.highWaterMark === undefined && layer.lowWaterMark === undefined && layer.stallTimeout === undefined);
}
