/**
 * Headless Chromium for e2e tests: Debian's chromium through playwright-core (its own browser
 * download does not work on these machines). Tests skip when /usr/bin/chromium is missing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

export function hasChromium(): boolean {
  return fs.existsSync(CHROMIUM);
}

/** Runs `fn` with a fresh browser context (its own profile directory), closed and removed afterwards. */
export async function withChromium<T>(fn: (context: BrowserContext) => Promise<T>, options: { viewport?: { width: number; height: number } } = {}): Promise<T> {
  const { chromium } = await import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'catzilla-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000, ...options });
  try {
    return await fn(context);
  } finally {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}
