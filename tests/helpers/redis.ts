/**
 * A real redis-server for one test: a free port on 127.0.0.1, a temporary directory, AOF on
 * (`appendonly yes`, `appendfsync always`) so a stream survives a restart, stopped by its PID.
 * `stop()` is a graceful SIGTERM (Redis flushes and exits), `kill()` a SIGKILL; `start()` again
 * restarts on the same port and directory. Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';
import type { TlsFiles } from './tls-files.js';

export interface RedisServer {
  port: number;
  url: string;
  /** With `tls`: the TLS port (the plain port stays open for the helpers' own commands) and its rediss:// URL. */
  tlsPort: number | null;
  tlsUrl: string | null;
  dir: string;
  readonly pid: number | null;
  /** Starts (again) on the same port and directory. */
  start(): Promise<void>;
  /** SIGTERM by PID and wait for the exit (SIGKILL after 10 s). */
  stop(): Promise<void>;
  /** SIGKILL by PID. */
  kill(): Promise<void>;
  /** Stops it and removes its directory. */
  destroy(): Promise<void>;
  /** What redis-server printed (for failure messages). */
  log(): string;
}

export { freePort };

/** One request of the inline protocol on a fresh connection (PING, XLEN k...), answer as text. */
export function redisCommand(port: number, line: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`redis ${line}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(`${line}\r\n`));
    socket.on('data', (d) => {
      answer += d.toString('latin1');
      if (answer.endsWith('\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** `tls`: also listen with TLS on another free port (`authClients`: Redis asks for a client certificate). */
export async function startRedis(options: { tls?: { files: TlsFiles; authClients: boolean } } = {}): Promise<RedisServer> {
  const port = await freePort();
  const tlsPort = options.tls === undefined ? null : await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-redis-'));
  const tlsArgs =
    options.tls === undefined
      ? []
      : ['--tls-port', String(tlsPort), '--tls-cert-file', options.tls.files.serverCert, '--tls-key-file', options.tls.files.serverKey, '--tls-ca-cert-file', options.tls.files.ca, '--tls-auth-clients', options.tls.authClients ? 'yes' : 'no'];
  let child: ChildProcess | null = null;
  let output = '';

  const start = async (): Promise<void> => {
    output = '';
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no', '--protected-mode', 'no', '--logfile', '', ...tlsArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stdout!.on('data', (d) => (output += d));
    proc.stderr!.on('data', (d) => (output += d));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${output}`);
      try {
        if ((await redisCommand(port, 'PING', 500)).startsWith('+PONG')) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not answer PING within 10 s: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  const waitExit = async (proc: ChildProcess, signal: NodeJS.Signals): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    process.kill(proc.pid!, signal);
    const timer = new Promise<'late'>((resolve) => setTimeout(() => resolve('late'), 10_000));
    if ((await Promise.race([exited, timer])) === 'late') {
      process.kill(proc.pid!, 'SIGKILL');
      await exited;
    }
  };

  await start();
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    tlsPort,
    tlsUrl: tlsPort === null ? null : `rediss://127.0.0.1:${tlsPort}`,
    dir,
    get pid() {
      return child?.pid ?? null;
    },
    start,
    async stop() {
      if (child !== null) await waitExit(child, 'SIGTERM');
    },
    async kill() {
      if (child !== null) await waitExit(child, 'SIGKILL');
    },
    async destroy() {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
    log: () => output,
  };
  return server;
}

/**
 * Mocha hooks for a describe(): one redis-server for the suite (started in before(), destroyed
 * in after()), and a list of clean-ups run after each test, last registered first.
 */
export function redisForSuite(): { readonly redis: RedisServer; cleanup: Array<() => Promise<unknown> | unknown> } {
  let server: RedisServer | null = null;
  const cleanup: Array<() => Promise<unknown> | unknown> = [];
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    await server?.destroy();
  });
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  return {
    get redis() {
      if (server === null) throw new Error('redis-server is not started yet (use it inside a test or hook)');
      return server;
    },
    cleanup,
  };
}
