/**
 * `SSEStream`: what an `sse()` handler writes to. `send()` and `comment()` return the
 * writer's promise, so awaiting them is the backpressure; they reject with CoreError
 * ECLOSED once the client left. Events are corked by the core until the end of the
 * loop turn, so a burst leaves in one socket write and a lone event leaves at once.
 */
import type { StreamingWriter } from '../streaming/writer.js';
import { serializeComment, serializeEvent, retryLine, type SSEEvent } from './event.js';
import { stopHeartbeat, type Beating } from './heartbeat.js';
import type { CloseTarget } from '../streaming/response.js';

const HEARTBEAT = ':\n\n';

export class SSEStream implements Beating, CloseTarget {
  /** Set by every write, cleared by each heartbeat tick. */
  private active = true;

  /** @internal */
  constructor(
    private readonly writer: StreamingWriter,
    /** The client's Last-Event-ID (header, or `lastEventId` query parameter), or null. */
    readonly lastEventId: string | null,
    /** @internal The heartbeat period this stream is registered for (0: none). */
    private readonly heartbeat = 0,
  ) {}

  /** @internal The response ended: no more heartbeats. */
  responseClosed(): void {
    if (this.heartbeat > 0) stopHeartbeat(this, this.heartbeat);
  }

  /** Sends one event (a string is its data). Throws a TypeError for CR/LF in `event` or `id`. */
  send(event: SSEEvent | string): Promise<void> {
    let text: string;
    try {
      text = serializeEvent(event);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.write(text);
  }

  /** Sends a comment line (clients ignore it). */
  comment(text = ''): Promise<void> {
    let out: string;
    try {
      out = serializeComment(text);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.write(out);
  }

  /** Tells the client how long to wait before reconnecting (ms). */
  retry(ms: number): Promise<void> {
    let out: string;
    try {
      out = retryLine(ms) + '\n';
    } catch (err) {
      return Promise.reject(err);
    }
    return this.write(out);
  }

  /** Sends bytes that are already SSE (whole events): how a Channel shares one serialization. */
  write(chunk: string | Uint8Array): Promise<void> {
    this.active = true;
    return this.writer.write(chunk);
  }

  /** Sends what is queued now instead of at the end of the loop turn. */
  flush(): void {
    this.writer.flush();
  }

  /** Aborted when the stream ends abnormally (client gone, timeout, error). */
  get signal(): AbortSignal {
    return this.writer.signal;
  }

  /** True once nothing more can be sent. */
  get closed(): boolean {
    return this.writer.closed;
  }

  /** Ends the stream normally (an EventSource then reconnects after its retry delay). */
  close(): Promise<void> {
    return this.writer.close();
  }

  /**
   * Drops the connection at once; unsent events are discarded. Without `err` this is the
   * application's own close (close reason 'closed', nothing logged); with one, a failure
   * ('error', logged).
   */
  abort(err?: unknown): void {
    this.writer.abort(err);
  }

  /** @internal Heartbeat tick. */
  beat(): void {
    if (this.active) {
      this.active = false;
      return;
    }
    if (this.writer.closed) return;
    this.writer.write(HEARTBEAT).catch(() => {}); // a stream that went away meanwhile needs no heartbeat
  }
}
