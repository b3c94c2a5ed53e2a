/**
 * What the handler sees of the request head the core parsed.
 */
import { expect } from 'chai';
import { withApp } from '../helpers/with-app.js';
import { exchange } from '../helpers/raw-client.js';

const setup = (app: any) => {
  app.all('/inspect', (req: any) => ({
    method: req.method,
    url: req.url,
    path: req.path,
    httpVersion: req.httpVersion,
    ip: req.ip,
    headers: req.headers,
    accept: req.header('ACCEPT'),
  }));
};

describe('wire: request head', () => {
  it('headers are lowercased, duplicates joined with ", ", values trimmed; ip and httpVersion', async () => {
    await withApp(setup, async ({ port }) => {
      const raw =
        'GET /inspect?a=1 HTTP/1.1\r\nHost: example.test\r\nX-Dup: one\r\nACCEPT:   text/html  \r\nx-dup: two\r\nX-Empty:\r\n\r\n';
      const { client, responses } = await exchange(port, raw, 1);
      client.destroy();
      const got = JSON.parse(responses[0]!.text());
      expect(got).to.deep.include({ method: 'GET', url: '/inspect?a=1', path: '/inspect', httpVersion: '1.1', ip: '127.0.0.1', accept: 'text/html' });
      expect(got.headers).to.deep.equal({ host: 'example.test', 'x-dup': 'one, two', accept: 'text/html', 'x-empty': '' });
    });
  });

  it('HTTP/1.0 requests report httpVersion "1.0"; other methods reach an all() route', async () => {
    await withApp(setup, async ({ port }) => {
      const { client, responses } = await exchange(port, 'PATCH /inspect HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n', 1);
      client.destroy();
      const got = JSON.parse(responses[0]!.text());
      expect(got.httpVersion).to.equal('1.0');
      expect(got.method).to.equal('PATCH');
    });
  });
});
