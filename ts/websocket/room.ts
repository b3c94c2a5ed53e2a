/**
 * Rooms: named sets of WebSockets for broadcast. `app.room(name)` returns the app's room of
 * that name (created on first use, dropped when its last member leaves; a resumable room
 * `retainEmpty` ms later, its log with it).
 *
 * A broadcast sends the same bytes to every member: one string conversion per member at most,
 * and a payload of 4 KiB or more is referenced by every member's queue, not copied. A member
 * whose queue is over its high watermark is a slow consumer; the room's policy decides (the
 * same three actions as an SSE Channel's, see ts/slow-consumer.ts): 'drop' (default: that
 * member misses this message, counted in `dropped`), 'disconnect' (it is closed with 1013
 * "try again later"), or 'queue' (sent anyway; the stall timeout bounds it).
 *
 * Rooms on a backplane (`Rooms.shared(redisBackplane({ url }))`) are shared by every
 * process on that Redis: `broadcast()` appends the message to the room's Redis Stream and returns
 * a promise of its id; each process that has members delivers what its reader reads to them,
 * with the same per-member policy. (`app.room()` stays in-process.) Entries keep their Redis
 * ids (0-1, 0-2, ...).
 *
 * A resumable room (`app.room(name, { log: 1000 })`, `rooms.get(name, { log })`) keeps its last
 * messages with their offsets and prefixes each message it sends with its offset (room-log.ts
 * has the format). `ws.join(room, { after: offset })` sends a member what it missed since that
 * offset (or a gap notice, then what the log has) before any live message, none twice: the way
 * an SSE Channel serves Last-Event-ID (ts/sse/channel.ts), which this mirrors. In-process the
 * replay is synchronous, so nothing can come between; on a backplane the offsets are the Redis
 * ids (global) and a member resumes on any process from the local log or the stream (XRANGE),
 * the messages read meanwhile held for it and sent after its replay.
 *
 * An empty resumable room keeps its log (and, on a backplane, keeps reading its stream so the
 * log stays whole) for `retainEmpty` ms, then frees it and may be dropped by its Rooms. A room
 * created again in-process continues its offsets above every offset a dropped room of that Rooms
 * gave (Rooms.floor), so an old offset gets 'too-old' and never names a new message; a dropped
 * room that is still alive (the application holds it) is given back by `get(name)`.
 *
 * A room holds WebSockets and a WebSocket knows the rooms it joined (`ws.rooms`, `join`,
 * `leave`): the two public types name each other, so room.ts and socket.ts import each
 * other's type (`import type`, erased from the JavaScript: no load-order cycle).
 */
import { isConnectionGone } from '../errors.js';
import { roomAction, type SlowConsumerAction, type SlowConsumerPolicy } from '../slow-consumer.js';
import type { WebSocket } from './socket.js';
import { field, continues, type Backplane, type StreamEntry, type StreamListener } from '../backplane/types.js';
import { ReplayRing } from '../sse/ring.js';
import { gapMessage, logged, offsetText, parseOffset, type GapNotice, type LoggedMessage } from './room-log.js';

export interface BroadcastOptions {
  binary?: boolean;
  /** A member not to send to (the sender, say). */
  except?: WebSocket<any>;
}

/** A room's message log (resumable rooms): `app.room(name, { log })`, `rooms.get(name, { log })`. */
export interface RoomOptions {
  /**
   * Messages kept for members that resume (0 or absent: none, the room is not resumable). On a
   * backplane it is also the room's stream window (XADD MAXLEN ~ log); give every process the same.
   */
  log?: number;
  /** Byte budget of the log kept in this process (default 4 MiB; the oldest messages go first). */
  logBytes?: number;
  /**
   * Milliseconds an empty resumable room keeps its log after its last member left (default
   * 120,000: two minutes), so that clients reconnecting meanwhile resume from it; then the log
   * is freed, the room dropped and, on a backplane, its stream no longer read here (a later
   * resume comes from Redis). 0: at once; Infinity: never.
   */
  retainEmpty?: number;
}

/** The default of RoomOptions.retainEmpty: two minutes. */
const RETAIN_EMPTY_DEFAULT_MS = 120_000;
/** The longest finite retainEmpty (a Node timer's limit). */
const RETAIN_EMPTY_MAX_MS = 2 ** 31 - 1;

/** @internal What a Room tells the Rooms that holds it. */
export interface RoomOwner {
  /** The room has no member and keeps nothing (its log, if any, was freed): it may be dropped. */
  empty(room: Room<any>): void;
  /** A member joins a room that may have been dropped: it is the room of its name again. */
  used(room: Room<any>): void;
}

/** What `ws.join(room, options)` takes. */
export interface JoinOptions {
  /**
   * The last offset the client got (a query parameter of its upgrade URL, say): it is sent what
   * came after, or a gap notice and then the log. null, undefined or '': live messages only.
   */
  after?: string | null;
}

/** What `broadcast()` returns: a member count in-process, a promise of the Redis id on a backplane. */
export type BroadcastResult = number | Promise<string>;

/** How a Room reaches a backplane (set by Rooms). */
interface RoomLink {
  backplane: Backplane;
  key: string;
  window: number;
  listener: StreamListener | null;
  /** Settles once the reader follows the room's key. */
  following: Promise<number> | null;
}

export class Room<R extends BroadcastResult = number> {
  private readonly members = new Set<WebSocket<any>>();
  private link: RoomLink | null = null;
  /** Resumable rooms: the last messages, by seq (null: not resumable). */
  private ring: ReplayRing<LoggedMessage> | null = null;
  private logSettings: Required<RoomOptions> | null = null;
  /** Resumable and empty: frees the log and drops the room when it fires (retainEmpty). */
  private retainTimer: NodeJS.Timeout | null = null;
  /** The seq of the last message: broadcast in-process, read by the reader on a backplane. */
  private seq = 0;
  /** Backplane, resumable: members catching up, each with the messages read meanwhile ([seq, message, sender id]). */
  private readonly joining = new Map<WebSocket<any>, Array<[number, LoggedMessage, number]>>();
  /** Backplane, resumable: members whose client has messages up to a seq this reader has not reached. */
  private readonly skips = new Map<WebSocket<any>, number>();
  /** Backplane, resumable: the reader's position is known (the ring follows it). */
  private followed = false;
  /** Messages replayed to members that resumed. */
  replayed = 0;
  /** Gap notices sent. */
  gaps = 0;
  /** Backplane: members closed (1013) because their catch-up could not be read from Redis. */
  joinErrors = 0;
  private slowPolicy: SlowConsumerPolicy = 'drop';
  private slowAction: SlowConsumerAction = 'drop';
  /** Messages not sent to a slow member ('drop'). */
  dropped = 0;
  /** Members closed for being slow ('disconnect'). */
  disconnected = 0;

  /** @internal */
  constructor(
    readonly name: string,
    private readonly owner: RoomOwner,
    backplane: Backplane | null = null,
    window = 1000,
    /** In-process: the seq the offsets continue from (above every offset a dropped room of this Rooms gave). */
    firstSeq = 0,
  ) {
    if (backplane !== null) this.link = { backplane, key: `${backplane.prefix}:room:${name}`, window, listener: null, following: null };
    else this.seq = firstSeq;
  }

  /** @internal In-process offsets given so far (Rooms keeps the highest of the rooms it dropped). */
  get localSeq(): number {
    return this.link === null ? this.seq : 0;
  }

  get size(): number {
    return this.members.size;
  }

  /** The room keeps a log (see RoomOptions): its messages carry offsets and members may resume. */
  get resumable(): boolean {
    return this.ring !== null;
  }

  /** Resumable rooms: the offset of the last message (in-process: broadcast; on a backplane: read here), '0' / '0-0' before any. */
  get lastOffset(): string {
    return offsetText(this.seq, this.link !== null);
  }

  /** Messages and bytes in this process's log, and its oldest offset. */
  logStats(): { messages: number; bytes: number; oldest: string | null } {
    const oldest = this.ring?.oldest ?? null;
    return { messages: this.ring?.size ?? 0, bytes: this.ring?.byteSize ?? 0, oldest: oldest === null ? null : offsetText(oldest, this.link !== null) };
  }

  /** @internal Rooms.get: a log for this room, or a check that the one it has is the same. */
  configure(options: RoomOptions): void {
    if (typeof options !== 'object' || options === null) throw new TypeError('room options must be an object');
    const log = options.log ?? 0;
    const logBytes = options.logBytes ?? 4 * 1024 * 1024;
    const retainEmpty = options.retainEmpty ?? RETAIN_EMPTY_DEFAULT_MS;
    for (const [name, v] of [['log', log], ['logBytes', logBytes]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`room option ${name} must be a non-negative integer, got ${String(v)}`);
    }
    if (retainEmpty !== Infinity && (!Number.isSafeInteger(retainEmpty) || retainEmpty < 0 || retainEmpty > RETAIN_EMPTY_MAX_MS)) {
      throw new TypeError(`room option retainEmpty must be an integer of milliseconds from 0 to ${RETAIN_EMPTY_MAX_MS}, or Infinity, got ${String(retainEmpty)}`);
    }
    if (log === 0) {
      if (options.retainEmpty !== undefined) throw new TypeError('room option retainEmpty needs a log (a room without one is dropped when its last member leaves)');
      return;
    }
    const had = this.logSettings;
    if (had !== null) {
      if (had.log !== log || had.logBytes !== logBytes || had.retainEmpty !== retainEmpty) {
        throw new TypeError(`room ${JSON.stringify(this.name)} already keeps a log of ${had.log} messages / ${had.logBytes} bytes for ${had.retainEmpty} ms once empty`);
      }
      return;
    }
    if (this.members.size > 0) throw new TypeError(`room ${JSON.stringify(this.name)} has members already: give it its log before the first join`);
    this.logSettings = { log, logBytes, retainEmpty };
    this.ring = new ReplayRing<LoggedMessage>(log, logBytes);
    if (this.link !== null) this.link.window = log;
  }

  get policy(): SlowConsumerPolicy {
    return this.slowPolicy;
  }

  set policy(policy: SlowConsumerPolicy) {
    this.slowAction = roomAction(policy);
    this.slowPolicy = policy;
  }

  /** A snapshot of the members. */
  sockets(): WebSocket<any>[] {
    return [...this.members];
  }

  /**
   * Sends a message to every member; returns how many it was sent to (queued, backpressured
   * or not). A member whose connection turns out to be gone is skipped (its `close` follows
   * with 1006): a broadcast never stops at one member.
   */
  broadcast(data: string | Uint8Array | ArrayBuffer, options: BroadcastOptions = {}): R {
    const payload = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    if (typeof payload !== 'string' && !(payload instanceof Uint8Array)) {
      throw new TypeError('a WebSocket message must be a string, a Uint8Array or an ArrayBuffer');
    }
    const binary = options.binary ?? typeof payload !== 'string';
    if (this.link === null) {
      if (this.ring === null) return this.deliver(payload, binary, options.except) as R;
      const seq = ++this.seq;
      const message = logged(seq, false, payload, binary);
      this.ring.push(seq, message);
      if (this.members.size === 0) this.retain(); // logged for members to come: kept retainEmpty ms
      return this.deliver(message.bytes, binary, options.except, -1, seq) as R;
    }
    // On a backplane: through Redis, to every process's members (this one's from its reader).
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const origin = options.except === undefined ? '' : `${this.link.backplane.instanceId}:${options.except.id}`;
    return this.link.backplane.append(this.link.key, ['b', binary ? '1' : '0', 'o', origin, 'd', bytes], this.link.window) as R;
  }

  /**
   * Sends to the members of this process; returns how many it was sent to. `seq` (resumable
   * rooms): the message's seq; the sender then gets its offset alone (room-log.ts).
   */
  private deliver(payload: string | Uint8Array, binary: boolean, except: WebSocket<any> | undefined, exceptId = -1, seq = 0): number {
    const send = { binary };
    const ack = seq === 0 ? null : offsetText(seq, this.link !== null);
    let sent = 0;
    let failure: unknown = null;
    // Deleting from a Set while iterating it is well-defined (a socket closed here leaves it).
    for (const ws of this.members) {
      if (ws.readyState !== 'open') continue;
      const own = ws === except || ws.id === exceptId;
      if (own && ack === null) continue;
      if (seq !== 0 && this.skips.size > 0 && seq <= (this.skips.get(ws) ?? 0)) continue; // its client has it
      if (ws.backpressured && this.slowAction !== 'keep') {
        if (this.slowAction === 'drop') {
          this.dropped++;
        } else {
          this.disconnected++;
          ws.close(1013, 'slow consumer');
        }
        continue;
      }
      try {
        // false with the socket still open: queued over the high watermark; closing: it was gone
        if (own) ws.send(ack!, { binary: false });
        else if (ws.send(payload, send) || ws.readyState === 'open') sent++;
      } catch (err) {
        // the other members still get the message; a failure that is not a closed socket is rethrown after
        if (!isConnectionGone(err)) failure ??= err;
      }
    }
    if (failure !== null) throw failure;
    return sent;
  }

  /** Backplane: messages read from the room's stream, in order. */
  private receive(entries: StreamEntry[]): void {
    const self = this.link!.backplane.instanceId + ':';
    const ring = this.ring;
    for (const entry of entries) {
      if (ring !== null) {
        if (entry.seq <= this.seq) continue;
        if (!continues(this.seq, entry)) this.readerGap(entry.seq);
        this.seq = entry.seq;
      }
      const payload = field(entry.fields, 'd');
      if (payload === undefined) continue;
      const origin = field(entry.fields, 'o')?.toString('latin1') ?? '';
      const exceptId = origin.startsWith(self) ? Number(origin.slice(self.length)) : -1;
      const binary = field(entry.fields, 'b')?.toString('latin1') === '1';
      try {
        if (ring === null) {
          this.deliver(payload, binary, undefined, exceptId);
          continue;
        }
        const message = logged(entry.seq, true, payload, binary);
        ring.push(entry.seq, message);
        for (const held of this.joining.values()) held.push([entry.seq, message, exceptId]);
        this.deliver(message.bytes, binary, undefined, exceptId, entry.seq);
      } catch {
        // not a closed socket (those are skipped): the other messages still go out
      }
    }
    for (const [ws, upTo] of this.skips) if (upTo <= this.seq) this.skips.delete(ws);
  }

  /** Sends one message regardless of the policy (a replay, a notice): false when the socket is gone. */
  private push(ws: WebSocket<any>, message: LoggedMessage): boolean {
    if (ws.readyState !== 'open') return false;
    try {
      ws.send(message.bytes, { binary: message.binary });
    } catch (err) {
      if (!isConnectionGone(err)) throw err;
    }
    return ws.readyState === 'open';
  }

  private notice(ws: WebSocket<any>, notice: GapNotice): boolean {
    this.gaps++;
    return this.push(ws, gapMessage(notice));
  }

  private replay(ws: WebSocket<any>, messages: LoggedMessage[]): boolean {
    for (const m of messages) {
      if (!this.push(ws, m)) return false;
      this.replayed++;
    }
    return true;
  }

  /**
   * In-process: sends what a member that got `after` missed, before it joins (synchronously:
   * no broadcast can come between). An offset the room never gave, or older than the log: a gap
   * notice, then the whole log. Mirrors Channel's replay.
   */
  private replayLocal(ws: WebSocket<any>, after: string): void {
    const ring = this.ring!;
    const n = parseOffset(after, false);
    if (n === this.seq) return;
    const oldest = ring.oldest;
    let from = n ?? -1;
    if (n === null || !(n < this.seq) || oldest === null || n < oldest - 1) {
      const reason = n === null || n > this.seq ? 'unknown-offset' : 'too-old';
      if (!this.notice(ws, { after, oldest: oldest === null ? null : String(oldest), last: this.lastOffset, reason })) return;
      from = -1;
    }
    this.replay(ws, ring.since(from));
  }

  /**
   * Backplane, resumable: the reader found messages trimmed before it read them (it fell behind
   * more than the window): every member here missed them and gets a gap notice (one whose client
   * is ahead of this reader, from its own offset, and none if it has the whole hole); the log
   * starts over.
   */
  private readerGap(next: number): void {
    const notice: GapNotice = { after: this.lastOffset, oldest: offsetText(next, true), last: offsetText(next, true), reason: 'too-old' };
    this.ring!.clear();
    for (const ws of this.members) {
      // a member whose client is ahead of this reader (skips) misses only what comes after its own offset
      const has = this.skips.get(ws);
      if (has === undefined) this.notice(ws, notice);
      else if (has < next - 1) this.notice(ws, { ...notice, after: offsetText(has, true) });
    }
    const message = gapMessage(notice);
    for (const held of this.joining.values()) held.push([next - 0.5, message, -1]);
  }

  /** Backplane, resumable: the stream was replaced (Redis restarted without persistence, the key deleted or expired): offsets start over. */
  private streamReplaced(): void {
    if (this.ring === null) return; // a plain room just goes on with the new stream
    const notice: GapNotice = { after: this.lastOffset, oldest: null, last: offsetText(0, true), reason: 'reset' };
    this.seq = 0;
    this.ring?.clear();
    for (const ws of this.members) this.notice(ws, notice);
  }

  /**
   * Backplane, resumable: a member joins at once when the reader follows the room and its offset
   * is in the local log (or it gave none); else it catches up from the stream first, the
   * messages read meanwhile held for it and sent after its replay, none twice.
   */
  private joinShared(ws: WebSocket<any>, after: string | null): void {
    const n = after === null ? null : parseOffset(after, true);
    const oldest = this.ring!.oldest;
    const fromRing = n !== null && n <= this.seq && (n === this.seq || (oldest !== null && n >= oldest - 1));
    if (this.followed && (after === null || fromRing)) {
      if (n !== null && !this.replay(ws, this.ring!.since(n))) return;
      this.members.add(ws);
      return;
    }
    this.joining.set(ws, []);
    const following = this.follow();
    const caught = following === null ? Promise.reject(new Error('the backplane is closed')) : following.then(() => this.catchUp(ws, after, n));
    caught.catch(() => {
      if (!this.joining.delete(ws)) return;
      // Redis could not serve it now: the client reconnects and resumes with its offset.
      this.joinErrors++;
      if (ws.readyState === 'open') ws.close(1013, 'resume failed, try again');
      this.idle();
    });
  }

  private async catchUp(ws: WebSocket<any>, after: string | null, n: number | null): Promise<void> {
    if (!this.joining.has(ws)) return;
    const link = this.link!;
    const ring = this.ring!;
    const upTo = this.seq; // the reader's position now: what it reads after this is held for the member
    let replay: LoggedMessage[] = [];
    let gap: GapNotice | null = null;
    let heldAfter = upTo;
    if (after !== null) {
      heldAfter = Math.max(upTo, n ?? 0);
      const unknown = (): void => {
        const oldest = ring.oldest;
        gap = { after, oldest: oldest === null ? null : offsetText(oldest, true), last: this.lastOffset, reason: 'unknown-offset' };
        replay = ring.since(-1);
        heldAfter = this.seq; // the log as it is now (the reader may have moved during an await)
      };
      if (n === null) {
        unknown();
      } else if (n > upTo) {
        // another process's reader is ahead of ours, or the offset was never given: Redis knows
        if (n > (await link.backplane.lastSeq(link.key))) unknown();
        else this.skips.set(ws, n);
      } else if (n < upTo) {
        const oldest = ring.oldest;
        if (oldest !== null && n >= oldest - 1) {
          replay = ring.since(n);
        } else {
          const entries = await link.backplane.range(link.key, n, upTo);
          if (entries.length === 0 || entries[0]!.seq > n + 1) gap = { after, oldest: entries.length === 0 ? null : offsetText(entries[0]!.seq, true), last: offsetText(upTo, true), reason: 'too-old' };
          for (const entry of entries) {
            const payload = field(entry.fields, 'd');
            if (payload !== undefined) replay.push(logged(entry.seq, true, payload, field(entry.fields, 'b')?.toString('latin1') === '1'));
          }
        }
      }
    }
    const held = this.joining.get(ws);
    if (held === undefined) return; // it left meanwhile
    this.joining.delete(ws);
    if (ws.readyState !== 'open') return this.idle();
    if (gap !== null && !this.notice(ws, gap)) return;
    if (!this.replay(ws, replay)) return;
    for (const [seq, message, sender] of held) {
      if (seq <= heldAfter) continue;
      const ok = sender === ws.id ? this.push(ws, { bytes: Buffer.from(offsetText(seq, true)), binary: false, byteLength: 0 }) : this.push(ws, message);
      if (!ok) return;
    }
    this.members.add(ws);
  }

  /**
   * Settles once this process's reader follows the room (backplane rooms; at once otherwise):
   * a broadcast appended after that reaches the members here.
   */
  ready(): Promise<void> {
    return this.link?.following?.then(() => {}) ?? Promise.resolve();
  }

  /** @internal WebSocket.join (`after`: checked by it, non-empty, resumable rooms only) */
  add(ws: WebSocket<any>, after: string | null = null): void {
    if (this.retainTimer !== null) {
      clearTimeout(this.retainTimer);
      this.retainTimer = null;
    }
    this.owner.used(this);
    if (this.ring !== null && this.link !== null) return this.joinShared(ws, after);
    if (after !== null) this.replayLocal(ws, after);
    if (ws.readyState !== 'open') return; // the replay found it gone
    this.members.add(ws);
    this.follow();
  }

  /**
   * Backplane: the reader follows the room while it has members here. A follow that fails (the
   * backplane could not connect yet) is tried again every second while members remain.
   */
  private follow(): Promise<number> | null {
    const link = this.link;
    if (link === null || link.backplane.isClosed) return null;
    if (link.listener !== null) return link.following;
    if (this.members.size === 0 && this.joining.size === 0) return null;
    const listener: StreamListener = (entries, restarted) => (restarted === true ? this.streamReplaced() : this.receive(entries));
    link.listener = listener;
    const following = link.backplane.watch(link.key, listener);
    link.following = following;
    following.then(
      (seq) => {
        if (link.listener !== listener || this.ring === null) return;
        this.seq = seq; // the log starts at the reader's position
        this.ring.clear();
        this.followed = true;
      },
      () => {
        if (link.listener !== listener) return;
        link.backplane.unwatch(link.key, listener);
        link.listener = null;
        link.following = null;
        if (this.members.size > 0) setTimeout(() => this.follow(), 1000).unref();
      },
    );
    return following;
  }

  /** Backplane: no members and none joining here: the key is no longer read (the local log goes too). */
  private unfollowWhenIdle(): void {
    const link = this.link;
    if (link === null || this.members.size > 0 || this.joining.size > 0) return;
    if (link.listener) {
      link.backplane.unwatch(link.key, link.listener);
      link.listener = null;
      link.following = null;
    }
    this.followed = false;
    this.ring?.clear(); // no longer consecutive with what comes next
  }

  /** @internal WebSocket.leave and the end of a socket */
  remove(ws: WebSocket<any>): void {
    this.skips.delete(ws);
    const wasJoining = this.joining.delete(ws);
    if (!(this.members.delete(ws) || wasJoining)) return;
    this.idle();
  }

  /**
   * No member here any more (and none joining): a plain room stops reading its stream and may be
   * dropped at once; a resumable one keeps its log (and, on a backplane, keeps reading its stream
   * so that the log stays whole) for retainEmpty ms, then frees it.
   */
  private idle(): void {
    if (this.members.size > 0 || this.joining.size > 0) return;
    if (this.ring === null) {
      this.unfollowWhenIdle();
      this.owner.empty(this);
      return;
    }
    this.retain();
  }

  /** Resumable and empty: (re)starts nothing if the clock already runs; frees the log when it ends. */
  private retain(): void {
    const ms = this.logSettings!.retainEmpty;
    if (this.retainTimer !== null || ms === Infinity) return;
    if (ms === 0) return this.release();
    this.retainTimer = setTimeout(() => {
      this.retainTimer = null;
      this.release();
    }, ms);
    this.retainTimer.unref(); // an empty room never keeps the process alive
  }

  /** The retention ended with nobody back: the log is freed, the stream no longer read here, the room may be dropped. */
  private release(): void {
    if (this.members.size > 0 || this.joining.size > 0) return;
    this.unfollowWhenIdle();
    this.ring?.clear();
    this.owner.empty(this);
  }
}

export interface RoomsOptions {
  /** Backplane rooms: messages a room's stream keeps (XADD MAXLEN ~, default 1000); a resumable room's `log` replaces it for that room. */
  window?: number;
}

/**
 * A set of named rooms: the app's own (`app.room()`, in-process), or, with a backplane, rooms
 * shared by every process (`Rooms.shared(backplane)`: broadcast() then returns Promise<string>).
 */
export class Rooms<R extends BroadcastResult = number> {
  private readonly byName = new Map<string, Room<R>>();
  /**
   * Rooms dropped while something (the application) may still hold them: `get(name)` gives the
   * same object back while it lives, so a held room and the room of its name never part. The
   * entries go when the rooms are collected.
   */
  private readonly dropped = new Map<string, WeakRef<Room<R>>>();
  private readonly collected = new FinalizationRegistry<string>((name) => {
    if (this.dropped.get(name)?.deref() === undefined) this.dropped.delete(name);
  });
  /** In-process: the highest offset a dropped room gave; a new room's offsets go on above it. */
  private floor = 0;
  private readonly backplane: Backplane | null;
  private readonly window: number;
  private readonly owner: RoomOwner = {
    empty: (room) => {
      // an empty room with settings or counters of its own is kept; a resumable room comes here
      // only once its log was freed (retainEmpty after its last member left)
      if (this.byName.get(room.name) !== room || room.policy !== 'drop' || room.dropped !== 0 || room.disconnected !== 0) return;
      this.byName.delete(room.name);
      this.floor = Math.max(this.floor, room.localSeq);
      this.dropped.set(room.name, new WeakRef(room as Room<R>));
      this.collected.register(room, room.name, room);
    },
    used: (room) => {
      if (!this.byName.has(room.name)) this.revive(room.name);
    },
  };

  /** In-process rooms; `Rooms.shared(backplane)` makes rooms shared through a backplane. */
  constructor(options: RoomsOptions = {}, /** @internal use Rooms.shared() */ backplane: Backplane | null = null) {
    this.backplane = backplane;
    if (this.backplane !== null && (typeof this.backplane !== 'object' || typeof this.backplane.append !== 'function')) throw new TypeError('Rooms option backplane must be a backplane (redisBackplane())');
    const window = options.window ?? 1000;
    if (!Number.isSafeInteger(window) || window < 1) throw new TypeError(`Rooms option window must be a positive integer, got ${String(window)}`);
    this.window = window;
  }

  /** Rooms whose broadcast goes through a backplane. */
  static shared(backplane: Backplane, options: RoomsOptions = {}): Rooms<Promise<string>> {
    return new Rooms<Promise<string>>(options, backplane);
  }

  /**
   * The room called `name`, created when needed. `options.log` makes it resumable (RoomOptions):
   * given again, the same settings are accepted and others are a TypeError; `get(name)` without
   * options returns the room as it is.
   */
  get(name: string, options?: RoomOptions): Room<R> {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('a room name must be a non-empty string');
    let room = this.byName.get(name) ?? this.dropped.get(name)?.deref();
    const created = room === undefined;
    room ??= new Room<R>(name, this.owner, this.backplane, this.window, this.floor);
    if (options !== undefined) room.configure(options); // throws before a new room is kept
    if (created) this.byName.set(name, room);
    else if (!this.byName.has(name)) this.revive(name);
    return room;
  }

  /** A dropped room still alive is the room of its name again. */
  private revive(name: string): void {
    const room = this.dropped.get(name)?.deref();
    if (room === undefined) return;
    this.dropped.delete(name);
    this.collected.unregister(room);
    this.byName.set(name, room);
  }

  /** The rooms kept: those with members, resumable ones within their retainEmpty, and those with settings or counters of their own. */
  names(): string[] {
    return [...this.byName.keys()];
  }
}
