import fs from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

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

/**
 * Chromium aborts a navigation with net::ERR_NETWORK_CHANGED when a network interface comes up
 * on the host — and each container on a bridge network (a job's, or another test file's) brings
 * up a veth. Playwright reports it as that error, as the navigation "interrupted by another
 * navigation to chrome-error://chromewebdata/" (the error page), or, when the error page reloads
 * itself at once, as the navigation "interrupted by another navigation to" the very same URL (CI
 * at a3bf2d0). That is the test machine's doing, not the page's: `goto` and `reload` go again (up
 * to 5 times) on those errors only. A navigation interrupted by one to a different page (an app's
 * redirect) still fails. The e2e files' plans also run their jobs with `network: 'none'`, which
 * brings up no interface.
 */
const NETWORK_CHANGED = /net::ERR_NETWORK_CHANGED|interrupted by another navigation to "chrome-error:\/\/chromewebdata\//;
/** Whether a failed navigation to `url` is the network's doing (see above), worth going again. */
export function isNetworkBlip(error: unknown, url: string): boolean {
  const message = String(error);
  return NETWORK_CHANGED.test(message) || message.includes(`interrupted by another navigation to "${url}"`);
}
function steady(page: Page): Page {
  const again =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>, target: (...a: A) => string) =>
    async (...a: A): Promise<R> => {
      for (let i = 1; ; i++) {
        const url = target(...a);
        try {
          return await fn(...a);
        } catch (e) {
          if (i >= 5 || !isNetworkBlip(e, url)) throw e;
        }
      }
    };
  page.goto = again(page.goto.bind(page), (url: string) => url);
  page.reload = again(page.reload.bind(page), () => page.url());
  return page;
}

/** Headless Debian Chromium; every page it opens (browser.newPage, context.newPage) has a steady goto and reload. */
export async function launchBrowser(): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: BROWSER_ARGS });
  // browser.newPage goes through newContext, so patching newContext covers both.
  const newContext = browser.newContext.bind(browser);
  browser.newContext = async (...a) => {
    const context = await newContext(...a);
    const newPage = context.newPage.bind(context);
    context.newPage = async () => steady(await newPage());
    return context;
  };
  return browser;
}
