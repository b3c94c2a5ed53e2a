// Peer: catzilla. Imports the compiled package (dist/index.js); the `catzilla` wrapper falls back to
// ts/index.ts under tsx when dist/ is missing (CATZILLA_ENTRY tells which file to import).
//
// Only /hello is registered for now. Every other endpoint of the contract answers 404 from the
// router, which the driver reports as "n/a". Add the streaming routes here once the core streams.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HELLO, HOST, port, onStop } from './common.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const entry = process.env.CATZILLA_ENTRY || path.join(root, 'dist/index.js');
const { App } = await import(pathToFileURL(entry).href);

const app = new App({ keepAliveTimeout: 60_000 });

app.get('/hello', () => HELLO);

await app.listen({ port: port(), host: HOST });
onStop(() => app.close({ timeout: 1000 }));
