/**
 * Python endpoints: concurrency (CPU-bound generators never block Node or other
 * requests, many streams at once), startup failures (Python missing, a module that
 * fails to import) and shutdown (no stray worker, Node exits by itself).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from '../../ts/index.js';
import { PythonBridge } from '../../ts/python/index.js';
import { fetchRaw, within } from '../helpers/raw-client.js';
import { FIXTURES, pidAlive, withPythonApp, workerPids } from '../helpers/python.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');

describe('python endpoints: concurrency', () => {
  it('a CPU-bound generator blocks neither the Node loop nor other Python requests', async () => {
    await withPythonApp(
      (app, py) => {
        app.get('/cpu', py.endpoint('bridge_handlers:cpu_bound'));
        app.get('/hello', py.endpoint('bridge_handlers:hello'));
        app.get('/js', () => 'js');
      },
      async ({ port }) => {
        const cpu = fetchRaw(port, { path: '/cpu?seconds=2&n=1', timeoutMs: 10000 });
        await new Promise((r) => setTimeout(r, 200));
        const t0 = Date.now();
        const js = await fetchRaw(port, { path: '/js' });
        const tJs = Date.now() - t0;
        const hellos = await Promise.all([1, 2, 3].map(() => fetchRaw(port, { path: '/hello' })));
        const tPy = Date.now() - t0;
        expect(js.text()).to.equal('js');
        expect(hellos.map((r) => r.text())).to.deep.equal(Array(3).fill('hello from python\n'));
        expect(tJs, 'JS route while Python burns CPU').to.be.below(300);
        expect(tPy, 'Python routes while another generator burns CPU').to.be.below(1000);
        expect((await cpu).text()).to.equal('cpu 0\n');
      },
    );
  });

  it('serves 40 streams at once, each complete and in order', async () => {
    await withPythonApp(
      (app, py) => app.get('/rows', py.endpoint('bridge_handlers:rows')),
      async ({ port, bridge }) => {
        const results = await within(Promise.all(Array.from({ length: 40 }, (_, i) =>
          fetchRaw(port, { path: `/rows?n=${2000 + i}`, timeoutMs: 20000 }))), 25000, '40 streams');
        results.forEach((r, i) => {
          const lines = r.text().trim().split('\n');
          expect(lines, `stream ${i}`).to.have.length(2000 + i);
          expect(JSON.parse(lines[lines.length - 1]!).id).to.equal(1999 + i);
        });
        expect(bridge.stats().activeStreams).to.equal(0);
      },
    );
  });

  it('spreads streams over the pool (size from the workers option)', async () => {
    await withPythonApp(
      (app, py) => app.get('/pid', py.endpoint('bridge_handlers:pid')),
      async ({ port, bridge }) => {
        expect(bridge.stats().workers).to.have.length(3);
        const pids = new Set<number>();
        const rs = await Promise.all(Array.from({ length: 12 }, () => fetchRaw(port, { path: '/pid' })));
        for (const r of rs) pids.add(JSON.parse(r.text()).pid);
        for (const pid of pids) expect(bridge.stats().workers).to.include(pid);
        expect(pids.size).to.be.at.least(2);
      },
      { workers: 3 },
    );
  });
});

describe('python endpoints: startup and shutdown', () => {
  it('rejects listen() with a clear error when Python is missing, without hanging', async () => {
    const app = new App({ logger: { error() {} } });
    const py = new PythonBridge({ app, python: '/nonexistent/python3', paths: [FIXTURES] });
    app.get('/rows', py.endpoint('bridge_handlers:rows'));
    const err = await within(app.listen({ port: 0, host: '127.0.0.1' }).then(() => null, (e: unknown) => e), 10000, 'listen() to fail');
    expect(err).to.be.an('error');
    expect((err as { code?: string }).code).to.equal('ENOPYTHON');
    expect((err as Error).message).to.match(/Python not found: could not run "\/nonexistent\/python3"/);
    expect(workerPids()).to.deep.equal([]);
    await app.close();
  });

  it('rejects listen() with the Python traceback when a module fails to import', async () => {
    const app = new App({ logger: { error() {} } });
    const py = new PythonBridge({ app, paths: [FIXTURES] });
    app.get('/ok', py.endpoint('bridge_handlers:rows'));
    app.get('/broken', py.endpoint('broken_module:rows'));
    app.get('/missing', py.endpoint('bridge_handlers:no_such_function'));
    const err = await within(app.listen({ port: 0, host: '127.0.0.1' }).then(() => null, (e: unknown) => e), 20000, 'listen() to fail');
    expect((err as { code?: string }).code).to.equal('EPYTHONIMPORT');
    const message = (err as Error).message;
    expect(message).to.include('Python endpoint "broken_module:rows" cannot be loaded');
    expect(message).to.include('Traceback (most recent call last)');
    expect(message).to.include("No module named 'this_module_does_not_exist_catzilla'");
    expect(message).to.include('bridge_handlers:no_such_function');
    expect(message).to.not.include('"bridge_handlers:rows"');
    expect(py.stats().validatedVia).to.equal('pythonia');
    const end = Date.now() + 3000;
    while (workerPids().length > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(workerPids(), 'no worker left after a failed start').to.deep.equal([]);
    await app.close();
  });

  it('validates through a plain subprocess when asked (validate: "subprocess")', async () => {
    const app = new App({ logger: { error() {} } });
    const py = new PythonBridge({ app, paths: [FIXTURES], validate: 'subprocess' });
    app.get('/broken', py.endpoint('broken_module:rows'));
    const err = await within(app.listen({ port: 0, host: '127.0.0.1' }).then(() => null, (e: unknown) => e), 20000, 'listen() to fail');
    expect((err as { code?: string }).code).to.equal('EPYTHONIMPORT');
    expect(py.stats().validatedVia).to.equal('subprocess');
  });

  it('app.close() ends every worker and cancels running generators', async () => {
    let pids: number[] = [];
    await withPythonApp(
      (app, py) => app.get('/slow', py.endpoint('bridge_handlers:slow')),
      async ({ port, bridge, close }) => {
        pids = bridge.stats().workers;
        expect(pids).to.have.length(2);
        const pending = fetchRaw(port, { path: '/slow?interval=0.05', timeoutMs: 10000 }).catch(() => null);
        await new Promise((r) => setTimeout(r, 200));
        await close(500);
        await pending;
      },
    );
    const end = Date.now() + 3000;
    while (pids.some(pidAlive) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    expect(pids.filter(pidAlive), 'workers still alive after close').to.deep.equal([]);
  });

  for (const mode of ['ok', 'broken'] as const) {
    it(`Node exits by itself after ${mode === 'ok' ? 'serving and app.close()' : 'a failed listen()'} (no stray Python process)`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'tests/helpers/python-serve-once.ts'), mode], {
        cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        if (mode === 'ok') {
          const port = await within(new Promise<number>((resolve) => {
            const check = (): void => {
              const m = /port (\d+) workers ([\d,]+)/.exec(out);
              if (m) resolve(Number(m[1]));
            };
            child.stdout.on('data', check);
            check();
          }), 20000, 'the child to listen');
          const pids = /workers ([\d,]+)/.exec(out)![1]!.split(',').map(Number);
          const r = await fetchRaw(port, { path: '/rows?n=10' });
          expect(r.text().trim().split('\n')).to.have.length(10);
          const code = await within(exited, 15000, `the child to exit by itself (stdout: ${out}, stderr: ${err})`);
          expect(code).to.equal(0);
          expect(out).to.include('closed {"workers":[],"activeStreams":0');
          expect(pids.filter(pidAlive)).to.deep.equal([]);
        } else {
          const code = await within(exited, 20000, `the child to exit by itself (stdout: ${out}, stderr: ${err})`);
          expect(code).to.equal(0);
          expect(out).to.include('listen failed EPYTHONIMPORT');
          expect(out).to.include('this_module_does_not_exist_catzilla');
        }
      } finally {
        child.kill('SIGKILL');
      }
    });
  }
});
