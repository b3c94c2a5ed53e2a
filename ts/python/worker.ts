/**
 * One `python -m catzilla_bridge.worker` process: spawn, HELLO handshake, frames in and
 * out, liveness (PING every so often; a worker whose event loop does not answer within
 * `livenessTimeout` is declared stuck, SIGKILLed and reported lost), and a clean end
 * (stdin closed -> the worker cancels its streams and exits; SIGKILL after a grace
 * period). The process never outlives Node: the kernel kills it when Node dies (Linux),
 * and its watchdog thread exits it once its pipes closed, even with a blocked loop.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { CoreError } from '../errors.js';
import { encodeFrame, Frame, FrameParser } from './protocol.js';

export interface WorkerSpawnOptions {
  python: string;
  env: NodeJS.ProcessEnv;
  /** ms to wait for HELLO. */
  startupTimeout: number;
  /** ms the worker's event loop may go without answering a PING before it is declared stuck; 0: never. */
  livenessTimeout: number;
  /** Receives the worker's stderr (prints and warnings of the endpoints). */
  stderr: (text: string) => void;
}

export interface WorkerEvents {
  /** A frame for a stream; a DATA payload may come as pieces (see FrameParser). */
  frame(type: number, id: number, payload: Buffer | Buffer[]): void;
  /** The process ended (after HELLO): every stream on it is lost. */
  exit(err: Error): void;
}

const STDERR_TAIL = 4096;
/** Pings are sent this often (at most), a few per liveness period. */
const MAX_PING_INTERVAL_MS = 1000;
const MIN_PING_INTERVAL_MS = 20;

export class WorkerProcess {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Streams currently running on this worker. */
  active = 0;
  pid = 0;
  private exited = false;
  /** The loss was reported (exit or stuck): only once. */
  private lostReported = false;
  private ready = false;
  private lastHeard = 0;
  private livenessTimer: NodeJS.Timeout | null = null;
  private stderrTail = '';
  private readonly exitWaiters: Array<() => void> = [];
  private events: WorkerEvents | null = null;

  private constructor(proc: ChildProcessWithoutNullStreams) {
    this.proc = proc;
  }

  /** Spawns a worker and resolves once it said HELLO; rejects with a clear error otherwise. */
  static start(options: WorkerSpawnOptions): Promise<WorkerProcess> {
    return new Promise<WorkerProcess>((resolve, reject) => {
      let proc: ChildProcessWithoutNullStreams;
      try {
        proc = spawn(options.python, ['-m', 'catzilla_bridge.worker'], {
          env: { ...options.env, CATZILLA_BRIDGE_PARENT: String(process.pid) },
          stdio: ['pipe', 'pipe', 'pipe'],
        });
      } catch (err) {
        reject(notFound(options.python, err));
        return;
      }
      const worker = new WorkerProcess(proc);
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        worker.kill();
        reject(err);
      };
      const timer = setTimeout(() => {
        fail(new CoreError('EPYTHONSTART', `Python worker (${options.python} -m catzilla_bridge.worker) did not start within ${options.startupTimeout} ms${worker.tailText()}`));
      }, options.startupTimeout);

      const parser = new FrameParser((type, id, payload) => {
        worker.lastHeard = Date.now();
        if (!worker.ready) {
          if (type !== Frame.Hello) {
            fail(new CoreError('EPYTHONPROTO', `Python worker sent frame ${type} before HELLO`));
            return;
          }
          const hello = JSON.parse((payload as Buffer).toString('utf8')) as { pid: number };
          worker.pid = hello.pid;
          worker.ready = true;
          settled = true;
          clearTimeout(timer);
          worker.watch(options.livenessTimeout);
          resolve(worker);
          return;
        }
        if (type === Frame.Pong) return;
        worker.events?.frame(type, id, payload);
      }, new Set([Frame.Data]));
      proc.stdout.on('data', (chunk: Buffer) => {
        try {
          parser.push(chunk);
        } catch (err) {
          worker.kill();
          fail(err as Error);
        }
      });
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (text: string) => {
        worker.stderrTail = (worker.stderrTail + text).slice(-STDERR_TAIL);
        try {
          options.stderr(text);
        } catch {
          // A broken stderr sink must not take the bridge down.
        }
      });
      // EPIPE when the worker died: the 'exit' handler reports it.
      proc.stdin.on('error', () => {});
      proc.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'EACCES') fail(notFound(options.python, err));
        else fail(new CoreError('EPYTHONSTART', `Python worker failed: ${err.message}`, { cause: err }));
      });
      proc.on('exit', (code, signal) => {
        worker.exited = true;
        worker.unwatch();
        const how = signal !== null ? `signal ${signal}` : `code ${code}`;
        if (!settled) {
          // Never said HELLO: most likely not a (working) Python 3 at all.
          fail(new CoreError('EPYTHONSTART',
            `Python worker could not start: "${options.python} -m catzilla_bridge.worker" exited with ${how} before it was ready. ` +
            `Is "${options.python}" a Python 3.8+ interpreter? Point the bridge at one with its \`python\` option (or CATZILLA_PYTHON)${worker.tailText()}`));
        } else {
          worker.reportLost(new CoreError('EPYTHONEXIT', `Python worker (pid ${proc.pid}) exited with ${how}${worker.tailText()}`));
        }
        for (const w of worker.exitWaiters.splice(0)) w();
      });
    });
  }

  /** Where frames and the exit go once the worker is in a pool. */
  bind(events: WorkerEvents): void {
    this.events = events;
  }

  /** Running and not declared lost (a stuck worker is not alive even before it exited). */
  get alive(): boolean {
    return !this.exited && !this.lostReported;
  }

  send(frame: Buffer): void {
    if (this.exited || this.proc.stdin.destroyed || this.proc.stdin.writableEnded) return;
    this.proc.stdin.write(frame);
  }

  sendFrame(type: Frame, id: number, payload?: Uint8Array): void {
    this.send(encodeFrame(type, id, payload));
  }

  /** Closes stdin (the worker cancels its streams and exits), SIGKILL after `graceMs`. */
  stop(graceMs: number): Promise<void> {
    if (this.exited) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    this.unwatch(); // no pings once stdin is closed: the grace period decides now
    this.proc.stdin.end();
    const timer = setTimeout(() => this.kill(), graceMs);
    return done.then(() => clearTimeout(timer));
  }

  /** Starts the liveness checks (after HELLO). */
  private watch(timeoutMs: number): void {
    if (timeoutMs <= 0 || this.exited) return;
    const interval = Math.max(MIN_PING_INTERVAL_MS, Math.min(MAX_PING_INTERVAL_MS, Math.floor(timeoutMs / 4)));
    let lastTick = Date.now();
    this.lastHeard = lastTick;
    const ping = encodeFrame(Frame.Ping, 0);
    this.livenessTimer = setInterval(() => {
      const now = Date.now();
      // Node's own loop was held up: the PONGs may be waiting unread, so judge from now on.
      if (now - lastTick > interval * 2) this.lastHeard = now;
      lastTick = now;
      if (now - this.lastHeard > timeoutMs) {
        this.reportLost(new CoreError('EPYTHONSTUCK',
          `Python worker (pid ${this.pid}) did not answer for ${now - this.lastHeard} ms (livenessTimeout ${timeoutMs} ms): ` +
          'its event loop is blocked, e.g. by time.sleep() or CPU work inside an async def. Its requests failed; it is killed and replaced'));
        this.kill();
        return;
      }
      this.send(ping);
    }, interval);
    this.livenessTimer.unref();
  }

  private unwatch(): void {
    if (this.livenessTimer !== null) clearInterval(this.livenessTimer);
    this.livenessTimer = null;
  }

  /** Tells the pool this worker is lost (exited or stuck), once. */
  private reportLost(err: Error): void {
    if (this.lostReported) return;
    this.lostReported = true;
    this.unwatch();
    this.events?.exit(err);
  }

  kill(): void {
    if (this.exited) return;
    try {
      this.proc.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }

  private tailText(): string {
    const tail = this.stderrTail.trim();
    return tail === '' ? '' : `:\n${tail}`;
  }
}

function notFound(python: string, cause: unknown): CoreError {
  return new CoreError('ENOPYTHON',
    `Python not found: could not run "${python}" (${(cause as Error)?.message ?? String(cause)}). ` +
    'Install Python 3.8 or newer, or point the bridge at it with the `python` option or CATZILLA_PYTHON.', { cause });
}
