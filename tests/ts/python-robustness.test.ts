/**
 * Python endpoints under stress and misuse: large items (linear framing, bounded memory),
 * the startup check's environment, output, and deadline, stuck and orphaned workers, a
 * wrong `python`, generators that never produce anything, and bodiless answers.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from '../../ts/index.js';
import { PythonBridge } from '../../ts/python/index.js';
import { Frame, FrameParser, HEADER_SIZE } from '../../ts/python/protocol.js';
import { fetchRaw, RawClient, requestBytes, sleep, within } from '../helpers/raw-client.js';
import { FIXTURES, pidAlive, readMarker, markerFile, startPythonApp, waitMarker, withPythonApp } from '../helpers/python.js';
import { underAsan } from '../helpers/sanitizer.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
const MiB = 1024 * 1024;

/** The bytes of bridge_handlers._pattern(size, seed). */
function pattern(size: number, seed = 0): Buffer {
  const ramp = Buffer.from(Array.from({ length: 251 }, (_, i) => (seed + i) % 251));
  const out = Buffer.allocUnsafe(size);
  for (let off = 0; off < size; off += 251) ramp.copy(out, off, 0, Math.min(251, size - off));
  return out;
}

function sha256(buf: Buffer): string {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

/** GET `path` with node:http, hashing the body as it arrives (nothing kept). */
function getHashed(port: number, urlPath: string, timeoutMs = 60000): Promise<{ status: number; bytes: number; sha256: string; headers: http.IncomingHttpHeaders }> {
  return within(new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      const hash = crypto.createHash('sha256');
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        hash.update(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, sha256: hash.digest('hex'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
  }), timeoutMs, `GET ${urlPath}`);
}

/**
 * Resets the peak RSS; false where it cannot be tracked: no /proc, or under ASan, whose
 * quarantine keeps freed memory resident (the frame reader's copy count covers that run).
 */
function resetPeakRss(): boolean {
  try {
    if (underAsan()) return false;
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

function peakRssKiB(): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]);
}

interface ChildRun {
  lines: Array<{ what: string; value: any }>;
  leaked: string[];
  stderr: string;
  code: number | null;
}

/** Runs tests/helpers/python-child.ts; resolves once it exited by itself (bounded). */
async function runChild(args: string[], boundMs: number): Promise<ChildRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'tests/helpers/python-child.ts'), ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  try {
    const code = await within(new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c))), boundMs,
      `the child (${args.join(' ')}) to exit by itself; stdout: ${out}; stderr: ${err}`);
    await new Promise((r) => setImmediate(r));
    return { ...parseChild(out), stderr: err, code };
  } finally {
    child.kill('SIGKILL');
  }
}

function parseChild(out: string): Pick<ChildRun, 'lines' | 'leaked'> {
  const lines: ChildRun['lines'] = [];
  const leaked: string[] = [];
  const text = out.endsWith('\n') ? out.slice(0, -1) : out;
  for (const line of text === '' ? [] : text.split('\n')) {
    const m = /^child: (listening|closed|listen failed) (.*)$/.exec(line);
    if (m) lines.push({ what: m[1]!, value: JSON.parse(m[2]!) });
    else leaked.push(line);
  }
  return { lines, leaked };
}

describe('python endpoints: large items', () => {
  /** Bytes copied by the usual copying primitives while `fn` runs. */
  function countCopies(fn: () => void): number {
    let copied = 0;
    const concat = Buffer.concat;
    const copy = Buffer.prototype.copy;
    const set = Uint8Array.prototype.set;
    (Buffer as { concat: typeof Buffer.concat }).concat = function (list: readonly Uint8Array[], total?: number) {
      const out = concat.call(Buffer, list, total);
      copied += out.length;
      return out;
    } as typeof Buffer.concat;
    Buffer.prototype.copy = function (this: Buffer, target: Uint8Array, ...rest: number[]) {
      const n = copy.call(this, target, ...rest);
      copied += n;
      return n;
    } as typeof Buffer.prototype.copy;
    Uint8Array.prototype.set = function (this: Uint8Array, source: ArrayLike<number>, offset?: number) {
      copied += source.length;
      return set.call(this, source, offset);
    } as typeof Uint8Array.prototype.set;
    try {
      fn();
    } finally {
      (Buffer as { concat: typeof Buffer.concat }).concat = concat;
      Buffer.prototype.copy = copy;
      Uint8Array.prototype.set = set;
    }
    return copied;
  }

  function frameBytes(type: number, id: number, payload: Buffer): Buffer {
    const head = Buffer.alloc(HEADER_SIZE);
    head.writeUInt8(type, 0);
    head.writeUInt32BE(id, 1);
    head.writeUInt32BE(payload.length, 5);
    return Buffer.concat([head, payload]);
  }

  it('the frame reader works linearly (a 50 MiB frame fed in 64 KiB reads is never re-copied) and splits nothing wrong', () => {
    const payload = pattern(50 * MiB);
    const wire = Buffer.concat([frameBytes(Frame.Data, 7, payload), frameBytes(Frame.End, 7, Buffer.alloc(0))]);
    const reads: Buffer[] = [];
    for (let off = 0; off < wire.length; off += 64 * 1024) reads.push(Buffer.from(wire.subarray(off, off + 64 * 1024)));
    const got: Array<{ type: number; id: number; data: Buffer | Buffer[] }> = [];
    const parser = new FrameParser((type, id, data) => got.push({ type, id, data }), new Set([Frame.Data]));
    let total = 0;
    let worst = 0;
    for (const read of reads) {
      const n = countCopies(() => parser.push(read));
      total += n;
      worst = Math.max(worst, n);
    }
    const bytes = got.map((f) => (Array.isArray(f.data) ? Buffer.concat(f.data) : f.data));
    expect(got.map((f, i) => [f.type, f.id, bytes[i]!.length])).to.deep.equal([[Frame.Data, 7, payload.length], [Frame.End, 7, 0]]);
    expect(sha256(bytes[0]!)).to.equal(sha256(payload));
    expect(worst, 'bytes copied by one read at most').to.be.at.most(2 * 64 * 1024);
    expect(total, 'bytes copied in all').to.be.at.most(2 * wire.length);
    // a frame of another type spanning reads is assembled with one copy
    const error = frameBytes(Frame.Error, 9, pattern(2 * MiB + 5));
    let assembled: Buffer | null = null;
    const errParser = new FrameParser((_type, _id, data) => (assembled = data as Buffer), new Set([Frame.Data]));
    const errCopies = countCopies(() => {
      for (let off = 0; off < error.length; off += 64 * 1024) errParser.push(error.subarray(off, off + 64 * 1024));
    });
    expect(sha256(assembled!)).to.equal(sha256(error.subarray(HEADER_SIZE)));
    expect(errCopies, 'bytes copied for a 2 MiB ERROR frame').to.be.at.most(2 * error.length);
    // and nothing is split wrong: frames cut at every offset come out whole
    const frames = [frameBytes(Frame.Head, 1, Buffer.from('{"status":200,"headers":[]}')), frameBytes(Frame.Data, 1, pattern(300)),
      frameBytes(Frame.End, 1, Buffer.alloc(0)), frameBytes(Frame.Error, 2, Buffer.from('{"type":"X"}'))];
    const small = Buffer.concat(frames);
    for (let cut = 0; cut <= small.length; cut++) {
      for (const step of [1, 7, small.length]) {
        const got: string[] = [];
        const parser = new FrameParser((type, id, data) => {
          got.push(`${type}/${id}/${(Array.isArray(data) ? Buffer.concat(data) : data).toString('hex')}`);
        }, new Set([Frame.Data]));
        parser.push(small.subarray(0, cut));
        for (let off = cut; off < small.length; off += step) parser.push(small.subarray(off, Math.min(off + step, small.length)));
        const want = frames.map((f) => `${f[0]}/${f.readUInt32BE(1)}/${f.subarray(HEADER_SIZE).toString('hex')}`);
        expect(got, `cut ${cut} step ${step}`).to.deep.equal(want);
      }
    }
  });

  it('streams one 50 MiB item byte-exact, with Node\'s memory bounded, while a plain route answers', async () => {
    await withPythonApp(
      (app, py) => {
        app.get('/big', py.endpoint('bridge_handlers:big'));
        app.get('/js', () => 'js');
      },
      async ({ port }) => {
        const canTrack = resetPeakRss();
        const before = canTrack ? peakRssKiB() : 0;
        const big = getHashed(port, '/big');
        const js = await fetchRaw(port, { path: '/js' });
        expect(js.text()).to.equal('js');
        const r = await big;
        expect(r.status).to.equal(200);
        expect(r.bytes).to.equal(50 * MiB);
        expect(r.sha256).to.equal(sha256(pattern(50 * MiB)));
        if (canTrack) {
          // The item is 50 MiB; Node holds a window and a few frames of it (the quadratic reader peaked ~250 MiB over).
          const grew = (peakRssKiB() - before) / 1024;
          expect(grew, `peak RSS growth ${grew.toFixed(1)} MiB`).to.be.below(100);
        }
      },
      { workers: 1 },
    );
  });

  it('streams big async-generator items and a big returned document byte-exact, with Node\'s memory bounded', async () => {
    await withPythonApp(
      (app, py) => {
        app.get('/abig', py.endpoint('bridge_handlers:async_big'));
        app.get('/doc', py.endpoint('bridge_handlers:big_document'));
      },
      async ({ port }) => {
        const canTrack = resetPeakRss();
        const before = canTrack ? peakRssKiB() : 0;
        const size = 20 * MiB + 17;
        const a = await getHashed(port, `/abig?size=${size}&count=2`);
        expect(a.bytes).to.equal(2 * size);
        expect(a.sha256).to.equal(sha256(Buffer.concat([pattern(size, 0), pattern(size, 1)])));
        const d = await getHashed(port, `/doc?size=${50 * MiB}`);
        expect(d.headers['content-type']).to.equal('application/octet-stream');
        expect(d.bytes).to.equal(50 * MiB);
        expect(d.sha256).to.equal(sha256(pattern(50 * MiB)));
        if (canTrack) {
          // What the test itself holds (the expected bytes, ~90 MiB) is taken off.
          const grew = (peakRssKiB() - before) / 1024 - 90;
          expect(grew, `peak RSS growth beyond the test's own buffers ${grew.toFixed(1)} MiB`).to.be.below(100);
        }
      },
      { workers: 1 },
    );
  });
});

describe('python endpoints: the startup check', () => {
  it('gives the check the bridge\'s env option, as the workers get it (default pythonia check)', async () => {
    await withPythonApp(
      (app, py) => app.get('/env', py.endpoint('env_module:value')),
      async ({ port, bridge }) => {
        expect(bridge.stats().validatedVia).to.equal('pythonia');
        const r = await fetchRaw(port, { path: '/env' });
        expect(r.status).to.equal(200);
        expect(r.text()).to.equal('from the env option\n');
      },
      { env: { CATZILLA_TEST_ENV_VALUE: 'from the env option' } },
    );
  });

  for (const validate of ['pythonia', 'subprocess', false] as const) {
    it(`keeps a PYTHONPATH given in the env option (validate: ${validate})`, async () => {
      await withPythonApp(
        (app, py) => app.get('/pp', py.endpoint('only_via_pythonpath:hello')),
        async ({ port }) => {
          const r = await fetchRaw(port, { path: '/pp' });
          expect(r.status).to.equal(200);
          expect(r.text()).to.equal('found through PYTHONPATH\n');
        },
        { validate, env: { PYTHONPATH: path.join(FIXTURES, 'pythonpath_only') } },
      );
    });
  }

  for (const via of ['pythonia', 'subprocess'] as const) {
    it(`a module that hangs at import: listen() rejects once, says timeout and which module, and Node exits (${via})`, async () => {
      const run = await runChild(['hang', via], 30000);
      expect(run.code).to.equal(0);
      expect(run.leaked, 'nothing but the child\'s own lines on its stdout').to.deep.equal([]);
      const failed = run.lines.filter((l) => l.what === 'listen failed');
      expect(failed).to.have.length(1);
      const { code, message } = failed[0]!.value as { code: string; message: string };
      expect(code).to.equal('EPYTHONTIMEOUT');
      expect(message).to.include('timed out after 1500 ms');
      expect(message).to.include('module "hang_module"');
      expect(message).to.include('hang_module: waiting for a server that never answers');
      // one deadline: the rejection comes at startupTimeout (1500 ms), not after a second wait
      const { ms } = failed[0]!.value as { ms: number };
      expect(ms, 'ms from listen() to its rejection').to.be.within(1500, 2900);
    });
  }

  for (const via of ['pythonia', 'subprocess'] as const) {
    it(`keeps module output at import off the app's stdout (${via})`, async () => {
      const run = await runChild(['noisy', via], 30000);
      expect(run.leaked, 'lines that leaked into the app\'s stdout').to.deep.equal([]);
      expect(run.lines.map((l) => l.what)).to.deep.equal(['listening', 'closed']);
      expect(run.lines[0]!.value.validatedVia).to.equal(via);
    });

    it(`shows a failing module's output with the import error, not on stdout (${via})`, async () => {
      const run = await runChild(['noisy-broken', via], 30000);
      expect(run.leaked).to.deep.equal([]);
      const failed = run.lines.filter((l) => l.what === 'listen failed');
      expect(failed).to.have.length(1);
      const { code, message } = failed[0]!.value as { code: string; message: string };
      expect(code).to.equal('EPYTHONIMPORT');
      expect(message).to.include('RuntimeError: noisy_broken cannot start');
      expect(message).to.include('noisy_broken: connecting to the database at import');
    });
  }

  it('names the executable and the `python` option when it is not a Python (python: "/bin/false")', async () => {
    const app = new App({ logger: { error() {} } });
    const py = new PythonBridge({ app, python: '/bin/false', paths: [FIXTURES] });
    app.get('/rows', py.endpoint('bridge_handlers:rows'));
    const err = await within(app.listen({ port: 0, host: '127.0.0.1' }).then(() => null, (e: unknown) => e), 10000, 'listen() to fail');
    expect((err as { code?: string }).code).to.equal('EPYTHONSTART');
    const message = (err as Error).message;
    expect(message).to.include('"/bin/false -m catzilla_bridge.worker" exited with code 1');
    expect(message).to.include('`python` option');
    await app.close();
  });
});

describe('python endpoints: stuck workers', () => {
  it('detects a worker whose event loop is blocked, fails its request, and replaces it', async () => {
    const ctx = await startPythonApp((app, py) => {
      app.get('/blocked', py.endpoint('bridge_handlers:async_blocked'));
      app.get('/hello', py.endpoint('bridge_handlers:hello'));
    }, { livenessTimeout: 1000 });
    try {
      const before = ctx.bridge.stats().workers;
      const marker = markerFile();
      const blocked = within(fetchRawLong(ctx.port, `/blocked?marker=${marker}`), 20000, 'the blocked request to be answered');
      await waitMarker(marker, 'start', 5000);
      const r = await blocked;
      expect(r.status).to.equal(500);
      const logged = ctx.logged.map((a) => String(a[0])).join('\n');
      expect(logged).to.match(/Python worker \(pid \d+\) did not answer for \d+ ms \(livenessTimeout 1000 ms\): its event loop is blocked/);
      const hellos = await within(Promise.all([1, 2, 3, 4].map(() => fetchRaw(ctx.port, { path: '/hello' }))), 10000, '4 requests');
      expect(hellos.map((h) => h.text())).to.deep.equal(Array(4).fill('hello from python\n'));
      const end = Date.now() + 10000;
      let after = ctx.bridge.stats().workers;
      while ((after.length < 2 || before.every((p) => after.includes(p))) && Date.now() < end) {
        await sleep(50);
        after = ctx.bridge.stats().workers;
      }
      expect(after).to.have.length(2);
      const stuck = before.filter((p) => !after.includes(p));
      expect(stuck, 'the stuck worker was replaced').to.have.length(1);
      while (pidAlive(stuck[0]!) && Date.now() < end) await sleep(50);
      expect(pidAlive(stuck[0]!), 'the stuck worker was killed').to.equal(false);
    } finally {
      await ctx.close();
    }
  });

  it('every worker dies with its Node process, even one with a blocked event loop (SIGKILL)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'tests/helpers/python-child.ts'), 'blocked'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', () => {});
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    let pids: number[] = [];
    try {
      const listening = await within(new Promise<{ port: number; workers: number[] }>((resolve) => {
        const check = (): void => {
          const line = parseChild(out).lines.find((l) => l.what === 'listening');
          if (line) resolve(line.value);
        };
        child.stdout.on('data', check);
        check();
      }), 20000, 'the child to listen');
      pids = listening.workers;
      expect(pids).to.have.length(2);
      const marker = markerFile();
      const client = await RawClient.connect(listening.port);
      await client.send(requestBytes({ path: `/target?marker=${marker}` }));
      await waitMarker(marker, 'start', 5000);
      child.kill('SIGKILL');
      await within(exited, 5000, 'the child to die');
      client.destroy();
      const end = Date.now() + 10000;
      while (pids.some(pidAlive) && Date.now() < end) await sleep(50);
      expect(pids.filter(pidAlive), 'workers alive after their Node process was killed').to.deep.equal([]);
    } finally {
      child.kill('SIGKILL');
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone.
        }
      }
    }
  });
});

describe('python endpoints: nothing produced', () => {
  it('answers 504 when the first item does not come within firstItemTimeout, and closes the generator', async () => {
    await withPythonApp(
      (app, py) => app.get('/late', py.endpoint('bridge_handlers:late_first', { firstItemTimeout: 300 })),
      async ({ port, bridge }) => {
        const marker = markerFile();
        // The generator sleeps 1 s before its first item (a sync sleep cannot be interrupted).
        const r = await within(fetchRawLong(port, `/late?delay=1&marker=${marker}`), 10000, 'the 504');
        expect(r.status).to.equal(504);
        expect(readMarker(marker), 'answered before the first item').to.deep.equal(['start']);
        const lines = await waitMarker(marker, 'finally', 5000);
        expect(lines).to.not.include('after first');
        const end = Date.now() + 5000;
        while (bridge.stats().activeStreams > 0 && Date.now() < end) await sleep(20);
        expect(bridge.stats().activeStreams).to.equal(0);
      },
    );
  });

  it('answers 503 at app.close() to a request whose function has sent nothing yet', async () => {
    const ctx = await startPythonApp((app, py) => app.get('/late', py.endpoint('bridge_handlers:late_first')));
    const marker = markerFile();
    const client = await RawClient.connect(ctx.port);
    try {
      await client.send(requestBytes({ path: `/late?delay=1&marker=${marker}` }));
      await waitMarker(marker, 'start', 5000);
      const closing = ctx.close(3000);
      const r = await client.readResponse({ timeoutMs: 10000 });
      expect(r.status).to.equal(503);
      expect(readMarker(marker), 'answered before the first item').to.deep.equal(['start']);
      await closing;
      const lines = await waitMarker(marker, 'finally', 5000);
      expect(lines).to.not.include('after first');
    } finally {
      client.destroy();
      await ctx.close();
    }
  });
});

describe('python endpoints: bodiless answers', () => {
  it('answers a function returning None with a 204 that has no Content-Type', async () => {
    await withPythonApp(
      (app, py) => {
        app.get('/nothing', py.endpoint('bridge_handlers:nothing'));
        app.get('/empty', py.endpoint('bridge_handlers:empty_text'));
      },
      async ({ port }) => {
        const n = await fetchRaw(port, { path: '/nothing' });
        expect(n.statusLine).to.equal('HTTP/1.1 204 No Content');
        expect(n.get('content-type')).to.equal(undefined);
        expect(n.get('transfer-encoding')).to.equal(undefined);
        expect(n.body.length).to.equal(0);
        const e = await fetchRaw(port, { path: '/empty' });
        expect(e.status).to.equal(200);
        expect(e.get('content-type')).to.equal('text/plain; charset=utf-8');
        expect(e.get('content-length')).to.equal('0');
      },
    );
  });
});

/** One GET on a fresh connection, waiting up to 15 s for the answer. */
async function fetchRawLong(port: number, urlPath: string) {
  const client = await RawClient.connect(port);
  try {
    await client.send(requestBytes({ path: urlPath }));
    return await client.readResponse({ timeoutMs: 15000 });
  } finally {
    client.destroy();
  }
}
