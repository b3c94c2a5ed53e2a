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
 */
import { StreamCancel } from '../errors.js';
import type { Request } from '../request.js';
import type { CloseTarget, StreamingResponse } from '../streaming/response.js';
import { HOLD, RESOLVED } from '../streaming/writer.js';
import { serializeEvent, type SSEEvent } from './event.js';
import { channelAction, type OverflowPolicy, type SlowConsumerAction } from '../slow-consumer.js';
import { SubscriberQueue } from './queue.js';
import { ReplayRing } from './ring.js';
import { lastEventId, sse, type SSEOptions, type SSEServer } from './response.js';
import type { SSEStream } from './stream.js';
import type { SSEHandler } from './response.js';

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
  private counters = { published: 0, dropped: 0, disconnected: 0, replayed: 0, gaps: 0, blocked: 0 };

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
  }

  /** Number of connected subscribers. */
  get size(): number {
    return this.subs.size;
  }

  /** Id of the last event published. */
  get lastId(): string {
    return String(this.seq);
  }

  /**
   * Publishes an event (a string is its data; the channel assigns the id). Resolves with
   * the id once every subscriber took it: at once, except under 'block' while a
   * subscriber's queue is over its limit.
   */
  publish(event: SSEEvent | string): Promise<string> {
    if (this.closed) return Promise.reject(new TypeError('Channel.publish(): the channel is closed'));
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
    let waits: Promise<void>[] | null = null;
    for (const sub of this.subs) {
      const before = sub.queue.dropped;
      if (sub.queue.push(buf)) {
        this.counters.dropped += sub.queue.dropped - before;
        continue;
      }
      if (this.action === 'disconnect') this.disconnect(sub);
      else (waits ??= []).push(sub.queue.whenBelowLimit());
    }
    if (waits === null) return Promise.resolve(id);
    this.counters.blocked++;
    return Promise.all(waits).then(() => id);
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
    const subs = [...this.subs];
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
      ring: { events: this.ring.size, bytes: this.ring.byteSize, oldestId: oldest === null ? null : String(oldest) },
    };
  }

  /** @internal A subscriber's stream is open: replay what it missed, then join. */
  join(sub: Subscriber): void {
    this.replay(sub, sub.stream!.lastEventId);
    this.subs.add(sub);
    if (this.closed) sub.queue.finish();
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
    sub.queue.close();
  }
}

function count(value: number | undefined, dflt: number, name: string): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new TypeError(`Channel option ${name} must be a non-negative integer, got ${String(value)}`);
  return value;
}
