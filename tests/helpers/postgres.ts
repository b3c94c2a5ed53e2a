/**
 * A throwaway PostgreSQL server for one test file: Debian's postgresql binaries
 * (/usr/lib/postgresql/<major>/bin, or PG_BIN), `initdb` in a temporary directory owned by the
 * unprivileged `postgres` user (PostgreSQL refuses to run as root), started on a free port on
 * 127.0.0.1 (and a Unix socket in the same directory), stopped by the postmaster's PID (fast
 * shutdown, SIGINT) and removed. A `catzilla` role owns a `catzilla_test` database.
 *
 *   const pg = await startPostgres();   // pg.url, pg.port, pg.pid
 *   ...
 *   await pg.stop();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './free-port.js';
import { createRequire } from 'node:module';
import { sleep } from './raw-client.js';

const require = createRequire(import.meta.url);

export interface PostgresServer {
  /** postgres://catzilla@127.0.0.1:<port>/catzilla_test */
  url: string;
  /** The superuser's URL on the same database (for pg_stat_activity, pg_terminate_backend). */
  adminUrl: string;
  port: number;
  /** The postmaster's PID. */
  pid: number;
  dir: string;
  /** Everything the server logged (stderr). */
  log(): string;
  stop(): Promise<void>;
}

/** The directory holding initdb and postgres, or null when PostgreSQL is not installed. */
export function postgresBin(): string | null {
  const candidates: string[] = [];
  if (process.env.PG_BIN) candidates.push(process.env.PG_BIN);
  try {
    for (const major of fs.readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a))) candidates.push(`/usr/lib/postgresql/${major}/bin`);
  } catch {
    // not installed
  }
  return candidates.find((dir) => fs.existsSync(path.join(dir, 'postgres')) && fs.existsSync(path.join(dir, 'initdb'))) ?? null;
}


/** Runs a command as the `postgres` user when we are root (PostgreSQL refuses root). */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/** Postmaster PID -> its temporary directory, while running. */
const running = new Map<number, string>();
process.once('exit', () => {
  // A test process that dies without stop(): never leave a postmaster (or its files) behind.
  for (const [pid, dir] of running) {
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      // gone
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startPostgres(settings: Record<string, string | number> = {}): Promise<PostgresServer> {
  const bin = postgresBin();
  if (bin === null) throw new Error('PostgreSQL server binaries not found (apt-get install postgresql, or set PG_BIN): run node scripts/setup.mjs');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-pg-'));
  const data = path.join(dir, 'data');
  if (process.getuid?.() === 0) {
    fs.chmodSync(dir, 0o755);
    spawnSync('chown', ['postgres:postgres', dir]);
  }
  const [initCmd, initArgs] = asPostgres(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const init = spawnSync(initCmd, initArgs, { encoding: 'utf8', timeout: 60_000 });
  if (init.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status}): ${init.stderr}`);
  }

  const port = await freePort();
  const conf: Record<string, string | number> = {
    listen_addresses: '127.0.0.1',
    port,
    unix_socket_directories: dir,
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: 300,
    shared_buffers: '64MB',
    ...settings,
  };
  const args = ['-D', data];
  for (const [k, v] of Object.entries(conf)) args.push('-c', `${k}=${v}`);
  const [cmd, cmdArgs] = asPostgres(path.join(bin, 'postgres'), args);
  let stderr = '';
  const child: ChildProcess = spawn(cmd, cmdArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.setEncoding('utf8').on('data', (t: string) => {
    if (stderr.length < 1 << 20) stderr += t;
  });
  let exited = false;
  child.once('exit', () => (exited = true));

  // Ready: the postmaster wrote its PID file and accepts a query.
  const pg = require('pg') as typeof import('pg');
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let pid = 0;
  const deadline = Date.now() + 30_000;
  const giveUp = (why: string): never => {
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // gone
      }
    }
    child.kill('SIGQUIT');
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(why);
  };
  for (;;) {
    if (exited) giveUp(`postgres exited during start-up: ${stderr}`);
    if (Date.now() > deadline) giveUp(`postgres did not become ready in 30 s: ${stderr}`);
    try {
      pid = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query('CREATE ROLE catzilla LOGIN SUPERUSER');
        await client.query('CREATE DATABASE catzilla_test OWNER catzilla');
      } finally {
        await client.end();
      }
      break;
    } catch {
      await sleep(50);
    }
  }
  running.set(pid, dir);

  let stopped: Promise<void> | null = null;
  return {
    url: `postgres://catzilla@127.0.0.1:${port}/catzilla_test`,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/catzilla_test`,
    port,
    pid,
    dir,
    log: () => stderr,
    stop() {
      stopped ??= (async () => {
        // Fast shutdown: active sessions are terminated, no checkpoint wait for clients.
        try {
          process.kill(pid, 'SIGINT');
        } catch {
          // already gone
        }
        const until = Date.now() + 20_000;
        while (alive(pid) && Date.now() < until) await sleep(20);
        if (alive(pid)) process.kill(pid, 'SIGQUIT');
        while (!exited && Date.now() < until + 5000) await sleep(20);
        running.delete(pid);
        fs.rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}
