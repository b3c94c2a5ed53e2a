// Peer: catzilla serving the shared Python generator (impl/pyrows_gen.py) through the Python
// bridge (ts/python/): GET /pyrows?n=N and GET /pybulk?size=S&mb=M. CATZILLA_PY_WORKERS sets the
// pool size (default 1: the whole server, Node and Python, shares the one CPU it is pinned to).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const { App, PythonBridge } = await import(process.env.CATZILLA_ENTRY);
const here = path.dirname(fileURLToPath(import.meta.url));
const port = Number(process.env.PORT);
if (!(port > 0)) {
  console.error('PORT must be set to a TCP port');
  process.exit(2);
}
const app = new App();
const python = new PythonBridge({ app, paths: [here], workers: Number(process.env.CATZILLA_PY_WORKERS ?? 1) });
app.get('/hello', () => 'Hello, World!');
app.get('/pyrows', python.endpoint('pyrows_gen:pyrows'));
app.get('/pybulk', python.endpoint('pyrows_gen:pybulk'));
await app.listen({ host: '127.0.0.1', port });
for (const sig of ['SIGTERM', 'SIGINT']) process.once(sig, () => app.close({ timeout: 1000 }));
