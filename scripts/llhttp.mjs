/**
 * llhttp's release C sources for the native build, fetched from a package registry at build time,
 * pinned by version and checksum, never committed (shared by the build and the test scripts).
 *
 * The source is the PyPI sdist `llhttp==9.3.0.0`, which carries llhttp 9.3.0's release files
 * (lib/llhttp.c, api.c, http.c, llhttp.h). It is downloaded once into `.deps/` in the project, its
 * sha256 checked, kept there as `.deps/llhttp-9.3.0.0.tar.gz` and unpacked next to it; later builds reuse
 * it. For a machine without the registry:
 *   CATZILLA_LLHTTP_TARBALL=/path/to/llhttp-9.3.0.0.tar.gz   a copy of the sdist (same checksum)
 *   CATZILLA_LLHTTP_URL=https://mirror/.../llhttp-9.3.0.0.tar.gz   a mirror (same checksum)
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const LLHTTP = Object.freeze({
  version: '9.3.0',
  sdist: 'llhttp-9.3.0.0.tar.gz',
  url: 'https://files.pythonhosted.org/packages/8c/65/d119afeaa3ec3c1ac75cede9b2e6530a29fe5d56277e754d7489fc17a7e1/llhttp-9.3.0.0.tar.gz',
  sha256: '0d989363e7fb6f270b9d49956e7a3945c26778f8c70a166815264309ac6a8295',
});
const FILES = ['llhttp.c', 'api.c', 'http.c', 'llhttp.h'];

export class LlhttpError extends Error {
  name = 'LlhttpError';
}

function sha256(bytes) {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

async function download(url) {
  let response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  } catch (err) {
    throw new LlhttpError(`cannot download ${url}: ${err.cause?.message || err.message}`);
  }
  if (!response.ok) throw new LlhttpError(`cannot download ${url}: HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

function advice() {
  return (
    `catzilla's native build needs llhttp ${LLHTTP.version}'s C sources, the PyPI sdist ${LLHTTP.sdist} ` +
    `(sha256 ${LLHTTP.sha256}), fetched from ${LLHTTP.url}.\n` +
    `  Without access to PyPI: download that file elsewhere and set CATZILLA_LLHTTP_TARBALL=<its path>, ` +
    `or set CATZILLA_LLHTTP_URL to a mirror of it.`
  );
}

/**
 * Returns the directory holding llhttp.c, api.c, http.c and llhttp.h, fetching and unpacking them
 * first when they are not there yet. Throws LlhttpError with a plain message naming what is missing.
 */
export async function ensureLlhttp(root, { log = console.log } = {}) {
  const depsDir = path.join(root, '.deps');
  const dir = path.join(depsDir, `llhttp-${LLHTTP.version}`);
  const stamp = path.join(dir, '.sha256');
  if (FILES.every((f) => fs.existsSync(path.join(dir, f))) && readText(stamp) === LLHTTP.sha256) return dir;

  let bytes;
  const local = process.env.CATZILLA_LLHTTP_TARBALL;
  if (local) {
    try {
      bytes = fs.readFileSync(local);
    } catch (err) {
      throw new LlhttpError(`CATZILLA_LLHTTP_TARBALL=${local}: ${err.message}\n${advice()}`);
    }
  } else {
    const url = process.env.CATZILLA_LLHTTP_URL || LLHTTP.url;
    log(`build: fetching llhttp ${LLHTTP.version} (${LLHTTP.sdist}) from ${new URL(url).host}`);
    try {
      bytes = await download(url);
    } catch (err) {
      throw new LlhttpError(`${err.message}\n${advice()}`);
    }
  }
  const got = sha256(bytes);
  if (got !== LLHTTP.sha256) {
    throw new LlhttpError(`${local || LLHTTP.sdist} has sha256 ${got}, expected ${LLHTTP.sha256}: refusing it.\n${advice()}`);
  }

  // Unpack lib/ into a fresh directory, then move it into place (a half-written dir is never used).
  fs.mkdirSync(depsDir, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(depsDir, 'unpack-'));
  try {
    const tarball = path.join(depsDir, LLHTTP.sdist);
    if (tarball !== local) fs.writeFileSync(tarball, bytes);
    const top = LLHTTP.sdist.replace(/\.tar\.gz$/, '');
    const members = [...FILES.map((f) => `${top}/lib/${f}`), `${top}/LICENSE`];
    const tar = spawnSync('tar', ['-xzf', tarball, '-C', tmp, ...members], { encoding: 'utf8' });
    if (tar.error) throw new LlhttpError(`cannot run tar to unpack ${LLHTTP.sdist}: ${tar.error.message} (install tar)`);
    if (tar.status !== 0) throw new LlhttpError(`tar could not unpack ${LLHTTP.sdist}: ${tar.stderr.trim()}`);
    const out = path.join(tmp, 'out');
    fs.mkdirSync(out);
    for (const f of FILES) fs.renameSync(path.join(tmp, top, 'lib', f), path.join(out, f));
    fs.renameSync(path.join(tmp, top, 'LICENSE'), path.join(out, 'LICENSE'));
    fs.writeFileSync(path.join(out, '.sha256'), LLHTTP.sha256);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(out, dir);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

function readText(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
