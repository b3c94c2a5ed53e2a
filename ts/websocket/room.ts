/**
 * Rooms: named sets of WebSockets for broadcast. `app.room(name)` returns the app's room of
 * that name (created on first use, dropped when its last member leaves).
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
 * ids (0-1, 0-2, ...), which resumable rooms will use.
 *
 * A room holds WebSockets and a WebSocket knows the rooms it joined (`ws.rooms`, `join`,
 * `leave`): the two public types name each other, so room.ts and socket.ts import each
 * other's type (`import type`, erased from the JavaScript: no load-order cycle).
 */
import { isConnectionGone } from '../errors.js';
import { roomAction, type SlowConsumerAction, type SlowConsumerPolicy } from '../slow-consumer.js';
import type { WebSocket } from './socket.js';
import { field, type Backplane, type StreamEntry, type StreamListener } from '../backplane/types.js';

export interface BroadcastOptions {
  binary?: boolean;
  /** A member not to send to (the sender, say). */
  except?: WebSocket<any>;
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
  private slowPolicy: SlowConsumerPolicy = 'drop';
  private slowAction: SlowConsumerAction = 'drop';
  /** Messages not sent to a slow member ('drop'). */
  dropped = 0;
  /** Members closed for being slow ('disconnect'). */
  disconnected = 0;

  /** @internal */
  constructor(
    readonly name: string,
    private readonly onEmpty: (room: Room<any>) => void,
    backplane: Backplane | null = null,
    window = 1000,
  ) {
    if (backplane !== null) this.link = { backplane, key: `${backplane.prefix}:room:${name}`, window, listener: null, following: null };
  }

  get size(): number {
    return this.members.size;
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
    if (this.link === null) return this.deliver(payload, binary, options.except) as R;
    // On a backplane: through Redis, to every process's members (this one's from its reader).
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const origin = options.except === undefined ? '' : `${this.link.backplane.instanceId}:${options.except.id}`;
    return this.link.backplane.append(this.link.key, ['b', binary ? '1' : '0', 'o', origin, 'd', bytes], this.link.window) as R;
  }

  /** Sends to the members of this process; returns how many it was sent to. */
  private deliver(payload: string | Uint8Array, binary: boolean, except: WebSocket<any> | undefined, exceptId = -1): number {
    const send = { binary };
    let sent = 0;
    let failure: unknown = null;
    // Deleting from a Set while iterating it is well-defined (a socket closed here leaves it).
    for (const ws of this.members) {
      if (ws === except || ws.id === exceptId || ws.readyState !== 'open') continue;
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
        if (ws.send(payload, send) || ws.readyState === 'open') sent++;
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
    for (const entry of entries) {
      const payload = field(entry.fields, 'd');
      if (payload === undefined) continue;
      const origin = field(entry.fields, 'o')?.toString('latin1') ?? '';
      const exceptId = origin.startsWith(self) ? Number(origin.slice(self.length)) : -1;
      try {
        this.deliver(payload, field(entry.fields, 'b')?.toString('latin1') === '1', undefined, exceptId);
      } catch {
        // not a closed socket (those are skipped): the other messages still go out
      }
    }
  }

  /**
   * Settles once this process's reader follows the room (backplane rooms; at once otherwise):
   * a broadcast appended after that reaches the members here.
   */
  ready(): Promise<void> {
    return this.link?.following?.then(() => {}) ?? Promise.resolve();
  }

  /** @internal WebSocket.join */
  add(ws: WebSocket<any>): void {
    this.members.add(ws);
    this.follow();
  }

  /**
   * Backplane: the reader follows the room while it has members here. A follow that fails (the
   * backplane could not connect yet) is tried again every second while members remain.
   */
  private follow(): void {
    const link = this.link;
    if (link === null || link.listener !== null || this.members.size === 0 || link.backplane.isClosed) return;
    const listener: StreamListener = (entries) => this.receive(entries);
    link.listener = listener;
    link.following = link.backplane.watch(link.key, listener);
    link.following.catch(() => {
      if (link.listener !== listener) return;
      link.backplane.unwatch(link.key, listener);
      link.listener = null;
      link.following = null;
      setTimeout(() => this.follow(), 1000).unref();
    });
  }

  /** @internal WebSocket.leave and the end of a socket */
  remove(ws: WebSocket<any>): void {
    if (!this.members.delete(ws) || this.members.size > 0) return;
    const link = this.link;
    if (link?.listener) {
      link.backplane.unwatch(link.key, link.listener); // no members here: the key is no longer read
      link.listener = null;
      link.following = null;
    }
    this.onEmpty(this);
  }
}

export interface RoomsOptions {
  /** Backplane rooms: messages a room's stream keeps (XADD MAXLEN ~, default 1000), for resumable rooms to come. */
  window?: number;
}

/**
 * A set of named rooms: the app's own (`app.room()`, in-process), or, with a backplane, rooms
 * shared by every process (`Rooms.shared(backplane)`: broadcast() then returns Promise<string>).
 */
export class Rooms<R extends BroadcastResult = number> {
  private readonly byName = new Map<string, Room<R>>();
  private readonly backplane: Backplane | null;
  private readonly window: number;
  private readonly drop = (room: Room<any>): void => {
    // an empty room with settings or counters of its own is kept
    if (this.byName.get(room.name) === room && room.policy === 'drop' && room.dropped === 0 && room.disconnected === 0) this.byName.delete(room.name);
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

  /** The room called `name`, created when needed. */
  get(name: string): Room<R> {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('a room name must be a non-empty string');
    let room = this.byName.get(name);
    if (room === undefined) {
      room = new Room<R>(name, this.drop, this.backplane, this.window);
      this.byName.set(name, room);
    }
    return room;
  }

  /** The rooms that have members. */
  names(): string[] {
    return [...this.byName.keys()];
  }
}
