import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium, driven by playwright-core (never a downloaded browser). Every browser test
 * file calls `requireBrowser()` at load: with REQUIRE_BROWSER=1 (CI) a missing Chromium fails the
 * file instead of skipping it.
 */
export const CHROMIUM = '/usr/bin/chromium';
/** Headless, as root, on a box whose network is closed: no sandbox, no background fetches. */
export const BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Whether Chromium is here; throws under REQUIRE_BROWSER=1 when it is not, warns otherwise. */
export function requireBrowser(what: string): boolean {
  const has = fs.existsSync(CHROMIUM);
  if (!has && process.env.REQUIRE_BROWSER === '1') throw new Error(`REQUIRE_BROWSER=1 but ${CHROMIUM} is missing: install Debian's chromium package`);
  if (!has) console.warn(`\n!!! ${CHROMIUM} not found: ${what} are SKIPPED (set REQUIRE_BROWSER=1 to fail instead)\n`);
  return has;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: BROWSER_ARGS });
}
