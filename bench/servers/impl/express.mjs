// Peer: express 5 with res.write streaming and res.sendFile.
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express from 'express';
import multer from 'multer';
import * as c from './common.mjs';

const app = express();
app.disable('x-powered-by');
app.disable('etag');

app.get('/hello', (_req, res) => {
  res.type('text/plain').send(c.HELLO);
});

function stream(res, gen) {
  pipeline(Readable.from(gen, { objectMode: false }), res).catch(() => res.destroy());
}

app.get('/small', (_req, res) => {
  res.type('application/octet-stream');
  stream(res, c.smallChunks());
});

app.get('/rows', (req, res) => {
  res.type('application/x-ndjson');
  stream(res, c.rows(c.intParam(req.query.n, 1000, c.MAX_ROWS)));
});

app.get('/bulk', (req, res) => {
  res.type('application/octet-stream');
  stream(res, c.bulk(c.intParam(req.query.mb, 1, c.MAX_MB), req.query.fresh === '1'));
});

const file = c.benchFile();
if (file) {
  const abs = path.resolve(file);
  app.get('/file', (_req, res) => res.sendFile(abs));
}

const subscribers = new Set();
app.get('/sse', (req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  res.write(c.SSE_HELLO);
  subscribers.add(res);
  req.on('close', () => subscribers.delete(res));
});

app.post('/publish', (req, res) => {
  const n = c.intParam(req.query.n, 1, c.MAX_EVENTS);
  const count = subscribers.size;
  for (let i = 0; i < n; i++) {
    const ev = c.sseEvent(i);
    for (const s of subscribers) s.write(ev);
  }
  res.json({ subscribers: count });
});

// POST /upload (issue 16): multer with a storage engine shaped like its DiskStorage (the file
// stream piped into fs.createWriteStream under the request's temporary directory) that also
// hashes the stream on the way, as every peer does.
const uploadStorage = {
  _handleFile(req, file, cb) {
    const target = `${req.uploadDir}/${req.uploadCount++}`;
    c.saveAndHash(file.stream, target).then((saved) => cb(null, { path: target, ...saved }), cb);
  },
  _removeFile(_req, file, cb) {
    fs.rm(file.path, { force: true }, cb);
  },
};
const upload = multer({ storage: uploadStorage, limits: { fileSize: 4 * 1024 * 1024 * 1024, files: 1000 } });
app.post(
  '/upload',
  (req, _res, next) => {
    c.uploadDir().then((dir) => {
      req.uploadDir = dir;
      req.uploadCount = 0;
      next();
    }, next);
  },
  (req, res, next) => upload.any()(req, res, (err) => (err ? c.removeUploadDir(req.uploadDir).then(() => next(err)) : next())),
  async (req, res) => {
    const files = req.files.map((f) => ({ field: f.fieldname, filename: f.originalname, size: f.size, sha256: f.sha256 }));
    await c.removeUploadDir(req.uploadDir);
    res.json({ files, fields: { ...req.body } });
  },
);

const server = app.listen(c.port(), c.HOST);
server.keepAliveTimeout = 60_000;
c.onStop(() => { for (const s of subscribers) s.destroy(); server.close(); });
