/**
 * The stream reader of a backplane: one connection doing
 *
 *   XREAD COUNT <n> BLOCK <ms> STREAMS k1 k2 ... id1 id2 ...
 *
 * over the keys this process follows (channels and rooms with local subscribers), from each
 * key's own position. A key followed for the first time starts at its last entry (XREVRANGE),
 * and interrupts a read in progress with `CLIENT UNBLOCK` from the command connection, so a new
 * subscription does not wait for the block timeout. A lost connection is retried with backoff
 * and the reader goes on from each key's position: nothing twice, nothing skipped that Redis
 * still has. A key whose listener returned a promise is left out of the reads until it settles.
 * A read that does not come back within the block timeout plus WATCHDOG_MS means a connection
 * that went silent without closing (a half-open TCP connection, a partitioned network): it is
 * dropped and the reader goes on with a new one.
 *
 * With a stream TTL (redisBackplane({ streamTtl })), a timer refreshes the expiry of the keys
 * followed (PEXPIRE every ttl / 3, from the command connection), so a stream with local
 * followers does not expire under them, and checks on the way that each stream is still the
 * one read: a key found gone, or created again (a new stream: ids from Redis's clock), is reset like a
 * stream found replaced at a reconnection (the listeners are told, the position starts over),
 * and what an XREAD already in flight brings for it is ignored.
 */
import { lastSeqOf, settleWithin, type RedisClientLike } from './commands.js';
import { BackplaneError, field, parseStreamId, streamId, type StreamEntry, type StreamListener } from './types.js';

/** What the reader needs from its backplane (RedisBackplane). */
export interface ReaderOwner {
  /** Counters the reader adds to (delivered entries, lag, reconnections). */
  readonly counters: { delivered: number; reconnects: number; lagMs: number; lagMaxMs: number; streamResets: number };
  lastError: string | null;
  /** The type mapping that makes bulk strings Buffers. */
  readonly bufferReplies: Record<number, unknown>;
  /** The command connection (CLIENT UNBLOCK goes there). */
  client(): Promise<RedisClientLike>;
  /** A new, not yet connected, connection for the reader. */
  readerClient(): RedisClientLike;
}

/**
 * The first and last seq `key` ever held (trimmed entries included), or null when it is gone or
 * was never given an entry. XINFO STREAM's `entries-added` and `last-generated-id` (Redis 7).
 */
async function streamSpan(client: RedisClientLike, key: string): Promise<{ first: number; last: number } | null> {
  let info: unknown[];
  try {
    info = await client.sendCommand<unknown[]>(['XINFO', 'STREAM', key]);
  } catch (err) {
    if (/no such key/i.test((err as Error)?.message ?? '')) return null;
    throw err;
  }
  let added = 0;
  let last = 0;
  for (let i = 0; i + 1 < info.length; i += 2) {
    const name = String(info[i]);
    if (name === 'entries-added') added = Number(info[i + 1]);
    else if (name === 'last-generated-id') last = parseStreamId(String(info[i + 1])) ?? 0;
  }
  if (!(added > 0) || !(last > 0)) return null;
  return { first: last - added + 1, last };
}

/** How long past its BLOCK timeout a read may take before its connection is given up. */
export const WATCHDOG_MS = 3000;

interface Followed {
  /** Position: the seq of the last entry delivered (null until known). */
  seq: number | null;
  /** Its `t` field (append time): tells this stream from one that replaced it. */
  t: string | null;
  /** Each listener with what to call if the backplane closes first. */
  listeners: Map<StreamListener, (() => void) | undefined>;
  /** Listener promises not settled yet ('block'): the key is not read meanwhile. */
  paused: number;
  /** follow() calls waiting for the position. */
  starting: Array<{ resolve(seq: number): void; reject(err: unknown): void }>;
}


export class StreamReader {
  private readonly keys = new Map<string, Followed>();
  private client: RedisClientLike | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  /** CLIENT ID of the reader's connection (null until known for the current connection). */
  private clientId: number | null = null;
  /** An XREAD is in flight. */
  private reading = false;
  private wakeIdle: (() => void) | null = null;
  /** Ends a backoff pause at once (stop()). */
  private wakePause: (() => void) | null = null;
  /** The key set changed since the current XREAD was sent. */
  private dirty = false;
  private unblocking = false;
  /** A replacement connection being opened (the watchdog's). */
  private connecting: RedisClientLike | null = null;
  /** A connection worked before: a new one checks that the streams are still the ones read. */
  private connectedBefore = false;

  constructor(
    private readonly owner: ReaderOwner,
    private readonly blockMs: number,
    private readonly count: number,
    /** ms of a stream's expiry that the keep-alive refreshes (0: no keep-alive). */
    private readonly ttl = 0,
  ) {}

  private keepAliveTimer: NodeJS.Timeout | null = null;
  private keepAliveRunning = false;

  get keyCount(): number {
    return this.keys.size;
  }

  get connected(): boolean {
    return this.client?.isReady === true;
  }

  start(client: RedisClientLike): void {
    this.client = client;
    this.running = this.loop();
    if (this.ttl > 0) {
      this.keepAliveTimer = setInterval(() => void this.keepAlive(), Math.max(30, Math.floor(this.ttl / 3)));
      this.keepAliveTimer.unref();
    }
  }

  /**
   * Refreshes the expiry of every followed key and checks that each stream is the one read
   * (one pipelined batch: node-redis writes commands sent in one tick together). A failure
   * (Redis away) is left to the next turn: the key keeps at least 2/3 of its TTL meanwhile,
   * and a stream replaced while the reader was away is found at its reconnection.
   */
  private async keepAlive(): Promise<void> {
    if (this.keepAliveRunning || this.stopped || this.keys.size === 0) return;
    this.keepAliveRunning = true;
    try {
      const client = await this.owner.client();
      if (!client.isReady) return;
      const ttl = String(this.ttl);
      await Promise.all(
        [...this.keys].map(async ([key, f]) => {
          const seq = f.seq;
          const t = f.t;
          const alive = Number(await settleWithin(client.sendCommand(['PEXPIRE', key, ttl]), WATCHDOG_MS, () => new Error('PEXPIRE: no answer')));
          if (seq === null || seq === 0) return;
          const replaced = alive === 0 || (await this.replacedAt(client, key, seq, t));
          // only if the reader did not move meanwhile (it read the stream: the next turn checks it)
          if (replaced && this.keys.get(key) === f && f.seq === seq) this.reset(key, f);
        }),
      );
    } catch (err) {
      this.owner.lastError = `stream keep-alive: ${(err as Error)?.message ?? String(err)}`;
    } finally {
      this.keepAliveRunning = false;
    }
  }

  /**
   * Is the stream at `key` not the one whose entry `seq` (append time `t`) was read? The entry
   * at `seq` must be there with that `t`, unless the stream was trimmed past it (then the next
   * read jumps, which the listener sees as a gap). A stream that lacks it was replaced when it
   * is gone, empty, or began after `seq` or ends before it: its first id ever is its last minus
   * the entries it was ever given (XINFO STREAM: ids are consecutive within a stream, and a new
   * stream starts at Redis's clock, above every id of the one before).
   */
  private async replacedAt(client: RedisClientLike, key: string, seq: number, t: string | null): Promise<boolean> {
    const at = await client.sendCommand<Array<[Buffer, Buffer[]]>>(['XRANGE', key, streamId(seq), streamId(seq)], { typeMapping: this.owner.bufferReplies });
    if (Array.isArray(at) && at.length === 1) return t !== null && field(at[0]![1], 't')?.toString('latin1') !== t;
    const span = await streamSpan(client, key);
    return span === null || span.first > seq || span.last < seq;
  }

  /** The stream of `key` was replaced: the position starts over and the listeners are told. */
  private reset(key: string, f: Followed): void {
    f.seq = 0;
    f.t = null;
    this.owner.counters.streamResets++;
    for (const listener of [...f.listeners.keys()]) {
      try {
        void listener([], true);
      } catch {
        // told; its failure is its own
      }
    }
    this.changed(); // an XREAD in flight still waits past the old position: interrupt it
  }

  follow(key: string, listener: StreamListener, ended?: () => void): Promise<number> {
    if (this.stopped) return Promise.reject(new Error('the backplane is closed'));
    let f = this.keys.get(key);
    if (f !== undefined) {
      f.listeners.set(listener, ended);
      if (f.seq !== null) return Promise.resolve(f.seq);
      return new Promise((resolve, reject) => f!.starting.push({ resolve, reject }));
    }
    f = { seq: null, t: null, listeners: new Map([[listener, ended]]), paused: 0, starting: [] };
    this.keys.set(key, f);
    const started = new Promise<number>((resolve, reject) => f!.starting.push({ resolve, reject }));
    this.changed();
    return started;
  }

  unfollow(key: string, listener: StreamListener): void {
    const f = this.keys.get(key);
    if (f === undefined || !f.listeners.delete(listener) || f.listeners.size > 0) return;
    this.keys.delete(key); // its results, if a read brings some, are ignored
    for (const s of f.starting) s.reject(new Error(`stopped following ${key}`));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.keepAliveTimer !== null) clearInterval(this.keepAliveTimer);
    this.keepAliveTimer = null;
    this.wakeIdle?.();
    this.wakePause?.();
    const client = this.client;
    this.client = null;
    if (client?.isOpen) client.destroy(); // ends a blocked XREAD at once
    const connecting = this.connecting;
    this.connecting = null;
    if (connecting?.isOpen) connecting.destroy();
    await this.running?.catch(() => {});
    const followed = [...this.keys.values()];
    this.keys.clear();
    for (const f of followed) {
      for (const s of f.starting) s.reject(new Error('the backplane is closed'));
      for (const ended of f.listeners.values()) {
        try {
          ended?.();
        } catch {
          // one follower's failure does not stop the others being told
        }
      }
    }
  }

  /** A backoff pause that stop() ends at once (so a closing app does not wait for it). */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wakePause === done) self.wakePause = null;
        resolve();
      }
      this.wakePause = done;
    });
  }

  /** The key set changed: wake an idle loop, or interrupt the read in flight. */
  private changed(): void {
    this.dirty = true;
    if (this.wakeIdle !== null) {
      this.wakeIdle();
      return;
    }
    if (this.reading && !this.unblocking) void this.unblock();
  }

  /**
   * CLIENT UNBLOCK the reader from the command connection. The XREAD may not be blocked yet
   * (sent, not arrived): then UNBLOCK answers 0 and is tried again, a few ms apart, while that
   * same read is still in flight (bounded: 100 tries).
   */
  private async unblock(): Promise<void> {
    this.unblocking = true;
    try {
      for (let i = 0; i < 100 && this.reading && this.dirty && !this.stopped; i++) {
        const id = this.clientId;
        if (id === null) return;
        const client = await this.owner.client();
        const done = await settleWithin(client.sendCommand<number>(['CLIENT', 'UNBLOCK', String(id)]), WATCHDOG_MS, () => new Error('CLIENT UNBLOCK: no answer'));
        if (Number(done) === 1) return;
        await new Promise<void>((resolve) => setTimeout(resolve, 2));
      }
    } catch {
      // Redis is away: the read fails too, and the loop starts over with the new keys.
    } finally {
      this.unblocking = false;
    }
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.keys.size === 0 || (this.client !== null && this.client.isReady && this.clientId !== null && !this.hasReadable())) {
        await new Promise<void>((resolve) => (this.wakeIdle = resolve)); // nothing to read: wait for a follow
        this.wakeIdle = null;
        continue;
      }
      if (this.client === null && !(await this.replaceConnection())) {
        failures++;
        await this.pause(Math.min(50 * 2 ** Math.min(failures, 6), 1000));
        continue;
      }
      const client = this.client!;
      if (!client.isReady) {
        await this.pause(Math.min(20 * 2 ** failures, 500)); // node-redis is reconnecting it
        continue;
      }
      // node-redis's command timeout only covers a command not yet written: once sent, only the
      // connection's end settles it. So a timer of our own gives up a connection that went silent.
      let silent = false;
      const watchdog = setTimeout(() => {
        silent = true;
        client.destroy(); // rejects what is pending on it
      }, this.blockMs + WATCHDOG_MS);
      try {
        if (this.clientId === null) {
          this.clientId = Number(await client.sendCommand(['CLIENT', 'ID']));
          if (this.connectedBefore) await this.checkPositions(client);
          this.connectedBefore = true;
        }
        await this.startPositions(client);
        const keys: string[] = [];
        const ids: string[] = [];
        const sent = new Map<string, number>();
        for (const [key, f] of this.keys) {
          if (f.seq === null || f.paused > 0) continue;
          keys.push(key);
          ids.push(streamId(f.seq));
          sent.set(key, f.seq);
        }
        if (keys.length === 0) continue; // every key paused: the idle wait above
        this.dirty = false;
        this.reading = true;
        let reply: Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null;
        try {
          reply = await client.sendCommand(['XREAD', 'COUNT', String(this.count), 'BLOCK', String(this.blockMs), 'STREAMS', ...keys, ...ids], { typeMapping: this.owner.bufferReplies });
        } finally {
          this.reading = false;
        }
        failures = 0;
        if (reply !== null && reply !== undefined) this.dispatch(reply, sent);
      } catch (err) {
        if (this.stopped) return;
        this.clientId = null; // a new connection has a new id
        this.owner.lastError = (err as Error)?.message ?? String(err);
        if (silent) {
          // silent, not closed: this connection is given up (the next turn opens another)
          this.owner.lastError = `the stream reader's connection went silent (no answer within ${this.blockMs + WATCHDOG_MS} ms): replaced`;
          if (this.client === client) this.client = null;
        }
        failures++;
        await this.pause(Math.min(50 * 2 ** Math.min(failures, 6), 1000));
      } finally {
        clearTimeout(watchdog);
      }
    }
  }

  /** Some followed key can be read now (its position is known and it is not paused), or needs its position. */
  private hasReadable(): boolean {
    for (const f of this.keys.values()) if (f.seq === null || f.paused === 0) return true;
    return false;
  }

  /** Opens a new reader connection; false when Redis cannot be reached now. */
  private async replaceConnection(): Promise<boolean> {
    const c = this.owner.readerClient();
    this.connecting = c;
    try {
      await c.connect();
    } catch {
      if (c.isOpen) c.destroy();
      return false;
    } finally {
      if (this.connecting === c) this.connecting = null;
    }
    if (this.stopped) {
      c.destroy();
      return false;
    }
    this.client = c;
    this.owner.counters.reconnects++;
    return true;
  }

  /**
   * After a reconnection: is each stream still the one we read? The entry at our position must
   * be there with the `t` we saw, unless the stream was trimmed past it (then the next read
   * jumps, which the listener sees as a gap). A stream that is shorter than our position, or
   * lacks an entry it should hold, was replaced (Redis restarted without persistence, the key
   * was deleted): the position starts over and the listeners are told.
   */
  private async checkPositions(client: RedisClientLike): Promise<void> {
    for (const [key, f] of this.keys) {
      if (f.seq === null || f.seq === 0) continue;
      const seq = f.seq;
      const replaced = await this.replacedAt(client, key, seq, f.t);
      if (replaced && this.keys.get(key) === f && f.seq === seq) this.reset(key, f);
    }
  }

  /** Keys followed for the first time start after their last entry. */
  private async startPositions(client: RedisClientLike): Promise<void> {
    for (const [key, f] of this.keys) {
      if (f.seq !== null) continue;
      let seq: number;
      try {
        seq = await lastSeqOf(client, key);
      } catch (err) {
        if (!(err instanceof BackplaneError)) throw err; // the connection: the loop retries
        // a stream no backplane wrote (ids not 0-<n>): its followers are told, it is not read
        if (this.keys.get(key) === f) this.keys.delete(key);
        for (const s of f.starting) s.reject(err);
        continue;
      }
      if (this.keys.get(key) !== f) continue; // unfollowed meanwhile
      f.seq = seq;
      const starting = f.starting;
      f.starting = [];
      for (const s of starting) s.resolve(seq);
    }
  }

  /** `sentAt`: each key's position when the XREAD was sent (a key reset since then is not taken from this reply). */
  private dispatch(reply: Array<[Buffer, Array<[Buffer, Buffer[]]>]>, sentAt: Map<string, number>): void {
    const now = Date.now();
    const counters = this.owner.counters;
    for (const [rawKey, rawEntries] of reply) {
      const key = rawKey.toString();
      const f = this.keys.get(key);
      if (f === undefined || f.seq === null || rawEntries.length === 0 || sentAt.get(key) !== f.seq) continue;
      const entries: StreamEntry[] = [];
      for (const [id, fields] of rawEntries) {
        const seq = Number(id.toString('latin1').slice(2));
        if (seq <= f.seq!) continue; // never twice
        entries.push({ seq, fields });
      }
      if (entries.length === 0) continue;
      f.seq = entries[entries.length - 1]!.seq;
      counters.delivered += entries.length;
      const t = field(entries[entries.length - 1]!.fields, 't')?.toString('latin1') ?? null;
      f.t = t;
      const sent = Number(t);
      if (Number.isFinite(sent)) {
        counters.lagMs = Math.max(0, now - sent);
        if (counters.lagMs > counters.lagMaxMs) counters.lagMaxMs = counters.lagMs;
      }
      for (const listener of [...f.listeners.keys()]) {
        let ret: void | Promise<void>;
        try {
          ret = listener(entries);
        } catch (err) {
          this.owner.lastError = `a listener of ${key} threw: ${(err as Error)?.message ?? String(err)}`;
          continue;
        }
        if (ret instanceof Promise) {
          f.paused++;
          const resume = () => {
            if (--f.paused === 0 && this.keys.get(key) === f) this.changed();
          };
          ret.then(resume, resume);
        }
      }
    }
  }
}
