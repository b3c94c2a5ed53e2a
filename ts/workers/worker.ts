/**
 * The worker side of workers mode. A process started by the primary (ENV_WORKER_ID set) listens
 * on the port the primary reserved, with SO_REUSEPORT, and then: reports `ready` (or its start-up
 * error, and exits), closes gracefully when the primary says so or when the primary is gone (the
 * IPC channel disconnects: a worker never outlives its primary), and answers the primary's
 * `collect` requests from the providers registered here (metrics, live streams). SIGINT and SIGHUP,
 * which a terminal sends to the whole process group, are the primary's to act on: a worker ignores
 * them. SIGTERM sent to a worker alone closes it gracefully (the primary then starts another).
 */
import type { App } from '../app.js';
import { ENV_CLOSE_TIMEOUT, ENV_GATHER_TIMEOUT, ENV_WORKER_ID, ENV_WORKER_PORT, isMessage, toWire, type Gathered, type PrimaryMessage, type WorkerMessage } from './protocol.js';

/** This process as a worker of a catzilla primary, or null. */
export interface WorkerRole {
  /** Its slot, 1..N (a replacement keeps the slot of the worker it replaces). */
  id: number;
  /** The port the primary reserved. */
  port: number;
}

let role: WorkerRole | null | undefined;

/** This process's worker role (from its environment), or null when it is not a catzilla worker. */
export function workerRole(): WorkerRole | null {
  if (role !== undefined) return role;
  const id = Number(process.env[ENV_WORKER_ID]);
  const port = Number(process.env[ENV_WORKER_PORT]);
  role = Number.isSafeInteger(id) && id > 0 && Number.isSafeInteger(port) && port > 0 && typeof process.send === 'function' ? { id, port } : null;
  return role;
}

/** What a provider answers for its app (JSON-serializable). */
export type Provider = (app: App) => unknown | Promise<unknown>;
const providers = new Map<string, Provider>();

/** Registers what this process answers for `kind` (ts/metrics/ registers its kinds). */
export function provide(kind: string, provider: Provider): void {
  providers.set(kind, provider);
}

function send(message: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || typeof process.send !== 'function') return resolve();
    try {
      process.send(message, undefined, undefined, () => resolve());
    } catch {
      resolve(); // the channel closed meanwhile
    }
  });
}

const ignore = (): void => {};
let signalsIgnored = false;

/** Called at the start of a worker's listen: the terminal's SIGINT / SIGHUP are the primary's. */
export function ignoreGroupSignals(): void {
  if (signalsIgnored) return;
  signalsIgnored = true;
  process.on('SIGINT', ignore);
  process.on('SIGHUP', ignore);
}

/** A worker whose start failed: tell the primary (its listen() rejects with this error), then exit. */
export async function reportFailure(err: unknown): Promise<never> {
  await send({ catzilla: 1, type: 'failed', error: toWire(err) });
  process.exit(1);
}

let attached: App | null = null;
let closing = false;
const pending = new Map<number, { resolve: (g: Gathered | null) => void; timer: NodeJS.Timeout }>();
let nextGather = 1;

/** The worker is listening: report it, and serve the primary's requests from now on. */
export function attachWorker(app: App, port: number, close: (timeout: number) => Promise<void>): void {
  if (attached !== null) throw new Error('catzilla: one App per worker process listens in workers mode');
  attached = app;
  const closeAndExit = (timeout: number): void => {
    if (closing) return;
    closing = true;
    const closed = close(timeout);
    void send({ catzilla: 1, type: 'listener-closed' });
    closed.catch((err: unknown) => process.stderr.write(`catzilla: worker ${workerRole()?.id} close failed: ${String((err as Error)?.stack ?? err)}\n`))
      .finally(() => process.exit(0));
  };
  process.on('message', (raw: unknown) => {
    if (!isMessage<PrimaryMessage>(raw)) return;
    if (raw.type === 'close') closeAndExit(raw.timeout);
    else if (raw.type === 'collect') void collect(app, raw.id, raw.kind);
    else if (raw.type === 'gathered') {
      const waiting = pending.get(raw.id);
      if (waiting === undefined) return;
      pending.delete(raw.id);
      clearTimeout(waiting.timer);
      waiting.resolve(raw.gathered);
    }
  });
  // the primary is gone (killed): never outlive it
  process.on('disconnect', () => closeAndExit(closeTimeout()));
  process.on('SIGTERM', () => closeAndExit(closeTimeout()));
  void send({ catzilla: 1, type: 'ready', port });
}

const closeTimeout = (): number => {
  const ms = Number(process.env[ENV_CLOSE_TIMEOUT]);
  return Number.isSafeInteger(ms) && ms >= 0 ? ms : 5000;
};

/** Called when the app's close finished by any path (the application's own app.close() too). */
export function workerClosed(app: App): void {
  if (attached !== app || closing) return;
  closing = true;
  // closed by the application itself: leave the channel, so the process ends when its work does
  void send({ catzilla: 1, type: 'listener-closed' }).then(() => process.disconnect?.());
}

async function collect(app: App, id: number, kind: string): Promise<void> {
  const provider = providers.get(kind);
  try {
    if (provider === undefined) throw new Error(`nothing provides ${kind} in this worker`);
    const data = await provider(app);
    await send({ catzilla: 1, type: 'collected', id, data });
  } catch (err) {
    await send({ catzilla: 1, type: 'collected', id, error: String((err as Error)?.message ?? err) });
  }
}

/**
 * `kind` from every worker, through the primary: null when this process is not a listening
 * worker, or when the primary did not answer within its deadline (the caller then serves what
 * it has itself).
 */
export function gather(app: App, kind: string): Promise<Gathered | null> {
  if (attached !== app || !process.connected) return Promise.resolve(null);
  const id = nextGather++;
  const deadline = (Number(process.env[ENV_GATHER_TIMEOUT]) || 1000) + 1000;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      resolve(null);
    }, deadline);
    pending.set(id, { resolve, timer });
    void send({ catzilla: 1, type: 'gather', id, kind });
  });
}
