/**
 * `App`: route and middleware registration, and the lifecycle of the native
 * server behind it (listen, graceful close, stats).
 */
import { MiddlewareChain, normalizePrefix, type Middleware } from './middleware.js';
import { CoreError } from './errors.js';
import { constants, ListenFlags, native, type NativeAddress, type NativeServer, type NativeServerOptions, type NativeServerStats, type NativeStreamStats } from './native.js';
import { logError, Pipeline, type Handler, type Logger, type RouteOptions } from './pipeline.js';
import { ANY_METHOD, Router } from './router.js';
import { checkFlow, type FlowOptions } from './streaming/options.js';
import { emptyServerStats } from './streaming/stats.js';
import { Transport, type DispatchObserver } from './transport.js';
import { Rooms, type Room, type RoomOptions } from './websocket/room.js';
import type { WebSocketBehavior } from './websocket/socket.js';
import { checkBehavior, upgradeHandler } from './websocket/upgrade.js';
import { clusterSettings, workerCount, type ClusterOptions } from './workers/options.js';
import type { WorkerInfo, WorkerPool } from './workers/primary.js';
import { attachWorker, ignoreGroupSignals, reportFailure, workerClosed, workerRole } from './workers/worker.js';

/**
 * Server limits (see NativeServerOptions), the logger, and the default stream
 * settings: highWaterMark (64 KiB), lowWaterMark (16 KiB), stallTimeout (60000 ms).
 * A route (`app.get(path, handler, { highWaterMark })`) or a StreamingResponse can override them.
 */
export interface AppOptions extends Partial<NativeServerOptions>, FlowOptions {
  /** Where 500s and mid-stream errors log their stack. Defaults to `console`. */
  logger?: Logger;
}

/**
 * A handler that wants to know where it is mounted (metrics, dashboards): `app.get(path, h)`
 * calls `h[MOUNT](app, method, path)` once, after the route is added.
 */
export const MOUNT: unique symbol = Symbol.for('catzilla.mount');

export interface Mountable {
  [MOUNT](app: App, method: string, path: string): void;
}

/** A live stream of the native server, with its client's address (see NativeServer.liveStreams). */
export type LiveStream = NativeStreamStats & { id: number; remote: NativeAddress };

export interface ListenOptions {
  /** 0 picks a free port. */
  port?: number;
  /** Defaults to '0.0.0.0', like Node. */
  host?: string;
  /** Pending-connection queue length. */
  backlog?: number;
  /**
   * Workers mode: this many processes (`'auto'`: os.availableParallelism()) each bind the port
   * with SO_REUSEPORT and the kernel spreads connections over them. The module runs in every
   * process (as with node:cluster); the primary serves nothing and runs no onListen hooks, the
   * workers do. In the primary listen() resolves once every worker listens, or rejects with the
   * first worker's start-up error. See README "Workers".
   */
  workers?: number | 'auto';
  /** Settings of workers mode (close and start deadlines, restart delays, signals). */
  cluster?: ClusterOptions;
}

export interface CloseOptions {
  /** Milliseconds in-flight requests get to finish before their connections are closed. Default 5000. */
  timeout?: number;
}

/** The core's defaults (catzilla.h's CATZILLA_SERVER_OPTIONS_MAP). */
const DEFAULTS: Readonly<NativeServerOptions> = Object.freeze({ ...constants().serverOptions });

export class App {
  private readonly router = new Router<Handler, RouteOptions>();
  private readonly middleware = new MiddlewareChain();
  private readonly serverOptions: NativeServerOptions;
  private readonly logger: Logger;
  private readonly flow: FlowOptions;
  private server: NativeServer | null = null;
  private closing: Promise<void> | null = null;
  private readonly listenHooks: Array<() => void | Promise<void>> = [];
  private readonly closeHooks: Array<() => void | Promise<void>> = [];
  private readonly closingHooks: Array<() => void> = [];
  private readonly observers: DispatchObserver[] = [];
  private readonly rooms = new Rooms();
  private transport: Transport | null = null;
  /** Workers mode, in the primary: the worker processes. */
  private pool: WorkerPool | null = null;

  constructor(options: AppOptions = {}) {
    const merged = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as (keyof NativeServerOptions)[]) {
      const value = options[key];
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
        throw new TypeError(`App option ${key} must be a non-negative integer, got ${String(value)}`);
      }
      merged[key] = value;
    }
    this.serverOptions = merged;
    this.flow = checkFlow(options, 'App options');
    const logger = options.logger ?? console;
    if (typeof logger?.error !== 'function') throw new TypeError('App option logger must have an error() method');
    this.logger = logger;
  }

  get(path: string, handler: Handler, options?: RouteOptions): this {
    return this.route('GET', path, handler, options);
  }
  post(path: string, handler: Handler, options?: RouteOptions): this {
    return this.route('POST', path, handler, options);
  }
  put(path: string, handler: Handler, options?: RouteOptions): this {
    return this.route('PUT', path, handler, options);
  }
  patch(path: string, handler: Handler, options?: RouteOptions): this {
    return this.route('PATCH', path, handler, options);
  }
  delete(path: string, handler: Handler, options?: RouteOptions): this {
    return this.route('DELETE', path, handler, options);
  }
  head(path: string, handler: Handler, options?: RouteOptions): this {
    return this.route('HEAD', path, handler, options);
  }
  options(path: string, handler: Handler, options?: RouteOptions): this {
    return this.route('OPTIONS', path, handler, options);
  }
  /** Every method (a method-specific route on the same path wins). */
  all(path: string, handler: Handler, options?: RouteOptions): this {
    return this.route(ANY_METHOD, path, handler, options);
  }

  /**
   * A WebSocket endpoint (RFC 6455) at `path`: an upgrade request runs the middleware, then
   * `behavior.upgrade(req)` (throw an HttpError to refuse), then gets 101 and `open(ws)`. A
   * plain GET gets 426. See ts/websocket/socket.ts for the hooks and limits.
   */
  ws<Data = unknown>(path: string, behavior: WebSocketBehavior<Data>): this {
    checkBehavior(behavior);
    return this.route('GET', path, upgradeHandler(behavior));
  }

  /**
   * The room `name` for WebSocket broadcast (created on first use). `{ log: n }` makes it
   * resumable: its last n messages carry offsets and `ws.join(room, { after })` replays them;
   * once empty it keeps them `retainEmpty` ms (default two minutes), then is dropped.
   */
  room(name: string, options?: RoomOptions): Room {
    return this.rooms.get(name, options);
  }

  /** Registers `handler` for an arbitrary (uppercase token) method. */
  on(method: string, path: string, handler: Handler, options?: RouteOptions): this {
    if (typeof method !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Z]+$/.test(method) || method === ANY_METHOD) {
      throw new TypeError(`Route method must be an uppercase HTTP method token, got ${JSON.stringify(method)}`);
    }
    return this.route(method, path, handler, options);
  }

  /** Adds middleware for every request, or for paths equal to or under `prefix`. */
  use(middleware: Middleware): this;
  use(prefix: string, middleware: Middleware): this;
  use(prefixOrMiddleware: string | Middleware, middleware?: Middleware): this {
    if (typeof prefixOrMiddleware === 'function') this.middleware.add('', prefixOrMiddleware);
    else this.middleware.add(normalizePrefix(prefixOrMiddleware), middleware as Middleware);
    return this;
  }

  /**
   * Runs `fn` at every `listen()`, before the port is bound (in registration order): a hook that
   * rejects makes listen reject, after the close hooks ran to release what earlier hooks started.
   */
  onListen(fn: () => void | Promise<void>): this {
    if (typeof fn !== 'function') throw new TypeError('onListen(fn): fn must be a function');
    this.listenHooks.push(fn);
    return this;
  }

  /**
   * Runs `fn` when `close()` starts, before the grace period (in registration order, not
   * awaited): the place to answer requests still waiting for something (the Python bridge
   * answers 503 to those whose function produced nothing yet). A throwing hook is logged.
   */
  onClosing(fn: () => void): this {
    if (typeof fn !== 'function') throw new TypeError('onClosing(fn): fn must be a function');
    this.closingHooks.push(fn);
    return this;
  }

  /** Runs `fn` at every `close()` once the server has closed (also after a failed listen). */
  onClose(fn: () => void | Promise<void>): this {
    if (typeof fn !== 'function') throw new TypeError('onClose(fn): fn must be a function');
    this.closeHooks.push(fn);
    return this;
  }

  /** Runs every close hook, even when one fails; rejects with the first failure. */
  private async runCloseHooks(): Promise<void> {
    let failure: unknown = null;
    for (const fn of this.closeHooks) {
      try {
        await fn();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== null) throw failure;
  }

  /**
   * Starts listening; resolves with the bound address (useful with port 0). With `workers`, see
   * ListenOptions.workers: in a worker whose start fails, the primary is told and the worker
   * exits (the primary's listen() rejects with the error).
   */
  async listen(options: ListenOptions = {}): Promise<NativeAddress> {
    if (this.server !== null || this.pool !== null) throw new CoreError('EALREADYLISTENING', 'App is already listening; close() it first');
    const { port = 0, host = '0.0.0.0', backlog = 511 } = options;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`listen port must be an integer in [0, 65535], got ${String(port)}`);
    if (typeof host !== 'string' || host === '') throw new TypeError(`listen host must be a non-empty string, got ${JSON.stringify(host)}`);
    if (!Number.isInteger(backlog) || backlog < 1) throw new TypeError(`listen backlog must be a positive integer, got ${String(backlog)}`);
    if (options.workers === undefined) return this.listenHere(host, port, backlog, 0);
    const count = workerCount(options.workers);
    const settings = clusterSettings(options.cluster);
    const role = workerRole();
    if (role === null) {
      const { WorkerPool } = await import('./workers/primary.js');
      this.pool = await WorkerPool.start(count, settings, this.logger, host, port);
      this.closing = null;
      return this.pool.address;
    }
    ignoreGroupSignals();
    let address: NativeAddress;
    try {
      address = await this.listenHere(host, role.port, backlog, ListenFlags.ReusePort);
    } catch (err) {
      return reportFailure(err);
    }
    attachWorker(this, address.port, (timeout) => this.close({ timeout }));
    return address;
  }

  /** Replaces every worker, one at a time, each new one listening before its old one closes (workers mode, primary only). */
  restartWorkers(): Promise<void> {
    if (this.pool === null) return Promise.reject(new CoreError('ENOTPRIMARY', 'restartWorkers(): this process is not the primary of listening workers'));
    return this.pool.restart();
  }

  /** The worker processes (workers mode, primary only; [] elsewhere). */
  workers(): WorkerInfo[] {
    return this.pool?.workers() ?? [];
  }

  private async listenHere(host: string, port: number, backlog: number, flags: number): Promise<NativeAddress> {
    try {
      for (const fn of this.listenHooks) await fn();
    } catch (err) {
      await this.runCloseHooks().catch(() => {});
      throw err;
    }

    const transport = new Transport(new Pipeline(this.router, this.middleware, this.logger), this.logger, this.flow, this.observers);
    const server = new (native().Server)({ ...this.serverOptions }, transport.callbacks());
    transport.attach(server);
    let address: NativeAddress;
    try {
      address = server.listen(host, port, backlog, flags); // throws an Error with a code (EADDRINUSE...)
    } catch (err) {
      try {
        server.close(0, () => {}); // release whatever the failed server holds
      } catch {
        // Not listening: nothing to release.
      }
      await this.runCloseHooks().catch(() => {});
      throw err;
    }
    this.server = server;
    this.transport = transport;
    this.closing = null;
    return address;
  }

  /** Stops accepting, lets in-flight requests finish for up to `timeout` ms, then closes the rest. */
  close(options: CloseOptions = {}): Promise<void> {
    const { timeout = 5000 } = options;
    if (!Number.isInteger(timeout) || timeout < 0) throw new TypeError(`close timeout must be a non-negative integer, got ${String(timeout)}`);
    if (this.closing !== null) return this.closing;
    const pool = this.pool;
    if (pool !== null) {
      this.closing = pool.close(timeout).finally(() => {
        if (this.pool === pool) this.pool = null;
      });
      return this.closing;
    }
    const server = this.server;
    if (server === null) return this.closeHooks.length ? this.runCloseHooks() : Promise.resolve();
    // open WebSockets are told 1001 (going away) and close within the grace period
    this.transport?.closeSockets(1001, 'server shutting down');
    for (const fn of this.closingHooks) {
      try {
        const ret = fn() as unknown;
        if (ret instanceof Promise) ret.catch((err: unknown) => logError(this.logger, err));
      } catch (err) {
        logError(this.logger, err);
      }
    }
    const closed = new Promise<void>((resolve, reject) => {
      try {
        server.close(timeout, () => {
          if (this.server === server) this.server = null;
          resolve();
        });
      } catch (err) {
        reject(err);
      }
    });
    this.closing = closed.then(() => this.runCloseHooks()).finally(() => workerClosed(this));
    return this.closing;
  }

  /** Counters of the native server, stream counters included (all zero before listen). */
  stats(): NativeServerStats {
    if (this.server !== null) return this.server.stats();
    return emptyServerStats();
  }

  /** Every live stream of the native server with its counters and client address (none before listen). */
  liveStreams(): LiveStream[] {
    return this.server !== null ? this.server.liveStreams() : [];
  }

  /** Adds an observer of every answer and stream end (ts/metrics/ uses one); it sees requests from then on. */
  observe(observer: DispatchObserver): this {
    if (typeof observer !== 'object' || observer === null) throw new TypeError('observe() needs an observer object');
    if (!this.observers.includes(observer)) this.observers.push(observer);
    return this;
  }

  private route(method: string, path: string, handler: Handler, options?: RouteOptions): this {
    if (typeof handler !== 'function') throw new TypeError(`Handler for ${method} ${path} must be a function, got ${typeof handler}`);
    const flow = options === undefined ? undefined : checkFlow(options, `Route options of ${method} ${path}`);
    this.router.add(method, path, handler, flow);
    const mount = (handler as Partial<Mountable>)[MOUNT];
    if (typeof mount === 'function') mount.call(handler, this, method, path);
    return this;
  }
}
