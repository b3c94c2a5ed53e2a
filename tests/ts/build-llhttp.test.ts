/**
 * The parser the addon is built with: llhttp >= 9.3 from its pinned PyPI sdist (scripts/llhttp.mjs),
 * compiled in with hidden symbols; without the registry the build stops with a message naming
 * what is missing; a tarball with another checksum is refused.
 */
import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../../ts/native.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const LLHTTP_MODULE = path.join(root, 'scripts', 'llhttp.mjs');

/** Runs ensureLlhttp() for a scratch project root in a child node; returns its exit code and output. */
function ensureIn(scratch: string, env: Record<string, string>): { status: number | null; output: string } {
  const script = `import(${JSON.stringify(LLHTTP_MODULE)}).then((m) => m.ensureLlhttp(${JSON.stringify(scratch)}, { log() {} }))
    .then((dir) => console.log('DIR ' + dir), (err) => { console.error(err.name + ': ' + err.message); process.exit(3); });`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('build: llhttp', () => {
  it('the addon carries llhttp 9.3 or newer', () => {
    const [major, minor] = native().versions.llhttp.split('.').map(Number);
    expect(major! * 100 + minor!, native().versions.llhttp).to.be.at.least(903);
  });

  it('the addon exports no llhttp symbol (Node exports its own)', () => {
    const addon = process.env.CATZILLA_ADDON ?? path.join(root, 'build', 'Release', 'catzilla.node');
    const symbols = execFileSync('nm', ['-D', '--defined-only', addon], { encoding: 'utf8' });
    expect(symbols.split('\n').filter((line) => /llhttp/.test(line))).to.deep.equal([]);
    expect(symbols).to.match(/napi_register_module_v1/); // nm read the right file
  });

  it('without the registry the build stops with a message naming the sdist and how to provide it', () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-llhttp-'));
    try {
      const run = ensureIn(scratch, { CATZILLA_LLHTTP_URL: 'http://127.0.0.1:9/llhttp-9.3.0.0.tar.gz' });
      expect(run.status, run.output).to.equal(3);
      expect(run.output).to.match(/LlhttpError: cannot download http:\/\/127\.0\.0\.1:9\/llhttp-9\.3\.0\.0\.tar\.gz/);
      expect(run.output).to.include('llhttp-9.3.0.0.tar.gz');
      expect(run.output).to.include('CATZILLA_LLHTTP_TARBALL');
      expect(fs.existsSync(path.join(scratch, '.deps', 'llhttp-9.3.0')), 'nothing half-unpacked').to.equal(false);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('a tarball with another checksum is refused', () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-llhttp-'));
    try {
      const fake = path.join(scratch, 'llhttp-9.3.0.0.tar.gz');
      fs.writeFileSync(fake, 'not the release');
      const run = ensureIn(scratch, { CATZILLA_LLHTTP_TARBALL: fake });
      expect(run.status, run.output).to.equal(3);
      expect(run.output).to.match(/has sha256 [0-9a-f]{64}, expected 0d989363e7fb6f27.*refusing it/);
      expect(fs.existsSync(path.join(scratch, '.deps', 'llhttp-9.3.0'))).to.equal(false);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('the checked tarball unpacks into .deps/ (from a local copy, as on a machine without the registry)', () => {
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-llhttp-'));
    try {
      // the build (which ran before the tests) kept the checked sdist in the project's .deps/
      const first = ensureIn(scratch, { CATZILLA_LLHTTP_TARBALL: path.join(root, '.deps', 'llhttp-9.3.0.0.tar.gz') });
      expect(first.status, first.output).to.equal(0);
      const dir = /DIR (.*)/.exec(first.output)![1]!;
      for (const file of ['llhttp.c', 'api.c', 'http.c', 'llhttp.h', 'LICENSE']) expect(fs.existsSync(path.join(dir, file)), file).to.equal(true);
      expect(fs.readFileSync(path.join(dir, 'llhttp.h'), 'utf8')).to.match(/#define LLHTTP_VERSION_MAJOR 9/);
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  });
});
