/**
 * `PythonBridge`: mounts Python functions as catzilla endpoints.
 *
 *   const python = new PythonBridge({ app, paths: [here], workers: 2 });
 *   app.get('/export', python.endpoint('handlers:rows'));
 *   await app.listen();   // starts the workers and imports every target first
 *   await app.close();    // closes the generators and ends the workers
 *
 * The function gets a `catzilla_bridge.Request` and returns or yields str, bytes or
 * dicts (JSON lines), sync or async. Data travels as batched frames over the workers'
 * pipes, paced by credit from the catzilla stream (see stream.ts); pythonia is used
 * only for the startup check (validate.ts). When `app.close()` starts, requests whose
 * function has not produced anything yet are answered 503 (and their generators closed).
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../app.js';
import type { Handler } from '../pipeline.js';
import { CoreError, HttpError } from '../errors.js';
import type { Request } from '../request.js';
import { HttpResponse } from '../response.js';
import { StreamingResponse, type FlowOptions } from '../streaming/index.js';
import { WorkerPool } from './pool.js';
import type { StartSpec } from './protocol.js';
import { validateTargets, type ValidationReport } from './validate.js';
import { pumpRequestBody } from './request-body.js';
import { MultipartReader } from '../uploads/multipart.js';
import type { UploadLimits } from '../uploads/limits.js';

export interface PythonBridgeOptions {
  /** Ties the bridge to the app: `app.listen()` starts and validates it, `app.close()` ends it. */
  app?: App;
  /** Python executable. Default: $CATZILLA_PYTHON, else "python3". */
  python?: string;
  /** Worker processes (each runs many streams). Default: min(4, CPUs). */
  workers?: number;
  /** Directories put first on the workers' sys.path to find the target modules. Default: [process.cwd()]. */
  paths?: string[];
  /** Bytes a generator may run ahead of the socket (its credit window). Default 256 KiB. */
  window?: number;
  /** ms for the whole start-up: the workers starting and the startup check importing the targets share one deadline. Default 15000. */
  startupTimeout?: number;
  /**
   * ms a worker's event loop may go without answering a ping (a blocked loop: time.sleep()
   * or CPU work inside an async def) before the worker is declared stuck: its requests fail,
   * it is killed and replaced. Default 10000; 0 turns the check off.
   */
  livenessTimeout?: number;
  /**
   * ms a function may take to produce its first item (or return) before the request is
   * answered 504 and its generator closed. Default 0: no limit. Endpoints may override it.
   */
  firstItemTimeout?: number;
  /** ms the workers get to close their generators at close() before SIGKILL. Default 2000. */
  closeTimeout?: number;
  /** How targets are checked at start: 'pythonia' (default), 'subprocess', or false (not at all). */
  validate?: 'pythonia' | 'subprocess' | false;
  /**
   * Extra environment for the workers and the startup check. A PYTHONPATH given here is
   * kept (after the bridge's own package directory) instead of the one of process.env.
   */
  env?: Record<string, string>;
  /** Receives the workers' stderr (print(), warnings). Default: process.stderr. */
  stderr?: (text: string) => void;
}

export interface PythonEndpointOptions extends FlowOptions {
  /** Send the head as soon as the function produced it instead of with the first data. */
  flushHeaders?: boolean;
  /** Overrides the bridge's firstItemTimeout for this endpoint (ms, 0: no limit). */
  firstItemTimeout?: number;
  /**
   * How the function gets the request body. 'buffer' (default): `request.body` is bytes, read
   * before the function starts. 'stream': `request.body` yields chunks as they arrive
   * (`for chunk in request.body`, or `async for`), paced like responses. 'parts': `request.parts`
   * yields a multipart/form-data or urlencoded body's parts as they arrive (parsed on the Node
   * side with `uploadLimits`: 413 / 400 / 415 as for req.multipart()).
   */
  body?: 'buffer' | 'stream' | 'parts';
  /** Limits of a `body: 'parts'` endpoint (see UploadLimits). */
  uploadLimits?: UploadLimits;
}

export interface PythonBridgeStats {
  /** Process ids of the running workers. */
  workers: number[];
  /** Python streams in progress (cancelled ones until their generator closed). */
  activeStreams: number;
  /** How the last startup check ran, if it ran. */
  validatedVia: 'pythonia' | 'subprocess' | null;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** python/ at the package root (same depth from ts/python and dist/python). */
export const PYTHON_PACKAGE_DIR = path.resolve(here, '..', '..', 'python');

const DEFAULT_WINDOW = 256 * 1024;
const EMPTY = new Uint8Array(0);
const DEFAULT_LIVENESS_TIMEOUT = 10000;
/** Statuses whose response has no body (and so no Content-Type). */
const NO_BODY = new Set([204, 304]);

export class PythonBridge {
  private readonly python: string;
  private readonly size: number;
  private readonly paths: string[];
  private readonly window: number;
  private readonly startupTimeout: number;
  private readonly closeTimeout: number;
  private readonly livenessTimeout: number;
  private readonly firstItemTimeout: number;
  private readonly validateVia: 'pythonia' | 'subprocess' | false;
  private readonly env: NodeJS.ProcessEnv;
  private readonly stderr: (text: string) => void;
  private readonly targets = new Set<string>();
  private pool: WorkerPool | null = null;
  private starting: Promise<WorkerPool> | null = null;
  private closing: Promise<void> | null = null;
  /** app.close() started: new requests and those still waiting for a first item get 503. */
  private draining = false;
  private validatedVia: ValidationReport['via'] | null = null;
  private readonly apps = new WeakSet<App>();

  constructor(options: PythonBridgeOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('PythonBridge options must be an object');
    this.python = options.python ?? process.env.CATZILLA_PYTHON ?? 'python3';
    if (typeof this.python !== 'string' || this.python === '') throw new TypeError('PythonBridge option python must be a non-empty string');
    this.size = positiveInt(options.workers ?? Math.max(1, Math.min(4, os.availableParallelism())), 'workers');
    this.window = positiveInt(options.window ?? DEFAULT_WINDOW, 'window');
    this.startupTimeout = positiveInt(options.startupTimeout ?? 15000, 'startupTimeout');
    this.closeTimeout = nonNegativeInt(options.closeTimeout ?? 2000, 'closeTimeout');
    this.livenessTimeout = nonNegativeInt(options.livenessTimeout ?? DEFAULT_LIVENESS_TIMEOUT, 'livenessTimeout');
    this.firstItemTimeout = nonNegativeInt(options.firstItemTimeout ?? 0, 'firstItemTimeout');
    const paths = options.paths ?? [process.cwd()];
    if (!Array.isArray(paths) || paths.some((p) => typeof p !== 'string')) throw new TypeError('PythonBridge option paths must be an array of strings');
    this.paths = paths.map((p) => path.resolve(p));
    const via = options.validate ?? 'pythonia';
    if (via !== 'pythonia' && via !== 'subprocess' && via !== false) throw new TypeError(`PythonBridge option validate must be 'pythonia', 'subprocess' or false`);
    this.validateVia = via;
    if (options.env !== undefined && (typeof options.env !== 'object' || options.env === null)) throw new TypeError('PythonBridge option env must be an object');
    for (const [key, value] of Object.entries(options.env ?? {})) {
      if (typeof value !== 'string') throw new TypeError(`PythonBridge option env.${key} must be a string, got ${typeof value}`);
    }
    // The package directory first, then the application's PYTHONPATH (the env option's if given).
    const userPath = options.env?.PYTHONPATH ?? process.env.PYTHONPATH;
    const pythonPath = [PYTHON_PACKAGE_DIR, userPath].filter(Boolean).join(path.delimiter);
    this.env = {
      ...process.env,
      ...options.env,
      PYTHONPATH: pythonPath,
      CATZILLA_BRIDGE_PATH: JSON.stringify(this.paths),
      PYTHONUNBUFFERED: '1',
    };
    this.stderr = options.stderr ?? ((text) => process.stderr.write(text));
    if (options.app !== undefined) this.attach(options.app);
  }

  /**
   * A handler that runs `target` ("module:function") in a worker for each request and
   * streams what it returns or yields.
   */
  endpoint(target: string, options: PythonEndpointOptions = {}): Handler {
    if (typeof target !== 'string' || !/^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$/.test(target)) {
      throw new TypeError(`python.endpoint() needs a "module:function" target, got ${JSON.stringify(target)}`);
    }
    this.targets.add(target);
    const { flushHeaders, firstItemTimeout, body: bodyMode = 'buffer', uploadLimits, ...flow } = options;
    if (bodyMode !== 'buffer' && bodyMode !== 'stream' && bodyMode !== 'parts') throw new TypeError(`python.endpoint() option body must be 'buffer', 'stream' or 'parts', got ${String(bodyMode)}`);
    const firstItemMs = nonNegativeInt(firstItemTimeout ?? this.firstItemTimeout, 'firstItemTimeout');
    return async (req: Request) => {
      if (this.draining) throw shuttingDown();
      // A body that is no form answers 415 (or 400) here, before Python runs.
      const parts = bodyMode === 'parts' ? new MultipartReader(req, uploadLimits) : null;
      const pool = await this.ready();
      const body = bodyMode === 'buffer' ? await req.buffer() : EMPTY;
      if (this.draining) throw shuttingDown();
      const spec = startSpec(target, req, this.window);
      if (bodyMode !== 'buffer') spec.body = bodyMode;
      const stream = await pool.open(spec, body);
      if (bodyMode !== 'buffer') void pumpRequestBody(stream, parts ?? req, this.window);
      if (this.draining) stream.abortStart(shuttingDown());
      const onAbort = (): void => stream.cancel();
      req.signal.addEventListener('abort', onAbort, { once: true });
      const timer = firstItemMs > 0
        ? setTimeout(() => stream.abortStart(new HttpError(504, `the Python endpoint ${target} produced nothing within ${firstItemMs} ms (firstItemTimeout)`)), firstItemMs)
        : null;
      let head;
      try {
        head = await stream.head();
      } catch (err) {
        stream.cancel();
        throw err;
      } finally {
        if (timer !== null) clearTimeout(timer);
        req.signal.removeEventListener('abort', onAbort);
      }
      if (head.empty === true || NO_BODY.has(head.status)) {
        // No body: a plain response (no chunked framing, and a 204 carries no Content-Type).
        stream.cancel();
        const headers = head.status === 204
          ? head.headers.filter(([name]) => name.toLowerCase() !== 'content-type')
          : head.headers;
        return new HttpResponse(null, { status: head.status, headers });
      }
      return new StreamingResponse((writer) => stream.pipe(writer), {
        ...flow,
        flushHeaders,
        status: head.status,
        headers: head.headers,
        onClose: () => stream.cancel(),
      });
    };
  }

  /** Makes `app.listen()` start (and validate) the bridge first and `app.close()` end it. */
  attach(app: App): this {
    if (this.apps.has(app)) return this;
    this.apps.add(app);
    app.onListen(() => this.start());
    app.onClosing(() => this.drain());
    app.onClose(() => this.close());
    return this;
  }

  /**
   * app.close() started: requests whose function produced nothing yet are answered 503 and
   * their generators closed; new requests get 503 too. Streams already sending go on.
   */
  drain(): void {
    this.draining = true;
    this.pool?.failStarting(shuttingDown());
  }

  /** Starts the workers and imports every target registered so far; idempotent. */
  start(): Promise<void> {
    this.draining = false;
    return this.ready().then(() => undefined);
  }

  /** Cancels every stream's generator and ends the workers (SIGKILL after closeTimeout). */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    const starting = this.starting;
    this.starting = null;
    this.closing = (async () => {
      let pool = this.pool;
      this.pool = null;
      if (pool === null && starting !== null) pool = await starting.catch(() => null);
      if (pool !== null) await pool.close(this.closeTimeout);
    })().finally(() => {
      this.closing = null;
    });
    return this.closing;
  }

  stats(): PythonBridgeStats {
    return { workers: this.pool?.pids ?? [], activeStreams: this.pool?.activeStreams ?? 0, validatedVia: this.validatedVia };
  }

  private async ready(): Promise<WorkerPool> {
    if (this.closing !== null) await this.closing;
    if (this.pool !== null) return this.pool;
    this.starting ??= this.launch();
    try {
      return await this.starting;
    } catch (err) {
      this.starting = null;
      throw err;
    }
  }

  private async launch(): Promise<WorkerPool> {
    // one deadline for the whole start-up: the workers' start and the endpoint check share it
    const deadline = Date.now() + this.startupTimeout;
    const pool = new WorkerPool(this.size, {
      python: this.python,
      env: this.env,
      startupTimeout: this.startupTimeout,
      livenessTimeout: this.livenessTimeout,
      stderr: this.stderr,
    });
    await pool.start(); // Python missing or broken: a clear error here, before pythonia runs
    try {
      if (this.validateVia !== false && this.targets.size > 0) {
        const report = await validateTargets([...this.targets], {
          python: this.python, pythonDir: PYTHON_PACKAGE_DIR, paths: this.paths, env: this.env,
          timeoutMs: this.startupTimeout, deadline, via: this.validateVia,
        });
        this.validatedVia = report.via;
        if (!report.ok) throw importError(report);
      }
    } catch (err) {
      await pool.close(0);
      throw err;
    }
    this.pool = pool;
    return pool;
  }
}

function startSpec(target: string, req: Request, window: number): StartSpec {
  const q = req.url.indexOf('?');
  return {
    target,
    method: req.method,
    path: req.path,
    query: q < 0 ? '' : req.url.slice(q + 1),
    headers: req.headers as Record<string, string>,
    params: { ...req.params } as Record<string, string>,
    window,
  };
}

function importError(report: ValidationReport): CoreError {
  const parts = report.errors.map((e) => `Python endpoint "${e.target}" cannot be loaded:\n${e.traceback.trimEnd()}`);
  if (report.output !== '') parts.push(`Output of the modules during the check:\n${report.output}`);
  const err = new CoreError('EPYTHONIMPORT', parts.join('\n\n'));
  err.stack = `CoreError [EPYTHONIMPORT]: ${parts.join('\n\n')}`;
  return err;
}

function shuttingDown(): HttpError {
  return new HttpError(503, 'the server is shutting down');
}

function positiveInt(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new TypeError(`PythonBridge option ${name} must be a positive integer, got ${String(value)}`);
  return value;
}

function nonNegativeInt(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new TypeError(`PythonBridge option ${name} must be a non-negative integer, got ${String(value)}`);
  return value;
}
