/**
 * Child-process fixture for the Python bridge tests that need a Node process of their
 * own (its stdout to inspect, its exit to wait for, or to SIGKILL it). Every line it
 * prints itself starts with "child: " (values JSON-encoded), so anything else on its
 * stdout leaked from Python. argv[2] is the mode, argv[3] the check ('pythonia' or
 * 'subprocess'):
 *
 * - hang: mounts a module that blocks at import, startupTimeout 1500; prints the listen
 *   error and lets the process end by itself.
 * - noisy: mounts a module that prints at import; listens, prints the workers, closes.
 * - noisy-broken: mounts a module that prints at import, then fails; prints the error.
 * - blocked: 2 workers, no liveness check, GET /blocked blocks a worker's event loop;
 *   prints the port and the workers and stays up (the test SIGKILLs it).
 */
import { App } from '../../ts/index.js';
import { PythonBridge } from '../../ts/python/index.js';
import { FIXTURES } from './python.js';

const mode = process.argv[2] ?? 'noisy';
const via = (process.argv[3] ?? 'pythonia') as 'pythonia' | 'subprocess';
const say = (what: string, value: unknown): void => {
  process.stdout.write(`child: ${what} ${JSON.stringify(value)}\n`);
};

const app = new App({ logger: { error: (...args: unknown[]) => process.stderr.write(`${args.map(String).join(' ')}\n`) } });
const python = new PythonBridge({
  app,
  paths: [FIXTURES],
  workers: 2,
  validate: via,
  stderr: (text) => process.stderr.write(text),
  ...(mode === 'hang' ? { startupTimeout: 1500 } : {}),
  ...(mode === 'blocked' ? { livenessTimeout: 0 } : {}),
});
const target = {
  hang: 'hang_module:rows',
  noisy: 'noisy_module:hello',
  'noisy-broken': 'noisy_broken:rows',
  blocked: 'bridge_handlers:async_blocked',
}[mode];
if (target === undefined) throw new Error(`unknown mode ${mode}`);
app.get('/target', python.endpoint(target));

const t0 = Date.now();
try {
  const addr = await app.listen({ port: 0, host: '127.0.0.1' });
  say('listening', { port: addr.port, workers: python.stats().workers, validatedVia: python.stats().validatedVia });
  if (mode !== 'blocked') {
    await app.close({ timeout: 1000 });
    say('closed', python.stats());
  }
} catch (err) {
  say('listen failed', { code: (err as { code?: string }).code, message: (err as Error).message, ms: Date.now() - t0 });
}
