// Peer: catzilla. Imports the compiled package (dist/index.js); the `catzilla` wrapper falls back to
// ts/index.ts under tsx when dist/ is missing (CATZILLA_ENTRY tells which file to import).
//
// Streaming endpoints follow the contract in bench/README.md ("Endpoint contract"):
//   /small     10 chunks of 16 bytes from an async generator (common.mjs smallChunks)
//   /rows?n=N  NDJSON, one line per yield from the shared plain generator (every peer uses it):
//              the framework pulls it in batches while the socket can take more.
//   /bulk?mb=M 64 KiB chunks from a generator; fresh=1 yields a new copy of each chunk
// /file and /sse are not served yet (404 -> "n/a").
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as c from './common.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const entry = process.env.CATZILLA_ENTRY || path.join(root, 'dist/index.js');
const { App, StreamingResponse } = await import(pathToFileURL(entry).href);

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

await app.listen({ port: c.port(), host: c.HOST });
c.onStop(() => app.close({ timeout: 1000 }));
