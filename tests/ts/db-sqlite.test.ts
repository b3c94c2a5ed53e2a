/**
 * SQLite exports (better-sqlite3) on the wire: sqliteQuery() through ndjson / csv / sse, one
 * synchronous batch per turn of the event loop (the loop is never held longer than a batch),
 * resumable by keyset (the connection is free between batches), cancelled on disconnect (the
 * statement is released: the connection takes other statements again).
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { csv, ndjson, resumeToken, sqliteQuery, sse, MissingDriverError, type SqliteRows } from '../../ts/index.js';
import { driver } from '../../ts/db/driver.js';
import { RawClient, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { receivedLines, settled } from '../helpers/exports.js';
import { withApp } from '../helpers/with-app.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');

const ROWS = 50_000;
/** 300,000 small rows computed by SQLite. */
const MANY = 300_000;
const MANY_SQL = `WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ${MANY}) SELECT i AS id, 'name ' || i AS name FROM s`;
/** 200,000 rows of 1 KB (200 MB), far more than socket buffers hold. */
const WIDE_SQL = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 200000) SELECT i AS id, printf('%.1000c', 'w') AS pad FROM s";

/** Gaps between turns of the event loop (a setImmediate chain) while `fn` runs: the longest and the 99th percentile. */
async function loopGaps<T>(fn: () => Promise<T>): Promise<{ result: T; maxMs: number; p99Ms: number }> {
  const gaps: number[] = [];
  let last = performance.now();
  let running = true;
  const tick = (): void => {
    const now = performance.now();
    gaps.push(now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    const result = await fn();
    gaps.sort((a, b) => a - b);
    return { result, maxMs: gaps.at(-1) ?? 0, p99Ms: gaps[Math.floor(gaps.length * 0.99)] ?? 0 };
  } finally {
    running = false;
  }
}

/** Downloads with curl (another process: the test's own process only serves), returns the body size. */
function curlSize(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', url], { timeout: 30_000 }, (err, stdout) => (err ? reject(err) : resolve(Number(stdout))));
  });
}

describe('db: SQLite exports (better-sqlite3) on the wire', function () {
  this.timeout(60_000);
  let dir: string;
  let db: any;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-sqlite-'));
    db = new Database(path.join(dir, 'test.db'));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE marks (x INTEGER)');
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, score REAL, ok INTEGER, blob BLOB, note TEXT)`);
    const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= ROWS; i++) insert.run(i, `name ${i}`, i * 0.5, i % 2, i % 7 === 0 ? null : Buffer.from([i & 255]), i % 5 === 0 ? null : `say "hi", ${i}\nline`);
    })();
  });

  after(() => {
    db?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  let last: SqliteRows<any> | null = null;
  const setup = (app: any) => {
    app.get('/items.ndjson', (req: any) => ndjson((last = sqliteQuery(db, 'SELECT id, name, score, ok, note FROM items WHERE id <= ? ORDER BY id', [Number(req.query.get('n') ?? ROWS)], { batchSize: Number(req.query.get('batch') ?? 500) }))));
    app.get('/many.ndjson', (req: any) => ndjson((last = sqliteQuery(db, MANY_SQL, [], { batchSize: Number(req.query.get('batch')) }))));
    app.get('/wide.ndjson', () => ndjson((last = sqliteQuery(db, WIDE_SQL, [], { batchSize: 100 }))));
    app.get('/items.csv', () => csv((last = sqliteQuery(db, 'SELECT id, name, note FROM items ORDER BY id'))));
    app.get('/resumable.ndjson', (req: any) => ndjson((last = sqliteQuery(db, 'SELECT id, name FROM items WHERE ok = ?', [1], { resume: { key: 'id', after: resumeToken(req) }, batchSize: 200 })).withTokens()));
    app.get('/items.sse', (req: any) => sse(req, sqliteQuery(db, 'SELECT id, name FROM items WHERE id <= 500', [], { resume: { key: 'id', after: resumeToken(req) } }).events(), { heartbeat: 0 }));
  };

  it('ndjson and csv: every row, NULLs and text with quotes and newlines, parameters', async () => {
    await withApp(setup, async ({ base }) => {
      const lines = (await (await fetch(`${base}/items.ndjson?n=1000`)).text()).trimEnd().split('\n').map((l) => JSON.parse(l));
      expect(lines).to.have.length(1000);
      expect(lines[0]).to.deep.equal({ id: 1, name: 'name 1', score: 0.5, ok: 1, note: 'say "hi", 1\nline' });
      expect(lines[4].note).to.equal(null);
      const text = await (await fetch(`${base}/items.csv`)).text();
      expect(text.startsWith('id,name,note\r\n1,name 1,"say ""hi"", 1\nline"\r\n')).to.equal(true);
      expect(text.endsWith(`\r\n${ROWS},name ${ROWS},\r\n`)).to.equal(true);
    });
  });

  it('the event loop is never held longer than a batch (and is, when the batch is the whole table)', async () => {
    await withApp(setup, async ({ base }) => {
      const small = await loopGaps(() => curlSize(`${base}/many.ndjson?batch=200`));
      const smallRows = last!;
      expect(smallRows.rows).to.equal(MANY);
      expect(smallRows.batches).to.equal(MANY / 200 + 1);
      const whole = await loopGaps(() => curlSize(`${base}/many.ndjson?batch=${MANY + 1}`));
      const wholeRows = last!;
      expect(whole.result).to.equal(small.result);
      expect(wholeRows.batches).to.equal(1);
      // Nearly every turn is shorter than a batch plus the rest of a turn (encoding, writing)...
      expect(small.p99Ms).to.be.below(smallRows.longestBatchMs + 20);
      // ...and the longest (a GC, a busy machine) far below what reading the whole table at once
      // holds the loop: the test can tell the two apart.
      expect(whole.maxMs).to.be.at.least(wholeRows.longestBatchMs);
      expect(small.maxMs).to.be.below(wholeRows.longestBatchMs / 2);
    });
  });

  it('a client that disconnects stops the export and frees the connection for writes', async () => {
    await withApp(setup, async ({ port }) => {
      const client = await RawClient.connect(port);
      await client.send(requestBytes({ path: '/wide.ndjson' }));
      await client.until(() => client.buffer.length > 1000, 'the first rows');
      client.socket.pause();
      const rows = last!;
      const before = await settled(() => rows.batches);
      await sleep(300);
      expect(rows.batches).to.equal(before); // no reading while nobody reads
      // Meanwhile the open iterator keeps the connection from writing (better-sqlite3's rule)...
      expect(() => db.prepare('INSERT INTO marks VALUES (1)').run()).to.throw(/busy/);
      client.destroy();
      // ...and the disconnect releases it.
      await within(
        (async () => {
          for (;;) {
            try {
              if (db.prepare('INSERT INTO marks VALUES (2)').run().changes === 1) return;
            } catch {
              await sleep(5);
            }
          }
        })(),
        1000,
        'the connection free again',
      );
      expect(rows.batches).to.be.below(200_000 / 100 / 10);
    });
  });

  it('resumable NDJSON: break, resume with the token: none lost, none twice; the connection is free between batches', async () => {
    await withApp(setup, async ({ port, base }) => {
      const full = (await (await fetch(`${base}/resumable.ndjson`)).text()).trimEnd().split('\n').map((l) => JSON.parse(l));
      expect(full).to.have.length(ROWS / 2);
      const client = await RawClient.connect(port);
      await client.send(requestBytes({ path: '/resumable.ndjson' }));
      await client.until(() => client.buffer.length > 100_000, 'a part of the body');
      client.socket.pause();
      // Keyset batches hold no statement open: writes run meanwhile.
      expect(db.prepare('INSERT INTO marks VALUES (3)').run().changes).to.equal(1);
      client.destroy();
      const got = receivedLines(client.buffer);
      expect(got.length).to.be.greaterThan(100).and.below(ROWS / 2);
      const rest = (await (await fetch(`${base}/resumable.ndjson?resume=${encodeURIComponent(got.at(-1)._resume)}`)).text()).trimEnd().split('\n').map((l) => JSON.parse(l));
      expect([...got, ...rest].map((r) => r.id)).to.deep.equal(full.map((r) => r.id));
    });
  });

  it('resumable SSE: Last-Event-ID resumes after the row', async () => {
    await withApp(setup, async ({ base }) => {
      const all = (await (await fetch(`${base}/items.sse`)).text()).split('\n\n').filter((b) => b.includes('data:'));
      expect(all).to.have.length(500);
      const id = /^id: ?(.*)$/m.exec(all[99]!)![1]!;
      const rest = (await (await fetch(`${base}/items.sse`, { headers: { 'Last-Event-ID': id } })).text()).split('\n\n').filter((b) => b.includes('data:'));
      expect(rest).to.have.length(400);
      expect(rest[0]).to.include('data: {"id":101,"name":"name 101"}');
    });
  });

  it('a missing driver is an error naming the package to install', () => {
    expect(() => driver('catzilla-no-such-driver', 'sqliteQuery()')).to.throw(MissingDriverError, /npm install catzilla-no-such-driver/);
  });
});
