/**
 * The response a WebSocket route's handler produces, and its acceptance: the transport hands a
 * WebSocketUpgrade to `acceptUpgrade`, which answers 101 and returns the connection's
 * WebSocket (it is an HttpResponse with status 101, so middleware sees it pass and may add
 * headers, Set-Cookie say, to the 101).
 */
import { constants, type NativeServer, type NativeWsOptions } from '../native.js';
import { requestFlags, type Request } from '../request.js';
import { HttpResponse } from '../response.js';
import { checkFlow, resolveFlow, type ResolvedFlow } from '../streaming/options.js';
import { checkDeflateOptions, checkUpgrade, chooseProtocol, handshakeBlock, negotiateDeflate, type DeflateAgreement, type PerMessageDeflateOptions } from './handshake.js';
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
    /** The permessage-deflate parameters agreed, or null. */
    readonly deflate: DeflateAgreement | null = null,
  ) {
    super(null);
    this.status = 101;
  }
}

/** The route's deflate settings with defaults, checked once per behavior. */
const deflateSettings = new WeakMap<WebSocketBehavior<any>, Required<PerMessageDeflateOptions> | null>();
/** Open connections per route (behavior), for maxConnections. */
const openCount = new WeakMap<WebSocketBehavior<any>, number>();

function deflateOf(behavior: WebSocketBehavior<any>): Required<PerMessageDeflateOptions> | null {
  let d = deflateSettings.get(behavior);
  if (d === undefined) {
    d = checkDeflateOptions(behavior.perMessageDeflate);
    deflateSettings.set(behavior, d);
  }
  return d;
}

const WS_OPTION_NAMES = Object.keys(constants().wsOptions) as Array<keyof NativeWsOptions>;

/** The Float64Array wsAccept takes: the core's defaults, the behavior's settings, the agreement. */
function wsOptionsArray(behavior: WebSocketBehavior<any>, deflate: DeflateAgreement | null, overLimit: boolean): Float64Array {
  const o: NativeWsOptions = { ...constants().wsOptions };
  if (behavior.pingInterval !== undefined) o.pingInterval = behavior.pingInterval;
  if (behavior.pongTimeout !== undefined) o.pongTimeout = behavior.pongTimeout;
  if (behavior.idleTimeout !== undefined) o.idleTimeout = behavior.idleTimeout;
  if (behavior.maxFragments !== undefined) o.maxFragments = behavior.maxFragments;
  if (behavior.maxControlFramesPerSecond !== undefined) o.maxControlFramesPerSecond = behavior.maxControlFramesPerSecond;
  o.overLimit = overLimit ? 1 : 0;
  const settings = deflateOf(behavior);
  if (deflate !== null && settings !== null) {
    o.deflate = 1;
    o.deflateThreshold = settings.threshold;
    o.serverNoContextTakeover = deflate.serverNoContextTakeover ? 1 : 0;
    o.clientNoContextTakeover = deflate.clientNoContextTakeover ? 1 : 0;
    o.serverMaxWindowBits = deflate.serverMaxWindowBits;
    o.clientMaxWindowBits = deflate.clientMaxWindowBits;
    o.memLevel = settings.memLevel;
    o.level = settings.level;
  }
  return Float64Array.from(WS_OPTION_NAMES, (name) => o[name]);
}

/** The route handler behind app.ws(): checks the handshake, runs upgrade(), answers with a WebSocketUpgrade. */
export function upgradeHandler<Data>(behavior: WebSocketBehavior<Data>): (req: Request) => WebSocketUpgrade<Data> | Promise<WebSocketUpgrade<Data>> {
  return (req) => {
    const key = checkUpgrade(req, requestFlags(req));
    const protocol = chooseProtocol(req, behavior.protocols);
    const settings = deflateOf(behavior);
    const deflate = settings === null ? null : negotiateDeflate(req.headers['sec-websocket-extensions'], settings);
    if (behavior.upgrade === undefined) return new WebSocketUpgrade<Data>(behavior, key, protocol, undefined as Data, deflate);
    const data = behavior.upgrade(req);
    if (data instanceof Promise) return data.then((d) => new WebSocketUpgrade<Data>(behavior, key, protocol, d, deflate));
    return new WebSocketUpgrade<Data>(behavior, key, protocol, data, deflate);
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
  const open = openCount.get(behavior) ?? 0;
  // a full route still answers 101, then closes with 1013 (try again later): a browser sees the code
  const overLimit = behavior.maxConnections !== undefined && open >= behavior.maxConnections;
  const block = handshakeBlock(up.key, up.protocol, up.headers, overLimit ? null : up.deflate?.response ?? null);
  target.wsAccept(id, block, behavior.maxPayload ?? DEFAULT_MAX_PAYLOAD, flow.highWaterMark, flow.lowWaterMark, flow.stallTimeout,
    wsOptionsArray(behavior, overLimit ? null : up.deflate, overLimit));
  if (overLimit) return new WebSocket(target as SocketTarget, id, req, behavior, up.data, up.protocol ?? '', log, { refused: true });
  openCount.set(behavior, open + 1);
  const gone = (): void => {
    openCount.set(behavior, (openCount.get(behavior) ?? 1) - 1);
  };
  return new WebSocket(target as SocketTarget, id, req, behavior, up.data, up.protocol ?? '', log, { gone, extensions: up.deflate?.response ?? '' });
}

/** Validates a behavior object given to app.ws(). */
export function checkBehavior(behavior: WebSocketBehavior<any>): void {
  if (typeof behavior !== 'object' || behavior === null) throw new TypeError('app.ws(path, behavior): behavior must be an object');
  for (const hook of ['upgrade', 'open', 'message', 'drain', 'close'] as const) {
    if (behavior[hook] !== undefined && typeof behavior[hook] !== 'function') throw new TypeError(`WebSocket behavior.${hook} must be a function`);
  }
  const max = behavior.maxPayload;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) throw new TypeError(`WebSocket maxPayload must be a positive integer, got ${String(max)}`);
  for (const name of ['pingInterval', 'pongTimeout', 'idleTimeout', 'maxFragments', 'maxControlFramesPerSecond', 'maxConnections'] as const) {
    const v = behavior[name];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 0)) throw new TypeError(`WebSocket ${name} must be a non-negative integer, got ${String(v)}`);
  }
  deflateOf(behavior); // throws a TypeError naming a bad perMessageDeflate setting
  if (behavior.protocols !== undefined && (!Array.isArray(behavior.protocols) || behavior.protocols.some((p) => typeof p !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p)))) {
    throw new TypeError('WebSocket protocols must be an array of tokens');
  }
}
