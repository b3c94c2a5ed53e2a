/**
 * ndjson, csv and jsonArray on the wire, read by real parsers: JSON.parse, Python's
 * json and csv modules. A source that throws mid-stream aborts the connection (no
 * chunked terminator), so a client never takes a prefix for the whole.
 */
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { csv, jsonArray, ndjson } from '../../ts/index.js';
import { deferred, RawClient, requestBytes } from '../helpers/raw-client.js';
import { testPython } from '../helpers/test-python.js';
import { withApp } from '../helpers/with-app.js';

const PY = String.raw`
import csv, io, json, sys, urllib.request
url, kind = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url, timeout=10) as r:
    ctype = r.headers.get('Content-Type')
    raw = r.read()
text = raw.decode('utf-8-sig') if kind == 'csv' else raw.decode('utf-8')
if kind == 'csv':
    rows = list(csv.reader(io.StringIO(text, newline='')))
    out = {'rows': rows, 'bom': raw.startswith(b'\xef\xbb\xbf')}
elif kind == 'json':
    out = {'value': json.loads(text)}
else:
    out = {'lines': [json.loads(l) for l in text.split('\n') if l != ''], 'endsWithNewline': text.endswith('\n')}
out['ctype'] = ctype
print(json.dumps(out))
`;

function python(url: string, kind: 'csv' | 'json' | 'ndjson'): Promise<any> {
  return new Promise((resolve, reject) => {
    execFile(testPython(), ['-c', PY, url, kind], { timeout: 20_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`python failed: ${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout));
    });
  });
}

const TRICKY = [
  { id: 1, name: 'plain', note: 'no quoting' },
  { id: 2, name: 'comma, inside', note: 'say "hi"' },
  { id: 3, name: 'multi\nline', note: 'cr\rand crlf\r\nend' },
  { id: 4, name: '', note: null },
  { id: 5, name: ' spaced ', note: 'ünïcödé ✓' },
  { id: 6, name: '"', note: ',' },
];

async function* slowly<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    yield item;
  }
}

/** Set by each failure test: the source throws once the client has seen bytes (a failure before any byte would be a 500). */
let bytesSeen: Promise<void> = Promise.resolve();

async function* failing(after: number): AsyncGenerator<unknown> {
  for (let i = 0; i < after; i++) yield { i, pad: 'p'.repeat(100) };
  await bytesSeen;
  throw new Error('source failed mid-stream');
}

describe('formats: ndjson, csv and jsonArray on the wire', () => {
  const setup = (app: any) => {
    app.get('/csv', () => csv(TRICKY, { columns: ['id', 'name', { key: 'note', header: 'Note "quoted"' }] }));
    app.get('/csv-async', () => csv(slowly(TRICKY), { bom: true, delimiter: ';' }));
    app.get('/csv-arrays', () => csv([['a', 'b'], [1, 'x,y'], [new Date(0), { k: 'v' }]], { header: false }));
    app.get('/ndjson', () => ndjson(TRICKY));
    app.get('/ndjson-async', () => ndjson(slowly([1, 'two', { three: [3] }, null, undefined])));
    app.get('/ndjson-big', () => ndjson((function* () { for (let i = 0; i < 20_000; i++) yield { i, s: `row-${i}` }; })()));
    app.get('/array', () => jsonArray(TRICKY));
    app.get('/array-async', () => jsonArray(slowly([1, { a: 'b\n"c"' }, [2, 3], undefined])));
    app.get('/array-empty', () => jsonArray([]));
    app.get('/array-fail', () => jsonArray(failing(300)));
    app.get('/ndjson-fail', () => ndjson(failing(300)));
    app.get('/csv-fail', () => csv(failing(300) as AsyncIterable<any>, { columns: ['i', 'pad'] }));
  };

  it('csv: Python csv reads back every value with commas, quotes and newlines; header from columns', async () => {
    await withApp(setup, async ({ base }) => {
      const out = await python(`${base}/csv`, 'csv');
      expect(out.ctype).to.equal('text/csv; charset=utf-8');
      expect(out.rows[0]).to.deep.equal(['id', 'name', 'Note "quoted"']);
      expect(out.rows.slice(1)).to.deep.equal(TRICKY.map((r) => [String(r.id), r.name, r.note ?? '']));
    });
  });

  it('csv: async rows, BOM, another delimiter and header inferred from the first object', async () => {
    await withApp(setup, async ({ base }) => {
      const out = await python(`${base}/csv-async`, 'csv');
      expect(out.bom).to.equal(true);
      // Python's reader with the default dialect sees ';'-separated lines as one field each; reparse with ';'.
      const res = await fetch(`${base}/csv-async`);
      const text = (await res.text()).replace(/^\uFEFF/, '');
      const rows = await new Promise<any>((resolve, reject) => {
        execFile(testPython(), ['-c', 'import csv,io,json,sys; print(json.dumps(list(csv.reader(io.StringIO(sys.stdin.read(), newline=""), delimiter=";"))))'], (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout)))).stdin!.end(text);
      });
      expect(rows[0]).to.deep.equal(['id', 'name', 'note']);
      expect(rows.slice(1)).to.deep.equal(TRICKY.map((r) => [String(r.id), r.name, r.note ?? '']));
      const arrays = await python(`${base}/csv-arrays`, 'csv');
      expect(arrays.rows).to.deep.equal([['a', 'b'], ['1', 'x,y'], ['1970-01-01T00:00:00.000Z', '{"k":"v"}']]);
    });
  });

  it('ndjson: one JSON value per line, read by Python json; sync sources batched, async ones per record', async () => {
    await withApp(setup, async ({ base }) => {
      const out = await python(`${base}/ndjson`, 'ndjson');
      expect(out.ctype).to.equal('application/x-ndjson');
      expect(out.lines).to.deep.equal(TRICKY);
      expect(out.endsWithNewline).to.equal(true);
      const asyncOut = await python(`${base}/ndjson-async`, 'ndjson');
      expect(asyncOut.lines).to.deep.equal([1, 'two', { three: [3] }, null, null]);
      const big = await (await fetch(`${base}/ndjson-big`)).text();
      const lines = big.trimEnd().split('\n').map((l) => JSON.parse(l));
      expect(lines).to.have.length(20_000);
      expect(lines[19_999]).to.deep.equal({ i: 19_999, s: 'row-19999' });
    });
  });

  it('jsonArray: a valid JSON array for JSON.parse and Python json, element by element', async () => {
    await withApp(setup, async ({ base }) => {
      const res = await fetch(`${base}/array`);
      expect(res.headers.get('content-type')).to.equal('application/json; charset=utf-8');
      expect(JSON.parse(await res.text())).to.deep.equal(TRICKY);
      expect((await python(`${base}/array`, 'json')).value).to.deep.equal(TRICKY);
      expect((await python(`${base}/array-async`, 'json')).value).to.deep.equal([1, { a: 'b\n"c"' }, [2, 3], null]);
      expect(await (await fetch(`${base}/array-empty`)).text()).to.equal('[]');
    });
  });

  for (const path of ['/array-fail', '/ndjson-fail', '/csv-fail']) {
    it(`a source that throws mid-stream aborts the connection (${path})`, async () => {
      await withApp(setup, async ({ port, logged }) => {
        const seen = deferred();
        bytesSeen = seen.promise;
        const client = await RawClient.connect(port);
        await client.send(requestBytes({ path }));
        await client.until(() => client.buffer.includes('"pad"') || client.buffer.includes(',ppp'), 'the first records');
        seen.resolve();
        await client.waitForClose();
        const text = client.buffer.toString('latin1');
        expect(text.startsWith('HTTP/1.1 200 OK')).to.equal(true);
        expect(text).to.include('Transfer-Encoding: chunked');
        expect(text.endsWith('0\r\n\r\n')).to.equal(false);
        expect(logged.flat().join(' ')).to.include('source failed mid-stream');
      });
    });
  }
});
