/**
 * What a Channel or a Room needs from a backplane: append an entry to a shared, ordered log
 * (one per channel or room), follow the logs it has local interest in, and read a range back
 * for a client that resumes. `redisBackplane()` (redis.ts) is the one implementation: a Redis
 * Stream per key, entry ids `0-<n>` assigned by Redis, consecutive per key.
 */
import { CoreError } from '../errors.js';

/** One entry of a log: its position (Redis id `0-<seq>`) and its fields as name/value pairs. */
export interface StreamEntry {
  seq: number;
  /** name, value, name, value... (Redis gives them back as Buffers). */
  fields: Buffer[];
}

/**
 * Told of new entries of a key, in order, each exactly once. Returning a promise pauses the
 * key (nothing more is read for it) until it settles: how a Channel's 'block' policy holds the
 * reader instead of queueing without bound. A call with `restarted` (and no entries) says the
 * stream was replaced under the reader (Redis restarted without persistence, the key deleted):
 * positions start over at 0-1, and what the old stream held after the last entry read is lost.
 */
export type StreamListener = (entries: StreamEntry[], restarted?: boolean) => void | Promise<void>;

export interface BackplaneStats {
  /** Both connections (commands and the stream reader) are up. */
  connected: boolean;
  /** Entries appended by this process. */
  published: number;
  /** Appends that failed (rejected with EBACKPLANE). */
  publishErrors: number;
  /** Entries the reader handed to local listeners. */
  delivered: number;
  /** Times a connection to Redis was lost and re-established. */
  reconnects: number;
  /**
   * Followed streams found replaced under the reader: gone (expired after `streamTtl`, deleted,
   * Redis restarted without its data) or created again with ids starting over at 0-1. Each one
   * sent its live subscribers and members the 'reset' gap.
   */
  streamResets: number;
  /** Keys the reader follows now (channels and rooms with local subscribers). */
  keys: number;
  /** Milliseconds from append (on any process) to this reader, for the last entry read. */
  readerLagMs: number;
  /** The largest readerLagMs seen. */
  readerLagMaxMs: number;
  /** The last connection error, or null. */
  lastError: string | null;
}

export interface Backplane {
  /** Prefix of every key (default "catzilla"). */
  readonly prefix: string;
  /** A string unique to this backplane object (rooms tag a broadcast's sender with it). */
  readonly instanceId: string;
  /** close() was called. */
  readonly isClosed: boolean;
  /** Appends an entry; resolves with its id ("0-<n>"), or rejects with a BackplaneError. */
  append(key: string, fields: Array<string | Buffer>, maxLen: number): Promise<string>;
  /**
   * Follows `key`: `listener` gets every entry after the position returned (the key's last
   * entry when it was first followed by this process). `ended` runs if the backplane closes
   * while the key is followed.
   */
  watch(key: string, listener: StreamListener, ended?: () => void): Promise<number>;
  /** Stops telling `listener`; the key is no longer read once it has no listener. */
  unwatch(key: string, listener: StreamListener): void;
  /** Entries with after < seq <= upTo, in order. */
  range(key: string, after: number, upTo: number): Promise<StreamEntry[]>;
  /** The seq of the key's last entry (0 when the stream is empty or absent). */
  lastSeq(key: string): Promise<number>;
  stats(): BackplaneStats;
  connect(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A backplane failure, code EBACKPLANE: Redis unreachable or too old, a publish that could not
 * be stored within `publishTimeout`, or the backplane closed. `indeterminate` is true when the
 * command had been sent and the connection dropped before the answer: the entry may or may not
 * be in the stream (it is then delivered to every subscriber, like any other).
 */
export class BackplaneError extends CoreError {
  override name = 'BackplaneError';
  readonly indeterminate: boolean;

  constructor(message: string, options: { cause?: unknown; indeterminate?: boolean } = {}) {
    super('EBACKPLANE', message, { cause: options.cause });
    this.indeterminate = options.indeterminate ?? false;
  }
}

/**
 * `0-<seq>` -> seq, or null for anything else. A stream's first seq is Redis's clock in
 * microseconds when it was created (16 digits), so seqs stay below 2^53 for centuries.
 */
export function parseStreamId(id: string): number | null {
  const m = /^0-(\d{1,16})$/.exec(id);
  if (m === null) return null;
  const seq = Number(m[1]);
  return Number.isSafeInteger(seq) ? seq : null;
}

export function streamId(seq: number): string {
  return `0-${seq}`;
}

/**
 * Whether `entry` comes right after position `seq` (the last entry read; 0: none, the stream
 * did not exist when followed or was replaced). From nothing, only the stream's first entry
 * does: the publish script marks it (`s 1`; a stream written before that mark began at 0-1).
 * Any other entry means the reader missed what came before it (trimmed by the window).
 */
export function continues(seq: number, entry: StreamEntry): boolean {
  if (entry.seq === seq + 1) return true;
  return seq === 0 && field(entry.fields, 's') !== undefined;
}

/** The value of field `name` in a flat name/value list, or undefined. */
export function field(fields: Buffer[], name: string): Buffer | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const f = fields[i]!;
    if (f.length === name.length && f.toString('latin1') === name) return fields[i + 1];
  }
  return undefined;
}
