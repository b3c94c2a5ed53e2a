'use strict';
/**
 * A small mocha reporter: one line per test (✓ / ✗ with its full title), the errors of failed tests
 * in full, and a closing line `N passed, N failed` (`, N skipped` when some were) alone on a line,
 * which scripts/test.mjs reads.
 *
 *   mocha --import=tsx --reporter ./tests/reporter.cjs tests/ts/*.test.ts
 */
const Mocha = require('mocha');

const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

function indent(text, prefix) {
  return String(text)
    .split('\n')
    .map((line) => prefix + line)
    .join('\n');
}

function describeError(err) {
  if (!err) return 'unknown error';
  let text = err.stack || `${err.name || 'Error'}: ${err.message}`;
  // chai puts the message in the stack; mocha's own errors sometimes do not.
  if (err.message && !text.includes(err.message)) text = `${err.message}\n${text}`;
  if (err.showDiff !== false && 'expected' in err && 'actual' in err) {
    const show = (value) => (typeof value === 'string' ? JSON.stringify(value) : require('node:util').inspect(value, { depth: 4 }));
    text += `\nexpected: ${show(err.expected)}\nactual:   ${show(err.actual)}`;
  }
  return text;
}

class CatzillaReporter extends Mocha.reporters.Base {
  constructor(runner, options) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const out = (line) => process.stdout.write(line + '\n');

    runner.on(EVENT_TEST_PASS, (test) => {
      passed++;
      const slow = test.duration >= test.slow() ? ` (${test.duration} ms)` : '';
      out(`  ✓ ${test.fullTitle()}${slow}`);
    });
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      // A failed hook ("before all" ...) arrives here too and counts as one failure.
      failed++;
      out(`  ✗ ${test.fullTitle()}`);
      out(indent(describeError(err), '      '));
    });
    runner.on(EVENT_TEST_PENDING, (test) => {
      skipped++;
      out(`  - ${test.fullTitle()} (skipped)`);
    });
    runner.once(EVENT_RUN_END, () => {
      out(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
    });
  }
}

module.exports = CatzillaReporter;
