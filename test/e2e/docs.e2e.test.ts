import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, requireBrowser } from '../helpers/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWarden, until, type Warden } from '../helpers/warden-server';
import { logIn } from '../helpers/e2e';

/**
 * In Chromium against a real server: the API reference at /api/docs renders from the server alone
 * (every request to anywhere else is blocked and recorded), and the dashboard's new-key dialogs
 * copy the key to the clipboard.
 */

const hasBrowser = requireBrowser('API reference browser tests');
const REPO = path.resolve(__dirname, '../..');
const ADMIN = { email: 'admin@docs-e2e.test', password: 'admin-pass-docs-1' };

describe.skipIf(!hasBrowser)('the API reference and the key copy button, in a browser', () => {
  let warden: Warden | null = null;
  let browser: Browser;

  beforeAll(async () => {
    warden = await startWarden('docs', { admin: ADMIN });
    browser = await launchBrowser();
  }, 900_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await warden?.stop();
  }, 120_000);

  it('/api/docs renders the reference, searchable, with every request to anything but the server blocked', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const blocked: string[] = [];
    const served: string[] = [];
    await context.route('**/*', async (route) => {
      const url = route.request().url();
      if (url.startsWith(`${warden!.base}/`) || url.startsWith('data:') || url.startsWith('blob:')) {
        served.push(url);
        await route.continue();
      } else {
        blocked.push(url);
        await route.abort();
      }
    });
    const page: Page = await context.newPage();
    const res = await page.goto(`${warden!.base}/api/docs`);
    expect(res?.status()).toBe(200);
    // The document's title and operations, rendered by the viewer from /api/v1/openapi.json.
    await page.getByText('Warden API').first().waitFor({ timeout: 60_000 });
    await page.getByText('Submit a job').first().waitFor({ timeout: 30_000 });
    expect(await page.getByText("Add seconds to a running job's deadline").count()).toBeGreaterThan(0);
    expect(served.some((u) => u.endsWith('/api/docs/scalar.js'))).toBe(true);
    expect(served.some((u) => u.endsWith('/api/v1/openapi.json'))).toBe(true);
    // Search: the viewer's own search box finds an operation by its words.
    await page.keyboard.press('Control+k');
    const search = page.getByRole('combobox').or(page.getByPlaceholder(/search/i)).first();
    await search.waitFor({ timeout: 15_000 });
    await search.fill('extend');
    await until('a search result for extend', async () => (await page.getByRole('option').filter({ hasText: /deadline|extend/i }).count()) > 0, 15_000);
    fs.mkdirSync(path.join(REPO, 'test-results/screenshots'), { recursive: true });
    await page.screenshot({ path: path.join(REPO, 'test-results/screenshots/api-docs.png') });
    expect(blocked, 'requests to other hosts').toEqual([]);
    await context.close();
  }, 180_000);

  it('a new user\'s key and a new key of an existing user have a Copy button that puts the key on the clipboard', async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: warden!.base });
    const page = await context.newPage();
    await logIn(page, warden!.base, ADMIN);
    await page.goto(`${warden!.base}/users`);
    await page.getByRole('button', { name: 'New user' }).click();
    const name = `copy-${Date.now().toString(36)}`;
    await page.getByLabel('Name').fill(name);
    await page.getByRole('button', { name: 'Create user' }).click();
    const shown = (await page.getByTestId('new-api-key').textContent({ timeout: 30_000 }))!.trim();
    expect(shown).toMatch(/^wd_u_/);
    await page.getByRole('button', { name: 'Copy key' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(shown);
    // The copied key works.
    const me = await fetch(`${warden!.base}/api/v1/me`, { headers: { authorization: `Bearer ${shown}` } });
    expect(me.status).toBe(200);

    // The keys panel of the user's edit dialog: a second key, copied the same way.
    await page.keyboard.press('Escape');
    await page.reload();
    await page.locator(`tr[data-user="${name}"]`).getByRole('button', { name: 'Edit' }).click();
    await page.getByRole('button', { name: 'New API key' }).click();
    const second = (await page.getByTestId('new-api-key').textContent({ timeout: 30_000 }))!.trim();
    expect(second).toMatch(/^wd_u_/);
    expect(second).not.toBe(shown);
    await page.getByRole('button', { name: 'Copy key' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(second);
    await context.close();
  }, 180_000);
});
