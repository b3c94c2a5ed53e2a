/**
 * A child process running tests/fixtures/backplane-app.ts: one "machine" of the backplane
 * tests, with its own catzilla app and its own Redis connections. In the sanitizer phase it
 * loads the ASan addon too (scripts/test.mjs gives node children the sanitizer variables back),
 * and its stderr is checked for sanitizer reports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { within } from './raw-client.js';
import { connectSSE, type SSEConnection } from './sse-client.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SANITIZER = /ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer/;

export interface AppChild {
  port: number;
  base: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** GET /stats */
  stats(): Promise<{ channel: Record<string, any>; backplane: Record<string, any>; asan: boolean; addon: string | null }>;
  /** SIGKILL by PID, at once. */
  kill(): Promise<void>;
  /** SIGTERM (app.close()) and wait for the exit; throws on a sanitizer report. */
  stop(): Promise<void>;
}

export async function startAppChild(redisUrl: string, env: Record<string, string> = {}): Promise<AppChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'tests/fixtures/backplane-app.ts')], {
    cwd: root,
    env: { ...process.env, BACKPLANE_URL: redisUrl, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await within(
    new Promise<number>((resolve, reject) => {
      const check = () => {
        const m = /port (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
        else if (/listen failed/.test(out)) reject(new Error(out.trim()));
      };
      child.stdout!.on('data', check);
      child.once('exit', (code) => reject(new Error(`the app child exited (${code}) before listening: ${out} ${err}`)));
    }),
    60_000,
    'the app child to listen',
  ).catch((e: unknown) => {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw e;
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    port,
    base,
    child,
    stdout: () => out,
    stderr: () => err,
    async stats() {
      const res = await fetch(`${base}/stats`);
      return (await res.json()) as { channel: Record<string, any>; backplane: Record<string, any>; asan: boolean; addon: string | null };
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      await within(exited, 10_000, 'the killed child to exit');
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        await within(exited, 60_000, 'the child to exit after SIGTERM').catch(async (e: unknown) => {
          child.kill('SIGKILL');
          throw e;
        });
      }
      if (SANITIZER.test(err)) throw new Error(`sanitizer report in the app child:\n${err}`);
    },
  };
}

/** Polls `fn` until it returns true (every 10 ms, at most `ms`). */
export async function eventually(fn: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`gave up after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * An SSE client of `<base>/events` (with Last-Event-ID when `last` is given), returned once the
 * in-process channel counts it; `cleanup` gets its close.
 */
export async function subscribeToChannel(
  base: string, channel: { readonly size: number }, cleanup: Array<() => unknown>, last?: string,
): Promise<SSEConnection> {
  const before = channel.size;
  const conn = await connectSSE(`${base}/events`, last === undefined ? {} : { 'Last-Event-ID': last });
  cleanup.push(() => conn.close());
  await eventually(() => channel.size > before, 'the subscriber to join');
  return conn;
}
