/**
 * Real client: Node's global fetch (undici).
 */
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';

const setup = (app: any) => {
  app.get('/data', () => ({ name: 'catzilla', tags: ['fast', 'native'], n: 3 }));
  app.post('/echo-json', async (req: any) => ({ received: await req.json(), type: req.header('content-type') }));
  app.get('/users/:id', (req: any) => ({ id: req.params.id }));
};

describe('e2e: fetch', () => {
  it('GET JSON', async () => {
    await withApp(setup, async ({ base }) => {
      const res = await fetch(`${base}/data`);
      expect(res.status).to.equal(200);
      expect(res.statusText).to.equal('OK');
      expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(await res.json()).to.deep.equal({ name: 'catzilla', tags: ['fast', 'native'], n: 3 });
    });
  });

  it('POST JSON is echoed', async () => {
    await withApp(setup, async ({ base }) => {
      const payload = { a: 1, nested: { b: [true, null, 'é'] } };
      const res = await fetch(`${base}/echo-json`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ received: payload, type: 'application/json' });
    });
  });

  it('several requests over the keep-alive pool', async () => {
    await withApp(setup, async ({ base, app }) => {
      const before = app.stats().requests;
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${base}/users/${i}`);
        expect(await res.json()).to.deep.equal({ id: String(i) });
      }
      expect(app.stats().requests - before).to.equal(5);
    });
  });

  it('404 for an unknown path', async () => {
    await withApp(setup, async ({ base }) => {
      const res = await fetch(`${base}/nowhere`);
      expect(res.status).to.equal(404);
      expect(res.statusText).to.equal('Not Found');
      expect(await res.text()).to.equal('Not Found');
    });
  });
});
