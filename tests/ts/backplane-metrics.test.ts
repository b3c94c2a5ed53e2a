/**
 * The backplane on /metrics: catzilla_backplane_* series (label `backplane`: the URL without its
 * password, and the key prefix) follow a real redis-server through publishes, deliveries, a Redis
 * that goes away (connected 0, publish errors counted) and comes back (connected 1, reconnects).
 * Parsed by Python's prometheus_client.
 */
import { expect } from 'chai';
import { App, Channel, metrics, redisBackplane, type RedisBackplane } from '../../ts/index.js';
import { eventually } from '../helpers/backplane-child.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { redisForSuite } from '../helpers/redis.js';
import { connectSSE } from '../helpers/sse-client.js';
import { startApp } from '../helpers/with-app.js';

describe('backplane: metrics', function () {
  this.timeout(60_000);
  const suite = redisForSuite();

  it('catzilla_backplane_* count publishes, deliveries, publish errors and reconnects, and show the connection state', async () => {
    let bp!: RedisBackplane;
    let channel!: Channel;
    const ctx = await startApp((app: App) => {
      bp = redisBackplane({ url: suite.redis.url.replace('redis://', 'redis://default:s3cret@'), app, publishTimeout: 500, maxReconnectDelay: 100 });
      channel = new Channel({ name: 'metered', backplane: bp, sse: { heartbeat: 0 } });
      app.get('/events', (req) => channel.subscribe(req));
      app.get('/metrics', metrics());
    });
    suite.cleanup.push(() => ctx.close());
    const label = { backplane: `redis://default:***@127.0.0.1:${suite.redis.port} catzilla` };
    const scrape = async () => parsePrometheus(await (await fetch(`${ctx.base}/metrics`)).text());

    const sub = await connectSSE(`${ctx.base}/events`);
    suite.cleanup.push(() => sub.close());
    await eventually(() => channel.size === 1, 'the subscriber');
    for (let i = 0; i < 3; i++) await channel.publish(`e${i}`);
    await sub.waitEvents(3);
    let m = await scrape();
    expect(sampleValue(m, 'catzilla_backplane_connected', label)).to.equal(1);
    expect(sampleValue(m, 'catzilla_backplane_published_total', label)).to.equal(3);
    expect(sampleValue(m, 'catzilla_backplane_delivered_total', label)).to.equal(3);
    expect(sampleValue(m, 'catzilla_backplane_keys', label)).to.equal(1);
    expect(sampleValue(m, 'catzilla_backplane_publish_errors_total', label)).to.equal(0);
    expect(sampleValue(m, 'catzilla_backplane_reader_lag_seconds', label)).to.be.at.least(0);
    expect(JSON.stringify(m)).to.not.contain('s3cret');

    await suite.redis.kill();
    await eventually(async () => sampleValue(await scrape(), 'catzilla_backplane_connected', label) === 0, 'connected 0', 10_000);
    const failed = await channel.publish('lost').then(() => null, (err: unknown) => err as Error);
    expect(failed).to.be.an('error');
    m = await scrape();
    expect(sampleValue(m, 'catzilla_backplane_publish_errors_total', label)).to.equal(1);

    await suite.redis.start();
    await eventually(async () => sampleValue(await scrape(), 'catzilla_backplane_connected', label) === 1, 'connected 1 again', 20_000);
    m = await scrape();
    expect(sampleValue(m, 'catzilla_backplane_reconnects_total', label)).to.be.at.least(1);
    await channel.publish('after');
    await eventually(async () => sampleValue(await scrape(), 'catzilla_backplane_delivered_total', label) === 4, 'the 4th delivery', 10_000);

    await ctx.close();
  });
});
