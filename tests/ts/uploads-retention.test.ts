/**
 * Many small uploads over keep-alive connections (the bench's upload-100k, shortened): once they
 * are answered, nothing of them survives a full GC: neither the parts' streams nor the readers
 * (counted with a FinalizationRegistry), apart from what a connection still open may hold of its
 * last request. A per-upload object kept by a connection, a listener or a closure would show here.
 */
import { expect } from 'chai';
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { withApp } from '../helpers/with-app.js';
import { MULTIPART_TYPE, multipartBody, patterned } from '../helpers/multipart-body.js';

const UPLOADS = 200;
const CONNECTIONS = 4;

describe('uploads: nothing of an answered upload is retained', () => {
  it('200 uploads of 100 KiB over 4 keep-alive connections leave no part stream or reader alive', async function () {
    this.timeout(60_000);
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    let made = 0;
    let collected = 0;
    const registry = new FinalizationRegistry<void>(() => collected++);
    const body = multipartBody([{ name: 'note', value: 'bench' }, { name: 'file', filename: 'upload.bin', data: patterned(100 * 1024) }]);
    await withApp((app) => {
      app.post('/upload', async (req) => {
        const reader = req.multipart();
        registry.register(reader, undefined);
        made++;
        let size = 0;
        for await (const part of reader) {
          if (part.kind === 'field') continue;
          registry.register(part.stream, undefined);
          made++;
          for await (const chunk of part) size += chunk.length;
        }
        return { size };
      });
    }, async ({ port }) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
      const one = () => new Promise<void>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', agent, headers: { 'Content-Type': MULTIPART_TYPE, 'Content-Length': String(body.length) } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => { text += c; });
          res.on('end', () => (res.statusCode === 200 && JSON.parse(text).size === 100 * 1024 ? resolve() : reject(new Error(`${res.statusCode} ${text}`))));
        });
        req.on('error', reject);
        req.end(body);
      });
      let next = 0;
      await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
        while (next++ < UPLOADS) await one();
      }));
      for (let i = 0; i < 10; i++) {
        gc();
        await new Promise<void>((resolve) => setTimeout(resolve, 10));
      }
      const alive = made - collected;
      // each open connection may still reference its last request (reader + file stream)
      expect(made).to.equal(2 * UPLOADS);
      expect(alive, `${made} made, ${collected} collected`).to.be.at.most(2 * CONNECTIONS);
      agent.destroy();
    });
  });
});
