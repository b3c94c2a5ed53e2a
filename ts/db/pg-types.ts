/**
 * The parts of node-postgres (`pg`) the helpers use, typed structurally: an application passes
 * its own `pg.Pool`, and catzilla needs neither pg's types nor pg itself at import.
 */

/** A pooled client (`await pool.connect()`). */
export interface PgClient {
  query(text: string, values?: unknown[]): Promise<unknown>;
  query<T extends object>(submittable: T): T;
  /** Returns the client to its pool; an error (or true) destroys it instead. */
  release(err?: Error | boolean): void;
  /** Set by pg once connected: what a CancelRequest names. */
  readonly processID?: number | null;
  readonly secretKey?: number | null;
  readonly host?: string;
  readonly port?: number;
}

/** A `pg.Pool` (or anything with the same connect()). */
export interface PgPool {
  connect(): Promise<PgClient>;
}

export function checkPool(pool: unknown, what: string): PgPool {
  if (typeof pool !== 'object' || pool === null || typeof (pool as PgPool).connect !== 'function') {
    throw new TypeError(`${what} needs a pg.Pool (an object with connect()), got ${pool === null ? 'null' : typeof pool}`);
  }
  return pool as PgPool;
}
