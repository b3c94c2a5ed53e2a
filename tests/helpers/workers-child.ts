/**
 * Runs tests/fixtures/workers-app.ts (an app in workers mode) as a real primary process with real
 * workers, for tests/ts/workers-*.test.ts. Every wait is bounded. In the sanitizer phase the
 * primary and its workers load the ASan addon (scripts/test.mjs gives node children the sanitizer
 * runtimes back); their sanitizer reports are copied to this process's stderr, where the run
 * counts them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { underAsan } from './sanitizer.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURE = path.join(ROOT, 'tests/fixtures/workers-app.ts');
const SANITIZER_RE = /ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer/;

/** Generous under ASan: a sanitized node with tsx takes seconds to start and to exit (leak check). */
export const SLOW = underAsan() ? 4 : 1;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every 25 ms until it returns a value other than undefined/false, or fails after `ms`. */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** Whether `pid` is a live process (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The live child processes of `pid` (from /proc). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid && fields[0] !== 'Z') out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out.sort((a, b) => a - b);
}

export interface Answer {
  status: number;
  body: string;
}

/**
 * One GET on a new connection (Connection: close), read until the server closes. Rejects with
 * the socket error (ECONNREFUSED, ECONNRESET...), or a timeout, or on an incomplete answer.
 */
export function get(port: number, target: string, timeoutMs = 10000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(Object.assign(new Error(`GET ${target}: no complete answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`));
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const m = /^HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n([\s\S]*?)\r\n\r\n([\s\S]*)$/.exec(text);
      if (m === null) return reject(Object.assign(new Error(`GET ${target}: incomplete answer ${JSON.stringify(text.slice(0, 200))}`), { code: 'EINCOMPLETE' }));
      const chunked = /transfer-encoding: chunked/i.test(m[2]!);
      resolve({ status: Number(m[1]), body: chunked ? dechunk(m[3]!) : m[3]! });
    });
  });
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    if (eol < 0) throw new Error('truncated chunked body');
    const size = parseInt(rest.slice(0, eol), 16);
    if (size === 0) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 4 + size);
  }
}

/** The worker that answered /pid: its pid and slot. */
export async function whoAnswers(port: number): Promise<{ pid: number; slot: number }> {
  const { status, body } = await get(port, '/pid');
  if (status !== 200) throw new Error(`/pid answered ${status}`);
  const [pid, slot] = body.trim().split(' ').map(Number);
  return { pid: pid!, slot: slot! };
}

export interface ListenResult {
  port?: number;
  workers?: Array<{ id: number; pid: number; state: string }>;
  code?: string;
  message?: string;
}

export class Primary {
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  exit: { code: number | null; signal: string | null } | null = null;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    let pending = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (SANITIZER_RE.test(line)) process.stderr.write(`[workers fixture] ${line}\n`);
    });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((this.exit = { code, signal }))));
    if (process.env.WORKERS_STDERR_DIR) child.stderr!.on('end', () => fs.writeFileSync(path.join(process.env.WORKERS_STDERR_DIR!, `primary-${child.pid}.txt`), this.stderr));
  }

  /** Starts the fixture's primary with `env` (own process group when `group`). */
  static spawn(env: Record<string, string>, group = false): Primary {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: group,
    });
    return new Primary(child);
  }

  /** Spawns and waits for `listening` or `listen failed`. */
  static async start(env: Record<string, string>, group = false): Promise<Primary> {
    const p = Primary.spawn(env, group);
    try {
      await p.listened(30000 * SLOW);
    } catch (err) {
      p.kill('SIGKILL');
      throw err;
    }
    return p;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The `listening` or `listen failed` line's value. */
  listened(ms: number): Promise<ListenResult & { failed: boolean }> {
    return until(() => {
      const ok = /^primary: listening (.*)$/m.exec(this.stdout);
      if (ok) return { ...(JSON.parse(ok[1]!) as ListenResult), failed: false };
      const failed = /^primary: listen failed (.*)$/m.exec(this.stdout);
      if (failed) return { ...(JSON.parse(failed[1]!) as ListenResult), failed: true };
      if (this.exit !== null) throw new Error(`the primary exited (${JSON.stringify(this.exit)}) before listening; stderr: ${this.stderr}`);
      return undefined;
    }, ms, `the primary to listen; stdout: ${this.stdout}; stderr: ${this.stderr}`);
  }

  get port(): number {
    const m = /^primary: listening (.*)$/m.exec(this.stdout);
    if (!m) throw new Error('not listening');
    return (JSON.parse(m[1]!) as ListenResult).port!;
  }

  /** Workers forked so far. */
  forks(): number {
    return (this.stdout.match(/^primary: fork \d+$/gm) ?? []).length;
  }

  /** The primary's children that run the fixture (not tsx's esbuild service). */
  workerPids(): number[] {
    return childrenOf(this.pid).filter((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(FIXTURE);
      } catch {
        return false;
      }
    });
  }

  kill(signal: NodeJS.Signals): void {
    try {
      this.child.kill(signal);
    } catch {
      // gone
    }
  }

  /** Stops the primary and every worker, whatever their state (test clean-up). */
  async stop(): Promise<void> {
    const all = [this.pid, ...this.workerPids()];
    if (this.exit === null) this.kill('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(15000 * SLOW).then(() => false)]);
    for (const pid of all) {
      if (!done || alive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await Promise.race([this.exited, sleep(5000)]);
  }
}
