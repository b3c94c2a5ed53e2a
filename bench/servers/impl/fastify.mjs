// Peer: fastify with its idiomatic stream replies (reply.send(Readable)) and @fastify/static.
import path from 'node:path';
import { Readable, PassThrough } from 'node:stream';
import Fastify from 'fastify';
import fastifyStatic from '@fastify/static';
import fastifyCompress from '@fastify/compress';
import fastifyMultipart from '@fastify/multipart';
import * as c from './common.mjs';

const app = Fastify({ logger: false, keepAliveTimeout: 60_000 });

app.get('/hello', async (_req, reply) => {
  reply.type('text/plain; charset=utf-8');
  return c.HELLO;
});

app.get('/small', (_req, reply) => {
  reply.type('application/octet-stream').send(Readable.from(c.smallChunks(), { objectMode: false }));
});

app.get('/rows', (req, reply) => {
  const n = c.intParam(req.query.n, 1000, c.MAX_ROWS);
  reply.type('application/x-ndjson').send(Readable.from(c.rows(n), { objectMode: false }));
});

app.get('/bulk', (req, reply) => {
  const mb = c.intParam(req.query.mb, 1, c.MAX_MB);
  reply.type('application/octet-stream').send(Readable.from(c.bulk(mb, req.query.fresh === '1'), { objectMode: false }));
});

const file = c.benchFile();
if (file) {
  await app.register(fastifyStatic, { root: path.dirname(path.resolve(file)), serve: false });
  const base = path.basename(file);
  app.get('/file', (_req, reply) => reply.sendFile(base));
}

const subscribers = new Set();
app.get('/sse', (req, reply) => {
  const stream = new PassThrough();
  stream.write(c.SSE_HELLO);
  subscribers.add(stream);
  req.raw.on('close', () => { subscribers.delete(stream); stream.destroy(); });
  reply.header('Cache-Control', 'no-cache').type('text/event-stream').send(stream);
});

app.post('/publish', async (req) => {
  const n = c.intParam(req.query.n, 1, c.MAX_EVENTS);
  const count = subscribers.size;
  for (let i = 0; i < n; i++) {
    const ev = c.sseEvent(i);
    for (const s of subscribers) s.write(ev);
  }
  return { subscribers: count };
});

// gzip-rows: the /rows stream through @fastify/compress, registered in its own scope so no
// other route is compressed.
await app.register(async (scope) => {
  // application/x-ndjson is not in mime-db's compressible list: customTypes opts it in.
  await scope.register(fastifyCompress, { encodings: ['gzip'], threshold: 1024, customTypes: /^application\/x-ndjson$/ });
  scope.get('/gzip-rows', (req, reply) => {
    const n = c.intParam(req.query.n, 1000, c.MAX_ROWS);
    reply.type('application/x-ndjson').send(Readable.from(c.rows(n), { objectMode: false }));
  });
});

// POST /upload (issue 16): @fastify/multipart's req.parts(), each file streamed to disk and hashed.
// Its default fileSize limit (1 MiB) is lifted for the 1 GiB upload.
await app.register(async (scope) => {
  await scope.register(fastifyMultipart, { limits: { fileSize: 4 * 1024 * 1024 * 1024, files: 1000 } });
  scope.post('/upload', async (req) => {
    const dir = await c.uploadDir();
    try {
      const files = [];
      const fields = {};
      for await (const part of req.parts()) {
        if (part.type === 'file') {
          const saved = await c.saveAndHash(part.file, `${dir}/${files.length}`);
          files.push({ field: part.fieldname, filename: part.filename, ...saved });
        } else {
          fields[part.fieldname] = part.value;
        }
      }
      return { files, fields };
    } finally {
      await c.removeUploadDir(dir);
    }
  });
});
// /pg/rows (pg-query-stream, JSON lines by a Transform) and /pg/rows.csv (pg-copy-streams), with PG_URL:
// the usual fastify way; the client is released when the response closes (a destroyed reply
// destroys the query stream, which closes the cursor).
if (process.env.PG_URL) {
  const { default: pg } = await import('pg');
  const { default: QueryStream } = await import('pg-query-stream');
  const { to: copyTo } = await import('pg-copy-streams');
  const { Transform, pipeline } = await import('node:stream');
  const { pgRowsSql, PG_MAX_ROWS } = await import('./pg-sql.mjs');
  const pool = new pg.Pool({ connectionString: process.env.PG_URL, max: Number(process.env.PG_POOL_MAX || 16) });
  pool.on('error', () => {});
  const serve = async (req, reply, type, makeStream, transform) => {
    const client = await pool.connect();
    const source = client.query(makeStream());
    let released = false;
    const release = (err) => {
      if (released) return;
      released = true;
      client.release(err);
    };
    const body = transform ? pipeline(source, transform(), (err) => release(err)) : source;
    if (!transform) {
      source.on('end', () => release());
      source.on('error', (err) => release(err));
    }
    reply.raw.on('close', () => {
      if (!source.readableEnded) {
        source.destroy();
        release(new Error('client gone'));
      }
    });
    reply.type(type).send(body);
    return reply;
  };
  app.get('/pg/rows', (req, reply) => {
    const n = c.intParam(req.query.n, 1000, PG_MAX_ROWS);
    return serve(req, reply, 'application/x-ndjson', () => new QueryStream(pgRowsSql(n), [], { batchSize: 2000 }), () =>
      new Transform({ writableObjectMode: true, transform(row, _enc, cb) { cb(null, JSON.stringify(row) + '\n'); } }));
  });
  app.get('/pg/rows.csv', (req, reply) => {
    const n = c.intParam(req.query.n, 1000, PG_MAX_ROWS);
    return serve(req, reply, 'text/csv; charset=utf-8', () => copyTo(`COPY (${pgRowsSql(n)}) TO STDOUT WITH (FORMAT csv, HEADER true)`), null);
  });
  c.onStop(() => pool.end());
}

await app.listen({ port: c.port(), host: c.HOST });
c.onStop(() => app.close());
