/**
 * The pieces of workers mode that need no process: the restart backoff, the settings' checks,
 * the key-by-key merge of the workers' JSON snapshots, and listen() options outside a worker.
 */
import { expect } from 'chai';
import os from 'node:os';
import { App } from '../../ts/index.js';
import { mergeInto, sumStats } from '../../ts/metrics/cluster.js';
import { Backoff } from '../../ts/workers/backoff.js';
import { clusterSettings, workerCount } from '../../ts/workers/options.js';

describe('workers: units', () => {
  it('Backoff doubles per death up to its maximum, and starts over after a stable run', () => {
    const b = new Backoff(100, 1000, 5000);
    expect([b.next(0), b.next(10), b.next(4999), b.next(0), b.next(0), b.next(0)]).to.deep.equal([100, 200, 400, 800, 1000, 1000]);
    expect(b.next(5000)).to.equal(100);
    expect(b.next(0)).to.equal(200);
  });

  it('workers: a count or auto; the cluster settings are checked', () => {
    expect(workerCount('auto')).to.equal(os.availableParallelism());
    expect(workerCount(3)).to.equal(3);
    for (const bad of [0, -1, 1.5, '2', null]) expect(() => workerCount(bad), String(bad)).to.throw(TypeError, /workers/);
    expect(clusterSettings()).to.deep.equal({ closeTimeout: 5000, startTimeout: 30000, restartDelay: 100, maxRestartDelay: 10000, stableAfter: 10000, gatherTimeout: 1000, signals: true });
    expect(() => clusterSettings({ restartDelay: 0 })).to.throw(TypeError, /restartDelay/);
    expect(() => clusterSettings({ closeTimeout: -1 })).to.throw(TypeError, /closeTimeout/);
    expect(() => clusterSettings({ signals: 'yes' as unknown as boolean })).to.throw(TypeError, /signals/);
  });

  it('merges snapshots key by key: sums, the largest peak, bucket bounds and time kept', () => {
    const a = { time: 1, server: { requests: 2, peakQueuedBytes: 10 }, buckets: [{ le: 0.001, count: 1 }, { le: '+Inf', count: 2 }], routes: { '/a': { responses: { 200: 1 } } } };
    const b = { time: 2, server: { requests: 3, peakQueuedBytes: 7 }, buckets: [{ le: 0.001, count: 4 }, { le: '+Inf', count: 5 }], routes: { '/a': { responses: { 200: 2, 404: 1 } }, '/b': { responses: { 200: 1 } } } };
    const out = mergeInto(mergeInto({}, structuredClone(a)), structuredClone(b));
    expect(out).to.deep.equal({
      time: 1, server: { requests: 5, peakQueuedBytes: 10 }, buckets: [{ le: 0.001, count: 5 }, { le: '+Inf', count: 7 }],
      routes: { '/a': { responses: { 200: 3, 404: 1 } }, '/b': { responses: { 200: 1 } } },
    });
    const stats = sumStats([{ worker: 1, pid: 1, data: { requests: 1, writeLatencyBuckets: [1, 2] } }, { worker: 2, pid: 2, data: { requests: 2, writeLatencyBuckets: [3, 4, 5] } }]);
    expect(stats).to.deep.include({ requests: 3, writeLatencyBuckets: [4, 6, 5] });
  });

  it('outside a worker, restartWorkers() rejects and workers() is empty; a bad workers option is a TypeError before anything starts', async () => {
    const app = new App();
    expect(app.workers()).to.deep.equal([]);
    await app.restartWorkers().then(() => expect.fail('resolved'), (err: { code?: string }) => expect(err.code).to.equal('ENOTPRIMARY'));
    await app.listen({ port: 0, host: '127.0.0.1', workers: 0 }).then(() => expect.fail('resolved'), (err: Error) => expect(err).to.be.instanceOf(TypeError));
    await app.close();
  });
});
