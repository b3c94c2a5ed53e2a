/**
 * Helpers for the Python bridge tests: an App with a PythonBridge over the fixture
 * handlers (tests/python/fixtures/bridge_handlers.py), marker files the handlers write
 * to (start / item / finally), and a scan of /proc for stray worker processes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PythonBridge, type PythonBridgeOptions } from '../../ts/python/index.js';
import { sleep } from './raw-client.js';
import { startApp, type AppContext, type AppOptions } from './with-app.js';
import type { App } from '../../ts/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const FIXTURES = path.resolve(here, '..', 'python', 'fixtures');

export interface PythonAppContext extends AppContext {
  bridge: PythonBridge;
  /** Everything the workers wrote to stderr. */
  stderr: string[];
}

/** Starts an App with a 2-worker bridge attached; `setup` mounts the routes. */
export async function startPythonApp(
  setup: (app: App, bridge: PythonBridge) => void,
  bridgeOptions: PythonBridgeOptions = {},
  appOptions?: AppOptions,
): Promise<PythonAppContext> {
  const stderr: string[] = [];
  let bridge!: PythonBridge;
  const ctx = await startApp((app) => {
    bridge = new PythonBridge({ app, paths: [FIXTURES], workers: 2, stderr: (t) => stderr.push(t), ...bridgeOptions });
    setup(app, bridge);
  }, appOptions);
  return { ...ctx, bridge, stderr };
}

export async function withPythonApp<T>(
  setup: (app: App, bridge: PythonBridge) => void,
  fn: (ctx: PythonAppContext) => Promise<T>,
  bridgeOptions?: PythonBridgeOptions,
): Promise<T> {
  const ctx = await startPythonApp(setup, bridgeOptions);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

/** A fresh empty marker file; pass it as `?marker=<path>`. */
export function markerFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-py-'));
  const file = path.join(dir, 'marker.txt');
  fs.writeFileSync(file, '');
  return file;
}

export function readMarker(file: string): string[] {
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
}

/** Waits (bounded) until a marker line starts with `prefix`; returns every line. */
export async function waitMarker(file: string, prefix: string, timeoutMs = 5000): Promise<string[]> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const lines = readMarker(file);
    if (lines.some((l) => l.startsWith(prefix))) return lines;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for "${prefix}" in ${file}: ${JSON.stringify(lines)}`);
    await sleep(20);
  }
}

/** The highest `count N` line of an `endless` marker file. */
export function markerCount(file: string): number {
  let max = 0;
  for (const line of readMarker(file)) {
    const m = /^count (\d+)$/.exec(line);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max;
}

/** Pids of live `catzilla_bridge.worker` processes whose parent is `parent` (default: this process). */
export function workerPids(parent = process.pid): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes('catzilla_bridge.worker')) continue;
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z') continue;
      if (Number(fields[1]) === parent) out.push(Number(entry));
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
