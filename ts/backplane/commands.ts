/**
 * The few Redis calls the backplane's two connections share, and the shape of a node-redis
 * client as the backplane uses it (node-redis itself is loaded only when a backplane connects).
 */
import { BackplaneError } from './types.js';

/** A node-redis 5 client, as far as the backplane uses one. */
export type RedisClientLike = {
  isReady: boolean;
  isOpen: boolean;
  connect(): Promise<unknown>;
  destroy(): void;
  close(): Promise<void>;
  duplicate(): RedisClientLike;
  on(event: string, fn: (arg: any) => void): unknown;
  sendCommand<T = unknown>(args: ReadonlyArray<string | Buffer>, options?: { timeout?: number; typeMapping?: Record<number, unknown> }): Promise<T>;
};

/** @internal The seq of the last entry of `key` (0 when empty or absent). */
export async function lastSeqOf(client: RedisClientLike, key: string, timeout?: number): Promise<number> {
  const reply = await client.sendCommand<Array<[string, unknown]>>(['XREVRANGE', key, '+', '-', 'COUNT', '1'], timeout === undefined ? undefined : { timeout });
  if (!Array.isArray(reply) || reply.length === 0) return 0;
  const id = String(reply[0]![0]);
  const m = /^0-(\d+)$/.exec(id);
  if (m === null) throw new BackplaneError(`the stream ${key} holds an entry ${id} that no catzilla backplane wrote (ids are 0-<n>)`);
  return Number(m[1]);
}

/** `promise`, or a rejection with `late()` after `ms` (the promise's own outcome is then ignored). */
export function settleWithin<T>(promise: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  promise.catch(() => {}); // settled after the deadline: nobody is waiting for it any more
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
