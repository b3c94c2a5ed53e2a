/**
 * Startup validation of the endpoint targets: every "module:function" is imported and
 * resolved once before the app listens, so an import error rejects `listen()` with the
 * Python traceback instead of failing requests later.
 *
 * This is a control call, made through pythonia (the design's Node <-> Python bridge),
 * never on the data path. pythonia keeps a Python process and an IPC channel open,
 * which would keep Node alive: `python.exit()` runs as soon as the call is over. When
 * pythonia cannot be loaded or does not answer, the same check runs as a plain
 * `python -m catzilla_bridge.control` subprocess.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';

export interface ValidationReport {
  ok: boolean;
  python: string;
  errors: Array<{ target: string; traceback: string }>;
  /** How the check ran. */
  via: 'pythonia' | 'subprocess';
}

export interface ValidateOptions {
  python: string;
  pythonDir: string;
  paths: string[];
  env: NodeJS.ProcessEnv;
  timeoutMs: number;
  via: 'pythonia' | 'subprocess';
}

interface Pythonia {
  python: ((module: string) => Promise<any>) & { exit(): void };
}

let chain: Promise<unknown> = Promise.resolve();

/** Validates `targets`; calls are serialised because pythonia is one process per Node process. */
export function validateTargets(targets: string[], options: ValidateOptions): Promise<ValidationReport> {
  const run = chain.then(() => validateNow(targets, options));
  chain = run.catch(() => {});
  return run;
}

async function validateNow(targets: string[], options: ValidateOptions): Promise<ValidationReport> {
  if (options.via === 'pythonia') {
    const report = await viaPythonia(targets, options).catch(() => null);
    if (report !== null) return report;
  }
  return viaSubprocess(targets, options);
}

async function viaPythonia(targets: string[], options: ValidateOptions): Promise<ValidationReport | null> {
  const saved = process.env.PYTHON_BIN;
  process.env.PYTHON_BIN = options.python; // read by pythonia when it spawns its process
  let lib: Pythonia;
  try {
    lib = createRequire(import.meta.url)('pythonia') as Pythonia;
  } catch {
    restoreEnv(saved);
    return null;
  }
  const { python } = lib;
  let timer: NodeJS.Timeout | undefined;
  try {
    const work = (async () => {
      const sys = await python('sys');
      await sys.path.insert(0, options.pythonDir);
      const control = await python('catzilla_bridge.control');
      const text = (await control.validate(JSON.stringify(targets), JSON.stringify(options.paths))) as string;
      return { ...(JSON.parse(text) as Omit<ValidationReport, 'via'>), via: 'pythonia' as const };
    })();
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), options.timeoutMs);
    });
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    try {
      python.exit();
    } catch {
      // Not started or already gone.
    }
    restoreEnv(saved);
  }
}

function viaSubprocess(targets: string[], options: ValidateOptions): Promise<ValidationReport> {
  return new Promise<ValidationReport>((resolve, reject) => {
    execFile(options.python, ['-m', 'catzilla_bridge.control', JSON.stringify(targets), JSON.stringify(options.paths)],
      { env: options.env, timeout: options.timeoutMs, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        try {
          resolve({ ...(JSON.parse(line) as Omit<ValidationReport, 'via'>), via: 'subprocess' });
        } catch {
          reject(new Error(`could not validate the Python endpoints with ${options.python}: ${err?.message ?? ''}\n${stderr.trim()}`));
        }
      });
  });
}

function restoreEnv(saved: string | undefined): void {
  if (saved === undefined) delete process.env.PYTHON_BIN;
  else process.env.PYTHON_BIN = saved;
}
