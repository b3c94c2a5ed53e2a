// Peer: catzilla. Imports the compiled package (dist/index.js); the `catzilla` wrapper falls back to
// ts/index.ts under tsx when dist/ is missing (CATZILLA_ENTRY tells which file to import).
//
// Streaming endpoints follow the contract in bench/README.md ("Endpoint contract"):
//   /small     10 chunks of 16 bytes from an async generator (common.mjs smallChunks)
//   /rows?n=N  NDJSON, one line per yield from the shared plain generator (every peer uses it):
//              the framework pulls it in batches while the socket can take more.
//   /bulk?mb=M 64 KiB chunks from a generator; fresh=1 yields a new copy of each chunk
//   /file      the file at $BENCH_FILE via sendFile (sendfile in the core, Content-Length, ranges)
//   /mixed     a memory header + the $BENCH_FILE file + a memory footer (sendRegions), same bytes path
//   /sse       a Channel subscriber (no ids, no heartbeat), POST /publish?n=N
//   POST /upload  req.multipart(): each file part streamed to a temporary directory (common.mjs saveAndHash)
// As bench/servers/catzilla-cluster (CATZILLA_BENCH_WORKERS set): the same routes served by that
// many worker processes on one port (SO_REUSEPORT), and with REDIS_URL, /sse and /publish go
// through the Redis backplane; plus the scale-out routes (bench/README.md "Scale-out"):
//   /pid                      the serving process's pid
//   /sse-ids                  a Channel with ids and a replay window (resumable with Last-Event-ID)
//   POST /publish-ids?n=N&rate=R&from=S  N events "<seq> <publish time in us>" (seq from S), R per second (0: at once)
//   /pg/rows?n=N      (with PG_URL) NDJSON over generate_series(1, N): id, name, score, ok, created;
//                     mode=copy (default: pgCopyNdjson, each line made by the server's row_to_json) or
//                     mode=cursor (pgQuery + ndjson: rows parsed by pg, batches paced by the socket;
//                     PG_BATCH=N sets batchSize, default pgQuery's 1,000)
//   /pg/rows.csv?n=N  (with PG_URL) CSV by COPY (pgCopyCsv), header line first
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as c from './common.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const entry = process.env.CATZILLA_ENTRY || path.join(root, 'dist/index.js');
const catzilla = await import(pathToFileURL(entry).href);
const { App, StreamingResponse } = catzilla;

// maxBodySize: the upload workloads send 1 GiB bodies.
const app = new App({ keepAliveTimeout: 60_000, maxBodySize: 4 * 1024 * 1024 * 1024 });
const workersEnv = process.env.CATZILLA_BENCH_WORKERS;
const workers = workersEnv ? (workersEnv === 'auto' ? 'auto' : Number(workersEnv)) : undefined;
const redisUrl = workers !== undefined && process.env.REDIS_URL ? process.env.REDIS_URL : undefined;
const backplane = redisUrl ? catzilla.redisBackplane({ url: redisUrl, app }) : undefined;

app.get('/hello', () => c.HELLO);

app.get('/small', () => new StreamingResponse(c.smallChunks(), { contentType: 'application/octet-stream' }));

app.get('/rows', (req) => {
  const n = c.intParam(req.query.get('n'), 1000, c.MAX_ROWS);
  return new StreamingResponse(c.rows(n), { contentType: 'application/x-ndjson' });
});

app.get('/bulk', (req) => {
  const mb = c.intParam(req.query.get('mb'), 1, c.MAX_MB);
  return new StreamingResponse(c.bulk(mb, req.query.get('fresh') === '1'), { contentType: 'application/octet-stream' });
});

registerFileRoutes(app);
await registerPgRoutes(app);
registerSseRoutes(app);
registerGzipRoutes(app);
registerWsRoutes(app);
registerUploadRoute(app);

registerScaleOutRoutes(app);

if (workers !== undefined) {
  // the primary handles SIGTERM / SIGINT itself: every worker closes gracefully
  await app.listen({ port: c.port(), host: c.HOST, workers, ...(process.env.BACKLOG ? { backlog: Number(process.env.BACKLOG) } : {}) });
} else {
  await app.listen({ port: c.port(), host: c.HOST });
  c.onStop(() => app.close({ timeout: 1000 }));
}

// ---- /file and /mixed (issue 5): only registered when the driver passes BENCH_FILE ----
function registerFileRoutes(app) {
  const file = c.benchFile();
  if (!file) return;
  const { sendFile, sendRegions, fileRegion } = catzilla;
  const { MIXED_HEADER, MIXED_FOOTER } = c;
  app.get('/file', sendFile(file, { contentType: 'application/octet-stream' }));
  app.get('/mixed', (req) => sendRegions(req, [MIXED_HEADER, fileRegion(file), MIXED_FOOTER], { contentType: 'application/octet-stream' }));
}

// ---- /pg/rows and /pg/rows.csv (issue 17): only registered when PG_URL is set ----
async function registerPgRoutes(app) {
  const url = process.env.PG_URL;
  if (!url) return;
  const { createRequire } = await import('node:module');
  const pg = createRequire(entry)('pg');
  const { pgRowsSql, PG_MAX_ROWS } = await import('./pg-sql.mjs');
  const { ndjson, pgQuery, pgCopyNdjson, pgCopyCsv, pgSocket } = catzilla;
  // The pool on pgSocket (reads into one reused buffer per connection), as the README shows;
  // PG_PLAIN_SOCKETS=1 (or a checkout without it, catzilla-ref): pg's own sockets.
  const sockets = pgSocket && process.env.PG_PLAIN_SOCKETS !== '1' ? { stream: pgSocket } : {};
  const pool = new pg.Pool({ connectionString: url, max: Number(process.env.PG_POOL_MAX || 16), ...sockets });
  pool.on('error', () => {});
  const mode = process.env.PG_ROWS_MODE || 'copy';
  app.get('/pg/rows', (req) => {
    const n = c.intParam(req.query.get('n'), 1000, PG_MAX_ROWS);
    if ((req.query.get('mode') || mode) === 'cursor') return ndjson(pgQuery(pool, pgRowsSql(n), [], process.env.PG_BATCH ? { batchSize: Number(process.env.PG_BATCH) } : {}));
    return pgCopyNdjson(pool, pgRowsSql(n));
  });
  const flow = process.env.PG_HWM ? { highWaterMark: Number(process.env.PG_HWM), lowWaterMark: Number(process.env.PG_HWM) / 4 } : {};
  app.get('/pg/mem', () => process.memoryUsage()); // diagnostics: JS heap, external and ArrayBuffers vs RSS
  app.get('/pg/rows.csv', (req) => pgCopyCsv(pool, pgRowsSql(c.intParam(req.query.get('n'), 1000, PG_MAX_ROWS)), flow));
  c.onStop(() => pool.end());
}

// ---- /sse, POST /publish and /gzip-rows (issue 4) ----
// /sse: a Channel subscriber. The bench contract counts bytes exactly ("data: <12 digits>\n\n"
// after ": subscribed\n\n"), so this channel sends no ids and no heartbeats; everything else is
// the production path: one serialization per event, one Buffer shared by every subscriber queue.
function registerSseRoutes(app) {
  const { Channel } = catzilla;
  const channel = backplane
    ? new Channel({ name: 'bench-sse', backplane, ids: false, replay: 1000, sse: { heartbeat: 0, comment: 'subscribed' } })
    : new Channel({ ids: false, replay: 0, sse: { heartbeat: 0, comment: 'subscribed' } });
  app.get('/sse', (req) => channel.subscribe(req));
  app.post('/publish', async (req) => {
    const n = c.intParam(req.query.get('n'), 1, c.MAX_EVENTS);
    const subscribers = channel.size;
    for (let i = 0; i < n; i++) channel.publish({ data: String(i).padStart(12, '0') });
    return { subscribers };
  });
}

// ---- scale-out (bench/scaleout.mjs): /pid, /sse-ids, POST /publish-ids ----
function registerScaleOutRoutes(app) {
  const { Channel } = catzilla;
  app.get('/pid', () => String(process.pid));
  const channel = backplane
    ? new Channel({ name: 'bench-ids', backplane, replay: 100_000, sse: { heartbeat: 0 } })
    : new Channel({ replay: 100_000, replayBytes: 64 * 1024 * 1024, sse: { heartbeat: 0 } });
  app.get('/sse-ids', (req) => channel.subscribe(req, { comment: `pid ${process.pid}` }));
  app.post('/publish-ids', async (req) => {
    const n = c.intParam(req.query.get('n'), 1, c.MAX_EVENTS);
    const rate = c.intParam(req.query.get('rate'), 0, 1_000_000);
    const from = c.intParam(req.query.get('from'), 0, c.MAX_EVENTS);
    const { results, ms } = await c.publishPaced(n, rate, from, (data) => channel.publish({ data }));
    await Promise.all(results);
    return { published: n, subscribers: channel.size, ms };
  });
}

// /gzip-rows: the /rows generator through compress() (scoped to this path).
function registerGzipRoutes(app) {
  const { compress } = catzilla;
  app.use('/gzip-rows', compress({ encodings: ['gzip'] }));
  app.get('/gzip-rows', (req) => {
    const n = c.intParam(req.query.get('n'), 1000, c.MAX_ROWS);
    return new StreamingResponse(c.rows(n), { contentType: 'application/x-ndjson' });
  });
}

// ---- /ws and /ws-publish (ws-broadcast): one room, every subscriber in it ----
// The room's policy is 'queue' so that no message is dropped (the workload counts every byte);
// 1,000 messages of 14 bytes stay far below a subscriber's high watermark anyway.
function registerWsRoutes(app) {
  const room = app.room('bench');
  room.policy = 'queue';
  app.ws('/ws', {
    open: (ws) => {
      ws.send('subscribed');
      ws.join(room);
    },
  });
  app.all('/ws-publish', (req) => {
    const n = c.intParam(req.query.get('n'), 1, c.MAX_EVENTS);
    const subscribers = room.size;
    for (let i = 0; i < n; i++) room.broadcast(c.wsMessage(i));
    return { subscribers };
  });
  // ws-broadcast-deflate: the same with permessage-deflate and ~200-byte JSON messages (a message
  // is compressed once per broadcast: no context takeover, the default)
  const zroom = app.room('bench-deflate');
  zroom.policy = 'queue';
  app.ws('/wsz', {
    perMessageDeflate: { threshold: 64 },
    open: (ws) => {
      ws.send('subscribed');
      ws.join(zroom);
    },
  });
  app.all('/wsz-publish', (req) => {
    const n = c.intParam(req.query.get('n'), 1, c.MAX_EVENTS);
    const subscribers = zroom.size;
    for (let i = 0; i < n; i++) zroom.broadcast(c.wsJsonMessage(i));
    return { subscribers };
  });
}

// ---- POST /upload (issue 16): parts as they arrive, each file streamed to disk and hashed ----
function registerUploadRoute(app) {
  app.post('/upload', async (req) => {
    const dir = await c.uploadDir();
    try {
      const files = [];
      const fields = {};
      for await (const part of req.multipart()) {
        if (part.kind === 'field') {
          fields[part.name] = part.value;
          continue;
        }
        const saved = await c.saveAndHash(part.stream, `${dir}/${files.length}`);
        files.push({ field: part.name, filename: part.filename, ...saved });
      }
      return { files, fields };
    } finally {
      await c.removeUploadDir(dir);
    }
  });
}
