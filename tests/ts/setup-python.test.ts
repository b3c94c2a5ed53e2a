/**
 * Issue 11, part 3: the tests' own Python packages come from PyPI into the project's venv
 * (.venv-test/, pinned in tests/requirements.txt), made from whichever python3 is on PATH
 * (Debian's, pyenv, conda, Homebrew); nothing the tests run for their own checks uses Debian's
 * python3-* packages or the bare python3. The Python bridge itself keeps the user's python3.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { testPython } from '../helpers/test-python.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function py(exe: string, code: string): string {
  return execFileSync(exe, ['-c', code], { encoding: 'utf8' }).trim();
}

/** Every file under `dir` with one of `exts` (node_modules and virtual environments left out). */
function sources(dir: string, exts: string[]): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.venv') || entry.name === 'results') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(full, exts));
    else if (exts.some((e) => entry.name.endsWith(e))) out.push(full);
  }
  return out;
}

describe('set-up: the tests\' Python', () => {
  it('is a venv inside the project, made from the python3 on PATH, holding the pinned packages', () => {
    const exe = testPython();
    expect(exe).to.equal(path.join(ROOT, '.venv-test', 'bin', 'python'));
    // a venv (its prefix is not its base's), based on the python3 this machine has on PATH
    expect(py(exe, 'import sys; print(sys.prefix != sys.base_prefix)')).to.equal('True');
    const base = fs.realpathSync(py(exe, 'import sys, os; print(os.path.join(sys.base_prefix, "bin"))'));
    const onPath = fs.realpathSync(path.dirname(fs.realpathSync(py('python3', 'import sys; print(sys.executable)'))));
    expect(base, 'the venv\'s base interpreter is the python3 on PATH').to.equal(onPath);
    // every pinned package at its pinned version, seen from inside the venv
    const pins = fs.readFileSync(path.join(ROOT, 'tests', 'requirements.txt'), 'utf8').split('\n')
      .map((l) => /^([A-Za-z0-9_.-]+)==([^\s;#]+)\s*(?:#.*)?$/.exec(l.trim())).filter((m): m is RegExpExecArray => m !== null);
    expect(pins.length).to.be.greaterThan(0);
    const names = JSON.stringify(pins.map((m) => m[1]));
    const versions = JSON.parse(py(exe, `import json, importlib.metadata as md; print(json.dumps({n: md.version(n) for n in ${names}}))`)) as Record<string, string>;
    for (const m of pins) expect(versions[m[1]!], m[1]).to.equal(m[2]);
    // and not from Debian's dist-packages
    const where = py(exe, 'import prometheus_client, pytest; print(prometheus_client.__file__ + " " + pytest.__file__)');
    expect(where).to.not.include('dist-packages');
    expect(where).to.include(path.join(ROOT, '.venv-test'));
  });

  it('is what every test and bench check runs: no test spawns the bare python3 for its own checks', () => {
    const offenders: string[] = [];
    const files = [...sources(path.join(ROOT, 'tests'), ['.ts', '.mjs', '.js']), ...sources(path.join(ROOT, 'bench'), ['.mjs', '.js', '.ts'])];
    for (const file of files) {
      if (file === fileURLToPath(import.meta.url)) continue;
      const text = fs.readFileSync(file, 'utf8');
      // spawn('python3', ...), execFileSync("python3", ...) and the like
      if (/\b(spawn|spawnSync|execFile|execFileSync|exec|execSync)\(\s*['"`]python3?\b/.test(text)) offenders.push(path.relative(ROOT, file));
    }
    expect(offenders).to.deep.equal([]);
  });
});
