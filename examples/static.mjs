// Files with sendfile: node examples/static.mjs [dir], then for example
//   curl -i http://127.0.0.1:3000/static/              (index.html, or 404 without one)
//   curl -r 0-99 http://127.0.0.1:3000/static/README.md
//   curl -i http://127.0.0.1:3000/download              (this script, via sendFile)
//   curl http://127.0.0.1:3000/wrapped                  (a header, this script, a footer: one response)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, fileRegion, sendFile, sendRegions, serveStatic } from '../dist/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.argv[2] ?? path.join(here, '..'));
const self = fileURLToPath(import.meta.url);

const app = new App();

// Everything under `root` at /static/..., with ranges, ETag/Last-Modified, 304/412/416, index.html,
// .br/.gz siblings when the client accepts them; dotfiles and symlinks leaving the root are 404.
app.get('/static/*', serveStatic(root, { precompressed: true, maxAge: 60 }));

// One file as a handler.
app.get('/download', sendFile(self, { contentType: 'text/plain; charset=utf-8' }));

// Memory and file regions in one response of known length; ranges map onto the pieces.
app.get('/wrapped', (req) => sendRegions(req, ['----- begin -----\n', fileRegion(self), '----- end -----\n'], {
  contentType: 'text/plain; charset=utf-8',
}));

const { port } = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
console.log(`serving ${root} on http://127.0.0.1:${port}/static/`);
process.once('SIGINT', () => app.close());
