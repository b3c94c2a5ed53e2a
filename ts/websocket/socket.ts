/**
 * One accepted WebSocket connection, as the application sees it.
 *
 *   app.ws('/chat/:room', {
 *     open(ws) { ws.join(ws.request.params.room); },
 *     message(ws, data, isBinary) { app.room(ws.request.params.room).broadcast(data, { binary: isBinary }); },
 *     close(ws, code, reason) {},
 *   });
 *
 * `send()` returns false once the connection's queue is over its high watermark: wait for
 * the `drain` hook (or `await ws.drained()`) before sending more. The core answers pings and
 * does the closing handshake; `close` runs exactly once, with the peer's code, the code the
 * core closed with (1002 protocol error, 1007 invalid UTF-8, 1009 message too big), the code
 * given to `ws.close()` when the peer did not answer, or 1006 when the connection was lost.
 * After that, send() throws an Error with code ECLOSED.
 *
 * A peer that is gone (it reset or left, and the server had not read that yet) is a close,
 * never an exception: the send() that finds it returns false, the socket is 'closing' and
 * leaves its rooms, and `close` follows with 1006.
 */
import { CoreError, isConnectionGone } from '../errors.js';
import type { NativeServer } from '../native.js';
import { STREAM_STATS_FIELDS } from '../native.js';
import type { Request } from '../request.js';
import type { PerMessageDeflateOptions } from './handshake.js';
import type { JoinOptions, Room } from './room.js';

export type WebSocketState = 'open' | 'closing' | 'closed';

export interface WebSocketBehavior<Data = unknown> {
  /** The protocols this route speaks (Sec-WebSocket-Protocol); the client's first match is chosen. */
  protocols?: readonly string[];
  /** Largest message accepted, in bytes (default 1 MiB); a larger one closes with 1009. */
  maxPayload?: number;
  /** Queued bytes at which send() returns false (default 64 KiB). */
  highWaterMark?: number;
  /** Queued bytes at which `drain` runs after backpressure (default 16 KiB). */
  lowWaterMark?: number;
  /** A connection backpressured without progress this long (ms) is dropped (default 60000, 0 = never). */
  stallTimeout?: number;
  /**
   * permessage-deflate (RFC 7692), off by default: true, or settings (threshold, context takeover,
   * window bits, memLevel, level). Negotiated with each client that offers it.
   */
  perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** A ping after this long (ms) without a frame from the peer (default 30000, 0 = never). */
  pingInterval?: number;
  /** A peer that sends nothing this long (ms) after a ping is dropped: `close` gets 1006 (default 10000, 0 = never). */
  pongTimeout?: number;
  /** No message either way this long (ms): closed with 1001 (default 0 = never). */
  idleTimeout?: number;
  /** Frames in one message; a message in more closes with 1008 (default 1024). */
  maxFragments?: number;
  /** Pings and pongs a peer may send per second; more close with 1008 (default 100, 0 = no limit). */
  maxControlFramesPerSecond?: number;
  /** Open connections on this route; one more is answered 101 and closed at once with 1013 (default: no limit). */
  maxConnections?: number;
  /**
   * Runs before the 101 is sent (after middleware): throw an HttpError to refuse (401, 403...).
   * What it returns becomes `ws.data`.
   */
  upgrade?(req: Request): Data | Promise<Data>;
  open?(ws: WebSocket<Data>): void;
  message?(ws: WebSocket<Data>, data: string | Buffer, isBinary: boolean): void;
  drain?(ws: WebSocket<Data>): void;
  close?(ws: WebSocket<Data>, code: number, reason: string): void;
}

/** The native calls a socket makes (a fake in unit tests). */
export type SocketTarget = Pick<NativeServer, 'wsSend' | 'wsClose' | 'streamStats'>;

const QUEUED = STREAM_STATS_FIELDS.indexOf('queuedBytes');
const REASON_MAX = 123;

export class WebSocket<Data = unknown> {
  /** What the route's upgrade() returned. */
  data: Data;
  /** The chosen subprotocol, or '' when none. */
  readonly protocol: string;
  /** The extensions agreed (Sec-WebSocket-Extensions of the 101: `permessage-deflate; ...`), or ''. */
  readonly extensions: string;
  private readonly refused: boolean;
  private gone: (() => void) | undefined;
  private state: WebSocketState = 'open';
  private readonly joined = new Set<Room<any>>();
  private drainWaiters: Array<{ resolve(): void; reject(err: unknown): void }> | null = null;
  /** @internal send() returned false and no drain came since. */
  backpressured = false;
  /** The code given to close(), reported if the peer never answers. */
  private sentCode = 0;
  private sentReason = '';

  /** @internal Created by acceptUpgrade (upgrade.ts) once the core accepted the upgrade. */
  constructor(
    private readonly target: SocketTarget,
    /** @internal */
    readonly id: number,
    /** The upgrade request (headers, params, query, ip). */
    readonly request: Request,
    private readonly behavior: WebSocketBehavior<Data>,
    data: Data,
    protocol: string,
    private readonly log: (err: unknown) => void,
    /** refused: over the route's maxConnections (the core closes it with 1013; no hook runs); gone: runs once at the end. */
    extra: { refused?: boolean; gone?: () => void; extensions?: string } = {},
  ) {
    this.data = data;
    this.protocol = protocol;
    this.extensions = extra.extensions ?? '';
    this.refused = extra.refused ?? false;
    this.gone = extra.gone;
    if (this.refused) this.state = 'closing';
  }

  get readyState(): WebSocketState {
    return this.state;
  }

  /** Bytes queued in the core and not yet taken by the kernel. */
  get bufferedAmount(): number {
    if (this.state === 'closed') return 0;
    try {
      return this.target.streamStats(this.id)[QUEUED] ?? 0;
    } catch {
      return 0;
    }
  }

  /** The rooms this socket is in. */
  get rooms(): ReadonlySet<Room<any>> {
    return this.joined;
  }

  /**
   * Sends one message: a string as text, bytes as binary (or as text with `binary: false`).
   * Returns false when the queue passed the high watermark, or when the connection turns out
   * to be gone (the message is dropped; `close` follows with 1006). Throws ECLOSED once closing.
   */
  send(data: string | Uint8Array | ArrayBuffer, options?: { binary?: boolean }): boolean {
    if (this.state !== 'open') throw new CoreError('ECLOSED', `the WebSocket is ${this.state}`);
    let payload: string | Uint8Array;
    if (typeof data === 'string') payload = data;
    else if (data instanceof Uint8Array) payload = data;
    else if (data instanceof ArrayBuffer) payload = new Uint8Array(data);
    else throw new TypeError('a WebSocket message must be a string, a Uint8Array or an ArrayBuffer');
    const binary = options?.binary ?? typeof payload !== 'string';
    let ok: boolean;
    try {
      ok = this.target.wsSend(this.id, binary, payload);
    } catch (err) {
      if (!isConnectionGone(err)) throw err;
      this.lost(); // the peer reset or left: a close (1006 follows), not an exception
      return false;
    }
    if (!ok) this.backpressured = true;
    return ok;
  }

  /** Resolves once the queue drained after send() returned false (at once when it did not). */
  drained(): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new CoreError('ECLOSED', `the WebSocket is ${this.state}`));
    if (!this.backpressured) return Promise.resolve();
    return new Promise((resolve, reject) => (this.drainWaiters ??= []).push({ resolve, reject }));
  }

  /**
   * Starts the closing handshake: `code` 1000 (default), 1001-1003, 1007-1014 or 3000-4999;
   * `reason` up to 123 bytes of UTF-8. Nothing more is delivered to `message` after this.
   */
  close(code = 1000, reason = ''): void {
    if (!Number.isInteger(code) || !(code === 1000 || (code >= 1001 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999))) {
      throw new RangeError(`WebSocket close code ${String(code)} may not be sent`);
    }
    if (typeof reason !== 'string' || Buffer.byteLength(reason) > REASON_MAX) {
      throw new RangeError(`WebSocket close reason must be a string of at most ${REASON_MAX} bytes`);
    }
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.sentCode = code;
    this.sentReason = reason;
    this.leaveAll();
    this.rejectDrains();
    try {
      this.target.wsClose(this.id, code, reason);
    } catch (err) {
      if (!isConnectionGone(err)) this.log(err);
    }
  }

  /**
   * Joins a room (see app.room()). `after`: the last offset the client got from a resumable
   * room; it is sent what it missed (or a gap notice, then the log) before live messages.
   */
  join(room: Room<any>, options: JoinOptions = {}): this {
    if (this.state !== 'open') throw new CoreError('ECLOSED', `the WebSocket is ${this.state}`);
    const after = options.after ?? null;
    if (after !== null && typeof after !== 'string') throw new TypeError(`ws.join(): after must be an offset string, got ${typeof after}`);
    if (after !== null && after !== '' && !room.resumable) throw new TypeError(`ws.join(): room ${JSON.stringify(room.name)} keeps no log, it cannot resume (give it one: { log })`);
    if (!this.joined.has(room)) {
      this.joined.add(room);
      room.add(this, after === '' ? null : after);
    }
    return this;
  }

  leave(room: Room<any>): this {
    if (this.joined.delete(room)) room.remove(this);
    return this;
  }

  // ---- from the transport ----

  /** @internal */
  onOpen(): void {
    if (this.refused) return;
    this.hook(() => this.behavior.open?.(this));
  }

  /** @internal */
  onMessage(binary: boolean, data: string | Buffer): void {
    if (this.state !== 'open') return;
    this.hook(() => this.behavior.message?.(this, data, binary));
  }

  /** @internal */
  onDrain(): void {
    this.backpressured = false;
    const waiters = this.drainWaiters;
    this.drainWaiters = null;
    if (waiters !== null) for (const w of waiters) w.resolve();
    if (this.state === 'open') this.hook(() => this.behavior.drain?.(this));
  }

  /** @internal The closing handshake ended (the peer's code, or a protocol failure's). */
  onClose(code: number, reason: string): void {
    this.closed(code, reason);
  }

  /** @internal The connection is gone: 1006 unless a close already ran. */
  onEnd(): void {
    if (this.state === 'closing' && this.sentCode !== 0) this.closed(this.sentCode, this.sentReason);
    else this.closed(1006, '');
  }

  /** A write found the connection gone: closing (no more sends, out of its rooms) until onEnd reports 1006. */
  private lost(): void {
    if (this.state !== 'open') return;
    this.state = 'closing';
    this.leaveAll();
    this.rejectDrains();
  }

  private closed(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.leaveAll();
    this.rejectDrains();
    const gone = this.gone;
    this.gone = undefined;
    gone?.();
    if (this.refused) return;
    this.hook(() => this.behavior.close?.(this, code, reason));
  }

  private leaveAll(): void {
    for (const room of this.joined) room.remove(this);
    this.joined.clear();
  }

  private rejectDrains(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = null;
    if (waiters === null) return;
    const err = new CoreError('ECLOSED', 'the WebSocket is closed');
    for (const w of waiters) w.reject(err);
  }

  private hook(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log(err);
    }
  }
}
