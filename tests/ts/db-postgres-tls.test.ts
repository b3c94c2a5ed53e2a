/**
 * `pgSocket` with TLS to PostgreSQL (a server with ssl on, a CA made by the tests): a pool with
 * `ssl` and `stream: pgSocket` exports (COPY and cursor) byte for byte what it does without TLS,
 * on backends pg_stat_ssl shows encrypted, and a disconnect still cancels (the CancelRequest
 * goes in clear). The factory gives pg a plain socket then (pg wraps it in TLS: a COPY is read
 * from the TLS socket the stream way, and the socket's own buffer would go unused).
 */
import { expect } from 'chai';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ndjson, pgCopyCsv, pgQuery, pgSocket } from '../../ts/index.js';
import { makeTlsFiles } from '../helpers/tls-files.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { RawClient, requestBytes, sleep } from '../helpers/raw-client.js';
import { withApp } from '../helpers/with-app.js';

const require = createRequire(import.meta.url);
const pg = require('pg') as typeof import('pg');

const ROWS = 20_000;
const SQL = "SELECT g AS id, 'row ' || g AS name FROM generate_series(1, 20000) AS g";

describe('db: PostgreSQL over TLS, pool on pgSocket', function () {
  this.timeout(60_000);
  let dir = '';
  let server: PostgresServer;
  let pool: InstanceType<typeof pg.Pool>;
  let admin: InstanceType<typeof pg.Client>;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-pgtls-'));
    const files = makeTlsFiles(dir);
    // PostgreSQL reads its key as the postgres user and refuses one others can read.
    const key = path.join(dir, 'pg.key');
    const cert = path.join(dir, 'pg.pem');
    fs.copyFileSync(files.serverKey, key);
    fs.copyFileSync(files.serverCert, cert);
    fs.chmodSync(key, 0o600);
    fs.chmodSync(dir, 0o755);
    if (process.getuid?.() === 0) spawnSync('chown', ['postgres:postgres', key, cert]);
    server = await startPostgres({ ssl: 'on', ssl_cert_file: cert, ssl_key_file: key });
    admin = new pg.Client({ connectionString: server.adminUrl });
    await admin.connect();
    admin.on('error', () => {});
    pool = new pg.Pool({ connectionString: server.url, max: 4, ssl: { ca: fs.readFileSync(files.ca) }, stream: pgSocket });
    pool.on('error', () => {});
  });

  after(async () => {
    await pool?.end();
    await admin?.end();
    await server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const setup = (app: any) => {
    app.get('/rows.csv', () => pgCopyCsv(pool, SQL));
    app.get('/rows.ndjson', () => ndjson(pgQuery(pool, SQL, [], { batchSize: 500 })));
    app.get('/slow.csv', () => pgCopyCsv(pool, "SELECT g, repeat('x', 200), pg_sleep(0.001) FROM generate_series(1, 1000000) AS g"));
  };

  it('COPY and cursor exports are complete and exact, on backends pg_stat_ssl shows encrypted', async () => {
    await withApp(setup, async ({ base }) => {
      const csv = await (await fetch(`${base}/rows.csv`)).text();
      const expected = 'id,name\n' + Array.from({ length: ROWS }, (_, i) => `${i + 1},row ${i + 1}\n`).join('');
      expect(csv.length).to.equal(expected.length);
      expect(csv === expected).to.equal(true);
      const lines = (await (await fetch(`${base}/rows.ndjson`)).text()).trimEnd().split('\n');
      expect(lines).to.have.length(ROWS);
      expect(JSON.parse(lines[ROWS - 1]!)).to.deep.equal({ id: ROWS, name: `row ${ROWS}` });
      const ssl = await admin.query(`SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'catzilla'`);
      expect(ssl.rows.length).to.be.greaterThan(0);
      for (const row of ssl.rows) expect(row.ssl, `a backend of the pool (${row.version})`).to.equal(true);
    });
  });

  it('a client that disconnects mid-COPY cancels it: the backend is gone from pg_stat_activity, the pool clean', async () => {
    await withApp(setup, async ({ port }) => {
      const client = await RawClient.connect(port);
      await client.send(requestBytes({ path: '/slow.csv' }));
      await client.until(() => client.buffer.length > 100, 'the first rows');
      client.destroy();
      const running = async () => (await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = 'catzilla' AND query LIKE 'COPY%' AND state = 'active'`)).rows[0].n as number;
      const deadline = Date.now() + 5000;
      while ((await running()) > 0 && Date.now() < deadline) await sleep(10);
      expect(await running()).to.equal(0);
      await sleep(100);
      expect(pool.waitingCount).to.equal(0);
      expect(pool.idleCount).to.equal(pool.totalCount);
    });
  });
});
