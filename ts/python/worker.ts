/**
 * One `python -m catzilla_bridge.worker` process: spawn, HELLO handshake, frames in and
 * out, and a clean end (stdin closed -> the worker cancels its streams and exits; SIGKILL
 * after a grace period). The process never outlives the pool: it also exits when Node
 * dies, because its stdin reaches EOF.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { CoreError } from '../errors.js';
import { encodeFrame, Frame, FrameParser } from './protocol.js';

export interface WorkerSpawnOptions {
  python: string;
  env: NodeJS.ProcessEnv;
  /** ms to wait for HELLO. */
  startupTimeout: number;
  /** Receives the worker's stderr (prints and warnings of the endpoints). */
  stderr: (text: string) => void;
}

export interface WorkerEvents {
  frame(type: number, id: number, payload: Buffer): void;
  /** The process ended (after HELLO): every stream on it is lost. */
  exit(err: Error): void;
}

const STDERR_TAIL = 4096;

export class WorkerProcess {
  readonly proc: ChildProcessWithoutNullStreams;
  /** Streams currently running on this worker. */
  active = 0;
  pid = 0;
  private exited = false;
  private ready = false;
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
        proc = spawn(options.python, ['-m', 'catzilla_bridge.worker'], { env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
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
        if (!worker.ready) {
          if (type !== Frame.Hello) {
            fail(new CoreError('EPYTHONPROTO', `Python worker sent frame ${type} before HELLO`));
            return;
          }
          const hello = JSON.parse(payload.toString('utf8')) as { pid: number };
          worker.pid = hello.pid;
          worker.ready = true;
          settled = true;
          clearTimeout(timer);
          resolve(worker);
          return;
        }
        worker.events?.frame(type, id, payload);
      });
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
        const how = signal !== null ? `signal ${signal}` : `code ${code}`;
        const err = new CoreError('EPYTHONEXIT', `Python worker (pid ${proc.pid}) exited with ${how}${worker.tailText()}`);
        if (!settled) fail(err);
        else worker.events?.exit(err);
        for (const w of worker.exitWaiters.splice(0)) w();
      });
    });
  }

  /** Where frames and the exit go once the worker is in a pool. */
  bind(events: WorkerEvents): void {
    this.events = events;
  }

  get alive(): boolean {
    return !this.exited;
  }

  send(frame: Buffer): void {
    if (this.exited || this.proc.stdin.destroyed) return;
    this.proc.stdin.write(frame);
  }

  sendFrame(type: Frame, id: number, payload?: Uint8Array): void {
    this.send(encodeFrame(type, id, payload));
  }

  /** Closes stdin (the worker cancels its streams and exits), SIGKILL after `graceMs`. */
  stop(graceMs: number): Promise<void> {
    if (this.exited) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    this.proc.stdin.end();
    const timer = setTimeout(() => this.kill(), graceMs);
    return done.then(() => clearTimeout(timer));
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
