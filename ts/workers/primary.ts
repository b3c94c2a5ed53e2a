/**
 * The primary of workers mode: a process manager over node:cluster (fork and IPC only; the
 * workers' listeners never pass through cluster's handle sharing). It reserves the port (a bound,
 * not listening SO_REUSEPORT socket: "port in use" shows before anything is forked, and port 0
 * becomes a real port), starts N workers that bind it with SO_REUSEPORT, and keeps them:
 *
 * - start: listen() resolves once every worker listens; a worker that fails first (its error, an
 *   exit, the start timeout) stops them all and listen() rejects with that error, once;
 * - a later death: one log line (slot, pid, exit code or signal, delay), restart after a delay
 *   that doubles per death (restartDelay .. maxRestartDelay, reset after stableAfter ms up);
 * - close (app.close(), SIGTERM, SIGINT): every worker closes gracefully within closeTimeout,
 *   then exits; killed if it is still there long after;
 * - rolling restart (app.restartWorkers(), SIGHUP): slot by slot, a new worker listens before
 *   the old one closes, so the port always has a listener;
 * - gather: a worker's request for every worker's metrics or streams, fanned out and merged
 *   by the caller; a worker that does not answer within gatherTimeout is reported missing.
 */
import cluster, { type Worker } from 'node:cluster';
import { CoreError } from '../errors.js';
import { ListenFlags, native, type NativeAddress } from '../native.js';
import type { Logger } from '../pipeline.js';
import { Backoff } from './backoff.js';
import type { ClusterSettings } from './options.js';
import { ENV_CLOSE_TIMEOUT, ENV_GATHER_TIMEOUT, ENV_WORKER_ID, ENV_WORKER_PORT, isMessage, type Collected, type Gathered, type PrimaryMessage, type WireError, type WorkerMessage } from './protocol.js';

type State = 'starting' | 'ready' | 'retiring' | 'stopping';

interface Proc {
  slot: number;
  worker: Worker;
  pid: number;
  state: State;
  /** A replacement of a rolling restart, until it is ready (its failure is the roll's, not a death). */
  replacement: boolean;
  startedAt: number;
  readyAt: number;
  failure: WireError | null;
  ready: Promise<void>;
  exited: Promise<void>;
  listenerClosed: Promise<void>;
}

/** A worker as `app.workers()` lists it. */
export interface WorkerInfo {
  id: number;
  pid: number;
  state: State;
}

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
/** How long past its close deadline a worker may take to exit before it is killed (LeakSanitizer at exit is slow). */
const EXIT_GRACE_MS = 10000;

/**
 * The port reservation: bound with SO_REUSEPORT and without SO_REUSEADDR, so that no socket
 * outside the workers' reuse-port group binds the port meanwhile. That one also conflicts with the
 * TIME_WAIT connections a server without SO_REUSEPORT left on the port (for a minute after it
 * closed them); then a reservation with SO_REUSEADDR is taken, which still fails with EADDRINUSE
 * while another socket listens on the port.
 */
function reservePort(host: string, port: number): NativeAddress & { fd: number } {
  try {
    return native().bindSocket(host, port, ListenFlags.ReusePort | ListenFlags.Reserve);
  } catch (err) {
    if ((err as { code?: string }).code !== 'EADDRINUSE' || port === 0) throw err;
    return native().bindSocket(host, port, ListenFlags.ReusePort);
  }
}

export class WorkerPool {
  private readonly procs = new Set<Proc>();
  private readonly backoffs = new Map<number, Backoff>();
  private readonly restartTimers = new Map<number, NodeJS.Timeout>();
  private readonly collecting = new Map<string, (c: { data?: unknown; error?: string }) => void>();
  private restarts = 0;
  private started = false;
  private stopping: Promise<void> | null = null;
  private rolling: Promise<void> | null = null;
  private nextCollect = 1;
  private fd: number;
  private readonly signalHandlers = new Map<string, () => void>();
  readonly address: NativeAddress;

  private constructor(private readonly count: number, private readonly settings: ClusterSettings, private readonly logger: Logger, host: string, port: number) {
    const { fd, ...address } = reservePort(host, port);
    this.fd = fd;
    this.address = address;
  }

  /** Reserves the port, starts `count` workers, resolves once all listen (or rejects, everything stopped). */
  static async start(count: number, settings: ClusterSettings, logger: Logger, host: string, port: number): Promise<WorkerPool> {
    const pool = new WorkerPool(count, settings, logger, host, port); // throws EADDRINUSE before any fork
    if (settings.signals) pool.handleSignals();
    const first = Array.from({ length: count }, (_, i) => pool.fork(i + 1, false));
    try {
      await Promise.all(first.map((p) => p.ready));
    } catch (err) {
      await pool.close(0); // also cancels the restart of a worker that died after its ready
      throw err;
    }
    pool.started = true;
    return pool;
  }

  workers(): WorkerInfo[] {
    return [...this.procs].map((p) => ({ id: p.slot, pid: p.pid, state: p.state })).sort((a, b) => a.id - b.id || a.pid - b.pid);
  }

  /** Every worker closes gracefully within `timeout` ms and exits; the port is released. */
  close(timeout: number): Promise<void> {
    this.stopping ??= (async () => {
      for (const timer of this.restartTimers.values()) clearTimeout(timer);
      this.restartTimers.clear();
      await this.stopAll(timeout);
      this.release();
      this.unhandleSignals();
    })();
    return this.stopping;
  }

  /** Replaces every worker, slot by slot: the new one listens before the old one closes. */
  restart(): Promise<void> {
    if (this.stopping !== null) return Promise.reject(new CoreError('ESERVERCLOSED', 'the workers are closing'));
    this.rolling ??= this.roll().finally(() => (this.rolling = null));
    return this.rolling;
  }

  private async roll(): Promise<void> {
    for (let slot = 1; slot <= this.count; slot++) {
      if (this.stopping !== null) return;
      // the replacement also stands for a worker of the slot waiting for its restart, or starting again
      clearTimeout(this.restartTimers.get(slot));
      this.restartTimers.delete(slot);
      const old = [...this.procs].filter((p) => p.slot === slot && (p.state === 'ready' || (p.state === 'starting' && !p.replacement)));
      const fresh = this.fork(slot, true);
      await fresh.ready; // a failure stops the roll here; the old worker stays
      for (const p of old) {
        this.stop(p, this.settings.closeTimeout, 'retiring');
        await Promise.race([p.listenerClosed, p.exited]);
      }
    }
  }

  private fork(slot: number, replacement: boolean): Proc {
    const worker = cluster.fork({
      [ENV_WORKER_ID]: String(slot),
      [ENV_WORKER_PORT]: String(this.address.port),
      [ENV_GATHER_TIMEOUT]: String(this.settings.gatherTimeout),
      [ENV_CLOSE_TIMEOUT]: String(this.settings.closeTimeout),
    });
    let readyResolve!: () => void;
    let readyReject!: (err: Error) => void;
    let exitedResolve!: () => void;
    let closedResolve!: () => void;
    const proc: Proc = {
      slot, worker, pid: worker.process.pid ?? 0, state: 'starting', replacement, startedAt: Date.now(), readyAt: 0, failure: null,
      ready: new Promise<void>((resolve, reject) => ((readyResolve = resolve), (readyReject = reject))),
      exited: new Promise<void>((resolve) => (exitedResolve = resolve)),
      listenerClosed: new Promise<void>((resolve) => (closedResolve = resolve)),
    };
    proc.ready.catch(() => {}); // awaited by whoever needs it
    this.procs.add(proc);
    const startTimer = setTimeout(() => {
      const message = `worker ${slot} (pid ${proc.pid}) was not listening after ${this.settings.startTimeout} ms (cluster.startTimeout)`;
      proc.failure = { code: 'EWORKERTIMEOUT', message };
      readyReject(new CoreError('EWORKERTIMEOUT', message));
      proc.worker.process.kill('SIGKILL'); // its exit is a death like any other
    }, this.settings.startTimeout);
    worker.on('message', (raw: unknown) => {
      if (!isMessage<WorkerMessage>(raw)) return;
      switch (raw.type) {
        case 'ready':
          clearTimeout(startTimer);
          if (proc.state === 'starting') proc.state = 'ready';
          proc.readyAt = Date.now();
          proc.replacement = false;
          readyResolve();
          break;
        case 'failed':
          clearTimeout(startTimer);
          proc.failure = raw.error;
          readyReject(Object.assign(new CoreError(raw.error.code ?? 'EWORKERSTART', raw.error.message), { worker: slot, pid: proc.pid, workerStack: raw.error.stack }));
          break;
        case 'listener-closed':
          closedResolve();
          break;
        case 'gather':
          void this.gather(raw.kind).then((gathered) => this.send(proc, { catzilla: 1, type: 'gathered', id: raw.id, gathered }));
          break;
        case 'collected': {
          const key = `${proc.pid}:${raw.id}`;
          const done = this.collecting.get(key);
          if (done !== undefined) {
            this.collecting.delete(key);
            done(raw);
          }
          break;
        }
      }
    });
    worker.on('error', () => {}); // a send to a worker that just died; its exit follows
    worker.on('exit', (code: number | null, signal: string | null) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(startTimer);
        this.procs.delete(proc);
        const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        readyReject(Object.assign(
          new CoreError('EWORKEREXIT', `worker ${slot} (pid ${proc.pid}) ${how} before it was listening`),
          { worker: slot, pid: proc.pid },
        ));
        exitedResolve();
        closedResolve();
        this.died(proc, how);
      };
      // 'exit' may come before the last messages (a worker's `failed` is sent just before it
      // exits): they are all delivered once the channel has closed
      if (!worker.isConnected()) return finish();
      worker.once('disconnect', finish);
      setTimeout(finish, 1000).unref();
    });
    return proc;
  }

  /** A worker exited: a death unless it was told to go (or the start / a roll deals with it). */
  private died(proc: Proc, how: string): void {
    if (proc.state === 'retiring' || proc.state === 'stopping' || this.stopping !== null || proc.replacement) return;
    // before its first `ready` during the first listen(): that listen() fails with it instead
    if (!this.started && proc.readyAt === 0) return;
    const up = proc.readyAt > 0 ? Date.now() - proc.readyAt : 0;
    let backoff = this.backoffs.get(proc.slot);
    if (backoff === undefined) this.backoffs.set(proc.slot, (backoff = new Backoff(this.settings.restartDelay, this.settings.maxRestartDelay, this.settings.stableAfter)));
    const delay = backoff.next(up);
    this.restarts++;
    const why = proc.failure !== null ? ` (${proc.failure.code ?? 'error'}: ${proc.failure.message})` : proc.readyAt === 0 ? ' before it was listening' : '';
    this.logger.error(`catzilla: worker ${proc.slot} (pid ${proc.pid}) ${how}${why}; restarting it in ${delay} ms`);
    this.restartTimers.set(proc.slot, setTimeout(() => {
      this.restartTimers.delete(proc.slot);
      if (this.stopping === null) this.fork(proc.slot, false);
    }, delay));
  }

  /** Tells `proc` to close within `timeout` ms (a worker not listening yet is sent SIGTERM); killed if it lingers. */
  private stop(proc: Proc, timeout: number, state: 'retiring' | 'stopping'): Promise<void> {
    if (proc.state === 'retiring' || proc.state === 'stopping') return proc.exited;
    const wasReady = proc.state === 'ready';
    proc.state = state;
    if (wasReady) this.send(proc, { catzilla: 1, type: 'close', timeout });
    else proc.worker.process.kill('SIGTERM');
    const kill = setTimeout(() => proc.worker.process.kill('SIGKILL'), timeout + EXIT_GRACE_MS);
    void proc.exited.then(() => clearTimeout(kill));
    return proc.exited;
  }

  private async stopAll(timeout: number): Promise<void> {
    await Promise.all([...this.procs].map((p) => this.stop(p, timeout, 'stopping')));
  }

  private send(proc: Proc, message: PrimaryMessage): void {
    if (!proc.worker.isConnected()) return;
    try {
      proc.worker.send(message);
    } catch {
      // it is exiting; its exit is handled
    }
  }

  /** `kind` from every listening worker (retiring ones too: they still serve), within gatherTimeout. */
  async gather(kind: string): Promise<Gathered> {
    const targets = [...this.procs].filter((p) => p.state === 'ready' || p.state === 'retiring');
    const answers = await Promise.all(targets.map((p) => this.collect(p, kind)));
    const results: Collected[] = [];
    const missing: Gathered['missing'] = [];
    targets.forEach((p, i) => {
      const a = answers[i]!;
      if (a.error === undefined && 'data' in a) results.push({ worker: p.slot, pid: p.pid, data: a.data });
      else missing.push({ worker: p.slot, pid: p.pid });
    });
    return { results, missing, restarts: this.restarts };
  }

  private collect(proc: Proc, kind: string): Promise<{ data?: unknown; error?: string }> {
    const id = this.nextCollect++;
    const key = `${proc.pid}:${id}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.collecting.delete(key);
        resolve({ error: 'timeout' });
      }, this.settings.gatherTimeout);
      this.collecting.set(key, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      void proc.exited.then(() => this.collecting.get(key)?.({ error: 'exited' }));
      this.send(proc, { catzilla: 1, type: 'collect', id, kind });
    });
  }

  private handleSignals(): void {
    for (const signal of SIGNALS) {
      const handler = signal === 'SIGHUP'
        ? () => void this.restart().catch((err: unknown) => this.logger.error(`catzilla: rolling restart stopped: ${String((err as Error)?.message ?? err)}`))
        : () => {
          void this.close(this.settings.closeTimeout).then(() => {
            // the primary ends with its workers, unless the application listens for the signal too
            if (process.listenerCount(signal) === 0) process.exit(0);
          });
        };
      this.signalHandlers.set(signal, handler);
      process.on(signal, handler);
    }
  }

  private unhandleSignals(): void {
    for (const [signal, handler] of this.signalHandlers) process.off(signal, handler);
    this.signalHandlers.clear();
  }

  private release(): void {
    if (this.fd < 0) return;
    native().closeSocket(this.fd);
    this.fd = -1;
  }
}
