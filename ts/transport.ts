/**
 * The transport: the native server's callbacks on one side, the pipeline (ts/pipeline.ts) on
 * the other. It owns what lives by native id: the requests waiting for their response
 * (ts/exchange.ts, fed their body and aborts), the streaming responses (a StreamSession each,
 * which gets onDrain / onStreamEnd / onAbort for its id) and the WebSockets. It hands each
 * request to the pipeline and sends exactly one answer per request from what comes back: a
 * fixed response (encoded by ts/encode.ts), a stream, or a 101 and a WebSocket
 * (ts/websocket/upgrade.ts). Nothing thrown by application code, nor by a native call, escapes
 * into the native callbacks (that would crash the process).
 */
import { asStreamingResponse, dropResponse, encodeFixed, isPlainJson, isStreamed, JSON_BLOCK, streamSpec, TEXT_BLOCK, type FixedResponse } from './encode.js';
import { errorCode, isConnectionGone } from './errors.js';
import { Exchange } from './exchange.js';
import { METHODS, type NativeServer, type NativeServerCallbacks, type NativeStreamStats } from './native.js';
import { toHttpResponse } from './normalize.js';
import { logError, type Logger, type Pipeline } from './pipeline.js';
import type { Request } from './request.js';
import { HttpResponse } from './response.js';
import { reasonPhrase } from './status.js';
import { resolveFlow, type FlowOptions } from './streaming/options.js';
import { StreamingResponse } from './streaming/response.js';
import { StreamSession, type CloseReason, type SessionHost, type StreamTarget } from './streaming/session.js';
import { isThenable } from './streaming/source.js';
import type { WebSocket } from './websocket/socket.js';
import { acceptUpgrade, WebSocketUpgrade, type UpgradeTarget } from './websocket/upgrade.js';

/**
 * Sees every answer and the end of every stream (ts/metrics/ counts them per route).
 * `route` is the matched pattern, or undefined when no route matched. Called on the
 * request path: keep it cheap. A throw is logged, never passed on.
 */
export interface DispatchObserver {
  /** A status line was handed to the core: a whole response, or a stream's start. */
  responded(route: string | undefined, status: number): void;
  /** The client went away before any response was sent. */
  aborted(route: string | undefined): void;
  /** The native stream `id` started (its status was reported by `responded` just before). */
  streamStarted(id: number, req: Request, res: HttpResponse): void;
  /** A stream session is over, whether or not its native stream ever started. */
  streamClosed(id: number, route: string | undefined, reason: CloseReason, stats: NativeStreamStats): void;
}

/** The part of NativeServer the transport uses (a fake in unit tests). */
export type TransportTarget = Pick<NativeServer, 'respond' | 'remoteAddress' | 'pauseBody' | 'resumeBody'> & StreamTarget & UpgradeTarget;

export class Transport {
  /** Requests still waiting for their response, by native id. */
  private readonly live = new Map<number, Exchange>();
  /** Streaming responses until their onStreamEnd (or their end before the native start). */
  private readonly streams = new Map<number, StreamSession>();
  /** Accepted WebSockets until their onStreamEnd. */
  private readonly sockets = new Map<number, WebSocket<any>>();
  private target: TransportTarget | null = null;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly logger: Logger,
    /** App-level stream settings (route and response settings override them). */
    private readonly flow: FlowOptions = {},
    /** The app's observers (read at each event, so one added after listen counts too). */
    private readonly observers: readonly DispatchObserver[] = [],
  ) {}

  /** The callbacks object for `new Server(options, callbacks)`; `attach` must follow before any request. */
  callbacks(): NativeServerCallbacks {
    // Plain try/catch in each callback: the hot path allocates no closure per call.
    return {
      onRequest: (id, method, url, rawHeaders, flags) => {
        try {
          this.onRequest(id, method, url, rawHeaders, flags);
        } catch (err) {
          this.log(err);
        }
      },
      onBody: (id, chunk) => {
        try {
          this.live.get(id)?.pushBody(chunk);
        } catch (err) {
          this.log(err);
        }
      },
      onBodyEnd: (id) => {
        try {
          this.live.get(id)?.endBody();
        } catch (err) {
          this.log(err);
        }
      },
      onAbort: (id, reason) => {
        try {
          this.onAbort(id, reason);
        } catch (err) {
          this.log(err);
        }
      },
      onDrain: (id) => {
        try {
          this.streams.get(id)?.onDrain();
          this.sockets.get(id)?.onDrain();
        } catch (err) {
          this.log(err);
        }
      },
      onWsMessage: (id, binary, data) => {
        try {
          this.sockets.get(id)?.onMessage(binary, data);
        } catch (err) {
          this.log(err);
        }
      },
      onWsClose: (id, code, reason) => {
        try {
          this.sockets.get(id)?.onClose(code, reason);
        } catch (err) {
          this.log(err);
        }
      },
      onStreamEnd: (id, state, stats) => {
        try {
          this.onStreamEnd(id, state, stats);
        } catch (err) {
          this.log(err);
        }
      },
    };
  }

  attach(target: TransportTarget): void {
    this.target = target;
  }

  /** Starts the closing handshake of every open WebSocket (app.close()). */
  closeSockets(code: number, reason: string): void {
    for (const socket of [...this.sockets.values()]) {
      try {
        socket.close(code, reason);
      } catch (err) {
        this.log(err);
      }
    }
  }

  private onRequest(id: number, method: number, url: string, rawHeaders: string, flags: number): void {
    const req = new Exchange(this.target!, id, METHODS[method] ?? 'UNKNOWN', url, rawHeaders, flags);
    this.live.set(id, req);
    const route = this.pipeline.route(req);
    if (route.kind === 'found') req.routeFlow = route.options;
    const value = this.pipeline.run(req, route);
    // Only a thenable costs a promise; a plain value is answered synchronously.
    if (isThenable(value)) Promise.resolve(value).then((v) => this.send(req, v), (err) => this.fail(req, err));
    else this.send(req, value);
  }

  private onAbort(id: number, reason: number): void {
    const req = this.live.get(id);
    if (req !== undefined) {
      this.live.delete(id);
      if (req.open && this.observers.length > 0) this.observe((o) => o.aborted(req.route));
      req.markAborted(reason);
    }
    this.streams.get(id)?.onAbort(reason);
  }

  private onStreamEnd(id: number, state: number, stats: NativeStreamStats | Float64Array): void {
    const socket = this.sockets.get(id);
    if (socket !== undefined) {
      this.sockets.delete(id);
      this.live.delete(id);
      socket.onEnd();
      return;
    }
    const session = this.streams.get(id);
    if (session === undefined) return;
    this.streams.delete(id);
    if (this.live.get(id) !== undefined) this.live.delete(id);
    session.onStreamEnd(state, stats);
  }

  /** Answers with what the pipeline produced; strings and plain JSON skip building an HttpResponse. */
  private send(req: Exchange, value: unknown): void {
    if (!req.open) return dropResponse(value);
    try {
      if (typeof value === 'string') return this.respond(req, 200, TEXT_BLOCK, value, 0);
      if (isPlainJson(value)) return this.respond(req, 200, JSON_BLOCK, JSON.stringify(value), 0);
      const res = toHttpResponse(value);
      if (res instanceof HttpResponse) return this.writeResponse(req, res);
      res.then((r) => this.writeResponse(req, r), (err) => this.fail(req, err));
    } catch (err) {
      this.fail(req, err);
    }
  }

  private writeResponse(req: Exchange, res: HttpResponse): void {
    if (!req.open) return dropResponse(res);
    if (res instanceof WebSocketUpgrade) return this.acceptSocket(req, res);
    if (isStreamed(res)) return this.startStream(req, res);
    let fixed: FixedResponse;
    try {
      fixed = encodeFixed(res);
    } catch (err) {
      return this.fail(req, err);
    }
    this.respond(req, fixed.status, fixed.block, fixed.body, fixed.flags);
    // A streaming response whose body middleware replaced by a fixed one: release its source.
    if (res instanceof StreamingResponse) res.discard('finished', null);
  }

  /** Answers an upgrade with 101 and keeps the connection's WebSocket until its onStreamEnd. */
  private acceptSocket(req: Exchange, up: WebSocketUpgrade<any>): void {
    let socket: WebSocket<any>;
    try {
      socket = acceptUpgrade(this.target!, req.nativeId, req, up, resolveFlow(this.flow, req.routeFlow), this.logHook);
    } catch (err) {
      if (isConnectionGone(err)) return;
      return this.fail(req, err);
    }
    req.markStreaming();
    this.sockets.set(req.nativeId, socket);
    if (this.observers.length > 0) this.observe((o) => o.responded(req.route, 101));
    socket.onOpen();
  }

  /** Hands a response with a stream body to a new StreamSession. */
  private startStream(req: Exchange, res: HttpResponse): void {
    let streaming: StreamingResponse | null = null;
    let session: StreamSession;
    try {
      streaming = asStreamingResponse(res);
      const spec = streamSpec(req.nativeId, req.method, streaming, resolveFlow(this.flow, req.routeFlow, streaming.flow));
      const host = new StreamHost(this, req, res, spec.status);
      session = host.session = new StreamSession(this.target!, spec, streaming, host);
      streaming.attach(session, this.logHook);
    } catch (err) {
      streaming?.discard('error', err);
      return this.fail(req, err);
    }
    this.streams.set(req.nativeId, session);
    session.begin();
  }

  // ---- what a stream's StreamHost reports ----

  /** Nothing was sent yet: the stream's error is answered like a handler's. */
  streamFailedEarly(host: StreamHost, err: unknown): void {
    const id = host.req.nativeId;
    if (this.streams.get(id) === host.session) this.streams.delete(id);
    this.fail(host.req, err);
  }

  /** The native stream started. */
  streamStarted(host: StreamHost): void {
    const { req, res, status } = host;
    req.markStreaming();
    if (this.observers.length > 0) this.observe((o) => (o.responded(req.route, status), o.streamStarted(req.nativeId, req, res)));
  }

  /** The session is over. */
  streamFinished(host: StreamHost): void {
    const { req, session } = host;
    const id = req.nativeId;
    if (this.streams.get(id) === session) this.streams.delete(id);
    if (this.live.get(id) === req) this.live.delete(id);
    if (this.observers.length > 0) this.observe((o) => o.streamClosed(id, req.route, session.closeReason ?? 'error', session.stats()));
  }

  /** One shared function for hook errors (no closure per stream or socket). */
  readonly logHook = (err: unknown): void => this.log(err);

  /** Answers a failure with the pipeline's response for it (nobody is listening once aborted). */
  private fail(req: Exchange, err: unknown): void {
    if (!req.open) return; // aborted: the failure is most likely the abort itself
    this.writeResponse(req, this.pipeline.recover(err));
  }

  private respond(req: Exchange, status: number, block: string, body: string | Uint8Array | null, flags: number): void {
    const id = req.nativeId;
    req.markResponded();
    if (this.live.get(id) === req) this.live.delete(id);
    try {
      this.target!.respond(id, status, block, body, flags);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ECLOSED' || code === 'ESERVERCLOSED') {
        // the client (or server) went away first
        if (this.observers.length > 0) this.observe((o) => o.aborted(req.route));
        return;
      }
      this.log(err);
      try {
        this.target!.respond(id, 500, TEXT_BLOCK, reasonPhrase(500), 0);
        status = 500;
      } catch {
        return; // Nothing more can be done for this request; the core will close it.
      }
    }
    if (this.observers.length > 0) this.observe((o) => o.responded(req.route, status));
  }

  private observe(event: (observer: DispatchObserver) => void): void {
    for (const observer of this.observers) {
      try {
        event(observer);
      } catch (err) {
        this.log(err);
      }
    }
  }

  private log(err: unknown): void {
    logError(this.logger, err);
  }
}

/**
 * What a StreamSession reports to the transport: one small object per stream, its methods on
 * the prototype (an idle stream, an SSE subscriber say, holds no closures for them).
 */
class StreamHost implements SessionHost {
  session!: StreamSession;
  constructor(
    private readonly transport: Transport,
    readonly req: Exchange,
    readonly res: HttpResponse,
    readonly status: number,
  ) {}

  log(err: unknown): void {
    this.transport.logHook(err);
  }

  answerError(err: unknown): void {
    this.transport.streamFailedEarly(this, err);
  }

  started(): void {
    this.transport.streamStarted(this);
  }

  finished(): void {
    this.transport.streamFinished(this);
  }
}
