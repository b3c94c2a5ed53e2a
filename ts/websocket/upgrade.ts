/**
 * The response a WebSocket route's handler produces: the dispatcher turns it into a 101 and
 * a WebSocket (it is an HttpResponse with status 101, so middleware sees it pass and may add
 * headers, Set-Cookie say, to the 101).
 */
import type { Request } from '../request.js';
import { HttpResponse } from '../response.js';
import { checkUpgrade, chooseProtocol } from './handshake.js';
import type { WebSocketBehavior } from './socket.js';

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
    const key = checkUpgrade(req, req.upgradeFlags);
    const protocol = chooseProtocol(req, behavior.protocols);
    if (behavior.upgrade === undefined) return new WebSocketUpgrade<Data>(behavior, key, protocol, undefined as Data);
    const data = behavior.upgrade(req);
    if (data instanceof Promise) return data.then((d) => new WebSocketUpgrade<Data>(behavior, key, protocol, d));
    return new WebSocketUpgrade<Data>(behavior, key, protocol, data);
  };
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
