/**
 * ndjson / csv / jsonArray over an async source stop the source at once when the response
 * stops, even while the source's next() is pending (a database fetch): the encoder passes
 * return() through instead of waiting for that next() as an async generator would.
 */
import { expect } from 'chai';
import { csv, encodeRecords, jsonArray, ndjson } from '../../ts/index.js';
import { RawClient, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { withApp } from '../helpers/with-app.js';

/** Yields `first` items, then a next() that never settles; records when return() is called. */
function stuckSource(first: number, log: string[]): AsyncIterable<{ i: number }> {
  return {
    [Symbol.asyncIterator]() {
      let i = 0;
      return {
        next: () => (i < first ? Promise.resolve({ done: false, value: { i: i++ } }) : new Promise<IteratorResult<{ i: number }>>(() => {})),
        return: async () => {
          log.push('return');
          return { done: true, value: undefined };
        },
      };
    },
  };
}

describe('formats: cancelling an async source with a pending next()', () => {
  it('return() of the encoded records reaches the source at once', async () => {
    const log: string[] = [];
    const it = (encodeRecords(stuckSource(1, log), (x) => JSON.stringify(x)) as AsyncIterable<string>)[Symbol.asyncIterator]();
    expect((await it.next()).value).to.equal('{"i":0}');
    const pending = it.next();
    await within(it.return!(), 100, 'return()');
    expect(log).to.deep.equal(['return']);
    expect(await within(pending, 100, 'the pending next()').catch(() => 'never')).to.equal('never');
  });

  for (const [name, make] of [
    ['ndjson', (src: AsyncIterable<any>) => ndjson(src)],
    ['csv', (src: AsyncIterable<any>) => csv(src)],
    ['jsonArray', (src: AsyncIterable<any>) => jsonArray(src)],
  ] as const) {
    it(`${name}: a client that disconnects while the source waits calls its return() at once`, async () => {
      const log: string[] = [];
      await withApp(
        (app: any) => app.get('/x', () => make(stuckSource(3, log))),
        async ({ port }) => {
          const client = await RawClient.connect(port);
          await client.send(requestBytes({ path: '/x' }));
          await client.until(() => client.buffer.includes('2'), 'the first records');
          await sleep(50);
          expect(log).to.deep.equal([]);
          client.destroy();
          const t0 = performance.now();
          while (log.length === 0 && performance.now() - t0 < 1000) await sleep(2);
          expect(log).to.deep.equal(['return']);
          expect(performance.now() - t0).to.be.below(100);
        },
      );
    });
  }
});
