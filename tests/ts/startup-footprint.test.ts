/**
 * What importing catzilla loads: packages that only some apps use are loaded at their first use,
 * not at import (prom-client with the OpenTelemetry API behind it, compressible and mime-types
 * with mime-db), and so are node:crypto and node:zlib; nothing reads the global Headers or
 * Response at import or for a plain record of headers (that loads Node's fetch implementation,
 * undici, with http2, tls, crypto and zlib). A process that imports catzilla: 64.1 -> 53.9 MiB
 * RSS. Database drivers are the application's (optional peer dependencies): pg-cursor and
 * pg-copy-streams load at the first export that needs them. Checked in a fresh node process.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const index = pathToFileURL(path.join(root, 'ts/index.ts')).href;

/**
 * The CommonJS packages and the Node built-ins (`node:name`) loaded by a fresh process that
 * imports catzilla, then runs `then` (JS over `c`).
 */
function packagesLoaded(then = ''): string[] {
  const script = `import(${JSON.stringify(index)}).then(async (c) => { ${then}; const seen = new Set();
    for (const file of Object.keys(require.cache)) { const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(file); if (m) seen.add(m[1]); }
    for (const entry of process.moduleLoadList) { const m = /^NativeModule ([a-z0-9_]+)$/.exec(entry); if (m) seen.add('node:' + m[1]); }
    console.log(JSON.stringify([...seen].sort())); }).catch((err) => { console.error(err); process.exit(1); });`;
  // The release addon: a child made by spawnSync cannot get the sanitizer runtimes the ASan build needs.
  const env = { ...process.env };
  delete env.CATZILLA_ADDON;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
  expect(run.status, run.stderr).to.equal(0);
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as string[];
}

describe('start-up: what importing catzilla loads', () => {
  it('loads prom-client (and OpenTelemetry) and compressible only when first used', () => {
    const atImport = packagesLoaded();
    expect(atImport).to.not.include('prom-client');
    expect(atImport).to.not.include('@opentelemetry/api');
    expect(atImport).to.not.include('compressible');
    expect(atImport).to.not.include('mime-types');
    expect(atImport).to.not.include('redis'); // the backplane loads node-redis when it connects
    expect(atImport).to.not.include('@redis/client');
    const afterUse = packagesLoaded(`c.metricsRegistry(new c.App()); c.compress({ encodings: ['gzip'] });`);
    expect(afterUse).to.include('prom-client');
  });

  it('loads busboy only when an upload is first parsed', () => {
    expect(packagesLoaded()).to.not.include('busboy');
    const afterUse = packagesLoaded(`const req = { header: () => 'multipart/form-data; boundary=x', [Symbol.asyncIterator]: async function* () {} };
      await (async () => { for await (const _ of new c.MultipartReader(req)) void _; })().catch((e) => { if (e.status !== 400) throw e; });`);
    expect(afterUse).to.include('busboy');
  });

  it('loads no database driver at import (pg, pg-cursor, pg-copy-streams, better-sqlite3); pg-cursor at the first export', () => {
    const atImport = packagesLoaded();
    for (const pkg of ['pg', 'pg-cursor', 'pg-copy-streams', 'pg-protocol', 'better-sqlite3']) expect(atImport).to.not.include(pkg);
    const afterUse = packagesLoaded(`await c.pgQuery({ connect: async () => { throw new Error('no server') } }, 'SELECT 1')[Symbol.asyncIterator]().next().catch(() => {});`);
    expect(afterUse).to.include('pg-cursor');
    expect(afterUse).to.not.include('better-sqlite3');
  });

  it('loads neither node:zlib nor Node\'s fetch implementation (http2, tls) at import or for plain headers', () => {
    const atImport = packagesLoaded(`new c.ResponseHeaders({ a: '1' }); new c.ResponseHeaders([['b', '2']]); c.text('x', { headers: { c: '3' } });`);
    for (const builtin of ['node:zlib', 'node:http2', 'node:tls']) expect(atImport).to.not.include(builtin);
    // the global Headers is still recognised when one is given (and then loads fetch)
    const withHeaders = packagesLoaded(`if (new c.ResponseHeaders(new Headers({ a: '1' })).get('a') !== '1') throw new Error('Headers not read');`);
    expect(withHeaders).to.include('node:http2');
  });
});
