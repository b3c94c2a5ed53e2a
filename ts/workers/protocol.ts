/**
 * The messages between the workers' primary and its workers, over node:cluster's IPC channel
 * (JSON). Every message carries `catzilla: 1` so that an application's own messages on the
 * same channel are left alone. The environment tells a process it is a worker: `CATZILLA_WORKER_ID`
 * (its slot, 1..N, kept by a replacement), `CATZILLA_WORKER_PORT` (the port the primary reserved).
 */

export const ENV_WORKER_ID = 'CATZILLA_WORKER_ID';
export const ENV_WORKER_PORT = 'CATZILLA_WORKER_PORT';
export const ENV_GATHER_TIMEOUT = 'CATZILLA_WORKER_GATHER_TIMEOUT';
export const ENV_CLOSE_TIMEOUT = 'CATZILLA_WORKER_CLOSE_TIMEOUT';

/** An error as it crosses the channel. */
export interface WireError {
  code?: string;
  message: string;
  stack?: string;
}

/** One worker's answer to a gather: `data` from its provider. */
export interface Collected {
  worker: number;
  pid: number;
  data: unknown;
}

/** What a gather returns: every answer, the workers that did not answer in time, the restarts so far. */
export interface Gathered {
  results: Collected[];
  missing: Array<{ worker: number; pid: number }>;
  restarts: number;
}

export type WorkerMessage =
  /** listening (after the app's onListen hooks) */
  | { catzilla: 1; type: 'ready'; port: number }
  /** listen() failed in the worker: the primary decides (reject its own listen, or restart) */
  | { catzilla: 1; type: 'failed'; error: WireError }
  /** the worker's listener is closed (a close started): a rolling restart moves on */
  | { catzilla: 1; type: 'listener-closed' }
  /** a handler of this worker wants `kind` from every worker */
  | { catzilla: 1; type: 'gather'; id: number; kind: string }
  /** this worker's answer to `collect` */
  | { catzilla: 1; type: 'collected'; id: number; data?: unknown; error?: string };

export type PrimaryMessage =
  /** close gracefully (in-flight requests get `timeout` ms), then exit */
  | { catzilla: 1; type: 'close'; timeout: number }
  /** answer `kind` from this worker's providers */
  | { catzilla: 1; type: 'collect'; id: number; kind: string }
  /** the answer to this worker's `gather` */
  | { catzilla: 1; type: 'gathered'; id: number; gathered: Gathered };

export function isMessage<T extends { catzilla: 1 }>(value: unknown): value is T {
  return typeof value === 'object' && value !== null && (value as { catzilla?: unknown }).catzilla === 1 && typeof (value as { type?: unknown }).type === 'string';
}

export function toWire(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { message: err.message, ...(typeof code === 'string' ? { code } : {}), ...(err.stack ? { stack: err.stack } : {}) };
  }
  return { message: String(err) };
}
