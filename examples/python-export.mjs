// Python generator endpoints: node examples/python-export.mjs, then
//   curl -N http://127.0.0.1:3000/export?n=5      NDJSON rows from a Python generator
//   curl -N http://127.0.0.1:3000/export.csv      CSV with status/headers set in Python
//   curl -N http://127.0.0.1:3000/clock           one line a second; Ctrl-C closes the generator
//   curl -N http://127.0.0.1:3000/ticker          an async generator
//   curl -i http://127.0.0.1:3000/users/7         one JSON document (users/x -> 404)
// Needs python3 (standard library only). PYTHON=/path/to/python picks another interpreter.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, PythonBridge } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const app = new App();
const python = new PythonBridge({
  app,                                   // app.listen() starts the workers, app.close() ends them
  paths: [path.join(here, 'python')],   // where handlers.py lives
  workers: 2,
  python: process.env.PYTHON,
});

app.get('/export', python.endpoint('handlers:rows'));
app.get('/export.csv', python.endpoint('handlers:report_csv'));
app.get('/clock', python.endpoint('handlers:clock'));
app.get('/ticker', python.endpoint('handlers:ticker'));
app.get('/users/:id', python.endpoint('handlers:user'));
app.get('/', () => 'try /export, /export.csv, /clock, /ticker, /users/7\n');

try {
  const { port } = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
  console.log(`listening on http://127.0.0.1:${port}/ (Python workers ${python.stats().workers.join(', ')})`);
} catch (err) {
  console.error(`cannot start: ${err.message}`);
  process.exitCode = 1;
}
process.once('SIGINT', () => app.close());
process.once('SIGTERM', () => app.close());
