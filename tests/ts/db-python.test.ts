/**
 * Python endpoints streaming from a database cursor (the standard sqlite3 module, fetchmany()
 * batches) through the bridge: every row arrives; a client that stops reading stops the
 * fetching; a client that disconnects closes the generator, whose `finally` closes the cursor
 * and the connection.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { RawClient, requestBytes, sleep } from '../helpers/raw-client.js';
import { markerFile, readMarker, startPythonApp, waitMarker, type PythonAppContext } from '../helpers/python.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
const ROWS = 100_000;

const batches = (marker: string): number => readMarker(marker).filter((l) => l.startsWith('batch')).length;

describe('db: Python endpoints stream from a database cursor (sqlite3)', function () {
  this.timeout(60_000);
  let ctx: PythonAppContext;
  let dir: string;
  let file: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-pydb-'));
    file = path.join(dir, 'export.db');
    const db = new Database(file);
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, pad TEXT)');
    const insert = db.prepare('INSERT INTO items VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 1; i <= ROWS; i++) insert.run(i, `name ${i}`, i % 3 === 0 ? null : 'p'.repeat(200));
    })();
    db.close();
    ctx = await startPythonApp((app, py) => {
      app.get('/export', py.endpoint('db_handlers:export_rows', { highWaterMark: 16 * 1024, lowWaterMark: 4 * 1024 }));
    }, { window: 16 * 1024 });
  });

  after(async () => {
    await ctx?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('every row as a JSON line, from a given key on', async () => {
    const marker = markerFile();
    const text = await (await fetch(`${ctx.base}/export?db=${encodeURIComponent(file)}&after=${ROWS - 2000}&marker=${marker}`)).text();
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).to.have.length(2000);
    // 98,001 is a multiple of 3: a NULL
    expect(lines[0]).to.deep.equal({ id: ROWS - 1999, name: `name ${ROWS - 1999}`, pad: null });
    expect(lines[1].pad).to.equal('p'.repeat(200));
    expect(lines.at(-1).id).to.equal(ROWS);
    await waitMarker(marker, 'finally', 3000);
  });

  it('a client that stops reading stops the fetching; a disconnect runs finally (cursor and connection closed)', async () => {
    const marker = markerFile();
    const client = await RawClient.connect(ctx.port);
    try {
      client.socket.pause();
      await client.send(requestBytes({ path: `/export?db=${encodeURIComponent(file)}&batch=100&marker=${marker}` }));
      let last = -1;
      let count = 0;
      for (let i = 0; i < 60; i++) {
        await sleep(250);
        count = batches(marker);
        if (count > 0 && count === last) break;
        last = count;
      }
      await sleep(500);
      expect(batches(marker), 'no fetching while the client does not read').to.equal(count);
      expect(count).to.be.below(ROWS / 100 / 2);
      expect(readMarker(marker)).to.not.include('finally');
    } finally {
      client.destroy();
    }
    const t0 = Date.now();
    await waitMarker(marker, 'finally', 3000);
    expect(Date.now() - t0).to.be.below(2000);
  });
});
