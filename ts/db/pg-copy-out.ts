/**
 * `COPY ... TO STDOUT` read straight from a node-postgres connection's socket: a pg
 * "submittable" (the interface pg-copy-streams and pg-cursor use) that takes the socket over
 * while the COPY runs, strips the 5-byte header of every CopyData message in place and hands
 * each socket read on as one Buffer of payload bytes, then gives the socket back to pg, which
 * parses the rest (CommandComplete, ReadyForQuery, or the ErrorResponse of a failed COPY).
 *
 * Why not pg-copy-streams: it makes a Buffer per CopyData message (one per row), then joins
 * them; at ~50 bytes a row that was most of the server's CPU time of a CSV export. Here a socket
 * read of ~1,000 rows costs one `copyWithin` per row and no allocation but the result's view.
 *
 * Flow control is the socket's: it is read only when the response pulls (paused mode), so a
 * full response stops the reads, the kernel buffers fill and PostgreSQL blocks in ClientWrite.
 *
 * On a `pgSocket` (`pg-socket.ts`) the reads land in the socket's own reused buffer: each read
 * is stripped in place and the socket paused until the payload was taken and the next pull
 * comes. When the consumer accepted lent values (`lend`: the response copies each payload
 * into the core before it pulls again), the payload is a view of that buffer and the export
 * allocates nothing per read; otherwise it is a copy.
 *
 * The COPY sub-protocol (PostgreSQL docs, "Message Formats" and "COPY Operations"): after the
 * query, the server sends CopyOutResponse ('H'), any number of CopyData ('d', the payload) and
 * CopyDone ('c'); NoticeResponse ('N'), ParameterStatus ('S') and NotificationResponse ('A')
 * may come in between; an ErrorResponse ('E') ends it. Each message is a type byte and an int32
 * length that counts itself.
 */
import type { PullResult } from '../streaming/source.js';
import { takeReads } from './pg-socket.js';

/** The socket of a pg connection (a net.Socket or tls.TLSSocket). */
interface PgSocket {
  read(): Buffer | null;
  pause(): unknown;
  resume(): unknown;
  on(event: 'readable', fn: () => void): unknown;
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  removeListener(event: string, fn: (...args: never[]) => void): unknown;
  listeners(event: 'data'): Array<(chunk: Buffer) => void>;
}

/** The part of pg's Connection a submittable gets. */
interface PgConnection {
  stream: PgSocket;
  query(text: string): void;
}

const COPY_DATA = 0x64; // 'd'
const COPY_DONE = 0x63; // 'c'
const COPY_OUT_RESPONSE = 0x48; // 'H'
const NOTICE = 0x4e; // 'N'
const PARAMETER_STATUS = 0x53; // 'S'
const NOTIFICATION = 0x41; // 'A'

const enum Phase {
  /** Queued in pg's client (behind BEGIN): the socket is still pg's. */
  Queued,
  /** The query was sent; the socket is ours until CopyDone or an ErrorResponse. */
  Copying,
  /** The socket is pg's again; waiting for ReadyForQuery (or the error pg parses). */
  Finishing,
  Done,
  Failed,
  /** Stopped by abort(): whatever still arrives is dropped. */
  Aborted,
}

const DONE: PullResult = Object.freeze({ done: true, value: undefined }) as PullResult;
const noop = (): void => {};
const drop = (): boolean => true;

export class CopyOut {
  /** Rows PostgreSQL reported in CommandComplete ("COPY n"), once done. */
  rowCount = -1;
  /** Payload bytes handed on so far. */
  bytes = 0;
  private phase = Phase.Queued;
  private socket: PgSocket | null = null;
  private pgOnData: ((chunk: Buffer) => void) | null = null;
  /** The first bytes (under 5) of a message header cut by a socket read, and how many. */
  private readonly head = Buffer.alloc(5);
  private headLen = 0;
  /** The socket is a pgSocket whose reads are ours (onTake) while the COPY runs. */
  private readsTaken = false;
  /** A payload read and not yet pulled (reads taken), and whether the socket waits paused for it. */
  private ready: Buffer | null = null;
  private paused = false;
  /** A payload (a view of the read buffer) was handed on: the next pull means it was used. */
  private handed = false;
  /** Bytes of the current message still to come in later reads, and whether they are payload. */
  private remaining = 0;
  private inData = false;
  private failure: unknown = null;
  private waiter: { resolve(r: PullResult): void; reject(err: unknown): void } | null = null;
  /** Inside pullNow(): pg's callbacks (run by a hand-back) must not re-enter it. */
  private pulling = false;

  /** `lend`: the consumer copies each payload before its next pull (see the header). */
  constructor(
    readonly text: string,
    private readonly lend = false,
  ) {}

  /** The next payload (a view of the socket's own Buffer), the end, or a promise of either. */
  pull(): PullResult | Promise<PullResult> {
    const r = this.pullNow();
    if (r !== null) return r;
    return new Promise<PullResult>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /**
   * The consumer will not pull again (it ended or was cancelled after the COPY settled): what it
   * was handed or not yet taken is dropped and a socket paused for it reads on, so pg gets the
   * answer to what the caller sends next (COMMIT, ROLLBACK).
   */
  release(): void {
    this.ready = null;
    this.handed = false;
    this.readOn();
  }

  /** A socket paused (for a payload, or in paused mode) reads again. */
  private readOn(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket?.resume();
  }

  /** Finished by itself (done or failed): the client is in a known state. */
  get settled(): boolean {
    return this.phase === Phase.Done || this.phase === Phase.Failed;
  }

  /**
   * Stops reading for good: the socket keeps being read and what arrives is dropped, so it sees
   * its end when the caller closes the connection (pg never parses a COPY cut in the middle).
   */
  abort(): void {
    const phase = this.phase;
    this.phase = Phase.Aborted;
    this.waiter = null;
    if (phase === Phase.Copying && this.socket !== null) {
      if (this.readsTaken) takeReads(this.socket, drop);
      else {
        this.socket.removeListener('readable', this.onReadable);
        this.socket.on('data', noop);
      }
      this.paused = true; // paused either way until now: what arrives from here on is read and dropped
    }
    // Finishing with a payload nobody took: pg reads the rest (the caller closes the client).
    this.release();
  }

  // ---- pg's submittable interface ----

  submit(connection: PgConnection): Error | undefined {
    if (this.phase === Phase.Aborted) return new Error('COPY cancelled before it started');
    const socket = connection.stream;
    const listeners = socket.listeners('data');
    if (listeners.length !== 1) return new Error(`COPY: the connection's socket has ${listeners.length} data listeners, expected pg's one`);
    this.pgOnData = listeners[0]!;
    this.socket = socket;
    this.readsTaken = takeReads(socket, this.onTake);
    if (!this.readsTaken) {
      socket.removeListener('data', this.pgOnData);
      socket.pause();
      socket.on('readable', this.onReadable);
    }
    this.phase = Phase.Copying;
    connection.query(this.text);
    return undefined;
  }

  handleError(err: unknown): void {
    if (this.phase === Phase.Aborted || this.phase === Phase.Done || this.phase === Phase.Failed) return;
    if (this.phase === Phase.Copying) this.giveBack(null); // a connection error while the socket was ours
    this.phase = Phase.Failed;
    this.failure = err;
    this.wake();
  }

  handleCommandComplete(msg: { text?: string } | undefined): void {
    const m = /^COPY (\d+)/.exec(msg?.text ?? '');
    if (m) this.rowCount = Number(m[1]);
  }

  handleReadyForQuery(): void {
    if (this.phase !== Phase.Finishing) return;
    this.phase = Phase.Done;
    this.wake();
  }

  // What pg calls for a statement that is not a COPY TO STDOUT (a second statement in the text).
  handleRowDescription(): void {
    this.notCopy();
  }
  handleDataRow(): void {
    this.notCopy();
  }
  handleEmptyQuery(): void {
    this.notCopy();
  }
  handlePortalSuspended(): void {
    this.notCopy();
  }
  handleCopyInResponse(): void {
    this.notCopy();
  }
  handleCopyData(): void {
    this.notCopy();
  }

  private notCopy(): void {
    this.handleError(new Error('COPY: the query text ran a statement that is not COPY ... TO STDOUT'));
  }

  // ---- the socket ----

  private readonly onReadable = (): void => {
    this.wake();
  };

  /** A read of a pgSocket while the COPY runs: false pauses the socket until the next pull. */
  private readonly onTake = (view: Buffer): boolean => {
    if (this.phase !== Phase.Copying) return true;
    let out: Buffer;
    this.pulling = true;
    try {
      out = this.strip(view);
    } finally {
      this.pulling = false;
    }
    // strip() may have given the socket back to pg (CopyDone or an error in this read): pg
    // then gets the reads from the next one, after this payload was taken.
    if (out.length === 0) {
      this.wake();
      return true;
    }
    this.bytes += out.length;
    this.ready = this.lend ? out : Buffer.from(out);
    this.paused = true;
    this.wake();
    return false;
  };

  private wake(): void {
    if (this.pulling) return;
    const w = this.waiter;
    if (w === null) return;
    let r: PullResult | null;
    try {
      r = this.pullNow();
    } catch (err) {
      this.waiter = null;
      w.reject(err);
      return;
    }
    if (r === null) return;
    this.waiter = null;
    w.resolve(r);
  }

  /** A result now, or null when nothing is there yet. */
  private pullNow(): PullResult | null {
    if (this.handed) {
      // The payload handed last was used: the read buffer may be filled again.
      this.handed = false;
      this.readOn();
    }
    if (this.ready !== null) {
      const out = this.ready;
      this.ready = null;
      this.handed = true;
      return { done: false, value: out };
    }
    for (;;) {
      switch (this.phase) {
        case Phase.Done:
          return DONE;
        case Phase.Failed:
          throw this.failure;
        case Phase.Aborted:
          return DONE;
        case Phase.Copying: {
          if (this.readsTaken) return null;
          const chunk = this.socket!.read();
          if (chunk === null) return null;
          this.pulling = true;
          let out: Buffer;
          try {
            out = this.strip(chunk);
          } finally {
            this.pulling = false;
          }
          // Payload that came before the end (even before an error) is handed on first.
          if (out.length > 0) {
            this.bytes += out.length;
            return { done: false, value: out };
          }
          continue;
        }
        default:
          return null;
      }
    }
  }

  /**
   * Moves the CopyData payloads of `chunk` to its front, in place, and returns that part. Stops
   * at CopyDone or any message that ends the COPY, and gives the socket and the rest back to pg.
   */
  private strip(chunk: Buffer): Buffer {
    const n = chunk.length;
    let i = 0;
    let o = 0;
    if (this.remaining > 0) {
      // The rest of a message begun in an earlier read: payload stays where it is.
      const take = this.remaining < n ? this.remaining : n;
      if (this.inData) o = take;
      i = take;
      this.remaining -= take;
    }
    for (;;) {
      let type: number;
      let len: number;
      let start: number;
      /** Where the message's type byte is in `chunk`; -1: in `head` (cut by the last read). */
      let at: number;
      if (this.headLen > 0) {
        const need = 5 - this.headLen;
        if (n - i < need) {
          chunk.copy(this.head, this.headLen, i, n);
          this.headLen += n - i;
          break;
        }
        chunk.copy(this.head, this.headLen, i, i + need);
        this.headLen = 0;
        type = this.head[0]!;
        len = this.head.readInt32BE(1) - 4;
        start = i + need;
        at = -1;
      } else {
        if (i >= n) break;
        if (n - i < 5) {
          chunk.copy(this.head, 0, i, n);
          this.headLen = n - i;
          break;
        }
        type = chunk[i]!;
        len = ((chunk[i + 1]! << 24) | (chunk[i + 2]! << 16) | (chunk[i + 3]! << 8) | chunk[i + 4]!) - 4;
        start = i + 5;
        at = i;
      }
      if (type === COPY_DATA || type === COPY_OUT_RESPONSE || type === NOTICE || type === PARAMETER_STATUS || type === NOTIFICATION) {
        if (len < 0) {
          this.giveBack(this.fromType(chunk, at, start));
          break;
        }
        const avail = len < n - start ? len : n - start;
        if (type === COPY_DATA) {
          if (o !== start) chunk.copyWithin(o, start, start + avail);
          o += avail;
        }
        i = start + avail;
        if (avail < len) {
          this.remaining = len - avail;
          this.inData = type === COPY_DATA;
        }
        continue;
      }
      if (type === COPY_DONE) {
        const end = start + (len > 0 ? len : 0);
        this.giveBack(end < n ? chunk.subarray(end) : null);
      } else {
        // ErrorResponse (or anything else): pg parses it from its first byte.
        this.giveBack(this.fromType(chunk, at, start));
      }
      break;
    }
    return chunk.subarray(0, o);
  }

  /** The bytes of a message from its type byte on (the header may have come in the last read). */
  private fromType(chunk: Buffer, at: number, start: number): Buffer {
    return at >= 0 ? chunk.subarray(at) : Buffer.concat([this.head, chunk.subarray(start)]);
  }

  /** The socket back to pg (its data listener, flowing again), with what pg must parse next. */
  private giveBack(rest: Buffer | null): void {
    const socket = this.socket!;
    const pgOnData = this.pgOnData!;
    this.phase = Phase.Finishing;
    this.headLen = 0;
    this.remaining = 0;
    if (this.readsTaken) {
      takeReads(socket, null);
      // pg may keep what it is given (a message cut by this read); the read buffer is reused.
      if (rest !== null && rest.length > 0) pgOnData(Buffer.from(rest));
      return;
    }
    socket.removeListener('readable', this.onReadable);
    socket.on('data', pgOnData);
    // Resumed on the next tick, as pg-copy-streams does: removing the 'readable' listener
    // settles the stream's mode on the next tick too.
    process.nextTick(() => socket.resume());
    if (rest !== null && rest.length > 0) pgOnData(rest);
  }
}
