/**
 * Real client: headless Chromium uploads through an HTML form (<input type=file>, submitted as
 * multipart/form-data) and through fetch() with a FormData body; the server hashes the parts as
 * they stream by and the test compares with the bytes it handed the browser. The filename with
 * non-ASCII characters is what the browser sent, made safe. Skipped without /usr/bin/chromium.
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { html } from '../../ts/index.js';
import { hasChromium, withChromium } from '../helpers/chromium.js';
import { withApp } from '../helpers/with-app.js';
import { patterned } from '../helpers/multipart-body.js';
import { hashParts } from '../helpers/upload-route.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const PAGE = `<!doctype html><meta charset="utf-8"><title>upload</title>
<form id="f" method="post" action="/upload" enctype="multipart/form-data">
  <input name="caption" value="caf\u00e9 \u2615">
  <input type="file" name="photo">
  <button id="send" type="submit">send</button>
</form>`;

describe('e2e: Chromium uploads', function () {
  this.timeout(120_000);
  before(function () {
    if (!hasChromium()) this.skip();
  });

  it('an HTML form with <input type=file> and a fetch() with FormData', async () => {
    const photo = patterned(3 * 1024 * 1024 + 5, 21);
    await withChromium(async (context) => {
      await withApp(
        (app) => {
          app.get('/', () => html(PAGE));
          app.post('/upload', hashParts);
        },
        async ({ base }) => {
          const page = await context.newPage();
          await page.goto(base + '/');
          await page.setInputFiles('input[type=file]', { name: 'r\u00e9sum\u00e9 photo.png', mimeType: 'image/png', buffer: photo });
          await Promise.all([page.waitForNavigation(), page.click('#send')]);
          const submitted = JSON.parse((await page.textContent('body')) ?? 'null');
          expect(submitted).to.deep.equal({
            files: [{ field: 'photo', filename: 'r\u00e9sum\u00e9 photo.png', size: photo.length, sha256: sha(photo) }],
            fields: { caption: 'caf\u00e9 \u2615' },
          });

          await page.goto(base + '/');
          const viaFetch = await page.evaluate(async (size) => {
            const bytes = new Uint8Array(size);
            for (let i = 0; i < size; i++) bytes[i] = (i * 31 + 7) & 0xff;
            const fd = new FormData();
            fd.append('a', '1');
            fd.append('blob', new Blob([bytes], { type: 'application/x-test' }), 'blob.bin');
            fd.append('b', 'two');
            const r = await fetch('/upload', { method: 'POST', body: fd });
            return { status: r.status, body: await r.json() };
          }, 1_000_001);
          const expected = Buffer.alloc(1_000_001);
          for (let i = 0; i < expected.length; i++) expected[i] = (i * 31 + 7) & 0xff;
          expect(viaFetch).to.deep.equal({ status: 200, body: { files: [{ field: 'blob', filename: 'blob.bin', size: expected.length, sha256: sha(expected) }], fields: { a: '1', b: 'two' } } });
        },
        { maxBodySize: 8 * 1024 * 1024 },
      );
    });
  });
});
