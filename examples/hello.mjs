// The smallest catzilla app: node examples/hello.mjs, then curl http://127.0.0.1:3000/
import { App } from '../dist/index.js';

const app = new App();
app.get('/', () => 'Hello, world!\n');

const { port } = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 3000) });
console.log(`listening on http://127.0.0.1:${port}/`);
process.once('SIGINT', () => app.close());
process.once('SIGTERM', () => app.close());
