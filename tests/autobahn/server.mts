/**
 * The server Autobahn|Testsuite's fuzzing client runs against (not part of `npm test`; see
 * README.md here): an echo route with permessage-deflate (threshold 0: every message
 * compressed) and the limits section 9 needs (16 MiB messages, 4 MiB in 65,537 frames).
 *   PORT=9001 npx tsx tests/autobahn/server.mts
 */
import { App } from '../../ts/index.js';

const app = new App();
app.ws('/echo', {
  perMessageDeflate: { threshold: 0 },
  maxPayload: 16 * 1024 * 1024,
  maxFragments: 1 << 20,
  message: (ws, data, isBinary) => {
    ws.send(data, { binary: isBinary });
  },
});
const addr = await app.listen({ port: Number(process.env.PORT ?? 9001), host: '127.0.0.1' });
console.log(`autobahn echo server on ws://127.0.0.1:${addr.port}/echo`);
