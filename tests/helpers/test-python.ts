/**
 * The interpreter for Python that a test runs for its own checks (a reference parser, a real
 * client): .venv-test/bin/python, which scripts/setup.mjs fills from tests/requirements.txt.
 * Tests of the Python bridge do not use it: the bridge runs on the user's python3.
 */
// @ts-ignore: a plain .mjs module without type declarations (shared with scripts/test.mjs)
import { testPython as venvPython } from '../../scripts/test-python.mjs';

/** .venv-test/bin/python; throws, saying to run scripts/setup.mjs, when it is missing. */
export function testPython(): string {
  return venvPython() as string;
}
