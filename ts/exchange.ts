/**
 * One request as the transport (ts/transport.ts) holds it: the Request its handler sees, and
 * what only the transport drives: the core's id, where the request stands (waiting for its
 * response, streaming it, answered, aborted), the body as the core delivers it, and the abort.
 * The handler reads the body through the Request's methods; above BODY_HIGH_WATER_MARK unread
 * bytes the core is asked to pause it (ts/request-body.ts).
 *
 * The state is in #private fields, so nothing a middleware stores on the request object
 * (req.id, req.user, req.log...) can collide with it.
 */
import { abortError, CoreError } from './errors.js';
import type { NativeAddress } from './native.js';
import { Request } from './request.js';
import { BodyQueue } from './request-body.js';
import type { FlowOptions } from './streaming/options.js';

/** What a request needs from the native server (NativeServer satisfies it). */
export interface RequestSource {
  remoteAddress(id: number): NativeAddress;
  pauseBody(id: number): void;
  resumeBody(id: number): void;
}

/** What a body read gets once the response went out before the body was all read. */
function respondedError(): CoreError {
  return new CoreError('ERESPONDED', 'The response was sent before the request body was read');
}

const enum State {
  Open,
  /** A streaming response is being sent: a disconnect still aborts the request. */
  Streaming,
  Responded,
  Aborted,
}

export class Exchange extends Request {
  /** The core's id for this request and its response. */
  readonly nativeId: number;
  /** Stream settings of the matched route (the transport sets them from the route). */
  routeFlow: FlowOptions | undefined = undefined;
  readonly #source: RequestSource;
  #state = State.Open;
  #abortReason: unknown = null;
  #controller: AbortController | null = null;
  #peer: string | null = null;
  #body: BodyQueue | null = null;
  #bodyEnded = false;
  #bodyClaimed = false;

  constructor(source: RequestSource, id: number, method: string, url: string, rawHeaders: string, flags: number) {
    super(method, url, rawHeaders, flags);
    this.#source = source;
    this.nativeId = id;
  }

  // ---- the Request members that depend on the connection ----

  override get ip(): string {
    if (this.#peer === null) {
      try {
        this.#peer = this.#source.remoteAddress(this.nativeId).address;
      } catch {
        return ''; // ECLOSED: not cached, the answer cannot change anyway
      }
    }
    return this.#peer;
  }

  override get signal(): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController();
      if (this.#state === State.Aborted) this.#controller.abort(this.#abortReason);
    }
    return this.#controller.signal;
  }

  override get bodyUsed(): boolean {
    return this.#bodyClaimed;
  }

  override async buffer(): Promise<Buffer> {
    return this.#claimBody('buffer()').collect();
  }

  override [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return this.#claimBody('iteration');
  }

  // ---- the transport's side ----

  /** Whether the request still awaits its response. */
  get open(): boolean {
    return this.#state === State.Open;
  }

  /** A body chunk from the core. */
  pushBody(chunk: Buffer): void {
    (this.#body ??= this.#newQueue()).push(chunk);
  }

  /** The core delivered the whole body. */
  endBody(): void {
    this.#bodyEnded = true;
    this.#body?.end();
  }

  /** The response is being sent; a read still waiting for body can never finish. */
  markResponded(): void {
    if (this.#state !== State.Open) return;
    this.#state = State.Responded;
    if (!this.#bodyEnded) this.#body?.fail(respondedError());
  }

  /** A streaming response (or a WebSocket) started; the request stays abortable until it ends. */
  markStreaming(): void {
    if (this.#state === State.Open) this.#state = State.Streaming;
  }

  /** The connection went away before the response (or its stream) ended: see AbortReason. */
  markAborted(reason: number): void {
    if (this.#state !== State.Open && this.#state !== State.Streaming) return;
    this.#state = State.Aborted;
    this.#abortReason = abortError(reason);
    this.#controller?.abort(this.#abortReason);
    (this.#body ??= this.#newQueue()).fail(this.#abortReason);
  }

  #claimBody(how: string): BodyQueue {
    if (this.#bodyClaimed) {
      throw new TypeError(`Request body already read: ${how} cannot read it again (text/json/arrayBuffer/buffer/iteration each consume it)`);
    }
    this.#bodyClaimed = true;
    const queue = (this.#body ??= this.#newQueue());
    if (this.#state === State.Responded && !this.#bodyEnded) {
      queue.fail(respondedError());
    }
    return queue;
  }

  #newQueue(): BodyQueue {
    const queue = new BodyQueue({
      pause: () => this.#flowControl('pause'),
      resume: () => this.#flowControl('resume'),
    });
    if (this.#bodyEnded) queue.end();
    return queue;
  }

  #flowControl(action: 'pause' | 'resume'): void {
    if (this.#state !== State.Open && this.#state !== State.Streaming) return;
    try {
      if (action === 'pause') this.#source.pauseBody(this.nativeId);
      else this.#source.resumeBody(this.nativeId);
    } catch {
      // ECLOSED: the connection is gone and onAbort is on its way.
    }
  }
}
