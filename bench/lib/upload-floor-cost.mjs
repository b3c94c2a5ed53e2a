#!/usr/bin/env node
// What each step of an upload costs the upload-floor peer (bench/lib/upload-floor.c): one 1 GiB
// POST /upload (bench/lib/clients.mjs upload, pinned to CPU 0) to the floor pinned to CPU 1, with
// everything, without sha256 (FLOOR_NO_HASH=1), without the file write (FLOOR_NO_WRITE=1) and
// without both, to /dev/shm and to /tmp. Prints MiB/s and the server's CPU seconds per GiB
// (/proc/<pid>/stat user + system, all threads) per run and their medians; rounds alternate the
// variants. bench/README.md "Upload floor".
//
//   node bench/lib/upload-floor-cost.mjs [--repeat 3] [--dirs /dev/shm,/tmp] [--variants full,no-hash,no-write,none]
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './proc.mjs';

const BENCH = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const VARIANTS = {
  full: {},
  'no-hash': { FLOOR_NO_HASH: '1' },
  'no-write': { FLOOR_NO_WRITE: '1' },
  none: { FLOOR_NO_HASH: '1', FLOOR_NO_WRITE: '1' },
};
const GIB = 1024 * 1024 * 1024;

const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const repeat = Number(arg('--repeat', '3'));
const dirs = arg('--dirs', '/dev/shm,/tmp').split(',');
const variants = arg('--variants', Object.keys(VARIANTS).join(',')).split(',');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

function hello(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/hello' }, (res) => { res.resume(); resolve(res.statusCode === 200); });
    req.on('error', () => resolve(false));
  });
}

function client(port, opts) {
  const r = spawnSync('taskset', ['-c', '0', process.execPath, path.join(BENCH, 'lib', 'clients.mjs'), 'upload', String(port), JSON.stringify(opts)], { encoding: 'utf8' });
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  if (out.error) throw new Error(out.error);
  return out;
}

async function once(variant, dir) {
  const port = await freePort();
  const srv = spawn('taskset', ['-c', '1', path.join(BENCH, 'servers', 'upload-floor')], {
    env: { ...process.env, ...VARIANTS[variant], UPLOAD_TMPDIR: dir, PORT: String(port) }, stdio: 'inherit',
  });
  try {
    for (let i = 0; !(await hello(port)); i++) {
      if (i > 100) throw new Error('upload-floor did not start');
      await sleep(100);
    }
    const check = { serverPid: srv.pid, checkSha256: !VARIANTS[variant].FLOOR_NO_HASH, timeoutMs: 300_000 };
    client(port, { ...check, uploads: 1, size: 64 * 1024 * 1024 }); // warm-up
    const load = os.loadavg()[0];
    const r = client(port, { ...check, uploads: 1, size: GIB });
    return { mibs: r.value, cpuSPerGiB: r.cpuMs / 1000 / (r.bytes / GIB), load };
  } finally {
    srv.kill('SIGTERM');
    await new Promise((r) => (srv.exitCode !== null ? r() : srv.once('exit', r)));
  }
}

const runs = new Map();
for (let round = 0; round < repeat; round++) {
  for (const dir of dirs) {
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + round) % variants.length];
      const r = await once(v, dir);
      const key = `${dir} ${v}`;
      if (!runs.has(key)) runs.set(key, []);
      runs.get(key).push(r);
      console.error(`${key} round ${round + 1}: ${r.mibs.toFixed(0)} MiB/s, ${r.cpuSPerGiB.toFixed(3)} s CPU/GiB (load ${r.load.toFixed(2)})`);
    }
  }
}
console.log('dir variant | MiB/s median (runs) | server CPU s/GiB median (runs) | load avg (1 min) at each run');
for (const [key, rs] of runs) {
  const f = (k, d) => `${median(rs.map((r) => r[k])).toFixed(d)} (${rs.map((r) => r[k].toFixed(d)).join(', ')})`;
  console.log(`${key} | ${f('mibs', 0)} | ${f('cpuSPerGiB', 2)} | ${rs.map((r) => r.load.toFixed(2)).join(', ')}`);
}
