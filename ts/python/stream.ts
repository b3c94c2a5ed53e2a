/**
 * The Node side of one Python endpoint call. It waits for the HEAD frame (the
 * function's first item, its end, or its error), then feeds DATA frames into the
 * response's StreamingWriter. Credit: every DATA frame's bytes are granted back to the
 * worker once `writer.write()` accepted them, i.e. once the catzilla stream is under its
 * high watermark; so the generator is at most one window ahead of the socket.
 */
import { CoreError, HttpError } from '../errors.js';
import type { StreamingWriter } from '../streaming/index.js';
import { encodeCredit, encodeFrame, Frame } from './protocol.js';
import type { WorkerProcess } from './worker.js';

export interface PythonHead {
  status: number;
  headers: Array<[string, string]>;
  /** The function finished without sending any data: the response has no body. */
  empty?: boolean;
}

interface PythonErrorInfo {
  type: string;
  message: string;
  traceback: string;
  status?: number;
  headers?: Array<[string, string]>;
}

/** An exception raised by a Python endpoint; `stack` carries the Python traceback. */
export class PythonError extends Error {
  override name = 'PythonError';
  readonly pythonType: string;
  readonly traceback: string;
  readonly target: string;

  constructor(info: PythonErrorInfo, target: string) {
    super(`${info.type}: ${info.message} (Python endpoint ${target})`);
    this.pythonType = info.type;
    this.traceback = info.traceback;
    this.target = target;
    this.stack = `PythonError in ${target}: ${info.type}: ${info.message}\n${info.traceback.trimEnd()}`;
  }
}

const enum Phase {
  /** START sent, no HEAD yet. */
  Starting,
  /** HEAD received; data flows. */
  Streaming,
  /** The Python side is over (END, ERROR, CLOSED or the worker died). */
  Done,
}

const noop = (): void => {};

export class PythonStream {
  private phase = Phase.Starting;
  private cancelSent = false;
  private queue: Array<Buffer | Buffer[]> = [];
  private writer: StreamingWriter | null = null;
  private ended = false;
  private failure: Error | null = null;
  private headWaiter: { resolve(h: PythonHead): void; reject(e: unknown): void } | null = null;
  private doneWaiter: { resolve(): void; reject(e: unknown): void } | null = null;
  private readonly headPromise: Promise<PythonHead>;
  /** Request body bytes the worker may still be sent (streamed bodies: see request-body.ts). */
  private bodyCredit = 0;
  private bodyWaiter: (() => void) | null = null;

  constructor(
    readonly id: number,
    readonly target: string,
    private readonly worker: WorkerProcess,
    private readonly release: (stream: PythonStream) => void,
  ) {
    this.headPromise = new Promise<PythonHead>((resolve, reject) => {
      this.headWaiter = { resolve, reject };
    });
    this.headPromise.catch(noop); // observed by the handler; a late rejection must not be unhandled
  }

  /** Resolves with the status and headers chosen by the function; rejects when it failed first. */
  head(): Promise<PythonHead> {
    return this.headPromise;
  }

  /** True once the Python side finished, failed or confirmed a cancel. */
  get over(): boolean {
    return this.phase === Phase.Done;
  }

  /** A frame of this stream; a DATA payload may come as pieces, any other as one Buffer. */
  onFrame(type: number, payload: Buffer | Buffer[]): void {
    switch (type) {
      case Frame.Head: {
        if (this.phase !== Phase.Starting) return;
        this.phase = Phase.Streaming;
        const head = JSON.parse((payload as Buffer).toString('utf8')) as PythonHead;
        this.settleHead(head, null);
        return;
      }
      case Frame.Data:
        if (this.cancelSent) return;
        if (this.writer !== null) this.write(payload);
        else this.queue.push(payload);
        return;
      case Frame.End:
        this.ended = true;
        this.finishPython();
        this.settleDone();
        return;
      case Frame.Error: {
        const info = JSON.parse((payload as Buffer).toString('utf8')) as PythonErrorInfo;
        this.fail(info.status !== undefined && this.phase === Phase.Starting
          ? new HttpError(info.status, info.message, { headers: info.headers, expose: true })
          : new PythonError(info, this.target));
        return;
      }
      case Frame.BodyCredit:
        if ((payload as Buffer).length >= 4) {
          this.bodyCredit += (payload as Buffer).readUInt32BE(0);
          this.wakeBody();
        }
        return;
      case Frame.Closed:
        this.finishPython();
        this.settleHead(null, new CoreError('EPYTHONCLOSED', `the Python stream of ${this.target} was closed before its first item`));
        this.settleDone();
        return;
      default:
        return;
    }
  }

  /** Sets the request body window (the worker's initial body credit). */
  openBody(window: number): void {
    this.bodyCredit = window;
  }

  /**
   * Resolves true once the worker has body credit (it consumed what it was sent), false when
   * the Python side is over or cancelled: the body pump stops then.
   */
  async bodyReady(): Promise<boolean> {
    while (this.bodyCredit <= 0 && this.phase !== Phase.Done && !this.cancelSent) {
      await new Promise<void>((resolve) => {
        this.bodyWaiter = resolve;
      });
    }
    return this.phase !== Phase.Done && !this.cancelSent;
  }

  /** Sends a Body, Part or BodyEnd frame; its bytes count against the body credit. */
  sendBodyFrame(type: Frame.Body | Frame.Part | Frame.BodyEnd, payload?: Uint8Array): void {
    if (this.phase === Phase.Done || this.cancelSent) return;
    const len = payload?.byteLength ?? 0;
    this.bodyCredit -= len;
    // The header alone, then the payload as it is: a body chunk is never copied on its way.
    const header = encodeFrame(type, this.id);
    header.writeUInt32BE(len, 5);
    this.worker.send(header);
    if (len > 0) this.worker.send(payload as Buffer);
  }

  private wakeBody(): void {
    const waiter = this.bodyWaiter;
    this.bodyWaiter = null;
    waiter?.();
  }

  /** The worker process died under this stream. */
  workerLost(err: Error): void {
    this.fail(err);
  }

  /**
   * The writer callback of the StreamingResponse: writes what arrived and what arrives,
   * resolves at END, rejects with the PythonError of a mid-stream failure.
   */
  pipe(writer: StreamingWriter): Promise<void> {
    this.writer = writer;
    writer.signal.addEventListener('abort', () => this.cancel(), { once: true });
    const queued = this.queue;
    this.queue = [];
    for (const buf of queued) this.write(buf);
    return new Promise<void>((resolve, reject) => {
      this.doneWaiter = { resolve, reject };
      this.settleDone();
    });
  }

  /**
   * Fails a stream that has not produced its head yet with `err` (a first-item timeout, the
   * server closing) and closes its generator; false when the head had already come.
   */
  abortStart(err: Error): boolean {
    if (this.phase !== Phase.Starting || this.headWaiter === null) return false;
    this.settleHead(null, err);
    this.cancel();
    return true;
  }

  /** Closes the Python generator (client gone, response dropped); idempotent. */
  cancel(): void {
    this.queue = [];
    if (this.phase === Phase.Done || this.cancelSent) return;
    this.cancelSent = true;
    this.wakeBody();
    this.worker.sendFrame(Frame.Cancel, this.id);
    this.settleHead(null, new Error('the Python stream was cancelled'));
  }

  /** Writes one DATA payload (one buffer or its pieces) and grants its bytes back once the writer took them. */
  private write(data: Buffer | Buffer[]): void {
    const writer = this.writer!;
    let accepted: Promise<void>;
    let bytes: number;
    if (Array.isArray(data)) {
      bytes = 0;
      accepted = Promise.resolve();
      for (let i = 0; i < data.length; i++) {
        bytes += data[i]!.length;
        // Only the last write's outcome matters: a failed write fails every later one too.
        if (i > 0) accepted.catch(noop);
        accepted = writer.write(data[i]!);
      }
    } else {
      bytes = data.length;
      accepted = writer.write(data);
    }
    accepted.then(
      () => {
        if (this.phase !== Phase.Done && !this.cancelSent) this.worker.send(encodeCredit(this.id, bytes));
      },
      () => this.cancel(),
    );
  }

  private fail(err: Error): void {
    if (this.phase === Phase.Done) return;
    this.failure = err;
    this.finishPython();
    this.settleHead(null, err);
    this.settleDone();
  }

  private finishPython(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.wakeBody();
    this.release(this);
  }

  private settleHead(head: PythonHead | null, err: unknown): void {
    const waiter = this.headWaiter;
    if (waiter === null) return;
    this.headWaiter = null;
    if (head !== null) waiter.resolve(head);
    else waiter.reject(err);
  }

  private settleDone(): void {
    const waiter = this.doneWaiter;
    if (waiter === null) return;
    if (this.failure !== null && !this.cancelSent) {
      this.doneWaiter = null;
      waiter.reject(this.failure);
    } else if (this.ended || this.phase === Phase.Done) {
      this.doneWaiter = null;
      waiter.resolve();
    }
  }
}
