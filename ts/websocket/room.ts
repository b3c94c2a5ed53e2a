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
 * A room holds WebSockets and a WebSocket knows the rooms it joined (`ws.rooms`, `join`,
 * `leave`): the two public types name each other, so room.ts and socket.ts import each
 * other's type (`import type`, erased from the JavaScript: no load-order cycle).
 */
import { isConnectionGone } from '../errors.js';
import { roomAction, type SlowConsumerAction, type SlowConsumerPolicy } from '../slow-consumer.js';
import type { WebSocket } from './socket.js';

export interface BroadcastOptions {
  binary?: boolean;
  /** A member not to send to (the sender, say). */
  except?: WebSocket<any>;
}

export class Room {
  private readonly members = new Set<WebSocket<any>>();
  private slowPolicy: SlowConsumerPolicy = 'drop';
  private slowAction: SlowConsumerAction = 'drop';
  /** Messages not sent to a slow member ('drop'). */
  dropped = 0;
  /** Members closed for being slow ('disconnect'). */
  disconnected = 0;

  /** @internal */
  constructor(
    readonly name: string,
    private readonly onEmpty: (room: Room) => void,
  ) {}

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
  broadcast(data: string | Uint8Array | ArrayBuffer, options: BroadcastOptions = {}): number {
    const payload = data instanceof ArrayBuffer ? new Uint8Array(data) : data;
    if (typeof payload !== 'string' && !(payload instanceof Uint8Array)) {
      throw new TypeError('a WebSocket message must be a string, a Uint8Array or an ArrayBuffer');
    }
    const send = { binary: options.binary ?? typeof payload !== 'string' };
    let sent = 0;
    let failure: unknown = null;
    // Deleting from a Set while iterating it is well-defined (a socket closed here leaves it).
    for (const ws of this.members) {
      if (ws === options.except || ws.readyState !== 'open') continue;
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

  /** @internal WebSocket.join */
  add(ws: WebSocket<any>): void {
    this.members.add(ws);
  }

  /** @internal WebSocket.leave and the end of a socket */
  remove(ws: WebSocket<any>): void {
    if (this.members.delete(ws) && this.members.size === 0) this.onEmpty(this);
  }
}

/** The rooms of one app. */
export class Rooms {
  private readonly byName = new Map<string, Room>();
  private readonly drop = (room: Room): void => {
    // an empty room with settings or counters of its own is kept
    if (this.byName.get(room.name) === room && room.policy === 'drop' && room.dropped === 0 && room.disconnected === 0) this.byName.delete(room.name);
  };

  /** The room called `name`, created when needed. */
  get(name: string): Room {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('a room name must be a non-empty string');
    let room = this.byName.get(name);
    if (room === undefined) {
      room = new Room(name, this.drop);
      this.byName.set(name, room);
    }
    return room;
  }

  /** The rooms that have members. */
  names(): string[] {
    return [...this.byName.keys()];
  }
}
