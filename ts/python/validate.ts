/**
 * Startup validation of the endpoint targets: every "module:function" is imported and
 * resolved once before the app listens, so an import error rejects `listen()` with the
 * Python traceback instead of failing requests later.
 *
 * This is a control call, made through pythonia (the design's Node <-> Python bridge),
 * never on the data path. The check's Python process gets the workers' environment
 * (the bridge's `env` option, PYTHONPATH merged), the modules' output goes to a file
 * instead of the app's stdout (shown with the error when the check fails), and the
 * whole check has one deadline: past it the process is killed, pythonia's pending calls
 * are answered (so none of its timers keeps Node alive), and the error names the module
 * that was being imported. When pythonia cannot be loaded or fails before it imported
 * anything, the same check runs as a plain `python -m catzilla_bridge.control`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { CoreError } from '../errors.js';

export interface ValidationReport {
  ok: boolean;
  python: string;
  errors: Array<{ target: string; traceback: string }>;
  /** How the check ran. */
  via: 'pythonia' | 'subprocess';
  /** What the modules printed while they were imported (the end of it). */
  output: string;
}

export interface ValidateOptions {
  python: string;
  pythonDir: string;
  paths: string[];
  env: NodeJS.ProcessEnv;
  /** startupTimeout, as the error message names it. */
  timeoutMs: number;
  /** When the check must be over (Date.now() ms): the start-up's one deadline, shared with the workers' start. */
  deadline: number;
  via: 'pythonia' | 'subprocess';
}

/** Files shared with catzilla_bridge.control (see its docstring). */
interface CheckFiles {
  output: string;
  progress: string;
  report: string;
}

type RawReport = Omit<ValidationReport, 'via' | 'output'>;

type Outcome =
  | { kind: 'report'; report: RawReport }
  | { kind: 'timeout' }
  | { kind: 'exited'; how: string };

interface PythoniaCom {
  proc: ChildProcess | null;
  handlers?: Record<string, (message: unknown) => unknown>;
  start(): void;
}

interface Pythonia {
  python: ((module: string) => Promise<any>) & { exit(): void };
  com: PythoniaCom;
}

const OUTPUT_TAIL = 8192;

let chain: Promise<unknown> = Promise.resolve();

/** Validates `targets`; calls are serialised because pythonia is one process per Node process. */
export function validateTargets(targets: string[], options: ValidateOptions): Promise<ValidationReport> {
  const run = chain.then(() => validateNow(targets, options));
  chain = run.catch(() => {});
  return run;
}

async function validateNow(targets: string[], options: ValidateOptions): Promise<ValidationReport> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-check-'));
  const files: CheckFiles = {
    output: path.join(dir, 'output'),
    progress: path.join(dir, 'progress'),
    report: path.join(dir, 'report'),
  };
  const deadline = options.deadline;
  try {
    let outcome: Outcome | null = null;
    let via: ValidationReport['via'] = 'pythonia';
    if (options.via === 'pythonia') outcome = await viaPythonia(targets, options, files, deadline);
    if (outcome === null) {
      via = 'subprocess';
      outcome = await viaSubprocess(targets, options, files, deadline);
    }
    const output = readTail(files.output);
    if (outcome.kind === 'report') return { ...outcome.report, via, output };
    const current = readLines(files.progress).pop();
    const where = current === undefined
      ? `the check's Python process (${options.python}) did not get to import the endpoints`
      : `importing module "${current.split(':')[0]}" (for the endpoint "${current}")`;
    const printed = output === '' ? '' : `\nOutput of the modules during the check:\n${output}`;
    if (outcome.kind === 'timeout') {
      throw new CoreError('EPYTHONTIMEOUT',
        `Python endpoint check timed out after ${options.timeoutMs} ms (startupTimeout): ${where} did not finish. ` +
        `A module must not block at import; if it is only slow, raise startupTimeout.${printed}`);
    }
    throw new CoreError('EPYTHONIMPORT', `Python endpoint check failed: its Python process exited with ${outcome.how} while ${where}.${printed}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The check through pythonia; null when pythonia is unavailable or failed before importing anything. */
async function viaPythonia(targets: string[], options: ValidateOptions, files: CheckFiles, deadline: number): Promise<Outcome | null> {
  let lib: Pythonia;
  let proc: ChildProcess | null;
  try {
    // pythonia spawns its Python (at the first require, or in start() after an exit) with
    // process.env and PYTHON_BIN: give it the workers' environment for that moment.
    lib = withEnv({ ...options.env, PYTHON_BIN: options.python }, () => {
      const loaded = createRequire(import.meta.url)('pythonia') as Pythonia;
      if (!loaded.com.proc) loaded.com.start();
      return loaded;
    });
    proc = lib.com.proc;
  } catch {
    return null;
  }
  if (proc === null) return null;
  let settle!: (outcome: Outcome | null) => void;
  const outcome = new Promise<Outcome | null>((resolve) => {
    let done = false;
    settle = (o) => {
      if (done) return;
      done = true;
      resolve(o);
    };
  });
  const timer = setTimeout(() => settle({ kind: 'timeout' }), Math.max(0, deadline - Date.now()));
  const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
    // Died before importing anything: pythonia itself failed (the subprocess is tried instead).
    if (readLines(files.progress).length === 0) settle(null);
    else settle({ kind: 'exited', how: signal !== null ? `signal ${signal}` : `code ${code}` });
  };
  proc.once('exit', onExit);
  const { python } = lib;
  (async () => {
    const control = await python('catzilla_bridge.control');
    const text = (await control.validate(JSON.stringify(targets), JSON.stringify(options.paths), JSON.stringify(files))) as string;
    settle({ kind: 'report', report: JSON.parse(text) as RawReport });
  })().catch(() => settle(readLines(files.progress).length === 0 ? null : { kind: 'exited', how: 'a pythonia error' }));
  try {
    return await outcome;
  } finally {
    clearTimeout(timer);
    proc.off('exit', onExit);
    stopPythonia(lib, proc);
  }
}

/**
 * Ends pythonia's process at once (a module may still be blocked in its import) and
 * answers every call still waiting for it: each holds a 100 s timer that would keep
 * Node alive.
 */
function stopPythonia(lib: Pythonia, proc: ChildProcess): void {
  try {
    proc.kill('SIGKILL');
  } catch {
    // Already gone.
  }
  try {
    lib.python.exit();
  } catch {
    // Not started or already gone.
  }
  const handlers = lib.com.handlers;
  if (typeof handlers !== 'object' || handlers === null) return;
  for (const key of Object.keys(handlers)) {
    if (!/^\d+$/.test(key)) continue;
    const handler = handlers[key];
    delete handlers[key];
    try {
      handler?.({ r: Number(key), key: 'error', sig: 'the catzilla startup check ended this Python process' });
    } catch {
      // The waiting call rejects; nobody listens to it any more.
    }
  }
}

/** The check as `python -m catzilla_bridge.control`, with the same deadline. */
function viaSubprocess(targets: string[], options: ValidateOptions, files: CheckFiles, deadline: number): Promise<Outcome> {
  return new Promise<Outcome>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(options.python, ['-m', 'catzilla_bridge.control', JSON.stringify(targets), JSON.stringify(options.paths), JSON.stringify(files)], {
        env: options.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      reject(new CoreError('EPYTHONSTART', `could not run the Python endpoint check with "${options.python}": ${(err as Error).message}`, { cause: err }));
      return;
    }
    let text = '';
    const collect = (chunk: Buffer): void => {
      text = (text + chunk.toString('utf8')).slice(-OUTPUT_TAIL);
    };
    child.stdout!.on('data', collect);
    child.stderr!.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, Math.max(0, deadline - Date.now()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CoreError('EPYTHONSTART', `could not run the Python endpoint check with "${options.python}": ${err.message}`, { cause: err }));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // A process a module started may hold the pipes open: stop reading them.
      child.stdout!.destroy();
      child.stderr!.destroy();
      if (timedOut) {
        resolve({ kind: 'timeout' });
        return;
      }
      let report: RawReport | null = null;
      try {
        report = JSON.parse(fs.readFileSync(files.report, 'utf8')) as RawReport;
      } catch {
        report = null;
      }
      if (report !== null) {
        resolve({ kind: 'report', report });
        return;
      }
      const how = signal !== null ? `signal ${signal}` : `code ${code}`;
      if (readLines(files.progress).length > 0) {
        resolve({ kind: 'exited', how });
        return;
      }
      const said = text.trim();
      reject(new CoreError('EPYTHONSTART',
        `could not run the Python endpoint check: "${options.python} -m catzilla_bridge.control" exited with ${how} before importing anything` +
        (said === '' ? '' : `:\n${said}`)));
    });
  });
}

/** Runs `fn` with process.env replaced by `env` (synchronously; restored afterwards). */
function withEnv<T>(env: NodeJS.ProcessEnv, fn: () => T): T {
  const saved = { ...process.env };
  const apply = (from: NodeJS.ProcessEnv): void => {
    for (const key of Object.keys(process.env)) if (from[key] === undefined) delete process.env[key];
    for (const [key, value] of Object.entries(from)) if (value !== undefined) process.env[key] = value;
  };
  apply(env);
  try {
    return fn();
  } finally {
    apply(saved);
  }
}

function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

function readTail(file: string): string {
  try {
    const size = fs.statSync(file).size;
    const fd = fs.openSync(file, 'r');
    try {
      const len = Math.min(size, OUTPUT_TAIL);
      const buf = Buffer.alloc(len);
      fs.readSync(fd, buf, 0, len, size - len);
      return buf.toString('utf8').trim();
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}
