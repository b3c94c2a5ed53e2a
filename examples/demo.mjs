/**
 * catzilla demo: a few routes and a middleware on the native HTTP/1.1 core.
 *
 *   npm run demo              (sets everything up, then runs this file)
 *   PORT=8080 node examples/demo.mjs
 *
 *   curl http://127.0.0.1:3000/
 *   curl http://127.0.0.1:3000/users/42
 *   curl -d 'hello' http://127.0.0.1:3000/echo
 */
import { App, HttpError, HttpResponse, json } from '../dist/index.js';

const app = new App();

// Middleware: time every request and say so in a response header.
app.use(async (req, next) => {
  const started = process.hrtime.bigint();
  const res = await next();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  res.headers.set('X-Response-Time', `${ms.toFixed(3)}ms`);
  return res;
});

app.get('/', () => 'Hello from catzilla!\nTry GET /users/42 or POST /echo\n');

app.get('/users/:id', (req) => {
  const id = Number(req.params.id);
  if (!Number.isInteger(id) || id < 1) throw new HttpError(400, 'user id must be a positive integer\n');
  return json({ id, name: `user ${id}`, query: Object.fromEntries(req.query) });
});

// The body comes back as it was sent, with the request's Content-Type.
app.post('/echo', async (req) => {
  const body = await req.buffer();
  return new HttpResponse(body, { headers: { 'Content-Type': req.header('content-type') ?? 'application/octet-stream' } });
});

const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT);
const { address, port: bound } = await app.listen({ host: '127.0.0.1', port });
console.log(`catzilla demo listening on http://${address}:${bound}/ (Ctrl-C to stop)`);

let closing = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (closing) return;
    closing = true;
    console.log(`\n${signal}: closing (in-flight requests get up to 5 s)`);
    await app.close({ timeout: 5000 });
    console.log('closed');
  });
}
