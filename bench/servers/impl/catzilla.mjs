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
// /sse is not served yet (404 -> "n/a").
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as c from './common.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const entry = process.env.CATZILLA_ENTRY || path.join(root, 'dist/index.js');
const catzilla = await import(pathToFileURL(entry).href);
const { App, StreamingResponse } = catzilla;

const app = new App({ keepAliveTimeout: 60_000 });

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
registerSseRoutes(app);
registerGzipRoutes(app);
registerWsRoutes(app);

await app.listen({ port: c.port(), host: c.HOST });
c.onStop(() => app.close({ timeout: 1000 }));

// ---- /file and /mixed (issue 5): only registered when the driver passes BENCH_FILE ----
function registerFileRoutes(app) {
  const file = c.benchFile();
  if (!file) return;
  const { sendFile, sendRegions, fileRegion } = catzilla;
  const { MIXED_HEADER, MIXED_FOOTER } = c;
  app.get('/file', sendFile(file, { contentType: 'application/octet-stream' }));
  app.get('/mixed', (req) => sendRegions(req, [MIXED_HEADER, fileRegion(file), MIXED_FOOTER], { contentType: 'application/octet-stream' }));
}

// ---- /sse, POST /publish and /gzip-rows (issue 4) ----
// /sse: a Channel subscriber. The bench contract counts bytes exactly ("data: <12 digits>\n\n"
// after ": subscribed\n\n"), so this channel sends no ids and no heartbeats; everything else is
// the production path: one serialization per event, one Buffer shared by every subscriber queue.
function registerSseRoutes(app) {
  const { Channel } = catzilla;
  const channel = new Channel({ ids: false, replay: 0, sse: { heartbeat: 0, comment: 'subscribed' } });
  app.get('/sse', (req) => channel.subscribe(req));
  app.post('/publish', async (req) => {
    const n = c.intParam(req.query.get('n'), 1, c.MAX_EVENTS);
    const subscribers = channel.size;
    for (let i = 0; i < n; i++) channel.publish({ data: String(i).padStart(12, '0') });
    return { subscribers };
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
