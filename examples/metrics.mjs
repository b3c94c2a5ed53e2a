// examples/metrics.mjs: Prometheus metrics, live stream introspection and a live dashboard.
//
//   node examples/metrics.mjs
//   curl http://127.0.0.1:3000/metrics                      # Prometheus text
//   curl -H 'Accept: application/json' http://127.0.0.1:3000/metrics
//   curl -N http://127.0.0.1:3000/ticker &                  # a slow stream to look at
//   curl -H 'Authorization: Bearer let-me-in' http://127.0.0.1:3000/debug/streams
//   open http://127.0.0.1:3000/debug/dashboard?token=let-me-in
import { App, StreamingResponse, compress, dashboard, metrics, streamsIntrospection } from '../dist/index.js';

const token = process.env.DEBUG_TOKEN ?? 'let-me-in';
const app = new App();
app.use(compress());

app.get('/metrics', metrics());                                              // open, like most scrape targets
app.get('/debug/streams', streamsIntrospection({ enabled: true, token }));   // off unless enabled
app.get('/debug/dashboard', dashboard({ enabled: true, token }));            // also mounts /debug/dashboard/events

app.get('/ticker', () => new StreamingResponse(async function* () {
  for (let i = 0; ; i++) {
    yield `tick ${i} ${new Date().toISOString()}\n`;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}(), { contentType: 'text/plain; charset=utf-8' }));

app.get('/rows/:n', (req) => new StreamingResponse(function* () {
  for (let i = 0; i < Number(req.params.n); i++) yield JSON.stringify({ id: i, name: `row ${i}` }) + '\n';
}(), { contentType: 'application/x-ndjson' }));

const { port } = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
console.log(`metrics:   http://127.0.0.1:${port}/metrics`);
console.log(`streams:   http://127.0.0.1:${port}/debug/streams?token=${token}`);
console.log(`dashboard: http://127.0.0.1:${port}/debug/dashboard?token=${token}`);
process.once('SIGINT', () => app.close());
