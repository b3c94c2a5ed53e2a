/**
 * metrics(): after known traffic (n finished streams of known size, k streams aborted by
 * the client, answers of known statuses on known routes), the Prometheus text, parsed by
 * the reference parser (Python's prometheus_client), and the JSON show exactly those
 * numbers; per-route sums agree with the core's 64-bit server counters; a live stream's
 * route counters move and never go down; Accept negotiation; token protection.
 */
import { expect } from 'chai';
import { App, HttpError, StreamingResponse, metrics, metricsRegistry, type MetricsSnapshot } from '../../ts/index.js';
import { ensurePrometheusParser, parsePrometheus, sampleValue, type PromFamily } from '../helpers/prometheus.js';
import { RawClient, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { withApp, type AppContext } from '../helpers/with-app.js';

const N_FINISHED = 5;
const K_ABORTED = 3;
const CHUNKS = 10;
const CHUNK = 1000;
const M_BYTES = N_FINISHED * CHUNKS * CHUNK;

/** Polls `pred` every 10 ms for at most `ms`. */
async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function setup(app: App): void {
  app.get('/metrics', metrics());
  app.get('/data/:n', (req) => new StreamingResponse(function* () {
    for (let i = 0; i < Number(req.params.n); i++) yield Buffer.alloc(CHUNK, 0x61 + (i % 26));
  }(), { contentType: 'application/octet-stream' }));
  app.get('/slow', () => new StreamingResponse(async function* () {
    for (let i = 0; i < 100_000; i++) {
      yield `tick ${i}\n`;
      await sleep(5);
    }
  }()));
  app.get('/ok', () => 'ok');
  app.get('/missing/:id', () => {
    throw new HttpError(404, 'no such thing');
  });
  app.get('/boom', () => {
    throw new Error('boom (expected by the test)');
  });
}

/** The known traffic; returns the body bytes the finished streams delivered. */
async function traffic(ctx: AppContext): Promise<number> {
  let received = 0;
  for (let i = 0; i < N_FINISHED; i++) {
    const res = await fetch(`${ctx.base}/data/${CHUNKS}`);
    expect(res.status).to.equal(200);
    received += (await res.arrayBuffer()).byteLength;
  }
  for (let i = 0; i < K_ABORTED; i++) {
    const client = await RawClient.connect(ctx.port);
    await client.send(requestBytes({ path: '/slow' }));
    await client.until(() => client.buffer.includes('tick 2\n'), 'a few ticks');
    client.destroy();
  }
  for (let i = 0; i < 4; i++) expect((await fetch(`${ctx.base}/ok`)).status).to.equal(200);
  for (let i = 0; i < 2; i++) expect((await fetch(`${ctx.base}/missing/${i}`)).status).to.equal(404);
  expect((await fetch(`${ctx.base}/boom`)).status).to.equal(500);
  expect((await fetch(`${ctx.base}/nowhere`)).status).to.equal(404);
  expect((await fetch(`${ctx.base}/ok`, { method: 'POST' })).status).to.equal(405);
  await until(() => ctx.app.stats().streamsAborted === K_ABORTED && ctx.app.stats().streamsActive === 0, 'the aborted streams to end');
  return received;
}

async function scrape(ctx: AppContext, query = '', init: RequestInit = {}): Promise<Response> {
  return fetch(`${ctx.base}/metrics${query}`, init);
}

describe('metrics: exact numbers after known traffic', function () {
  before(() => {
    ensurePrometheusParser(); // fails at once, saying why, when the tests' python lacks it
  });

  it('Prometheus text (parsed by prometheus_client) shows exactly the streams, bytes, close reasons and statuses sent', async () => {
    await withApp(setup, async (ctx) => {
      const received = await traffic(ctx);
      expect(received).to.equal(M_BYTES);
      const res = await scrape(ctx);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.equal('text/plain; version=0.0.4; charset=utf-8');
      const text = await res.text();
      const families = parsePrometheus(text);
      const v = (name: string, labels: Record<string, string> = {}) => sampleValue(families, name, labels);

      // Streams by outcome (core) and by close reason and route (transport).
      expect(v('catzilla_streams_started_total')).to.equal(N_FINISHED + K_ABORTED);
      expect(v('catzilla_streams_total', { outcome: 'completed' })).to.equal(N_FINISHED);
      expect(v('catzilla_streams_total', { outcome: 'aborted' })).to.equal(K_ABORTED);
      expect(v('catzilla_streams_total', { outcome: 'errored' })).to.equal(0);
      expect(v('catzilla_streams_total', { outcome: 'closed' })).to.equal(0);
      expect(v('catzilla_streams_total', { outcome: 'shed' })).to.equal(0);
      expect(v('catzilla_streams_active')).to.equal(0);
      expect(v('catzilla_stream_close_total', { route: '/data/:n', reason: 'finished' })).to.equal(N_FINISHED);
      expect(v('catzilla_stream_close_total', { route: '/slow', reason: 'client-closed' })).to.equal(K_ABORTED);
      expect(v('catzilla_stream_close_total', { route: '/data/:n', reason: 'client-closed' })).to.equal(undefined);
      expect(v('catzilla_stream_active', { route: '/slow' })).to.equal(0);

      // Bytes: the finished route's payload is exactly what the client received; the
      // core's 64-bit totals equal the per-route sums gathered in TypeScript.
      expect(v('catzilla_stream_bytes_total', { route: '/data/:n' })).to.equal(M_BYTES);
      const slowBytes = v('catzilla_stream_bytes_total', { route: '/slow' })!;
      expect(slowBytes).to.be.greaterThan(0);
      expect(v('catzilla_streams_bytes_total')).to.equal(M_BYTES + slowBytes);
      for (const [server, route] of [
        ['catzilla_streams_chunks_total', 'catzilla_stream_chunks_total'],
        ['catzilla_streams_writes_total', 'catzilla_stream_writes_total'],
        ['catzilla_streams_coalesced_writes_total', 'catzilla_stream_coalesced_writes_total'],
        ['catzilla_backpressure_events_total', 'catzilla_stream_backpressure_events_total'],
      ] as const) {
        expect(v(server), server).to.equal(v(route, { route: '/data/:n' })! + v(route, { route: '/slow' })!);
      }
      expect(v('catzilla_stream_chunks_total', { route: '/data/:n' })).to.equal(N_FINISHED * CHUNKS);
      expect(v('catzilla_stream_sent_bytes_total', { route: '/data/:n' })).to.be.greaterThan(M_BYTES); // chunked framing

      // Answers by route and status (transport), and by class (core).
      expect(v('catzilla_responses_total', { route: '/data/:n', status: '200' })).to.equal(N_FINISHED);
      expect(v('catzilla_responses_total', { route: '/slow', status: '200' })).to.equal(K_ABORTED);
      expect(v('catzilla_responses_total', { route: '/ok', status: '200' })).to.equal(4);
      expect(v('catzilla_responses_total', { route: '/missing/:id', status: '404' })).to.equal(2);
      expect(v('catzilla_responses_total', { route: '/boom', status: '500' })).to.equal(1);
      expect(v('catzilla_responses_total', { route: '(unmatched)', status: '404' })).to.equal(1);
      expect(v('catzilla_responses_total', { route: '(unmatched)', status: '405' })).to.equal(1);
      expect(v('catzilla_http_responses_total', { class: '2xx' })).to.equal(N_FINISHED + K_ABORTED + 4);
      expect(v('catzilla_http_responses_total', { class: '4xx' })).to.equal(4);
      expect(v('catzilla_http_responses_total', { class: '5xx' })).to.equal(1);
      const requests = N_FINISHED + K_ABORTED + 4 + 2 + 1 + 1 + 1 + 1; // the scrape itself is parsed before it is answered
      expect(v('catzilla_requests_total')).to.equal(requests);

      // Write latency: a histogram from the core's log2 buckets, in seconds.
      const latency = families.find((f) => f.name === 'catzilla_write_latency_seconds')!;
      expect(latency.type).to.equal('histogram');
      const buckets = latency.samples.filter((s) => s.name === 'catzilla_write_latency_seconds_bucket');
      expect(buckets).to.have.length(24);
      const counts = buckets.map((b) => b.value);
      expect(counts).to.deep.equal([...counts].sort((a, b) => a - b)); // cumulative
      const stats = ctx.app.stats();
      expect(v('catzilla_write_latency_seconds_count')).to.equal(stats.writeLatencyCount);
      expect(buckets.at(-1)!.labels.le).to.equal('+Inf');
      expect(buckets.at(-1)!.value).to.equal(stats.writeLatencyCount);
      expect(buckets[1]!.labels.le).to.equal('0.000001'); // bucket 1 counts writes < 2 µs, i.e. <= 1 µs
      expect(stats.writeLatencyCount).to.be.greaterThan(0);
      expect(v('catzilla_write_latency_seconds_sum')).to.be.closeTo(stats.writeLatencyTotalMicros / 1e6, 1e-9);

      // Conventions: HELP and TYPE on every family; counters end in _total; base units.
      const names = text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ') as [string, string, string, string]);
      expect(names.length).to.be.greaterThan(30);
      for (const [, , name, type] of names) {
        expect(name).to.match(/^catzilla_/);
        expect(text).to.include(`# HELP ${name} `);
        if (type === 'counter') expect(name, name).to.match(/_total$/);
        expect(name).not.to.match(/_(micro|milli)?seconds?_?(us|ms)|_kb|_mb/);
      }
    });
  });

  it('JSON: the same numbers in a documented shape', async () => {
    await withApp(setup, async (ctx) => {
      await traffic(ctx);
      const res = await scrape(ctx, '', { headers: { accept: 'application/json' } });
      expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      const snap = (await res.json()) as MetricsSnapshot;
      expect(snap).to.have.keys('time', 'server', 'writeLatency', 'routes', 'compression');
      expect(snap.server).to.include({ streamsCompleted: N_FINISHED, streamsAborted: K_ABORTED, streamsActive: 0, responses5xx: 1 });
      expect(snap.server).not.to.have.property('writeLatencyBuckets');
      const data = snap.routes['/data/:n']!;
      expect(data.closed).to.deep.equal({ finished: N_FINISHED, 'client-closed': 0, error: 0, timeout: 0, closed: 0, shed: 0 });
      expect(data.responses).to.deep.equal({ 200: N_FINISHED });
      expect(data.open).to.equal(0);
      expect(data.streams.bytes).to.equal(M_BYTES);
      expect(data.streams.chunks).to.equal(N_FINISHED * CHUNKS);
      expect(snap.routes['/slow']!.closed['client-closed']).to.equal(K_ABORTED);
      expect(snap.routes['(unmatched)']!.responses).to.deep.equal({ 404: 1, 405: 1 });
      expect(snap.server.streamBytes).to.equal(M_BYTES + snap.routes['/slow']!.streams.bytes);
      expect(snap.writeLatency.buckets).to.have.length(24);
      expect(snap.writeLatency.buckets.at(-1)).to.deep.equal({ le: '+Inf', count: snap.server.writeLatencyCount });
      expect(snap.writeLatency.buckets[0]).to.deep.equal({ le: 0, count: snap.writeLatency.buckets[0]!.count });
      expect(snap.compression).to.include.keys('bytesIn', 'bytesOut', 'byEncoding');
    });
  });

  it('format: Prometheus by default and for Prometheus scrapers, JSON when preferred or asked for', async () => {
    await withApp((app) => {
      app.get('/metrics', metrics());
      app.get('/m.json', metrics({ format: 'json' }));
      app.get('/m.prom', metrics({ format: 'prometheus' }));
    }, async (ctx) => {
      const type = async (path: string, accept?: string) => (await fetch(`${ctx.base}${path}`, accept === undefined ? {} : { headers: { accept } })).headers.get('content-type');
      const PROM = 'text/plain; version=0.0.4; charset=utf-8';
      const JSON_TYPE = 'application/json; charset=utf-8';
      expect(await type('/metrics')).to.equal(PROM);
      expect(await type('/metrics', '*/*')).to.equal(PROM);
      expect(await type('/metrics', 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1')).to.equal(PROM);
      expect(await type('/metrics', 'application/json')).to.equal(JSON_TYPE);
      expect(await type('/metrics?format=json')).to.equal(JSON_TYPE);
      expect(await type('/m.json')).to.equal(JSON_TYPE);
      expect(await type('/m.prom', 'application/json')).to.equal(PROM);
      expect(await type('/m.json?format=prometheus')).to.equal(PROM);
      expect((await fetch(`${ctx.base}/metrics?format=xml`)).status).to.equal(400);
    });
  });

  it('a live stream: its route counters move between scrapes, never go down, and the final count matches', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await withApp((app) => {
      app.get('/metrics', metrics());
      app.get('/live', () => new StreamingResponse(async function* () {
        for (let i = 0; i < 20; i++) {
          yield Buffer.alloc(100, 0x62);
          await sleep(5);
        }
        await gate;
        for (let i = 0; i < 20; i++) yield Buffer.alloc(100, 0x63);
      }()));
    }, async (ctx) => {
      const read = async (): Promise<PromFamily[]> => parsePrometheus(await (await scrape(ctx)).text());
      const client = await RawClient.connect(ctx.port);
      await client.send(requestBytes({ path: '/live' }));
      await until(() => ctx.app.stats().streamBytes >= 20 * 100, 'the first half');
      const during = await read();
      expect(sampleValue(during, 'catzilla_stream_active', { route: '/live' })).to.equal(1);
      expect(sampleValue(during, 'catzilla_streams_active')).to.equal(1);
      const mid = sampleValue(during, 'catzilla_stream_bytes_total', { route: '/live' })!;
      expect(mid).to.equal(20 * 100);
      release();
      await until(() => ctx.app.stats().streamsCompleted === 1, 'the stream to finish');
      const after = await read();
      expect(sampleValue(after, 'catzilla_stream_bytes_total', { route: '/live' })).to.equal(40 * 100);
      expect(sampleValue(after, 'catzilla_stream_active', { route: '/live' })).to.equal(0);
      expect(sampleValue(after, 'catzilla_stream_close_total', { route: '/live', reason: 'finished' })).to.equal(1);
      client.destroy();
    });
  });

  it('counters are set from the core at each scrape (a second scrape of the same registry shows the same values, not doubled)', async () => {
    await withApp((app) => {
      app.get('/metrics', metrics());
      app.get('/ok', () => 'ok');
    }, async (ctx) => {
      for (let i = 0; i < 3; i++) await fetch(`${ctx.base}/ok`);
      const registry = metricsRegistry(ctx.app);
      const first = parsePrometheus(await registry.metrics());
      const second = parsePrometheus(await registry.metrics());
      expect(sampleValue(first, 'catzilla_responses_total', { route: '/ok', status: '200' })).to.equal(3);
      expect(sampleValue(second, 'catzilla_responses_total', { route: '/ok', status: '200' })).to.equal(3);
      expect(sampleValue(second, 'catzilla_requests_total')).to.equal(sampleValue(first, 'catzilla_requests_total'));
      expect(metricsRegistry(ctx.app)).to.equal(registry); // one private registry per app
    });
  });

  it('protection: a token is required when given (401 without, 403 wrong, 200 with Bearer or ?token=); disabled -> 404', async () => {
    await withApp((app) => {
      app.get('/metrics', metrics({ token: 's3cret' }));
      app.get('/off', metrics({ enabled: false }));
      app.get('/by-header', metrics({ authorize: (req) => req.header('x-role') === 'ops' }));
    }, async (ctx) => {
      const missing = await fetch(`${ctx.base}/metrics`);
      expect(missing.status).to.equal(401);
      expect(missing.headers.get('www-authenticate')).to.equal('Bearer realm="catzilla"');
      expect((await fetch(`${ctx.base}/metrics`, { headers: { authorization: 'Bearer nope' } })).status).to.equal(403);
      expect((await fetch(`${ctx.base}/metrics`, { headers: { authorization: 'Bearer s3cret' } })).status).to.equal(200);
      expect((await fetch(`${ctx.base}/metrics?token=s3cret`)).status).to.equal(200);
      expect((await fetch(`${ctx.base}/off`)).status).to.equal(404);
      expect((await fetch(`${ctx.base}/by-header`)).status).to.equal(403);
      expect((await fetch(`${ctx.base}/by-header`, { headers: { 'x-role': 'ops' } })).status).to.equal(200);
    });
  });

  it('one handler per app: mounting it on a second app throws; an unmounted handler needs { app }', async () => {
    const handler = metrics();
    const a = new App();
    a.get('/metrics', handler);
    expect(() => new App().get('/metrics', handler)).to.throw(TypeError, /another App/);
    const b = new App({ logger: { error: () => {} } });
    const loose = metrics();
    const given = metrics({ app: b });
    b.get('/wrapped', (req) => loose(req));
    b.get('/given', (req) => given(req));
    const { port } = await b.listen({ host: '127.0.0.1', port: 0 });
    try {
      expect((await fetch(`http://127.0.0.1:${port}/wrapped`)).status).to.equal(500);
      const res = await within(fetch(`http://127.0.0.1:${port}/given`), 5000, 'scrape');
      expect(res.status).to.equal(200);
      expect(await res.text()).to.include('catzilla_responses_total{route="/wrapped",status="500"} 1');
    } finally {
      await b.close();
    }
  });
});
