#!/usr/bin/env node
/**
 * Gets a fresh Debian/Ubuntu machine ready to run catzilla's demo and tests; idempotent and silent
 * when there is nothing to do. `npm run demo` and `npm test` run it first.
 *
 *   1. system packages: cmake, gcc, g++, make, tar (llhttp's sources come from PyPI: scripts/llhttp.mjs), libuv1-dev (the C unit
 *      tests), curl, python3, pkg-config, chromium (browser tests), redis-server (backplane tests), openssl (TLS tests), postgresql (database export tests), and python3-venv when the python3 on PATH is
 *      Debian's and cannot make a venv without it. Missing ones are installed with apt-get when running as root,
 *      or through `sudo -n` when sudo needs no password; otherwise it says what to run and exits 1.
 *   2. the tests' own Python packages (pytest, prometheus-client, ...: tests/requirements.txt, pinned) from PyPI
 *      into a virtual environment in the project, .venv-test/ (scripts/test-python.mjs), made with the python3 on
 *      PATH, whichever that is (Debian's, pyenv, conda, Homebrew); again when the requirements change.
 *   3. `npm install` when node_modules is missing or older than package.json / package-lock.json.
 *      npm runs package.json's "install" script, which is the build (scripts/build.mjs).
 *   4. the build, when build/Release/catzilla.node or dist/ is missing or older than its sources.
 *
 * Never reads stdin (works with CI=true and no terminal).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import path from 'node:path';
import { onPath } from './on-path.mjs';
import { TEST_PYTHON, TEST_REQUIREMENTS, TEST_VENV } from './test-python.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What must be present, how to tell, and the Debian package that provides it. */
const REQUIREMENTS = [
  { pkg: 'cmake', command: 'cmake' },
  { pkg: 'gcc', command: 'gcc' },
  { pkg: 'g++', command: 'g++' },
  { pkg: 'make', command: 'make' },
  { pkg: 'tar', command: 'tar' },
  { pkg: 'libuv1-dev', files: ['/usr/include/uv.h'], pkgConfig: 'libuv' },
  // WebSocket permessage-deflate: zlib linked statically into the addon (core/ws_deflate.c)
  { pkg: 'zlib1g-dev', files: ['/usr/include/zlib.h'] },
  { pkg: 'curl', command: 'curl' },
  { pkg: 'python3', command: 'python3' },
  { pkg: 'pkg-config', command: 'pkg-config' },
  // headless browser tests (EventSource, the dashboard): Debian's chromium, driven by playwright-core
  { pkg: 'chromium', files: ['/usr/bin/chromium'] },
  // the Redis backplane's tests start a real redis-server (7.x) on a free port in a temporary directory
  { pkg: 'redis-server', command: 'redis-server' },
  // the TLS tests (Redis backplane, PostgreSQL) make a throwaway CA and certificates with the openssl CLI
  { pkg: 'openssl', command: 'openssl' },
  // the database export tests start a real PostgreSQL server (Debian's, initdb in a temporary directory
  // as the postgres user, on a free port); its binaries live outside PATH
  { pkg: 'postgresql', probe: ['sh', '-c', 'ls /usr/lib/postgresql/*/bin/initdb'] },
  // `python3 -m venv` (the tests' venv, below) needs ensurepip, which Debian ships apart. Only Debian's
  // python3 (or none yet, when apt-get installs it now) gets it from apt-get.
  { pkg: 'python3-venv', probe: ['python3', '-c', 'import ensurepip, venv'], onlyIf: () => !onPath('python3') || isDebianPython() },
];

function say(message) {
  console.log(`setup: ${message}`);
}

function fail(message) {
  console.error(message);
  process.exit(1);
}


function run(cmd, args, { quiet = false, env = process.env, cwd = root } = {}) {
  const result = spawnSync(cmd, args, { cwd, env, stdio: ['ignore', quiet ? 'ignore' : 'inherit', quiet ? 'ignore' : 'inherit'] });
  return result.error ? -1 : result.status ?? -1;
}

/** Whether the python3 on PATH is Debian's own (a file some Debian package installed). */
function isDebianPython() {
  const r = spawnSync('python3', ['-c', 'import os, sys; print(os.path.realpath(sys.executable))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const exe = r.status === 0 ? r.stdout.trim() : '';
  return Boolean(exe) && onPath('dpkg-query') && run('dpkg-query', ['-S', exe], { quiet: true }) === 0;
}

function isPresent(req) {
  if (req.onlyIf && !req.onlyIf()) return true;
  if (req.command) return onPath(req.command);
  if (req.probe) return run(req.probe[0], req.probe.slice(1), { quiet: true }) === 0;
  if (req.files.every((file) => fs.existsSync(file))) return true;
  return Boolean(req.pkgConfig) && onPath('pkg-config') && run('pkg-config', ['--exists', req.pkgConfig], { quiet: true }) === 0;
}

function checkNode() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) fail(`catzilla needs Node.js 20 or newer (this is ${process.version})`);
}

/** Installs the missing Debian packages, or tells how and exits 1. */
function ensureSystemPackages() {
  const missing = REQUIREMENTS.filter((req) => !isPresent(req)).map((req) => req.pkg);
  if (!missing.length) return;

  const advice = `catzilla needs: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (!onPath('apt-get')) fail(`${advice}\n(or the same packages from your system's package manager)`);
  let prefix;
  if (process.getuid?.() === 0) prefix = [];
  else if (onPath('sudo') && run('sudo', ['-n', 'true'], { quiet: true }) === 0) prefix = ['sudo', '-n'];
  else fail(advice);

  say(`installing ${missing.join(' ')} (apt-get)`);
  // sudo drops the environment, so DEBIAN_FRONTEND goes through env(1).
  const aptGet = (...args) => {
    const [cmd, ...rest] = [...prefix, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args];
    return run(cmd, rest);
  };
  const install = () => aptGet('install', '-y', '--no-install-recommends', ...missing);
  if (install() !== 0) {
    say('apt-get install failed; refreshing the package lists (apt-get update) and trying again');
    if (aptGet('update') !== 0 || install() !== 0) fail(`setup: apt-get could not install the packages.\n${advice}`);
  }
  const still = REQUIREMENTS.filter((req) => !isPresent(req)).map((req) => req.pkg);
  if (still.length) fail(`setup: still missing after apt-get: ${still.join(' ')}\n${advice}`);
}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/** The newest modification time among `entries` (files, or directories searched recursively) matching `re`. */
function newestSource(entries, re) {
  let newest = 0;
  const visit = (abs) => {
    let stat;
    try {
      stat = fs.statSync(abs);
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(abs)) visit(path.join(abs, name));
    } else if (!re || re.test(abs)) {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const entry of entries) visit(path.join(root, entry));
  return newest;
}

/** Output of a short python command, or null when it fails. */
function pythonSays(python, code) {
  const r = spawnSync(python, ['-c', code], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return r.status === 0 ? r.stdout.trim() : null;
}

/**
 * The tests' own Python packages: tests/requirements.txt from PyPI into .venv-test/, made with the
 * python3 on PATH. A copy of the requirements installed last is kept in the venv; nothing happens
 * while it matches. The venv is made afresh when its interpreter no longer runs (say, the python3
 * it was made from is gone).
 */
function ensureTestPython() {
  if (!fs.existsSync(TEST_REQUIREMENTS)) return; // an installed package: no tests
  const venv = path.relative(root, TEST_VENV);
  const requirements = path.relative(root, TEST_REQUIREMENTS);
  const stamp = path.join(TEST_VENV, 'catzilla-requirements.txt');
  const wanted = fs.readFileSync(TEST_REQUIREMENTS, 'utf8');
  const works = pythonSays(TEST_PYTHON, 'import sys; print(sys.prefix != sys.base_prefix)') === 'True';
  let installed = null;
  try {
    installed = fs.readFileSync(stamp, 'utf8');
  } catch {
    // not installed yet
  }
  if (works && installed === wanted) return;

  if (!works) {
    const where = pythonSays('python3', 'import sys; print(sys.executable)');
    if (where === null) fail('setup: `python3` does not run, so the tests\' Python environment (.venv-test/) cannot be made');
    const version = pythonSays('python3', 'import sys; print("%d.%d" % sys.version_info[:2])');
    if (pythonSays('python3', 'import sys; print(sys.version_info >= (3, 10))') !== 'True') {
      fail(`setup: the tests' Python packages (${requirements}: pytest 9) need Python 3.10 or newer; python3 is ${where} (Python ${version}).\n`
        + 'Put a newer python3 first on PATH and run setup again.');
    }
    if (pythonSays('python3', 'import ensurepip, venv') === null) {
      fail(`setup: python3 (${where}) cannot make a virtual environment: it has no ensurepip / venv module.\n`
        + 'Install its venv support (Debian/Ubuntu: python3-venv; pyenv/conda/Homebrew Pythons include it) or put another python3 first on PATH.');
    }
    say(`making the tests' Python environment: ${venv}/ with ${where} (Python ${version})`);
    fs.rmSync(TEST_VENV, { recursive: true, force: true });
    const code = run('python3', ['-m', 'venv', TEST_VENV]);
    if (code !== 0 || pythonSays(TEST_PYTHON, 'import sys') === null) {
      fail(`setup: \`python3 -m venv ${venv}\` failed (exit code ${code}); see the output above`);
    }
  }

  say(`installing the tests' Python packages (${requirements}) from PyPI into ${venv}/ (pip)`);
  fs.rmSync(stamp, { force: true });
  const pip = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-input', '-r', TEST_REQUIREMENTS];
  const code = run(TEST_PYTHON, pip);
  if (code !== 0) {
    fail(`setup: pip could not install the tests' Python packages (exit code ${code}); see pip's message above.\n`
      + `It ran: ${venv}/bin/python -m pip install -r ${requirements}   (PyPI must be reachable, or pip's own index settings)`);
  }
  fs.writeFileSync(stamp, wanted);
}

function ensureNodeModules() {
  const marker = path.join(root, 'node_modules', '.package-lock.json');
  const installed = mtime(marker);
  const wanted = Math.max(mtime(path.join(root, 'package.json')), mtime(path.join(root, 'package-lock.json')));
  if (fs.existsSync(path.join(root, 'node_modules')) && installed >= wanted) return false;

  say('npm install (this also builds catzilla)');
  const code = run('npm', ['install', '--no-audit', '--no-fund']);
  if (code !== 0) fail(`setup: npm install failed (exit code ${code}); see the output above`);
  // npm leaves the marker alone when nothing changed; touch it so the next run is quiet.
  if (fs.existsSync(marker)) {
    const now = new Date();
    fs.utimesSync(marker, now, now);
  }
  return true;
}

function ensureBuild() {
  const addon = path.join(root, 'build', 'Release', 'catzilla.node');
  const nativeSources = newestSource(['CMakeLists.txt', 'core', 'bindings'], /\.(c|cc|cpp|h|hpp|txt)$/);
  const nativeStale = mtime(addon) < nativeSources;

  const hasTs = fs.existsSync(path.join(root, 'ts', 'index.ts'));
  const tsSources = newestSource(['ts', 'tsconfig.json'], /\.(ts|json)$/);
  const tsStale = hasTs && mtime(path.join(root, 'dist', 'index.js')) < tsSources;

  if (!nativeStale && !tsStale) return;
  const args = nativeStale && tsStale ? [] : nativeStale ? ['--native-only'] : ['--ts-only'];
  say(`building (${nativeStale && tsStale ? 'addon and TypeScript' : nativeStale ? 'addon' : 'TypeScript'}: missing or older than its sources)`);
  const code = run(process.execPath, [path.join(root, 'scripts', 'build.mjs'), ...args]);
  if (code !== 0) fail('setup: the build failed; see the output above');
  // make and tsc leave an output alone when nothing it depends on changed (say, only a file the
  // build does not use was touched); mark it as built so the next run is quiet.
  const now = new Date();
  for (const [stale, file] of [[nativeStale, addon], [tsStale, path.join(root, 'dist', 'index.js')]]) {
    if (stale && fs.existsSync(file)) fs.utimesSync(file, now, now);
  }
}

checkNode();
ensureSystemPackages();
ensureTestPython();
ensureNodeModules();
ensureBuild();
