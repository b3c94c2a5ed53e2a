/**
 * Real client: Python's http.client (the tests' python, .venv-test/, with an inline script).
 */
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { testPython } from '../helpers/test-python.js';
import { withApp } from '../helpers/with-app.js';

const SCRIPT = String.raw`
import http.client, json, sys
port = int(sys.argv[1])
out = {}
conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)

conn.request('GET', '/hello')
r = conn.getresponse()
out['get'] = {'status': r.status, 'reason': r.reason, 'version': r.version,
              'ctype': r.getheader('Content-Type'), 'length': r.getheader('Content-Length'),
              'body': r.read().decode()}
sock = conn.sock
local = sock.getsockname() if sock else None

conn.request('POST', '/echo', body=b'posted \xc3\xa9 bytes', headers={'Content-Type': 'text/plain'})
r = conn.getresponse()
out['post'] = {'status': r.status, 'body': r.read().decode()}

for i in range(3):
    conn.request('GET', '/n/%d' % i)
    r = conn.getresponse()
    out.setdefault('seq', []).append(r.read().decode())
out['same_socket'] = conn.sock is not None and conn.sock is sock and conn.sock.getsockname() == local

conn.request('HEAD', '/hello')
r = conn.getresponse()
out['head'] = {'status': r.status, 'length': r.getheader('Content-Length'), 'body': r.read().decode()}
conn.request('GET', '/hello')
r = conn.getresponse()
out['after_head'] = r.read().decode()
out['same_socket_after_head'] = conn.sock is sock
conn.close()
print(json.dumps(out))
`;

function runPython(port: number): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(testPython(), ['-c', SCRIPT, String(port)], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`python failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

const setup = (app: any) => {
  app.get('/hello', () => 'hello python');
  app.post('/echo', async (req: any) => `echo: ${await req.text()}`);
  app.get('/n/:n', (req: any) => `n=${req.params.n}`);
};

describe('e2e: python http.client', () => {
  let result: any;
  let accepted = 0;

  before(async function () {
    await withApp(setup, async ({ port, app }) => {
      const before = app.stats().connectionsAccepted;
      result = await runPython(port);
      accepted = app.stats().connectionsAccepted - before;
    });
  });

  it('GET: status, reason, HTTP/1.1, headers, body', () => {
    expect(result.get).to.deep.equal({ status: 200, reason: 'OK', version: 11, ctype: 'text/plain; charset=utf-8', length: '12', body: 'hello python' });
  });

  it('POST: body received and echoed', () => {
    expect(result.post).to.deep.equal({ status: 200, body: 'echo: posted é bytes' });
  });

  it('keep-alive: several requests reuse one connection', () => {
    expect(result.seq).to.deep.equal(['n=0', 'n=1', 'n=2']);
    expect(result.same_socket).to.equal(true);
    expect(result.same_socket_after_head).to.equal(true);
    expect(accepted, 'connections accepted by the server').to.equal(1);
  });

  it('HEAD: Content-Length of the GET, no body, connection still usable', () => {
    expect(result.head).to.deep.equal({ status: 200, length: '12', body: '' });
    expect(result.after_head).to.equal('hello python');
  });
});
