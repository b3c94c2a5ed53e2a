/**
 * The response a WebSocket route's handler produces, and its acceptance: the transport hands a
 * WebSocketUpgrade to `acceptUpgrade`, which answers 101 and returns the connection's
 * WebSocket (it is an HttpResponse with status 101, so middleware sees it pass and may add
 * headers, Set-Cookie say, to the 101).
 */
import type { NativeServer } from '../native.js';
import { requestFlags, type Request } from '../request.js';
import { HttpResponse } from '../response.js';
import { checkFlow, resolveFlow, type ResolvedFlow } from '../streaming/options.js';
import { checkUpgrade, chooseProtocol, handshakeBlock } from './handshake.js';
import { WebSocket, type SocketTarget, type WebSocketBehavior } from './socket.js';

/** The native calls of accepting an upgrade and of the socket after it (NativeServer has them). */
export type UpgradeTarget = Partial<Pick<NativeServer, 'wsAccept'>> & Partial<SocketTarget>;

export const DEFAULT_MAX_PAYLOAD = 1024 * 1024;

export class WebSocketUpgrade<Data = unknown> extends HttpResponse {
  /** @internal */
  constructor(
    readonly behavior: WebSocketBehavior<Data>,
    readonly key: string,
    readonly protocol: string | null,
    readonly data: Data,
  ) {
    super(null);
    this.status = 101;
  }
}

/** The route handler behind app.ws(): checks the handshake, runs upgrade(), answers with a WebSocketUpgrade. */
export function upgradeHandler<Data>(behavior: WebSocketBehavior<Data>): (req: Request) => WebSocketUpgrade<Data> | Promise<WebSocketUpgrade<Data>> {
  return (req) => {
    const key = checkUpgrade(req, requestFlags(req));
    const protocol = chooseProtocol(req, behavior.protocols);
    if (behavior.upgrade === undefined) return new WebSocketUpgrade<Data>(behavior, key, protocol, undefined as Data);
    const data = behavior.upgrade(req);
    if (data instanceof Promise) return data.then((d) => new WebSocketUpgrade<Data>(behavior, key, protocol, d));
    return new WebSocketUpgrade<Data>(behavior, key, protocol, data);
  };
}

/**
 * Answers upgrade request `id` with 101 (the core speaks WebSocket on the connection from
 * then on) and returns its WebSocket. `inherited`: the app's and the route's stream
 * settings, which the behavior's own override. Throws when the core refused (ECLOSED: the
 * client left) or the server has no WebSocket support.
 */
export function acceptUpgrade(target: UpgradeTarget, id: number, req: Request, up: WebSocketUpgrade<any>, inherited: ResolvedFlow, log: (err: unknown) => void): WebSocket<any> {
  if (target.wsAccept === undefined || target.wsSend === undefined) throw new TypeError('this server has no WebSocket support');
  const behavior = up.behavior;
  const flow = resolveFlow(inherited, checkFlow(behavior, 'WebSocket behavior'));
  target.wsAccept(id, handshakeBlock(up.key, up.protocol, up.headers), behavior.maxPayload ?? DEFAULT_MAX_PAYLOAD, flow.highWaterMark, flow.lowWaterMark, flow.stallTimeout);
  return new WebSocket(target as SocketTarget, id, req, behavior, up.data, up.protocol ?? '', log);
}

/** Validates a behavior object given to app.ws(). */
export function checkBehavior(behavior: WebSocketBehavior<any>): void {
  if (typeof behavior !== 'object' || behavior === null) throw new TypeError('app.ws(path, behavior): behavior must be an object');
  for (const hook of ['upgrade', 'open', 'message', 'drain', 'close'] as const) {
    if (behavior[hook] !== undefined && typeof behavior[hook] !== 'function') throw new TypeError(`WebSocket behavior.${hook} must be a function`);
  }
  const max = behavior.maxPayload;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) throw new TypeError(`WebSocket maxPayload must be a positive integer, got ${String(max)}`);
  if (behavior.protocols !== undefined && (!Array.isArray(behavior.protocols) || behavior.protocols.some((p) => typeof p !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p)))) {
    throw new TypeError('WebSocket protocols must be an array of tokens');
  }
}
