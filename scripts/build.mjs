#!/usr/bin/env node
/**
 * Builds catzilla: the native addon (cmake-js, Release) and then the TypeScript (tsc -> dist/).
 *
 *   node scripts/build.mjs                 addon -> build/Release/catzilla.node, then dist/
 *   node scripts/build.mjs --native-only   the addon only
 *   node scripts/build.mjs --ts-only       dist/ only
 *   node scripts/build.mjs --asan          the addon with ASan + UBSan -> build-asan/Release/catzilla.node
 *
 * This is also package.json's "install" script, so it runs on every `npm install`, including an end
 * user's install from the registry: there typescript (a devDependency) is absent and the prebuilt
 * dist/ is used as it is.
 *
 * cmake-js never downloads Node headers here: package.json's "binary.napi_versions" makes it a
 * Node-API build, which uses node-api-headers and node-addon-api from node_modules.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onPath } from './on-path.mjs';
import { ensureLlhttp, LlhttpError } from './llhttp.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const SETUP_HINT = 'run `node scripts/setup.mjs` (it installs the prerequisites on Debian/Ubuntu)';
const APT_PACKAGES = 'cmake gcc g++ make tar';

class BuildError extends Error {}

function parseArgs(argv) {
  const opts = { native: true, ts: true, asan: false };
  for (const arg of argv) {
    if (arg === '--native-only') opts.ts = false;
    else if (arg === '--ts-only') opts.native = false;
    else if (arg === '--asan') opts.asan = true;
    else if (arg === '-h' || arg === '--help') {
      console.log('usage: node scripts/build.mjs [--native-only | --ts-only] [--asan]');
      process.exit(0);
    } else throw new BuildError(`unknown option ${arg}`);
  }
  if (!opts.native && !opts.ts) throw new BuildError('--native-only and --ts-only exclude each other');
  if (opts.asan && !opts.native) throw new BuildError('--asan builds the addon; it cannot go with --ts-only');
  return opts;
}


function run(cmd, args, what) {
  const result = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) throw new BuildError(`${what}: cannot run ${cmd}: ${result.error.message}`);
  if (result.status !== 0) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.status}`;
    throw new BuildError(`${what} failed (${cmd} ${how}; see the output above)`);
  }
}

/** Checks everything the native build needs, with one message naming all that is missing. */
function checkNativePrerequisites() {
  const missing = [];
  if (!onPath('cmake')) missing.push('cmake');
  if (!onPath('cc') && !onPath('gcc')) missing.push('a C compiler (gcc)');
  if (!onPath('c++') && !onPath('g++')) missing.push('a C++ compiler (g++)');
  if (!onPath('make')) missing.push('make');
  if (!onPath('tar')) missing.push('tar (to unpack llhttp)');
  if (missing.length) {
    throw new BuildError(
      `cannot build the native addon; missing: ${missing.join(', ')}.\n` +
        `  On Debian/Ubuntu: sudo apt-get install ${APT_PACKAGES}\n` +
        `  or ${SETUP_HINT}.`,
    );
  }
  for (const dep of ['cmake-js/package.json', 'node-addon-api', 'node-api-headers']) {
    try {
      require.resolve(dep);
    } catch {
      throw new BuildError(`cannot build the native addon: ${dep.split('/')[0]} is not installed; run \`npm install\``);
    }
  }
}

/** llhttp's sources (scripts/llhttp.mjs), as the CMake define that points the build at them. */
async function llhttpDefine() {
  try {
    return `--CDLLHTTP_DIR=${await ensureLlhttp(root)}`;
  } catch (err) {
    if (err instanceof LlhttpError) throw new BuildError(err.message);
    throw err;
  }
}

/**
 * Looks at an existing build dir: one configured from another checkout (a moved or copied tree)
 * makes cmake refuse, so it starts afresh; otherwise the generator it was configured with is kept
 * (cmake refuses to switch), and a fresh dir gets cmake-js's choice (Ninja when installed, else make).
 */
function generatorArgs(outDir) {
  const cache = path.join(outDir, 'CMakeCache.txt');
  if (!fs.existsSync(cache)) return [];
  const text = fs.readFileSync(cache, 'utf8');
  const home = /^CMAKE_HOME_DIRECTORY:INTERNAL=(.*)$/m.exec(text)?.[1];
  const generator = /^CMAKE_GENERATOR:INTERNAL=(.*)$/m.exec(text)?.[1];
  const usable = generator === 'Ninja' ? onPath('ninja') : generator === 'Unix Makefiles' ? onPath('make') : false;
  if ((home && path.resolve(home) !== root) || !usable) {
    const why = home && path.resolve(home) !== root ? `was configured for ${home}` : `uses the ${generator} generator, which is not usable here`;
    console.log(`build: ${path.relative(root, outDir)}/ ${why}; configuring afresh`);
    fs.rmSync(cache, { force: true });
    fs.rmSync(path.join(outDir, 'CMakeFiles'), { recursive: true, force: true });
    return [];
  }
  return generator === 'Ninja' ? ['--generator', 'Ninja'] : ['--prefer-make'];
}

/** After a failed build: the sources CMakeLists.txt names that do not exist (often the whole story). */
function missingSources() {
  const listed = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8').match(/\b(?:core|bindings)\/[\w./-]+\.(?:c|cc|cpp|h)\b/g) || [];
  return [...new Set(listed)].filter((file) => !fs.existsSync(path.join(root, file)));
}

async function buildNative(asan) {
  checkNativePrerequisites();
  const llhttp = await llhttpDefine();
  const outDir = path.join(root, asan ? 'build-asan' : 'build');
  const generator = generatorArgs(outDir);
  const cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const parallel = String(os.availableParallelism ? os.availableParallelism() : os.cpus().length);
  const args = [
    cmakeJs, 'build',
    '--directory', root,
    '--out', outDir,
    '--config', 'Release',
    ...generator,
    '--parallel', parallel,
    '--log-level', 'warn',
    `--CDCATZILLA_SANITIZE=${asan ? 'ON' : 'OFF'}`,
    llhttp,
  ];
  const label = asan ? 'native build (ASan + UBSan)' : 'native build';
  console.log(`build: ${label} -> ${path.relative(root, outDir)}/Release/catzilla.node`);
  try {
    run(process.execPath, args, label);
  } catch (err) {
    const absent = missingSources();
    if (absent.length) err.message += `\n  CMakeLists.txt names sources that do not exist yet: ${absent.join(', ')}`;
    throw err;
  }
  const addon = path.join(outDir, 'Release', 'catzilla.node');
  if (!fs.existsSync(addon)) throw new BuildError(`${label} finished but ${path.relative(root, addon)} is missing`);
}

function buildTypeScript() {
  if (!fs.existsSync(path.join(root, 'ts', 'index.ts'))) {
    console.log('build: ts/index.ts does not exist yet; skipping the TypeScript step');
    return;
  }
  let tsc;
  try {
    tsc = path.join(path.dirname(require.resolve('typescript/package.json')), 'bin', 'tsc');
  } catch {
    // An end user's install from the registry: no devDependencies, dist/ ships prebuilt.
    if (fs.existsSync(path.join(root, 'dist', 'index.js'))) return;
    throw new BuildError('cannot compile ts/: typescript is not installed (run `npm install`), and dist/ is missing');
  }
  console.log('build: tsc -p tsconfig.json -> dist/');
  run(process.execPath, [tsc, '-p', 'tsconfig.json'], 'TypeScript build');
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.native) await buildNative(opts.asan);
  if (opts.ts) buildTypeScript();
}

try {
  await main();
} catch (err) {
  if (!(err instanceof BuildError)) throw err;
  console.error(`catzilla build: ${err.message}`);
  process.exit(1);
}
