/**
 * Graceful shutdown: app.close() with idle, in-flight and too-slow connections,
 * refusal after close, and a process that exits by itself after close.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { startApp } from '../helpers/with-app.js';
import { RawClient, deferred, requestBytes, within } from '../helpers/raw-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Sleep up to `ms`, cut short when `signal` aborts; the timer never holds the process. */
function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function setup(started: { resolve(v: void): void }, aborted?: { resolve(v: boolean): void }) {
  return (app: any) => {
    app.get('/fast', () => 'fast');
    app.get('/slow', async (req: any) => {
      started.resolve();
      await sleepUnlessAborted(300, req.signal);
      return 'slow done';
    });
    app.get('/too-slow', async (req: any) => {
      started.resolve();
      await sleepUnlessAborted(10_000, req.signal);
      aborted?.resolve(req.signal.aborted);
      return 'should never be sent';
    });
  };
}

function connectRefused(port: number): Promise<string> {
  return within(
    new Promise<string>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? String(err)));
    }),
    5000,
    'connect after close',
  );
}

describe('wire: shutdown', () => {
  it('close() closes an idle keep-alive connection and resolves', async () => {
    const ctx = await startApp(setup(deferred()));
    const client = await RawClient.connect(ctx.port);
    try {
      await client.send(requestBytes({ path: '/fast' }));
      expect((await client.readResponse()).text()).to.equal('fast');
      await ctx.close(2000);
      await client.waitForClose();
      expect(client.unread().length).to.equal(0);
    } finally {
      client.destroy();
      await ctx.close();
    }
  });

  it('close() lets an in-flight slow request finish its response, then resolves', async () => {
    const started = deferred();
    const ctx = await startApp(setup(started));
    const client = await RawClient.connect(ctx.port);
    try {
      await client.send(requestBytes({ path: '/slow' }));
      await within(started.promise, 5000, 'the slow handler to start');
      const closed = ctx.close(5000);
      const r = await client.readResponse();
      expect(r.statusLine).to.equal('HTTP/1.1 200 OK');
      expect(r.text()).to.equal('slow done');
      await closed;
      await client.waitForClose();
    } finally {
      client.destroy();
      await ctx.close();
    }
  });

  it('close() with a request slower than the timeout: the connection is closed, close resolves', async () => {
    const started = deferred();
    const ctx = await startApp(setup(started, deferred<boolean>()));
    const client = await RawClient.connect(ctx.port);
    try {
      await client.send(requestBytes({ path: '/too-slow' }));
      await within(started.promise, 5000, 'the handler to start');
      await ctx.close(300);
      await client.waitForClose();
      expect(client.buffer.toString('latin1')).to.not.include('should never be sent');
      expect(client.buffer.toString('latin1')).to.not.match(/^HTTP\/1\.1 200/);
    } finally {
      client.destroy();
      await ctx.close();
    }
  });

  it('a request cut by the close timeout sees req.signal aborted', async () => {
    const started = deferred();
    const aborted = deferred<boolean>();
    const ctx = await startApp(setup(started, aborted));
    const client = await RawClient.connect(ctx.port);
    try {
      await client.send(requestBytes({ path: '/too-slow' }));
      await within(started.promise, 5000, 'the handler to start');
      await ctx.close(300);
      expect(await within(aborted.promise, 5000, 'the handler to see the abort')).to.equal(true);
    } finally {
      client.destroy();
      await ctx.close();
    }
  });

  it('after close() resolves, connecting is refused', async () => {
    const ctx = await startApp(setup(deferred()));
    const client = await RawClient.connect(ctx.port);
    await client.send(requestBytes({ path: '/fast' }));
    expect((await client.readResponse()).text()).to.equal('fast');
    client.destroy();
    await ctx.close(1000);
    expect(await connectRefused(ctx.port)).to.equal('ECONNREFUSED');
  });

  for (const keepOpen of [false, true]) {
    it(`a process that serves one request and awaits app.close() exits by itself (client ${keepOpen ? 'keeps its keep-alive connection open' : 'closes'})`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'tests', 'helpers', 'serve-once.ts')], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let client: RawClient | undefined;
      try {
        const port = await within(
          new Promise<number>((resolve, reject) => {
            const check = () => {
              const m = /port (\d+)/.exec(stdout);
              if (m) resolve(Number(m[1]));
            };
            child.stdout.on('data', check);
            child.on('exit', () => reject(new Error(`child exited before listening; stderr: ${stderr}`)));
          }),
          10_000,
          'the child to listen',
        );
        client = await RawClient.connect(port);
        await client.send(requestBytes({ path: '/bye', headers: keepOpen ? [] : [['Connection', 'close']] }));
        const r = await client.readResponse();
        expect(r.text()).to.equal('bye');
        if (!keepOpen) client.destroy();
        const code = await within(exited, 10_000, `the child to exit by itself (stdout ${JSON.stringify(stdout)}, stderr ${JSON.stringify(stderr)})`);
        expect(code, `stderr: ${stderr}`).to.equal(0);
        expect(stdout).to.include('closed');
      } finally {
        client?.destroy();
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    });
  }
});
