/**
 * A pool of Python workers. Each stream goes to the worker running the fewest streams;
 * a worker that dies or is stuck (its event loop stopped answering pings) fails its
 * streams and is replaced soon after (or on the next request).
 */
import { CoreError } from '../errors.js';
import { encodeStart, type StartSpec } from './protocol.js';
import { PythonStream } from './stream.js';
import { WorkerProcess, type WorkerSpawnOptions } from './worker.js';

const RESPAWN_DELAY_MS = 100;

export class WorkerPool {
  private workers: Array<WorkerProcess | null>;
  private spawning: Array<Promise<WorkerProcess> | null>;
  private readonly streams = new Map<number, PythonStream>();
  private readonly owner = new Map<PythonStream, WorkerProcess>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly size: number, private readonly spawnOptions: WorkerSpawnOptions) {
    this.workers = new Array<WorkerProcess | null>(size).fill(null);
    this.spawning = new Array<Promise<WorkerProcess> | null>(size).fill(null);
  }

  /** Starts every worker; rejects (and stops the ones that started) when any fails. */
  async start(): Promise<void> {
    const results = await Promise.allSettled(this.workers.map((_, i) => this.spawn(i)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await this.close(0);
      throw failed.reason;
    }
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  get pids(): number[] {
    return this.workers.filter((w): w is WorkerProcess => w !== null && w.alive).map((w) => w.pid);
  }

  /** Sends START to the least busy worker and returns the stream. */
  async open(spec: StartSpec, body: Uint8Array): Promise<PythonStream> {
    const worker = await this.pick();
    const id = this.allocateId();
    const stream = new PythonStream(id, spec.target, worker, (s) => this.release(s));
    this.streams.set(id, stream);
    this.owner.set(stream, worker);
    worker.active++;
    worker.send(encodeStart(id, spec, body));
    return stream;
  }

  /** Fails every stream still waiting for its first item with `err` (their generators are closed). */
  failStarting(err: Error): void {
    for (const stream of [...this.streams.values()]) stream.abortStart(err);
  }

  /** Ends every worker: stdin closed (generators closed, workers exit), SIGKILL after graceMs. */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    const pending = this.spawning.filter((p): p is Promise<WorkerProcess> => p !== null);
    await Promise.allSettled(pending);
    const workers = this.workers.filter((w): w is WorkerProcess => w !== null);
    this.workers.fill(null);
    await Promise.all(workers.map((w) => w.stop(graceMs)));
  }

  private async pick(): Promise<WorkerProcess> {
    if (this.closed) throw new CoreError('EPYTHONCLOSED', 'the Python bridge is closed');
    let best = -1;
    let bestLoad = Infinity;
    for (let i = 0; i < this.size; i++) {
      const w = this.workers[i];
      const load = w !== null && w.alive ? w.active : this.spawning[i] !== null ? 1e9 : 1e9 + 1;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    const w = this.workers[best];
    if (w !== null && w.alive) return w;
    return this.spawn(best);
  }

  private spawn(i: number): Promise<WorkerProcess> {
    const inFlight = this.spawning[i];
    if (inFlight !== null) return inFlight;
    const p = WorkerProcess.start(this.spawnOptions).then(
      (worker) => {
        this.spawning[i] = null;
        if (this.closed) {
          void worker.stop(0);
          throw new CoreError('EPYTHONCLOSED', 'the Python bridge is closed');
        }
        worker.bind({
          frame: (type, id, payload) => this.streams.get(id)?.onFrame(type, payload),
          exit: (err) => this.workerExited(i, worker, err),
        });
        this.workers[i] = worker;
        return worker;
      },
      (err: unknown) => {
        this.spawning[i] = null;
        throw err;
      },
    );
    this.spawning[i] = p;
    return p;
  }

  private workerExited(i: number, worker: WorkerProcess, err: Error): void {
    if (this.workers[i] === worker) this.workers[i] = null;
    for (const [stream, owner] of this.owner) {
      if (owner === worker) stream.workerLost(err);
    }
    // Replace it soon; a replacement that fails to start is retried by the next pick().
    if (!this.closed) setTimeout(() => {
      if (!this.closed && this.workers[i] === null) this.spawn(i).catch(() => {});
    }, RESPAWN_DELAY_MS).unref();
  }

  private release(stream: PythonStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    const worker = this.owner.get(stream);
    if (worker !== undefined) {
      worker.active--;
      this.owner.delete(stream);
    }
  }

  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = id >= 0xffffffff ? 1 : id + 1;
      if (!this.streams.has(id)) return id;
    }
  }
}
