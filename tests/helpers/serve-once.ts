/**
 * Child-process fixture for wire-shutdown: listen on 127.0.0.1:0, print the port,
 * serve one request to /bye, then `await app.close()` and let the process end by
 * itself. If any handle leaks, the process does not exit and the test times out.
 * Mode (argv[2]): "close-after-response" (default) closes after the handler returned.
 */
import { App } from '../../ts/index.js';

const app = new App({ logger: { error: (...args: unknown[]) => process.stderr.write(`${args.map(String).join(' ')}\n`) } } as any);
let closing = false;

app.get('/bye', () => {
  if (!closing) {
    closing = true;
    // Close after this handler returned: the in-flight response must still be sent.
    setImmediate(async () => {
      await app.close({ timeout: 2000 });
      process.stdout.write('closed\n');
    });
  }
  return 'bye';
});

const addr = await app.listen({ port: 0, host: '127.0.0.1' });
process.stdout.write(`port ${addr.port}\n`);
