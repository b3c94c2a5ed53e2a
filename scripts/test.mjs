#!/usr/bin/env node
/**
 * Runs every test phase and closes with one line `N passed, N failed` (the sum of all phases):
 *
 *   1. C unit tests: tests/core (a CMake project, when it exists) -> build/core-tests, run by ctest.
 *      Then pytest over tests/python, with the tests' own Python (.venv-test/, made by setup.mjs).
 *   2. mocha (tests/ts/*.test.ts, then tests/e2e/*.test.ts) against build/Release/catzilla.node.
 *   3. the same mocha suite against the ASan + UBSan build (build-asan/Release/catzilla.node), with the
 *      sanitizer runtimes preloaded into node. Any sanitizer report fails the run.
 *
 * `npm test` runs scripts/setup.mjs first, which builds what is stale. Options for developers:
 *   --ts-only          only phase 2
 *   --no-asan          skip phase 3          --asan-only   only phase 3
 *   --no-core          skip phase 1
 *   --grep <pattern>   passed to mocha (phases 2 and 3)
 *   <files...>         mocha test files instead of the default globs
 * Environment: CATZILLA_TEST_TIMEOUT (minutes per mocha phase, default 30).
 *
 * mocha runs without --exit: a suite that leaves a server, socket or timer open does not exit by
 * itself, and that counts as a failure here.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureLlhttp } from './llhttp.mjs';
import { testPython } from './test-python.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const SUMMARY_RE = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/;
const SANITIZER_RE = /ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer/g;
const SANITIZER_VARS = ['LD_PRELOAD', 'ASAN_OPTIONS', 'LSAN_OPTIONS', 'UBSAN_OPTIONS'];
/**
 * Imported first into the sanitized node (as a data: URL, so it needs no file of its own). The
 * runtimes have read their options by then. Programs the tests spawn must not inherit the preload:
 * curl hangs under it and python3's own leaks would be reported. A node child started by a test
 * (async spawn/fork of process.execPath) may load the ASan addon too (CATZILLA_ADDON is inherited),
 * so it gets the sanitizer variables back. spawnSync cannot be reached this way: a node child started
 * with it runs without them and cannot load the ASan addon.
 */
const CHILD_ENV_MODULE = `
import { ChildProcess } from 'node:child_process';
import path from 'node:path';
const names = ${JSON.stringify(SANITIZER_VARS)};
const saved = names.filter((k) => process.env[k] !== undefined).map((k) => k + '=' + process.env[k]);
for (const k of names) delete process.env[k];
// a node child imports this module too (NODE_OPTIONS), so its own children are scrubbed as well
const scrub = '--import=' + import.meta.url;
const spawn = ChildProcess.prototype.spawn;
ChildProcess.prototype.spawn = function (options) {
  const file = options && typeof options.file === 'string' ? options.file : '';
  if (Array.isArray(options?.envPairs) && (file === process.execPath || path.basename(file) === 'node')) {
    const kept = options.envPairs.filter((pair) => !names.includes(String(pair).split('=')[0]) && !String(pair).startsWith('NODE_OPTIONS='));
    const nodeOptions = options.envPairs.find((pair) => String(pair).startsWith('NODE_OPTIONS='));
    const withScrub = (nodeOptions ? String(nodeOptions) + ' ' : 'NODE_OPTIONS=') + scrub;
    options = { ...options, envPairs: [...kept, withScrub, ...saved] };
  }
  return spawn.call(this, options);
};
`;
const SCRUB_CHILD_ENV = `data:text/javascript,${encodeURIComponent(CHILD_ENV_MODULE)}`;

const children = new Set();
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    for (const child of children) killTree(child, sig);
    process.exit(130);
  });
}

function parseArgs(argv) {
  const opts = { core: true, release: true, asan: true, grep: null, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--ts-only') Object.assign(opts, { core: false, asan: false });
    else if (arg === '--no-asan') opts.asan = false;
    else if (arg === '--asan-only') Object.assign(opts, { core: false, release: false });
    else if (arg === '--no-core') opts.core = false;
    else if (arg === '--grep' || arg === '-g') opts.grep = argv[++i];
    else if (arg.startsWith('--grep=')) opts.grep = arg.slice('--grep='.length);
    else if (arg === '-h' || arg === '--help') {
      console.log('usage: node scripts/test.mjs [--ts-only | --asan-only] [--no-asan] [--no-core] [--grep <pattern>] [files...]');
      process.exit(0);
    } else if (arg.startsWith('-')) {
      console.error(`test: unknown option ${arg}`);
      process.exit(2);
    } else opts.files.push(arg);
  }
  if (opts.grep === undefined) {
    console.error('test: --grep needs a pattern');
    process.exit(2);
  }
  return opts;
}

function killTree(child, signal = 'SIGKILL') {
  try {
    process.kill(-child.pid, signal); // the child leads its own process group
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Runs a command with its output passed through, line-buffered, to ours. `onLine(line, stream)`
 * sees every line. Resolves to { code, signal, timedOut, hung }.
 */
function runStreaming(cmd, args, { env = process.env, cwd = root, timeoutMs = 0, onLine, exitGraceAfter } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.add(child);
    let timedOut = false;
    let hung = false;
    let graceTimer = null;
    const timer = timeoutMs ? setTimeout(() => ((timedOut = true), killTree(child)), timeoutMs) : null;

    const pump = (stream, sink, name) => {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (text) => {
        sink.write(text);
        pending += text;
        const lines = pending.split('\n');
        pending = lines.pop();
        for (const line of lines) handle(line, name);
      });
      stream.on('end', () => pending && handle(pending, name));
    };
    const handle = (line, name) => {
      onLine?.(line.replace(/\r$/, ''), name);
      // The run is over (the reporter printed its closing line): the process must now exit by itself.
      if (exitGraceAfter && name === 'stdout' && SUMMARY_RE.test(line.trim()) && !graceTimer) {
        graceTimer = setTimeout(() => ((hung = true), killTree(child)), exitGraceAfter);
      }
    };
    pump(child.stdout, process.stdout, 'stdout');
    pump(child.stderr, process.stderr, 'stderr');

    child.on('error', (err) => {
      console.error(`test: cannot run ${cmd}: ${err.message}`);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(graceTimer);
      children.delete(child);
      resolve({ code, signal, timedOut, hung });
    });
  });
}

function banner(title) {
  console.log(`\n=== ${title} ===`);
}

/** Phase 1: tests/core as its own CMake project, run by ctest. */
async function runCoreTests(result) {
  banner('C unit tests (tests/core, ctest)');
  const project = path.join(root, 'tests', 'core');
  if (!fs.existsSync(path.join(project, 'CMakeLists.txt'))) {
    console.log('tests/core/CMakeLists.txt does not exist yet; no C unit tests to run');
    return;
  }
  const buildDir = path.join(root, 'build', 'core-tests');
  const parallel = String(os.availableParallelism ? os.availableParallelism() : os.cpus().length);
  let llhttpDir;
  try {
    llhttpDir = await ensureLlhttp(root);
  } catch (err) {
    console.log(`C unit tests: ${err.message}`);
    result.failed += 1;
    return;
  }
  const steps = [
    ['cmake', ['-S', project, '-B', buildDir, `-DLLHTTP_DIR=${llhttpDir}`], 'configure'],
    ['cmake', ['--build', buildDir, '--parallel', parallel], 'build'],
  ];
  for (const [cmd, args, what] of steps) {
    const run = await runStreaming(cmd, args);
    if (run.code !== 0) {
      console.log(`C unit tests: ${what} failed (${cmd} exited with ${run.signal || run.code})`);
      result.failed += 1;
      return;
    }
  }
  let summary = null;
  const run = await runStreaming('ctest', ['--output-on-failure', '--timeout', '300'], {
    cwd: buildDir,
    onLine(line) {
      const m = /(\d+)% tests passed, (\d+) tests? failed out of (\d+)/.exec(line);
      if (m) summary = { failed: Number(m[2]), total: Number(m[3]) };
    },
  });
  if (summary) {
    result.passed += summary.total - summary.failed;
    result.failed += summary.failed;
  }
  if (!summary && run.code === 0) console.log('C unit tests: ctest found no tests');
  if ((!summary && run.code !== 0) || (summary && summary.failed === 0 && run.code !== 0)) {
    console.log(`C unit tests: ctest exited with ${run.signal || run.code}`);
    result.failed += 1;
  }
}

/**
 * Phase 1b: the Python bridge's own tests (pytest), when tests/python exists. pytest comes from the
 * tests' venv (.venv-test/, scripts/test-python.mjs), so it runs on that interpreter, and so do the
 * worker processes it starts (sys.executable).
 */
async function runPythonTests(result) {
  if (!fs.existsSync(path.join(root, 'tests', 'python'))) return;
  banner('Python bridge tests (tests/python, pytest)');
  let python;
  try {
    python = testPython();
  } catch (err) {
    console.log(`pytest: ${err.message}`);
    result.failed += 1;
    return;
  }
  let passed = null;
  let failed = 0;
  const run = await runStreaming(python, ['-m', 'pytest', 'tests/python', '-q', '-p', 'no:cacheprovider'], {
    timeoutMs: 10 * 60 * 1000,
    onLine: (line) => {
      // the closing line: "27 passed in 3.1s", "2 failed, 25 passed in ...", "1 error in ..."
      if (!/ in [\d.]+s/.test(line)) return;
      const count = (word) => Number((new RegExp(`(\\d+) ${word}`).exec(line) || [0, 0])[1]);
      passed = count('passed');
      failed = count('failed') + count('errors?');
    },
  });
  if (passed === null) {
    console.log(`pytest: no summary (exit ${run.signal || run.code})`);
    result.failed += 1;
    return;
  }
  result.passed += passed;
  result.failed += failed;
  if (failed === 0 && run.code !== 0) {
    console.log(`pytest exited with ${run.signal || run.code}`);
    result.failed += 1;
  }
}

function defaultTestFiles() {
  const files = [];
  for (const dir of ['tests/ts', 'tests/e2e']) {
    const abs = path.join(root, dir);
    if (!fs.existsSync(abs)) continue;
    files.push(...fs.readdirSync(abs).filter((f) => f.endsWith('.test.ts')).sort().map((f) => path.join(dir, f)));
  }
  return files;
}

/** Phases 2 and 3: one mocha process over all test files, against the given addon. */
async function runMocha(result, { label, addon, files, grep, sanitizerEnv }) {
  banner(`mocha: ${label}`);
  if (!files.length) {
    console.log('no test files (tests/ts/*.test.ts, tests/e2e/*.test.ts) yet');
    return;
  }
  if (!fs.existsSync(addon)) {
    console.log(`warning: ${path.relative(root, addon)} does not exist; tests that need the addon will fail`);
  }
  const mocha = path.join(path.dirname(require.resolve('mocha/package.json')), 'bin', 'mocha.js');
  const nodeArgs = [...(sanitizerEnv ? ['--import', SCRUB_CHILD_ENV] : []), '--import', 'tsx'];
  const mochaArgs = ['--reporter', path.join(root, 'tests', 'reporter.cjs'), '--timeout', '30000', ...(grep ? ['--grep', grep] : []), ...files];
  const env = { ...process.env, CATZILLA_ADDON: addon, ...sanitizerEnv };
  const minutes = Number(process.env.CATZILLA_TEST_TIMEOUT) || 30;

  let summary = null;
  let sanitizerReports = 0;
  const seen = { passed: 0, failed: 0 }; // the reporter's per-test lines, for a run that dies before its summary
  const run = await runStreaming(process.execPath, [...nodeArgs, mocha, ...mochaArgs], {
    env,
    timeoutMs: minutes * 60_000,
    exitGraceAfter: sanitizerEnv ? 120_000 : 20_000, // leak checking at exit takes a while
    onLine(line, stream) {
      const m = stream === 'stdout' && SUMMARY_RE.exec(line.trim());
      if (m) summary = { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3] || 0) };
      if (stream === 'stdout' && line.startsWith('  ✓ ')) seen.passed++;
      if (stream === 'stdout' && line.startsWith('  ✗ ')) seen.failed++;
      if (stream === 'stderr') sanitizerReports += (line.match(SANITIZER_RE) || []).length;
    },
  });

  const problems = [];
  if (run.timedOut) problems.push(`killed after ${minutes} minutes (CATZILLA_TEST_TIMEOUT)`);
  else if (run.hung) problems.push('all tests ran but the process did not exit by itself (a server, socket, timer or child left open)');
  else if (run.signal) problems.push(`mocha was killed by ${run.signal}`);
  if (!summary && !run.timedOut && !run.hung) problems.push(`mocha ended (exit code ${run.code}) without a summary: it crashed or failed to load the tests`);
  if (sanitizerReports) problems.push(`${sanitizerReports} sanitizer report(s) on stderr (see above)`);
  if (summary && !problems.length && run.code !== 0 && summary.failed === 0) problems.push(`mocha exited with code ${run.code}`);

  if (summary) {
    result.passed += summary.passed;
    result.failed += summary.failed;
    result.skipped += summary.skipped;
  } else {
    result.passed += seen.passed;
    result.failed += seen.failed;
  }
  if (problems.length) {
    for (const problem of problems) console.log(`mocha (${label}): ${problem}`);
    result.failed += Math.max(1, sanitizerReports);
  }
}

function sanitizerEnvironment() {
  const lib = (name) => spawnSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).stdout?.trim() || name;
  const libs = [lib('libasan.so'), lib('libubsan.so')];
  const missing = libs.filter((file) => !path.isAbsolute(file) || !fs.existsSync(file));
  if (missing.length) throw new Error(`the sanitizer runtimes are missing (${missing.join(', ')}); install gcc`);
  const withUser = (ours, name) => (process.env[name] ? `${ours}:${process.env[name]}` : ours); // the developer's options win
  return {
    LD_PRELOAD: libs.join(':'),
    ASAN_OPTIONS: withUser('detect_leaks=1:abort_on_error=0:exitcode=23:halt_on_error=1:print_summary=1', 'ASAN_OPTIONS'),
    LSAN_OPTIONS: withUser(`suppressions=${path.join(root, 'scripts', 'lsan.supp')}:print_suppressions=0`, 'LSAN_OPTIONS'),
    UBSAN_OPTIONS: withUser('print_stacktrace=1:halt_on_error=1', 'UBSAN_OPTIONS'),
  };
}

async function runAsan(result, opts, files) {
  banner('build: ASan + UBSan addon (node scripts/build.mjs --asan --native-only)');
  const build = await runStreaming(process.execPath, [path.join(root, 'scripts', 'build.mjs'), '--asan', '--native-only']);
  if (build.code !== 0) {
    console.log('mocha (ASan + UBSan): the sanitizer build failed; its tests did not run');
    result.failed += 1;
    return;
  }
  let sanitizerEnv;
  try {
    sanitizerEnv = sanitizerEnvironment();
  } catch (err) {
    console.log(`mocha (ASan + UBSan): ${err.message}`);
    result.failed += 1;
    return;
  }
  await runMocha(result, {
    label: 'ASan + UBSan, build-asan/Release',
    addon: path.join(root, 'build-asan', 'Release', 'catzilla.node'),
    files,
    grep: opts.grep,
    sanitizerEnv,
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  try {
    require.resolve('mocha/package.json');
    require.resolve('tsx/package.json');
  } catch {
    console.error('test: mocha/tsx are not installed; run `node scripts/setup.mjs` (or `npm install`) first');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  // A preload from a developer's shell must not reach the plain phases.
  delete process.env.LD_PRELOAD;

  const files = opts.files.length ? opts.files : defaultTestFiles();
  const phases = [];
  const phase = (label) => {
    const result = { label, passed: 0, failed: 0, skipped: 0 };
    phases.push(result);
    return result;
  };

  if (opts.core) await runCoreTests(phase('C unit tests (ctest)'));
  if (opts.core) await runPythonTests(phase('Python tests (pytest)'));
  if (opts.release) {
    await runMocha(phase('mocha, build/Release'), {
      label: 'build/Release',
      addon: path.join(root, 'build', 'Release', 'catzilla.node'),
      files,
      grep: opts.grep,
    });
  }
  if (opts.asan) await runAsan(phase('mocha, ASan + UBSan'), opts, files);

  const total = { passed: 0, failed: 0, skipped: 0 };
  console.log('\n=== summary ===');
  for (const p of phases) {
    console.log(`${(p.label + ':').padEnd(28)} ${p.passed} passed, ${p.failed} failed${p.skipped ? `, ${p.skipped} skipped` : ''}`);
    total.passed += p.passed;
    total.failed += p.failed;
    total.skipped += p.skipped;
  }
  if (total.skipped) console.log(`(${total.skipped} skipped)`);
  console.log(`${total.passed} passed, ${total.failed} failed`); // the closing line CI reads: alone, last
  process.exitCode = total.failed ? 1 : 0;
}

await main();
