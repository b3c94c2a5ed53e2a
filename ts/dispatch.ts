/**
 * The bridge from the native server's callbacks to the application: builds the
 * Request, finds the route, runs middleware and handler, and sends exactly one
 * response per request. Nothing thrown by application code, nor by `respond`
 * itself, escapes into the native callbacks (that would crash the process).
 * Streaming responses are handed to a StreamSession (ts/streaming/session.ts),
 * which receives onDrain / onStreamEnd / onAbort for its id.
 */
import { errorCode, HttpError, isConnectionGone } from './errors.js';
import type { MiddlewareChain, Endpoint } from './middleware.js';
import type { NativeServer, NativeServerCallbacks, NativeStreamStats } from './native.js';
import { RespondFlags } from './native.js';
import { toHttpResponse } from './normalize.js';
import { Request } from './request.js';
import { APPLICATION_JSON, HttpResponse, TEXT_PLAIN, type ResponseLike } from './response.js';
import type { Router, RouteMatch } from './router.js';
import { checkStatus, isBodilessStatus, reasonPhrase } from './status.js';
import { StreamBody } from './streaming/response-body.js';
import { resolveFlow, type FlowOptions } from './streaming/options.js';
import { StreamingResponse } from './streaming/response.js';
import { StreamSession, type CloseReason, type SessionHost, type StreamTarget } from './streaming/session.js';
import { discardSource, isStreamLike } from './streaming/source.js';
import { checkFlow } from './streaming/options.js';
import { acceptKey } from './websocket/handshake.js';
import { WebSocket, type SocketTarget } from './websocket/socket.js';
import { DEFAULT_MAX_PAYLOAD, WebSocketUpgrade } from './websocket/upgrade.js';

export type Handler = (req: Request) => ResponseLike | Promise<ResponseLike>;

/** Per-route settings (the optional third argument of app.get/post/...). */
export type RouteOptions = FlowOptions;

export interface Logger {
  error(...args: unknown[]): void;
}

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

/** The part of NativeServer the dispatcher uses (a fake in unit tests). */
export type DispatchTarget = Pick<NativeServer, 'respond' | 'remoteAddress' | 'pauseBody' | 'resumeBody'> & StreamTarget &
  Partial<Pick<NativeServer, 'wsAccept'>> & Partial<SocketTarget>;

/** Fields the core writes itself; an application copy would duplicate or contradict them. */
const CORE_FIELDS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'date']);
/** Fields of a 101 the core and the handshake write; middleware copies are dropped. */
const WS_CORE_FIELDS: ReadonlySet<string> = new Set([...CORE_FIELDS, 'upgrade', 'content-type', 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions']);
const TEXT_BLOCK = `Content-Type: ${TEXT_PLAIN}\r\n`;
const JSON_BLOCK = `Content-Type: ${APPLICATION_JSON}\r\n`;

export class Dispatcher {
  /** Requests still waiting for their response, by native id. */
  private readonly live = new Map<number, Request>();
  /** Streaming responses until their onStreamEnd (or their end before the native start). */
  private readonly streams = new Map<number, StreamSession>();
  /** Accepted WebSockets until their onStreamEnd. */
  private readonly sockets = new Map<number, WebSocket<any>>();
  private target: DispatchTarget | null = null;

  constructor(
    private readonly router: Router<Handler, RouteOptions>,
    private readonly middleware: MiddlewareChain,
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

        } catch (err) {
          this.log(err);
        }
      },
    };
  }

  attach(target: DispatchTarget): void {
    this.target = target;
  }

  private onRequest(id: number, method: string, url: string, rawHeaders: string, flags: number): void {
    const req = new Request(this.target!, id, method, url, rawHeaders, flags);
    this.live.set(id, req);
    let match: RouteMatch<Handler, RouteOptions>;
    try {
      match = this.router.find(method, req.path);
    } catch (err) {
      match = { kind: 'found', handler: () => Promise.reject(err), params: req.params };
    }
    if (match.kind === 'found') {
      req.params = match.params;
      req.route = match.pattern;
      if (match.options !== undefined) req.routeOptions = match.options;
    }

    if (this.middleware.size > 0 && this.middleware.appliesTo(req.path)) {
      const endpoint: Endpoint = match.kind === 'found' ? match.handler : () => fallback(req, match);
      this.middleware.run(req, endpoint).then((res) => this.writeResponse(req, res), (err) => this.fail(req, err));
      return;
    }
    if (match.kind !== 'found') return this.writeResponse(req, fallback(req, match));
    let result: ResponseLike | Promise<ResponseLike>;
    try {
      result = match.handler(req);
    } catch (err) {
      return this.fail(req, err);
    }
    // Only a thenable costs a promise; a plain value is answered synchronously.
    if (isThenable(result)) Promise.resolve(result).then((value) => this.send(req, value), (err) => this.fail(req, err));
    else this.send(req, result);
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

  /** Answers with a handler's return value; strings and plain JSON skip building an HttpResponse. */
  private send(req: Request, value: unknown): void {
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

  private writeResponse(req: Request, res: HttpResponse): void {
    if (!req.open) return dropResponse(res);
    if (res instanceof WebSocketUpgrade) return this.acceptSocket(req, res);
    if (res instanceof HttpResponse && res.body instanceof StreamBody) return this.startStream(req, res);
    let block: string;
    let flags = 0;
    let body = res.body;
    try {
      if (!(res instanceof HttpResponse)) throw new TypeError('Middleware chain did not produce an HttpResponse');
      const status = checkStatus(res.status, 'response status');
      if (isBodilessStatus(status)) {
        flags |= RespondFlags.NoContentLength;
        body = null;
      } else if (body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
        throw new TypeError('HttpResponse body must be a string, a Uint8Array or null');
      }
      if (/(^|,)\s*close\s*(,|$)/i.test(res.headers.get('connection') ?? '')) flags |= RespondFlags.Close;
      block = res.headers.toBlock(CORE_FIELDS);
    } catch (err) {
      return this.fail(req, err);
    }
    this.respond(req, res.status, block, body as string | Uint8Array | null, flags);
    // A streaming response whose body middleware replaced by a fixed one: release its source.
    if (res instanceof StreamingResponse) res.discard('finished', null);
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

  /** Answers an upgrade with 101 and hands the connection to a new WebSocket. */
  private acceptSocket(req: Request, up: WebSocketUpgrade<any>): void {
    const id = req.nativeId;
    const target = this.target!;
    const behavior = up.behavior;
    let block: string;
    let flow;
    try {
      if (target.wsAccept === undefined || target.wsSend === undefined) throw new TypeError('this server has no WebSocket support');
      block = `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(up.key)}\r\n`;
      if (up.protocol !== null) block += `Sec-WebSocket-Protocol: ${up.protocol}\r\n`;
      block += up.headers.toBlock(WS_CORE_FIELDS); // what middleware added (Set-Cookie...)
      flow = resolveFlow(this.flow, req.routeOptions, checkFlow(behavior, 'WebSocket behavior'));
      target.wsAccept(id, block, behavior.maxPayload ?? DEFAULT_MAX_PAYLOAD, flow.highWaterMark, flow.lowWaterMark, flow.stallTimeout);
    } catch (err) {
      if (isConnectionGone(err)) return;
      return this.fail(req, err);
    }
    req.markStreaming();
    const socket = new WebSocket(target as SocketTarget, id, req, behavior, up.data, up.protocol ?? '', this.logError);
    this.sockets.set(id, socket);
    if (this.observers.length > 0) this.observe((o) => o.responded(req.route, 101));
    socket.onOpen();
  }

  /** Hands a response with a stream body to a new StreamSession. */
  private startStream(req: Request, res: HttpResponse): void {
    const id = req.nativeId;
    let streaming: StreamingResponse | null = null;
    let session: StreamSession;
    let host: StreamHost;
    try {
      streaming = res instanceof StreamingResponse ? res : new StreamingResponse(res.body as StreamBody, { status: res.status, headers: res.headers });
      const status = checkStatus(streaming.status, 'response status');
      const block = streaming.headers.toBlock(CORE_FIELDS);
      const noBody = req.method === 'HEAD' || isBodilessStatus(status);
      const { source, mapper } = (streaming.body as StreamBody).claim();
      host = new StreamHost(this, req, res, status);
      session = new StreamSession(this.target!, {
        id,
        status,
        block,
        contentLength: isBodilessStatus(status) ? -1 : streaming.contentLength,
        flow: resolveFlow(this.flow, req.routeOptions, streaming.flow),
        flushHeaders: streaming.flushHeaders,
        noBody,
        source,
        mapper,
        errorRecord: streaming.errorRecord,
      }, streaming, host);
      host.session = session;
      streaming.attach(session, this.logError);
    } catch (err) {
      streaming?.discard('error', err);
      return this.fail(req, err);
    }
    this.streams.set(id, session);
    session.begin();
  }

  /** @internal StreamHost: nothing was sent yet, answer the stream's error like a handler error. */
  streamAnswerError(host: StreamHost, err: unknown): void {
    const id = host.req.nativeId;
    if (this.streams.get(id) === host.session) this.streams.delete(id);
    this.fail(host.req, err);
  }

  /** @internal StreamHost: the native stream started. */
  streamStarted(host: StreamHost): void {
    const { req, res, status } = host;
    req.markStreaming();
    if (this.observers.length > 0) this.observe((o) => (o.responded(req.route, status), o.streamStarted(req.nativeId, req, res)));
  }

  /** @internal StreamHost: the session is over. */
  streamFinished(host: StreamHost): void {
    const { req, session } = host;
    const id = req.nativeId;
    if (this.streams.get(id) === session) this.streams.delete(id);
    if (this.live.get(id) === req) this.live.delete(id);
    if (this.observers.length > 0) this.observe((o) => o.streamClosed(id, req.route, session.closeReason ?? 'error', session.stats()));
  }

  /** @internal One shared function for hook errors (no closure per stream). */
  readonly logError = (err: unknown): void => this.log(err);

  /** Turns a thrown value into a response: HttpError keeps its status; anything else is a logged 500. */
  private fail(req: Request, err: unknown): void {
    if (!req.open) return; // aborted: the failure is most likely the abort itself, and nobody is listening
    let res: HttpResponse;
    try {
      res = errorResponse(err, this.logger);
    } catch (inner) {
      this.log(inner);
      res = errorResponse(null, this.logger);
    }
    this.writeResponse(req, res);
  }

  private respond(req: Request, status: number, block: string, body: string | Uint8Array | null, flags: number): void {
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
    try {
      this.logger.error(err instanceof Error && err.stack ? err.stack : err);
    } catch {
      // A throwing logger must not take the server down.
    }
  }
}

/**
 * What a StreamSession reports to the dispatcher: one small object per stream, its methods on
 * the prototype (an idle stream, an SSE subscriber say, holds no closures for them).
 */
class StreamHost implements SessionHost {
  session!: StreamSession;
  constructor(
    private readonly dispatcher: Dispatcher,
    readonly req: Request,
    readonly res: HttpResponse,
    readonly status: number,
  ) {}

  log(err: unknown): void {
    this.dispatcher.logError(err);
  }

  answerError(err: unknown): void {
    this.dispatcher.streamAnswerError(this, err);
  }

  started(): void {
    this.dispatcher.streamStarted(this);
  }

  finished(): void {
    this.dispatcher.streamFinished(this);
  }
}

/** 404, or 405 with Allow (OPTIONS gets 204 with Allow instead). */
export function fallback(req: Request, match: Exclude<RouteMatch<Handler>, { kind: 'found' }>): HttpResponse {
  if (match.kind === 'not-found') return new HttpResponse(reasonPhrase(404), { status: 404 });
  if (req.method === 'OPTIONS') return new HttpResponse(null, { status: 204, headers: { Allow: match.allow } });
  return new HttpResponse(reasonPhrase(405), { status: 405, headers: { Allow: match.allow } });
}

/** The response for a thrown value; non-HttpErrors are logged. */
export function errorResponse(err: unknown, logger: Logger): HttpResponse {
  if (err instanceof HttpError) {
    const body = err.expose ? err.message : reasonPhrase(err.status);
    const res = new HttpResponse(body, { status: err.status, headers: err.headers });
    if (!res.headers.has('content-type') || !err.expose) res.headers.set('Content-Type', TEXT_PLAIN);
    return res;
  }
  if (err !== null) logger.error(err instanceof Error && err.stack ? err.stack : err);
  return new HttpResponse(reasonPhrase(500), { status: 500 });
}

/** A response that will never be sent (the client left first): release a stream source it holds. */
function dropResponse(value: unknown): void {
  try {
    if (value instanceof StreamingResponse) value.discard('client-closed', null);
    else if (value instanceof HttpResponse && value.body instanceof StreamBody) value.body.discard(null);
    else if (isStreamLike(value)) discardSource(value as AsyncIterable<unknown>, null);
  } catch {
    // Nothing to release.
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<unknown>).then === 'function';
}

function isPlainJson(value: unknown): value is object {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) return true;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
