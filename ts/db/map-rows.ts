/** An async iterable of `fn(row)` over `rows`; stopping early stops `rows` (its return()). */
const DONE: IteratorResult<never, undefined> = Object.freeze({ done: true, value: undefined });

export function mapRows<R, T>(rows: AsyncIterable<R>, fn: (row: R) => T): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const it = rows[Symbol.asyncIterator]();
      return {
        next: async () => {
          const r = await it.next();
          return r.done ? DONE : { done: false, value: fn(r.value) };
        },
        return: async () => {
          await it.return?.();
          return DONE;
        },
      };
    },
  };
}
