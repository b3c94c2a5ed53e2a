/**
 * Edge cases of the allocation-lean paths: the shared idle flush of partial batches of async
 * sources (one setImmediate for every pump), a pump stopped while queued for it, lazily built
 * final counters, and the callback-driven Channel subscriber.
 */
import { expect } from 'chai';
import { StreamingResponse } from '../../ts/streaming/index.js';
import { fakeApp, turns, until } from '../helpers/fake-native.js';

describe('streaming: lean paths', () => {
  it('flushes the partial batches of several slow async sources at the next check phase, skipping a cancelled one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let cancelled = 0;
    const t = fakeApp(({ route }) => route('GET', '/', () => new StreamingResponse(async function* () {
      try {
        yield 'first';
        await gate;
        yield 'second';
      } finally {
        cancelled++;
      }
    }())));
    const a = t.send('GET', '/');
    const b = t.send('GET', '/');
    const c = t.send('GET', '/');
    for (let i = 0; i < 20; i++) await null; // microtasks only: 'first' is batched, the flush not run yet
    expect(t.fake.streams.has(a)).to.equal(false); // nothing written yet: the batch waits for the check phase
    t.fake.disconnect(b); // b stops while its partial batch waits for the shared flush
    await turns(3);
    expect(t.fake.text(a)).to.equal('first');
    expect(t.fake.text(c)).to.equal('first');
    release();
    await until(() => t.fake.streams.get(a)!.calls.at(-1) === 'end' && t.fake.streams.get(c)!.calls.at(-1) === 'end', 'both ended');
    expect(t.fake.text(a)).to.equal('firstsecond');
    expect(t.fake.text(c)).to.equal('firstsecond');
    await until(() => cancelled === 3, 'every generator finished');
  });

  it('builds the final counters when asked after the end (stats, onClose listeners)', async () => {
    let res!: StreamingResponse;
    let listenerStats: unknown = null;
    const t = fakeApp(({ route }) => route('GET', '/', () => {
      res = new StreamingResponse(['abc', 'def']);
      res.onClose((_r, s) => (listenerStats = s));
      return res;
    }));
    t.send('GET', '/');
    await turns(3);
    expect(res.closeReason).to.equal('finished');
    expect(res.stats.bytes).to.equal(6);
    expect(res.stats).to.equal(res.stats); // one snapshot
    expect((listenerStats as { bytes: number }).bytes).to.equal(6);
    let late: unknown = null;
    res.onClose((_r, s) => (late = s));
    await turns(1);
    expect(late).to.equal(res.stats);
  });
});
