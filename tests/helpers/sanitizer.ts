/**
 * Whether this process runs under AddressSanitizer (the sanitizer phase of scripts/test.mjs).
 * Its allocator keeps freed memory in quarantine, so RSS bounds say nothing there: tests check
 * them in the plain run, and LeakSanitizer checks the native side in this one.
 */
import fs from 'node:fs';

let cached: boolean | null = null;

export function underAsan(): boolean {
  if (cached === null) {
    try {
      cached = /libasan|libclang_rt\.asan/.test(fs.readFileSync('/proc/self/maps', 'utf8'));
    } catch {
      cached = false;
    }
  }
  return cached;
}
