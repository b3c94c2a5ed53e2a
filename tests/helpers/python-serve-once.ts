/**
 * Child-process fixture for the Python bridge lifecycle tests: listen with a
 * PythonBridge, print the port, serve one request to /rows, then `await app.close()` and
 * let the process end by itself (a leaked worker, pythonia process or handle would keep
 * it alive and the test would time out). argv[2] = "broken": mount a module that fails to
 * import, print the listen error and end by itself too.
 */
import { App } from '../../ts/index.js';
import { PythonBridge } from '../../ts/python/index.js';
import { FIXTURES } from './python.js';

const mode = process.argv[2] ?? 'ok';
const app = new App({ logger: { error: (...args: unknown[]) => process.stderr.write(`${args.map(String).join(' ')}\n`) } });
const python = new PythonBridge({ app, paths: [FIXTURES], workers: 2 });
app.get('/rows', python.endpoint(mode === 'broken' ? 'broken_module:rows' : 'bridge_handlers:rows'));
let served = false;
app.use(async (req, next) => {
  const res = await next();
  if (req.path === '/rows' && !served) {
    served = true;
    res instanceof Object && 'onClose' in res && typeof (res as { onClose: unknown }).onClose === 'function'
      ? (res as unknown as { onClose(cb: () => void): void }).onClose(() => void close())
      : setImmediate(() => void close());
  }
  return res;
});

async function close(): Promise<void> {
  await app.close({ timeout: 2000 });
  process.stdout.write(`closed ${JSON.stringify(python.stats())}\n`);
}

try {
  const addr = await app.listen({ port: 0, host: '127.0.0.1' });
  process.stdout.write(`port ${addr.port} workers ${python.stats().workers.join(',')}\n`);
} catch (err) {
  process.stdout.write(`listen failed ${(err as { code?: string }).code}\n${(err as Error).message}\n`);
}
