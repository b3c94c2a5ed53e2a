/**
 * A backplane for one channel's or room's stream, in memory, whose reader is the test: entries are
 * handed to the follower's listener when the test calls read(), and XRANGE (range()) answers when
 * the test lets it (rangeGate). Used where the races between the reader and a catch-up must be made
 * deterministic (tests/ts/backplane-channel-batch.test.ts, tests/ts/websocket-rooms-catchup.test.ts).
 */
import type { Backplane, BackplaneStats, StreamEntry, StreamListener } from '../../ts/index.js';
import type { Deferred } from './raw-client.js';

export class HandDrivenBackplane implements Backplane {
  readonly prefix = 'hand';
  readonly instanceId = 'hand-1';
  readonly isClosed = false;
  readonly entries: StreamEntry[] = [];
  listener: StreamListener | null = null;
  /** Where the reader starts when the stream is first followed. */
  position = 0;
  /** While set, range() waits for it. */
  rangeGate: Deferred<void> | null = null;
  /** range() calls so far. */
  ranges = 0;

  /** `fields` makes an entry's fields from what add() is given (a Channel's or a room's layout). */
  constructor(private readonly fields: (data: string, binary: boolean) => Buffer[]) {}

  add(seq: number, data: string, binary = false): void {
    this.entries.push({ seq, fields: this.fields(data, binary) });
  }

  /** The reader reads the entries after..upTo (those the stream has) in one read. */
  read(after: number, upTo: number): void | Promise<void> {
    const got = this.entries.filter((e) => e.seq > after && e.seq <= upTo);
    if (got.length > 0) return this.listener!(got);
  }

  append(): Promise<string> {
    return Promise.reject(new Error('not used'));
  }

  watch(_key: string, listener: StreamListener): Promise<number> {
    this.listener = listener;
    return Promise.resolve(this.position);
  }

  unwatch(_key: string, listener: StreamListener): void {
    if (this.listener === listener) this.listener = null;
  }

  async range(_key: string, after: number, upTo: number): Promise<StreamEntry[]> {
    this.ranges++;
    await this.rangeGate?.promise;
    return this.entries.filter((e) => e.seq > after && e.seq <= upTo);
  }

  async lastSeq(): Promise<number> {
    return this.entries.at(-1)?.seq ?? 0;
  }

  stats(): BackplaneStats {
    return { connected: true, published: 0, publishErrors: 0, delivered: 0, reconnects: 0, streamResets: 0, keys: this.listener === null ? 0 : 1, readerLagMs: 0, readerLagMaxMs: 0, lastError: null };
  }

  connect(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
