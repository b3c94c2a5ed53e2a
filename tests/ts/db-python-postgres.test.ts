/**
 * Python endpoints streaming from a PostgreSQL server-side cursor (psycopg 3, a named cursor:
 * DECLARE, then FETCH FORWARD itersize rows at a time), against a real server
 * (tests/helpers/postgres.ts). The fixture (tests/python/fixtures/pg_handlers.py: export_pg) is the
 * README's example as it is there; the bridge runs on the tests' venv (.venv-test/bin/python, where
 * tests/requirements.txt puts psycopg), since the bridge itself is standard library only.
 *
 * Every row arrives byte-exact; a client that stops reading stops the fetching (the backend waits
 * in ClientRead, no FETCH more); a client that disconnects closes the generator, whose `finally`
 * closes the cursor and the connection (the backend is gone from pg_stat_activity), also while a
 * FETCH runs on the server (request.on_cancel(conn.cancel_safe) cancels it); 200 abandoned exports
 * leave no backend; a database error mid-stream truncates the response.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { decodeChunked, headEnd } from '../helpers/chunked.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { startPythonApp, workerPids, type PythonAppContext } from '../helpers/python.js';
import { RawClient, requestBytes, sleep } from '../helpers/raw-client.js';
import { underAsan } from '../helpers/sanitizer.js';
import { testPython } from '../helpers/test-python.js';

const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

/** The fixture connects with this application_name, so its backends are told apart. */
const APP_NAME = 'catzilla-py-export';

interface Backend {
  pid: number;
  state: string | null;
  wait_event: string | null;
  query: string;
  query_start: Date | null;
}

/** What export_pg sends for rows 1..n: one compact JSON line per row (the bridge encodes dicts without spaces). */
function expectedRows(from: number, to: number): string {
  let out = '';
  for (let i = from; i <= to; i++) out += `{"id":${i},"name":"name ${i}"}\n`;
  return out;
}

/** GET through node:http; the whole body as bytes. */
function httpGet(port: number, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (b: Buffer) => parts.push(b));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** Open descriptors of a process (sockets to PostgreSQL among them). */
function fdCount(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

describe('db: Python endpoints stream from a PostgreSQL server-side cursor (psycopg 3)', function () {
  this.timeout(120_000);
  let server: PostgresServer;
  let admin: InstanceType<typeof pg.Client>;
  let ctx: PythonAppContext;

  before(async () => {
    server = await startPostgres();
    admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    admin.on('error', () => {});
    ctx = await startPythonApp(
      (app, py) => {
        const paced = { highWaterMark: 16 * 1024, lowWaterMark: 4 * 1024 };
        app.get('/pg', py.endpoint('pg_handlers:export_pg', paced));
        app.get('/pg-slow', py.endpoint('pg_handlers:export_pg_slow', paced));
        app.get('/pg-fails', py.endpoint('pg_handlers:export_pg_fails', paced));
      },
      {
        python: testPython(),
        window: 16 * 1024,
        // psycopg's ResourceWarning for a connection garbage-collected open, which the default
        // filters hide: the generator's `finally` must have closed it (closedByFinally below).
        env: { DATABASE_URL: `${server.url}?application_name=${APP_NAME}`, PYTHONWARNINGS: 'always::ResourceWarning' },
      },
    );
  });

  after(async () => {
    await ctx?.close();
    await admin?.end();
    await server?.stop();
  });

  async function backends(): Promise<Backend[]> {
    const r = await admin.query(
      `SELECT pid, state, wait_event, query, query_start FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
      [APP_NAME],
    );
    return r.rows;
  }

  /** Polls every 5 ms until no backend of the fixture is left; the time it took. */
  async function waitGone(limitMs: number): Promise<number> {
    const start = performance.now();
    for (;;) {
      const left = await backends();
      const elapsed = performance.now() - start;
      if (left.length === 0) return elapsed;
      if (elapsed > limitMs) throw new Error(`backends still there after ${Math.round(elapsed)} ms: ${JSON.stringify(left)}`);
      await sleep(5);
    }
  }

  /**
   * Whether every connection since stderr entry `from` was closed by the generator: CPython's
   * reference counting would close one left open too (psycopg's __del__), at the cost of this
   * warning, and other Pythons (or a reference cycle) would keep it open for a while.
   */
  async function closedByFinally(from: number): Promise<void> {
    await sleep(150);
    const text = ctx.stderr.slice(from).join('');
    const warning = text.split('\n').find((l) => l.includes('was deleted while still open'));
    expect(warning, 'a psycopg connection or cursor left open for the garbage collector').to.equal(undefined);
    expect(text).to.not.include('Traceback');
  }

  /** Waits until exactly one backend of the fixture has run a FETCH; returns it. */
  async function fetching(): Promise<Backend> {
    const end = Date.now() + 10_000;
    for (;;) {
      const b = await backends();
      if (b.length === 1 && b[0]!.query.startsWith('FETCH')) return b[0]!;
      if (Date.now() > end) throw new Error(`no FETCH seen: ${JSON.stringify(b)}`);
      await sleep(10);
    }
  }

  it("the README's psycopg example is the fixture these tests run", () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const fixture = fs.readFileSync(new URL('../python/fixtures/pg_handlers.py', import.meta.url), 'utf8');
    const block = /```python\n(import os\nimport psycopg\n[\s\S]*?)```/.exec(readme)?.[1];
    expect(block, 'the psycopg block in README.md').to.be.a('string');
    const example = /# -- the README's example, as it is there --\n([\s\S]*?)# -- end of the README's example --\n/.exec(fixture)![1]!;
    const preamble = /\nimport os\n\nimport psycopg\n\n(DSN = .*\n)/.exec(fixture)![1]!;
    expect(block).to.equal(`import os\nimport psycopg\n\n${preamble}\n${example}`);
  });

  it('every row byte-exact (20,000 rows through node:http), then the connection is closed', async () => {
    const from = ctx.stderr.length;
    const n = 20_000;
    const res = await httpGet(ctx.port, `/pg?n=${n}`);
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.equal('application/x-ndjson');
    expect(res.body.equals(Buffer.from(expectedRows(1, n)))).to.equal(true);
    await waitGone(5000);
    await closedByFinally(from);
  });

  it('a client that stops reading stops the fetching: the backend waits in ClientRead, no FETCH more; reading again fetches again', async () => {
    const from = ctx.stderr.length;
    const n = 2_000_000;
    const client = await RawClient.connect(ctx.port);
    try {
      client.socket.pause();
      await client.send(requestBytes({ path: `/pg?n=${n}` }));
      // Socket buffers and the bridge's window fill, then the generator waits for credit.
      // Settled: no new FETCH for one second (a loaded machine may pause the filling for a while).
      let b = await fetching();
      let stableSince = Date.now();
      const end0 = Date.now() + 30_000;
      while (Date.now() - stableSince < 1000) {
        if (Date.now() > end0) throw new Error('the fetching never stopped while the client did not read');
        await sleep(100);
        const now = (await backends())[0]!;
        if (now.query_start?.getTime() !== b.query_start?.getTime()) stableSince = Date.now();
        b = now;
      }
      await sleep(1000);
      const paused = await backends();
      expect(paused).to.have.length(1);
      // A named cursor: the portal stays open in the transaction, the backend computes nothing ahead.
      expect(paused[0]!.query).to.equal('FETCH FORWARD 500 FROM "export"');
      expect([paused[0]!.state, paused[0]!.wait_event]).to.deep.equal(['idle in transaction', 'ClientRead']);
      expect(paused[0]!.query_start!.getTime(), 'no FETCH while the client does not read').to.equal(b.query_start!.getTime());

      client.socket.resume();
      let received = 0;
      client.socket.removeAllListeners('data');
      client.socket.on('data', (buf: Buffer) => (received += buf.length));
      const end = Date.now() + 10_000;
      while ((await backends())[0]?.query_start?.getTime() === b.query_start!.getTime()) {
        if (Date.now() > end) throw new Error('no FETCH after the client read again');
        await sleep(20);
      }
      expect(received).to.be.above(0);
    } finally {
      client.destroy();
    }
    await waitGone(5000);
    await closedByFinally(from);
  });

  const cancelTimes: Record<string, number> = {};
  for (const [what, path, pause] of [
    ['waiting for the client (paused)', '/pg?n=2000000', true],
    ['reading', '/pg?n=2000000', false],
    ['blocked in a FETCH running on the server (pg_sleep per row)', '/pg-slow?n=100000', false],
  ] as const) {
    it(`a client that disconnects while the generator is ${what}: finally runs, the backend is gone from pg_stat_activity within 1 s`, async () => {
      const from = ctx.stderr.length;
      const client = await RawClient.connect(ctx.port);
      try {
        await client.send(requestBytes({ path }));
        await client.until(() => headEnd(client.buffer) > 0 && client.buffer.length > 2000, 'the first rows', 15_000);
        if (pause) {
          client.socket.pause();
          await sleep(300);
        } else if (path.startsWith('/pg-slow')) {
          await fetching();
          await sleep(200); // the next FETCH is running
          const b = await backends();
          expect([b[0]!.state, b[0]!.wait_event]).to.deep.equal(['active', 'PgSleep']);
        }
        expect(await backends()).to.have.length(1);
      } finally {
        client.destroy();
      }
      const elapsed = await waitGone(5000);
      cancelTimes[what] = elapsed;
      expect(elapsed).to.be.below(1000);
      await closedByFinally(from);
    });
  }

  it('200 abandoned exports (20 at a time) leave no backend, no descriptor, and the export still works', async () => {
    const from = ctx.stderr.length;
    const pids = workerPids();
    expect(pids).to.have.length(2);
    const fdsBefore = pids.map(fdCount);
    const total = underAsan() ? 60 : 200;
    let next = 0;
    let cut = 0;
    const one = async (): Promise<void> => {
      while (next < total) {
        const i = next++;
        const client = await RawClient.connect(ctx.port);
        try {
          await client.send(requestBytes({ path: `/pg?n=1000000` }));
          await client.until(() => headEnd(client.buffer) > 0 && client.buffer.length > 200 + (i % 5) * 3000, 'some rows', 15_000);
          if (i % 2 === 0) client.socket.pause();
          cut++;
        } finally {
          client.destroy();
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, one));
    expect(cut).to.equal(total);
    await waitGone(5000);
    const all = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = 'catzilla'`);
    expect(all.rows[0].n).to.equal(0);
    // The workers closed their sockets to the server (psycopg's connections), nothing kept open.
    const end = Date.now() + 5000;
    while (pids.map(fdCount).some((n, i) => n > fdsBefore[i]!) && Date.now() < end) await sleep(20);
    expect(pids.map(fdCount)).to.deep.equal(fdsBefore);
    const res = await httpGet(ctx.port, '/pg?n=3000');
    expect(res.body.equals(Buffer.from(expectedRows(1, 3000)))).to.equal(true);
    await waitGone(5000);
    await closedByFinally(from);
  });

  it('a database error mid-stream truncates the response (no chunked terminator), logged; the connection is closed', async () => {
    const before = ctx.logged.length;
    const from = ctx.stderr.length;
    const client = await RawClient.connect(ctx.port);
    try {
      await client.send(requestBytes({ path: '/pg-fails?at=3000' }));
      await client.waitForClose(10_000);
    } finally {
      client.destroy();
    }
    const text = client.buffer.toString('latin1');
    expect(text.startsWith('HTTP/1.1 200 OK\r\n'), text.slice(0, 200)).to.equal(true);
    const body = decodeChunked(client.buffer.subarray(headEnd(client.buffer)));
    expect(body.terminated, 'the client sees a truncated body').to.equal(false);
    // Rows 1..2500 came in five FETCHes of 500; the sixth hit the division by zero at row 3000.
    const lines = body.body.toString('utf8').trimEnd().split('\n');
    expect(lines).to.have.length(2500);
    expect(lines[0]).to.equal('{"id":1,"x":0}');
    expect(lines.at(-1)).to.equal('{"id":2500,"x":0}');
    const logged = ctx.logged.slice(before).map((args) => String(args[0])).join('\n');
    expect(logged).to.include('DivisionByZero');
    await waitGone(5000);
    await closedByFinally(from);
  });

  after(() => {
    if (Object.keys(cancelTimes).length) console.log(`      disconnect -> backend gone: ${Object.entries(cancelTimes).map(([k, v]) => `${k}: ${v.toFixed(1)} ms`).join('; ')}`);
  });
});
