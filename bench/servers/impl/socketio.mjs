// Peer for the scale-out SSE fan-out (bench/scaleout.mjs): socket.io 4 on node:http with
// @socket.io/redis-adapter (node-redis clients), WebSocket transport only, so that one process per
// port needs no sticky sessions. Run one process per port, all on one REDIS_URL: a broadcast on any
// of them reaches the room's members on every one (the adapter's Redis pub/sub).
//   /pid                                   the serving process's pid
//   POST /publish-ids?n=N&rate=R&from=S    N messages "<seq> <publish time in us>" to room "bench"
// Every connected socket joins room "bench" and gets each message as event "e".
import http from 'node:http';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { createClient } from 'redis';
import * as c from './common.mjs';

const url = process.env.REDIS_URL;
if (!url) {
  console.error('REDIS_URL must be set');
  process.exit(2);
}
const pub = createClient({ url });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const server = http.createServer(async (req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname === '/pid') return void res.end(String(process.pid));
  if (u.pathname === '/publish-ids' && req.method === 'POST') {
    const n = c.intParam(u.searchParams.get('n'), 1, c.MAX_EVENTS);
    const rate = c.intParam(u.searchParams.get('rate'), 0, 1_000_000);
    const from = c.intParam(u.searchParams.get('from'), 0, c.MAX_EVENTS);
    const { ms } = await c.publishPaced(n, rate, from, (data) => io.to('bench').emit('e', data));
    res.setHeader('content-type', 'application/json');
    return void res.end(JSON.stringify({ published: n, subscribers: io.of('/').sockets.size, ms }));
  }
  res.statusCode = 404;
  res.end();
});
server.keepAliveTimeout = 60_000;
const io = new Server(server, { transports: ['websocket'], adapter: createAdapter(pub, sub) });
io.on('connection', (socket) => socket.join('bench'));
server.listen(c.port(), c.HOST);
c.onStop(async () => {
  io.close();
  await Promise.allSettled([pub.quit(), sub.quit()]);
});
