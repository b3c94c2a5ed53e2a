/**
 * Where the tests' own Python lives: a virtual environment inside the project (.venv-test/) holding
 * tests/requirements.txt from PyPI. scripts/setup.mjs creates it with the python3 on PATH; the
 * pytest phase (scripts/test.mjs) and every test that runs Python for its own checks (parsers, real
 * clients; through tests/helpers/test-python.ts) use its interpreter. The Python bridge does not:
 * it runs on the user's python3 (or its `python` option).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const TEST_VENV = path.join(root, '.venv-test');
export const TEST_REQUIREMENTS = path.join(root, 'tests', 'requirements.txt');
/** The venv's interpreter (may not exist yet). */
export const TEST_PYTHON = path.join(TEST_VENV, 'bin', 'python');

/** The venv's interpreter; throws, saying how to create it, when it is missing. */
export function testPython() {
  if (!fs.existsSync(TEST_PYTHON)) {
    throw new Error(`${path.relative(process.cwd(), TEST_PYTHON) || TEST_PYTHON} is missing: run \`node scripts/setup.mjs\` (\`npm test\` does) to create the tests' Python environment`);
  }
  return TEST_PYTHON;
}
