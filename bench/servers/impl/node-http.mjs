// Peer: plain node:http, no framework. The baseline every ratio is computed against.
import http from 'node:http';
import { WebSocketServer } from 'ws';
import fs from 'node:fs';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import * as c from './common.mjs';

const HELLO_BUF = Buffer.from(c.HELLO);
const subscribers = new Set();

async function drain(res, gen) {
  if (typeof gen[Symbol.iterator] === 'function') {
    // a sync generator: no await per chunk, only when the socket asks to wait
    for (const chunk of gen) {
      if (!res.write(chunk)) await once(res, 'drain');
    }
  } else {
    for await (const chunk of gen) {
      if (!res.write(chunk)) await once(res, 'drain');
    }
  }
  res.end();
}

const server = http.createServer((req, res) => {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1));
  const fail = (err) => res.destroy(err);

  if (req.method === 'GET' && path === '/hello') {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': HELLO_BUF.length });
    res.end(HELLO_BUF);
  } else if (req.method === 'GET' && path === '/small') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    drain(res, c.smallChunks()).catch(fail);
  } else if (req.method === 'GET' && path === '/rows') {
    res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
    drain(res, c.rows(c.intParam(query.get('n'), 1000, c.MAX_ROWS))).catch(fail);
  } else if (req.method === 'GET' && path === '/bulk') {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
    drain(res, c.bulk(c.intParam(query.get('mb'), 1, c.MAX_MB), query.get('fresh') === '1')).catch(fail);
  } else if (req.method === 'GET' && path === '/file' && c.benchFile()) {
    const file = c.benchFile();
    fs.stat(file, (err, st) => {
      if (err) { res.writeHead(500).end(); return; }
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': st.size });
      pipeline(fs.createReadStream(file), res).catch(() => {});
    });
  } else if (req.method === 'GET' && path === '/sse') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write(c.SSE_HELLO);
    subscribers.add(res);
    res.on('close', () => subscribers.delete(res));
  } else if (path === '/wsz-publish') {
    // ws-broadcast-deflate: the same loop, permessage-deflate on (wssz below)
    req.resume();
    const n = c.intParam(query.get('n'), 1, c.MAX_EVENTS);
    const count = wssz.clients.size;
    for (let i = 0; i < n; i++) {
      const msg = c.wsJsonMessage(i);
      for (const ws of wssz.clients) ws.send(msg);
    }
    const body = JSON.stringify({ subscribers: count });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } else if (path === '/ws-publish') {
    // ws-broadcast: the `ws` library's usual broadcast loop over its clients
    req.resume();
    const n = c.intParam(query.get('n'), 1, c.MAX_EVENTS);
    const count = wss.clients.size;
    for (let i = 0; i < n; i++) {
      const msg = c.wsMessage(i);
      for (const ws of wss.clients) ws.send(msg);
    }
    const body = JSON.stringify({ subscribers: count });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } else if (req.method === 'POST' && path === '/publish') {
    req.resume();
    const n = c.intParam(query.get('n'), 1, c.MAX_EVENTS);
    const count = subscribers.size;
    for (let i = 0; i < n; i++) {
      const ev = c.sseEvent(i);
      for (const s of subscribers) s.write(ev);
    }
    const body = JSON.stringify({ subscribers: count });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } else {
    req.resume();
    res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 9 });
    res.end('Not Found');
  }
});
// WebSocket peer for ws-broadcast: the `ws` library (no permessage-deflate, its server default)
const wss = new WebSocketServer({ noServer: true });
// and with permessage-deflate for ws-broadcast-deflate: the same threshold as catzilla's route;
// ws's other defaults (level, memLevel, its thread-pool zlib, context takeover unless the client
// asks otherwise)
const wssz = new WebSocketServer({ noServer: true, perMessageDeflate: { threshold: 64 } });
server.on('upgrade', (req, socket, head) => {
  if (req.url === '/wsz') {
    wssz.handleUpgrade(req, socket, head, (ws) => ws.send('subscribed'));
    return;
  }
  if (req.url !== '/ws') {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => ws.send('subscribed'));
});
server.keepAliveTimeout = 60_000;
server.listen(c.port(), c.HOST);
c.onStop(() => { for (const s of subscribers) s.destroy(); server.close(); });
