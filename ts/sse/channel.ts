/**
 * `Channel`: a broadcast hub for SSE with resumable, monotonic ids.
 *
 *   const chat = new Channel({ replay: 1000, policy: 'drop-oldest' });
 *   app.get('/events', (req) => chat.subscribe(req));
 *   await chat.publish({ event: 'message', data: { user, text } });
 *
 * Each event is serialized once into one Buffer; that Buffer goes into every
 * subscriber's queue and into the replay ring. A client that reconnects with
 * Last-Event-ID gets exactly the events after that id from the ring, or, when they
 * are no longer there (or the id is unknown), a `gap` event first and then the whole
 * ring. A slow subscriber costs at most `maxQueueBytes` (plus its stream's high
 * watermark) and never slows the others, unless the policy is 'block'.
 *
 * With a backplane (`new Channel({ name, backplane: redisBackplane({ url }) })`) the channel
 * is shared by every process on that Redis: a publish appends to the channel's Redis Stream
 * (ids 0-1, 0-2, ... from Redis), and each process delivers only what its reader reads, so
 * every subscriber everywhere sees one order. A client that reconnects to another process
 * resumes from the local ring when its id is there, else from the stream (XRANGE), with a
 * `gap` event when the events after its id were trimmed from the stream's window.
 */
import { StreamCancel } from '../errors.js';
import type { Request } from '../request.js';
import type { CloseTarget, StreamingResponse } from '../streaming/response.js';
import { HOLD, RESOLVED } from '../streaming/writer.js';
import { serializeEvent, type SSEEvent } from './event.js';
import { channelAction, type OverflowPolicy, type SlowConsumerAction } from '../slow-consumer.js';
import { markBatch, SubscriberQueue } from './queue.js';
import { ReplayRing } from './ring.js';
import { lastEventId, sse, type SSEOptions, type SSEServer } from './response.js';
import type { SSEStream } from './stream.js';
import type { SSEHandler } from './response.js';
import { dataText, checkField, retryLine } from './event.js';
import { parseStreamId, streamId, field, continues, type Backplane, type StreamEntry, type StreamListener } from '../backplane/types.js';

export interface ChannelOptions {
  /** Events kept for replay (default 1000; 0 keeps none). */
  replay?: number;
  /** Byte budget of the replay ring (default 4 MiB). */
  replayBytes?: number;
  /** Bytes a subscriber may have queued before it may count as slow (default 256 KiB). */
  maxQueueBytes?: number;
  /**
   * How long (ms) a subscriber's queue may stay above maxQueueBytes before 'drop-oldest' or
   * 'disconnect' applies (default 1000): a burst published in one loop turn reaches every
   * subscriber whose socket keeps up. Above 16 x maxQueueBytes the policy applies at once.
   * 0 applies it as soon as the queue passes the limit.
   */
  slowAfterMs?: number;
  /** What happens past maxQueueBytes (default 'drop-oldest'). */
  policy?: OverflowPolicy;
  /** Send `id:` fields (default true; without them clients cannot resume). */
  ids?: boolean;
  /** Type of the event sent when a client's Last-Event-ID cannot be served (default "gap"). */
  gapEvent?: string;
  /** The first event gets startId + 1 (default 0), e.g. to continue a persisted sequence. */
  startId?: number;
  /** Defaults for every subscribe() (heartbeat, comment, retry, watermarks...). */
  sse?: SSEOptions;
  /**
   * Shares the channel across processes (see redisBackplane()). `replay` is then also the
   * stream's window (XADD MAXLEN ~ replay), `startId` does not apply, and `name` is required.
   */
  backplane?: Backplane;
  /** The channel's name, the same in every process (its Redis key is `<prefix>:sse:<name>`). */
  name?: string;
}

export interface ChannelStats {
  subscribers: number;
  /** Id of the last event published ("0" before any). */
  lastId: string;
  published: number;
  /** Events dropped by 'drop-oldest', over all subscribers. */
  dropped: number;
  /** Subscribers disconnected by the 'disconnect' policy. */
  disconnected: number;
  /** Events replayed to reconnecting clients. */
  replayed: number;
  /** Gap events sent. */
  gaps: number;
  /** Publishes that waited for a slow subscriber ('block'). */
  blocked: number;
  /** Bytes queued for subscribers now. */
  queuedBytes: number;
  /** Subscribers still catching up from the backplane (not counted in `subscribers` yet). */
  joining: number;
  /** Subscriptions dropped because the backplane could not serve their catch-up (they reconnect). */
  joinErrors: number;
  ring: { events: number; bytes: number; oldestId: string | null };
}

/**
 * One subscription, driven by callbacks: an idle subscriber holds no promise, no closure and
 * no timer, only this object, its queue and its stream. Events published in one synchronous
 * run are written together from one microtask per channel (`Channel.flushReady`).
 */
class Subscriber implements SSEServer, CloseTarget {
  readonly queue: SubscriberQueue;
  stream: SSEStream | null = null;
  /** In the channel's ready list. */
  scheduled = false;
  /** A write is waiting for the stream to drain. */
  writing = false;

  constructor(
    private readonly channel: Channel,
    limit: number,
    action: SlowConsumerAction,
    slowAfterMs: number,
  ) {
    this.queue = new SubscriberQueue(limit, action, slowAfterMs);
  }

  /** sse() handler: joins the channel; the stream stays open (HOLD) until the subscription ends. */
  serveStream(stream: SSEStream): unknown {
    if (this.queue.isClosed) return undefined; // the client left before the handler ran
    this.stream = stream;
    this.channel.join(this);
    this.queue.watcher = this;
    this.pump();
    return HOLD;
  }

  /** The response ended (client gone, aborted, finished). */
  responseClosed(): void {
    this.channel.leave(this);
  }

  /** SubscriberQueue watcher: something was queued, or the queue finished. */
  queueReady(): void {
    if (this.scheduled || this.writing || this.stream === null) return;
    this.scheduled = true;
    this.channel.schedule(this);
  }

  /** Writes what is queued while the stream takes it; ends the stream once the queue is done. */
  pump(): void {
    this.scheduled = false;
    const stream = this.stream;
    if (stream === null || this.writing) return;
    for (;;) {
      const batch = this.queue.takeNow();
      if (batch === null) {
        if (this.queue.isDone) this.finish(stream);
        return;
      }
      const written = stream.write(batch);
      if (written !== RESOLVED) {
        this.writing = true;
        written.then(
          () => {
            this.writing = false;
            this.pump();
          },
          (err: unknown) => {
            this.writing = false;
            this.channel.leave(this);
            stream.abort(err); // a no-op when the client left first (not an error then)
          },
        );
        return;
      }
    }
  }

  private finish(stream: SSEStream): void {
    const closed = this.queue.isClosed;
    this.channel.leave(this);
    if (!closed) stream.close().catch(() => {});
  }
}

const DECIMAL = /^\d{1,15}$/;

export class Channel {
  private seq: number;
  private readonly subs = new Set<Subscriber>();
  private readonly ring: ReplayRing;
  private readonly limit: number;
  private readonly slowAfterMs: number;
  /** What happens to a slow subscriber (the policy's action, see ts/slow-consumer.ts). */
  private readonly action: SlowConsumerAction;
  private readonly ids: boolean;
  private readonly gapEvent: string;
  private readonly sseDefaults: SSEOptions;
  private closed = false;
  private counters = { published: 0, dropped: 0, disconnected: 0, replayed: 0, gaps: 0, blocked: 0, joinErrors: 0 };
  private readonly backplane: Backplane | null;
  private readonly key: string;
  private readonly window: number;
  /**
   * Backplane: subscribers catching up, each with the events read meanwhile (seq, frame),
   * queued after its replay. (Kept here, not on the Subscriber: an idle subscriber stays small.)
   */
  private readonly joining = new Map<Subscriber, Array<[number, Buffer]>>();
  /** Backplane: subscribers whose client already has the events up to a seq our reader has not reached (another process's reader was ahead). */
  private readonly skips = new Map<Subscriber, number>();
  /** The reader follows this channel's key (settles once its position is known). */
  private following: Promise<void> | null = null;
  private readonly listener: StreamListener = (entries, restarted) => (restarted === true ? this.streamReplaced() : this.deliver(entries));
  /** The backplane closed under live subscribers: they are dropped, to resume elsewhere with Last-Event-ID. */
  private readonly backplaneClosed = (): void => {
    this.following = null;
    this.followed = false;
    this.disconnectAll();
  };

  constructor(options: ChannelOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('Channel options must be an object');
    const replay = count(options.replay, 1000, 'replay');
    this.ring = new ReplayRing(replay, count(options.replayBytes, 4 * 1024 * 1024, 'replayBytes'));
    this.limit = count(options.maxQueueBytes, 256 * 1024, 'maxQueueBytes');
    this.slowAfterMs = count(options.slowAfterMs, 1000, 'slowAfterMs');
    this.action = channelAction(options.policy ?? 'drop-oldest');
    this.ids = options.ids ?? true;
    this.gapEvent = options.gapEvent ?? 'gap';
    serializeEvent({ event: this.gapEvent }); // validates the name now, not at the first gap
    this.seq = count(options.startId, 0, 'startId');
    this.sseDefaults = options.sse ?? {};
    this.backplane = options.backplane ?? null;
    this.window = Math.max(1, replay);
    this.key = '';
    if (this.backplane !== null) {
      if (typeof this.backplane !== 'object' || typeof this.backplane.append !== 'function') throw new TypeError('Channel option backplane must be a backplane (redisBackplane())');
      if (typeof options.name !== 'string' || options.name === '') throw new TypeError('a Channel with a backplane needs a name shared by every process: new Channel({ name, backplane })');
      if (options.startId !== undefined) throw new TypeError('Channel option startId does not apply with a backplane: ids come from Redis');
      this.key = `${this.backplane.prefix}:sse:${options.name}`;
    }
  }

  /** Number of connected subscribers. */
  get size(): number {
    return this.subs.size;
  }

  /** Id of the last event published. */
  get lastId(): string {
    return this.backplane === null ? String(this.seq) : streamId(this.seq);
  }

  /**
   * Publishes an event (a string is its data; the channel assigns the id). Resolves with
   * the id once every subscriber took it: at once, except under 'block' while a
   * subscriber's queue is over its limit. On a backplane it resolves with the Redis id once
   * Redis stored the event (subscribers everywhere get it from their process's reader), or
   * rejects with EBACKPLANE (see redisBackplane()).
   */
  publish(event: SSEEvent | string): Promise<string> {
    if (this.closed) return Promise.reject(new TypeError('Channel.publish(): the channel is closed'));
    if (this.backplane !== null) return this.publishShared(event);
    let buf: Buffer;
    const seq = this.seq + 1;
    try {
      const fields: SSEEvent = typeof event === 'string' ? { data: event } : event;
      if (typeof fields !== 'object' || fields === null) throw new TypeError(`Channel.publish() needs an event object or a string, got ${fields === null ? 'null' : typeof fields}`);
      if (fields.id !== undefined) throw new TypeError('Channel.publish(): the channel assigns ids; do not set `id`');
      buf = Buffer.from(serializeEvent(this.ids ? { event: fields.event, id: seq, retry: fields.retry, data: fields.data } : fields));
    } catch (err) {
      return Promise.reject(err);
    }
    this.seq = seq;
    this.counters.published++;
    this.ring.push(seq, buf);
    const id = String(seq);
    const waits = this.fanOut(buf, seq, null);
    if (waits === null) return Promise.resolve(id);
    this.counters.blocked++;
    return Promise.all(waits).then(() => id);
  }

  /** Queues `buf` for every subscriber; the publishes a 'block' policy has to wait for, or null. */
  private fanOut(buf: Buffer, seq: number, waits: Promise<void>[] | null): Promise<void>[] | null {
    for (const sub of this.subs) {
      if (this.skips.size > 0 && seq <= (this.skips.get(sub) ?? 0)) continue;
      waits = this.pushTo(sub, buf, waits);
    }
    return waits;
  }

  /** Queues `buf` for `sub` under the channel's policy; adds what 'block' has to wait for to `waits`. */
  private pushTo(sub: Subscriber, buf: Buffer, waits: Promise<void>[] | null): Promise<void>[] | null {
    const before = sub.queue.dropped;
    if (sub.queue.push(buf)) {
      this.counters.dropped += sub.queue.dropped - before;
      return waits;
    }
    if (this.action === 'disconnect') this.disconnect(sub);
    else (waits ??= []).push(sub.queue.whenBelowLimit());
    return waits;
  }

  /**
   * Backplane: appends the event to the channel's stream; resolves with its Redis id. Local
   * subscribers get it from the reader, like everyone else ('block' holds the reader, not
   * this promise). Rejects with EBACKPLANE when Redis cannot take it within publishTimeout.
   */
  private publishShared(event: SSEEvent | string): Promise<string> {
    const entry: string[] = [];
    try {
      const fields: SSEEvent = typeof event === 'string' ? { data: event } : event;
      if (typeof fields !== 'object' || fields === null) throw new TypeError(`Channel.publish() needs an event object or a string, got ${fields === null ? 'null' : typeof fields}`);
      if (fields.id !== undefined) throw new TypeError('Channel.publish(): the channel assigns ids; do not set `id`');
      if (fields.event !== undefined) entry.push('e', checkField('event', String(fields.event)));
      if (fields.retry !== undefined) {
        retryLine(fields.retry); // validates it
        entry.push('r', String(fields.retry));
      }
      if (fields.data !== undefined) entry.push('d', dataText(fields.data));
      if (entry.length === 0) throw new TypeError('An SSE event needs at least one of data, event, id or retry');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.backplane!.append(this.key, entry, this.window).then((id) => {
      this.counters.published++;
      return id;
    });
  }

  /** Backplane: the SSE frame of a stream entry (the one serialization of it in this process). */
  private frame(entry: StreamEntry): Buffer | null {
    const event = field(entry.fields, 'e')?.toString('utf8');
    const retry = field(entry.fields, 'r')?.toString('latin1');
    const data = field(entry.fields, 'd')?.toString('utf8');
    try {
      return Buffer.from(serializeEvent({ event, id: this.ids ? streamId(entry.seq) : undefined, retry: retry === undefined ? undefined : Number(retry), data }));
    } catch {
      return null; // not an entry a Channel wrote: skipped
    }
  }

  /**
   * Backplane: entries read from the stream, in order, each once. The events of one read are
   * serialized once each (the ring and resumes keep them one by one) and reach every subscriber
   * as one Buffer, so a read costs one queue push and one write per subscriber whatever its
   * number of events (a subscriber that must skip some of them gets the others one by one).
   */
  private deliver(entries: StreamEntry[]): void | Promise<void> {
    let waits: Promise<void>[] | null = null;
    const bufs: Buffer[] = [];
    const seqs: number[] = [];
    for (const entry of entries) {
      if (entry.seq <= this.seq) continue;
      if (!continues(this.seq, entry)) {
        waits = this.fanOutBatch(bufs, seqs, waits); // what came before the gap goes first
        bufs.length = seqs.length = 0;
        this.readerGap(entry.seq);
      }
      this.seq = entry.seq;
      const buf = this.frame(entry);
      if (buf === null) continue;
      this.ring.push(entry.seq, buf);
      for (const held of this.joining.values()) held.push([entry.seq, buf]);
      bufs.push(buf);
      seqs.push(entry.seq);
    }
    waits = this.fanOutBatch(bufs, seqs, waits);
    for (const [sub, upTo] of this.skips) if (upTo <= this.seq) this.skips.delete(sub);
    if (waits === null) return;
    this.counters.blocked++;
    return Promise.all(waits).then(() => {});
  }

  /** Backplane: queues consecutive events (`bufs`, ids `seqs`) for every subscriber, as one Buffer. */
  private fanOutBatch(bufs: Buffer[], seqs: number[], waits: Promise<void>[] | null): Promise<void>[] | null {
    if (bufs.length === 0) return waits;
    if (bufs.length === 1) return this.fanOut(bufs[0]!, seqs[0]!, waits);
    const batch = markBatch(Buffer.concat(bufs), bufs.length);
    const first = seqs[0]!;
    for (const sub of this.subs) {
      const skip = this.skips.size > 0 ? (this.skips.get(sub) ?? 0) : 0;
      if (skip >= first) {
        // its client already has some of them (another process's reader was ahead): the rest one by one
        for (let i = 0; i < bufs.length; i++) if (seqs[i]! > skip) waits = this.pushTo(sub, bufs[i]!, waits);
        continue;
      }
      waits = this.pushTo(sub, batch, waits);
    }
    return waits;
  }

  /**
   * The stream was replaced under the reader (Redis restarted without persistence, the key
   * deleted or expired, see redisBackplane's streamTtl): ids start
   * over at 0-1. Live subscribers get a gap event (reason 'reset'): what the old stream held
   * after their last event is gone; what the new one gets follows.
   */
  private streamReplaced(): void {
    const gap = Buffer.from(serializeEvent({ event: this.gapEvent, data: { lastEventId: this.lastId, oldestId: null, lastId: streamId(0), reason: 'reset' } }));
    this.seq = 0;
    this.ring.clear();
    for (const sub of this.subs) {
      this.counters.gaps++;
      sub.queue.push(gap, false);
    }
  }

  /**
   * The reader found entries trimmed before it read them (it fell further behind than the
   * window): every local subscriber missed them, so each gets the gap event (one whose client is
   * ahead of this reader, from its own id, and none if it has the whole hole), and the ring
   * starts over (it holds consecutive events only).
   */
  private readerGap(next: number): void {
    const data = { lastEventId: this.lastId, oldestId: streamId(next), lastId: streamId(next), reason: 'too-old' };
    const gap = Buffer.from(serializeEvent({ event: this.gapEvent, data }));
    this.ring.clear();
    for (const sub of this.subs) {
      const has = this.skips.get(sub);
      if (has !== undefined && has >= next - 1) continue;
      this.counters.gaps++;
      sub.queue.push(has === undefined ? gap : Buffer.from(serializeEvent({ event: this.gapEvent, data: { ...data, lastEventId: streamId(has) } })), false);
    }
    // a subscriber still catching up gets it in its place, unless its replay already went past it
    for (const held of this.joining.values()) held.push([next - 0.5, gap]);
  }

  /** An SSE response subscribing the client, resuming from its Last-Event-ID. */
  subscribe(req: Request, options?: SSEOptions): StreamingResponse {
    if (this.closed) throw new TypeError('Channel.subscribe(): the channel is closed');
    const sub = new Subscriber(this, this.limit, this.action, this.slowAfterMs);
    const res = sse(req, sub as unknown as SSEHandler, options === undefined ? this.sseDefaults : { ...this.sseDefaults, ...options });
    // The client may leave while nothing is being written: end the subscription at once.
    res.addCloseTarget(sub);
    return res;
  }

  /**
   * Drops every subscriber's connection at once (say, before a deploy); their clients
   * reconnect and resume from their Last-Event-ID. Returns how many were dropped. Their
   * streams end as 'closed' (the application's own close, counted in streamsClosed), not
   * as errors.
   */
  disconnectAll(): number {
    const subs = [...this.subs, ...this.joining.keys()];
    for (const sub of subs) {
      this.leave(sub);
      sub.stream?.abort(); // no error: the application's close
    }
    return subs.length;
  }

  /** Ends every subscription (after its queued events) and refuses further publishes. */
  close(): void {
    this.closed = true;
    for (const sub of this.subs) sub.queue.finish();
    this.unfollowWhenIdle();
  }

  stats(): ChannelStats {
    let queuedBytes = 0;
    for (const sub of this.subs) queuedBytes += sub.queue.bytes;
    const oldest = this.ring.oldest;
    return {
      subscribers: this.subs.size,
      lastId: this.lastId,
      ...this.counters,
      queuedBytes,
      joining: this.joining.size,
      ring: { events: this.ring.size, bytes: this.ring.byteSize, oldestId: oldest === null ? null : this.backplane === null ? String(oldest) : streamId(oldest) },
    };
  }

  /** @internal A subscriber's stream is open: replay what it missed, then join. */
  join(sub: Subscriber): void {
    if (this.backplane !== null) return this.joinShared(sub);
    this.replay(sub, sub.stream!.lastEventId);
    this.live(sub);
  }

  private live(sub: Subscriber): void {
    this.subs.add(sub);
    if (this.closed) sub.queue.finish();
  }

  /**
   * Backplane: a subscriber joins once the reader follows the channel and it has what it
   * missed: from the local ring when its Last-Event-ID is there (at once), else from the stream.
   * Events read meanwhile are held for it and queued after its replay, none twice.
   */
  private joinShared(sub: Subscriber): void {
    const last = this.ids ? sub.stream!.lastEventId : null;
    const n = last === null || last === '' ? null : parseStreamId(last);
    const oldest = this.ring.oldest;
    const fromRing = n !== null && n <= this.seq && (n === this.seq || (oldest !== null && n >= oldest - 1));
    if (this.following !== null && this.followed && (last === null || last === '' || fromRing)) {
      if (n !== null) this.queueReplay(sub, this.ring.since(n));
      return this.live(sub);
    }
    this.joining.set(sub, []);
    this.follow()
      .then(() => this.catchUp(sub, last === '' ? null : last, n))
      .catch(() => {
        // Redis could not serve it now: the client reconnects and resumes from its Last-Event-ID.
        this.counters.joinErrors++;
        this.leave(sub);
        sub.stream?.abort();
      });
  }

  /** The position is known (the follow settled). */
  private followed = false;

  private follow(): Promise<void> {
    this.following ??= this.backplane!.watch(this.key, this.listener, this.backplaneClosed).then(
      (seq) => {
        this.seq = seq;
        this.ring.clear();
        this.followed = true;
      },
      (err: unknown) => {
        this.following = null;
        throw err;
      },
    );
    return this.following;
  }

  private unfollowWhenIdle(): void {
    if (this.backplane === null || this.following === null || this.subs.size > 0 || this.joining.size > 0) return;
    this.backplane.unwatch(this.key, this.listener);
    this.following = null;
    this.followed = false;
    this.ring.clear(); // no longer consecutive with what comes next
  }

  private async catchUp(sub: Subscriber, last: string | null, n: number | null): Promise<void> {
    if (sub.queue.isClosed) return void this.leave(sub);
    const upTo = this.seq; // the reader's position now: what comes after is held for it
    let replay: Buffer[] = [];
    let gap: { reason: string; oldest: number | null } | null = null;
    let after = 0;
    if (last !== null) {
      after = Math.max(upTo, n ?? 0);
      if (n === null) {
        gap = { reason: 'unknown-id', oldest: this.ring.oldest };
        replay = this.ring.since(-1);
      } else if (n > upTo) {
        // Another process's reader is ahead of ours, or the id was never given: Redis knows.
        if (n > (await this.backplane!.lastSeq(this.key))) {
          gap = { reason: 'unknown-id', oldest: this.ring.oldest };
          replay = this.ring.since(-1);
          after = this.seq; // the ring as it is now (the reader may have moved during the await)
        } else {
          this.skips.set(sub, n);
        }
      } else if (n < upTo) {
        const oldest = this.ring.oldest;
        if (oldest !== null && n >= oldest - 1) {
          replay = this.ring.since(n);
        } else {
          const entries = await this.backplane!.range(this.key, n, upTo);
          if (entries.length === 0 || entries[0]!.seq > n + 1) gap = { reason: 'too-old', oldest: entries[0]?.seq ?? null };
          for (const entry of entries) {
            const buf = this.frame(entry);
            if (buf !== null) replay.push(buf);
          }
        }
      }
    }
    if (sub.queue.isClosed) return void this.leave(sub);
    if (gap !== null) {
      this.counters.gaps++;
      const data = { lastEventId: last, oldestId: gap.oldest === null ? null : streamId(gap.oldest), lastId: streamId(upTo), reason: gap.reason };
      sub.queue.push(Buffer.from(serializeEvent({ event: this.gapEvent, data })), false);
    }
    this.queueReplay(sub, replay);
    const held = this.joining.get(sub) ?? [];
    this.joining.delete(sub);
    for (const [seq, buf] of held) if (seq > after) sub.queue.push(buf, false);
    this.live(sub);
  }

  private queueReplay(sub: Subscriber, bufs: Buffer[]): void {
    for (const buf of bufs) {
      sub.queue.push(buf, false);
      this.counters.replayed++;
    }
  }

  /** @internal Subscribers with something to write, flushed from one microtask. */
  schedule(sub: Subscriber): void {
    this.ready.push(sub);
    if (this.ready.length === 1) queueMicrotask(this.flushReady);
  }

  private readonly ready: Subscriber[] = [];

  private readonly flushReady = (): void => {
    const ready = this.ready;
    for (let i = 0; i < ready.length; i++) {
      try {
        ready[i]!.pump();
      } catch {
        // A subscriber's failure is its own (its stream is aborted); the others go on.
      }
    }
    ready.length = 0;
  };

  /** Queues what a client with `last` missed (before it joins, so nothing interleaves). */
  private replay(sub: Subscriber, last: string | null): void {
    if (last === null || last === '' || !this.ids) return;
    const n = DECIMAL.test(last) ? Number(last) : NaN;
    if (n === this.seq) return;
    const oldest = this.ring.oldest;
    let from = n;
    if (!(n < this.seq) || oldest === null || n < oldest - 1) {
      this.counters.gaps++;
      const gap = { lastEventId: last, oldestId: oldest === null ? null : String(oldest), lastId: this.lastId, reason: n > this.seq || Number.isNaN(n) ? 'unknown-id' : 'too-old' };
      sub.queue.push(Buffer.from(serializeEvent({ event: this.gapEvent, data: gap })), false);
      from = -1;
    }
    for (const buf of this.ring.since(from)) {
      sub.queue.push(buf, false);
      this.counters.replayed++;
    }
  }

  private disconnect(sub: Subscriber): void {
    this.counters.disconnected++;
    this.leave(sub);
    // a policy decision, not a failure: the stream ends as 'shed' (counted in streamsShed), nothing is logged
    sub.stream?.abort(new StreamCancel('shed', 'a slow subscriber: its queue stayed over maxQueueBytes'));
  }

  /** @internal */
  leave(sub: Subscriber): void {
    this.subs.delete(sub);
    this.joining.delete(sub);
    this.skips.delete(sub);
    sub.queue.close();
    this.unfollowWhenIdle();
  }
}

function count(value: number | undefined, dflt: number, name: string): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new TypeError(`Channel option ${name} must be a non-negative integer, got ${String(value)}`);
  return value;
}
