import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { launchBrowser, requireBrowser } from '../helpers/browser';
import { dockerAvailable } from '../helpers/docker';
import { startReceiver, verifySignature, type Receiver } from '../helpers/receiver';
import { startWarden, until, type Warden } from '../helpers/warden-server';
import { logIn, operatorKey } from '../helpers/e2e';

/**
 * Webhooks and the audit entry dialog in a real browser (issue 23, points 7 and 6) against
 * `next start` with its worker, and a real HTTP receiver on 127.0.0.1 (private addresses allowed
 * for it). At 1440 and 390 px, light and dark: create a webhook (secret shown once, copy button),
 * send a test ping that the receiver fails once (500) and then takes (200): both attempts are
 * listed, the failed one marked, its response excerpt one click away; then the ping's audit entry
 * opens as a table of fields.
 */
vi.setConfig({ testTimeout: 300_000 });

const REPO = path.resolve(__dirname, '../..');
const SHOTS = path.join(REPO, 'test-results/screenshots');
const hasBrowser = requireBrowser('webhook and audit e2e tests');
const hasDocker = dockerAvailable();
const ADMIN = { email: 'admin@hooks-e2e.test', password: 'admin-pass-hooks-e2e-1' };
const SIZES = [
  { name: '1440', viewport: { width: 1440, height: 900 } },
  { name: '390', viewport: { width: 390, height: 844 } },
] as const;
const SCHEMES = ['light', 'dark'] as const;

describe.skipIf(!hasBrowser || !hasDocker)('webhooks and audit details in a browser (issue 23)', () => {
  let warden: Warden | null = null;
  let base = '';
  let opKey = '';
  let browser: Browser;
  let rx: Receiver;
  const pageErrors: string[] = [];

  const api = async <T = unknown>(method: string, p: string): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${base}${p}`, { method, headers: { authorization: `Bearer ${opKey}` } });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
  /** Full page, or the viewport only for a dialog (a full-page shot leaves the overlay mid-page). */
  const shot = (page: Page, name: string, fullPage = true) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
  const openPage = async (size: (typeof SIZES)[number], colorScheme: 'light' | 'dark'): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: size.viewport, colorScheme });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await logIn(page, base, ADMIN);
    return { context, page };
  };

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    rx = await startReceiver();
    // Each hook's first request is refused with a 500 (and a body to show); later ones are taken.
    const seen = new Map<string, number>();
    rx.handler = (r) => {
      const n = (seen.get(r.path) ?? 0) + 1;
      seen.set(r.path, n);
      return n === 1 ? { status: 500, body: `receiver down for maintenance (${r.path})` } : 200;
    };
    warden = await startWarden('hooks', { admin: ADMIN, env: { WARDEN_WEBHOOK_ALLOW_PRIVATE: 'on' } });
    base = warden.base;
    opKey = await operatorKey(warden, ADMIN.email);
    browser = await launchBrowser();
  }, 900_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await warden?.stop();
    await rx?.close();
  }, 120_000);

  for (const size of SIZES) {
    for (const scheme of SCHEMES) {
      it(`at ${size.name} px, ${scheme}: create a webhook, ping it, see both attempts; open the ping's audit entry`, async () => {
        const { context, page } = await openPage(size, scheme);
        const hookPath = `/hook-${size.name}-${scheme}`;
        const url = rx.url(hookPath);
        const tag = `${size.name}-${scheme}`;
        try {
          expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(scheme === 'dark');
          await page.goto(`${base}/webhooks`);
          await page.getByRole('button', { name: 'New webhook' }).click();
          await page.getByRole('dialog', { name: 'New webhook' }).getByLabel('URL').fill(url);
          await page.getByRole('dialog', { name: 'New webhook' }).getByRole('button', { name: 'Create webhook' }).click();
          const created = page.getByRole('dialog', { name: 'Webhook created' });
          const secret = (await created.getByTestId('webhook-secret').textContent())!.trim();
          expect(secret).toMatch(/^whsec_/);
          await created.getByRole('button', { name: 'Copy secret' }).waitFor();
          await shot(page, `webhooks-secret-${tag}`);
          await created.getByRole('button', { name: 'Done' }).click();
          const row = page.locator('table[aria-label="Webhooks"] tr', { hasText: hookPath });
          await row.waitFor();
          expect(await page.getByText(secret).count()).toBe(0);

          await row.getByRole('button', { name: 'Send test ping' }).click();
          await page.getByText(/Test ping queued/).waitFor();
          // The worker sends it, the receiver fails it, the retry (about 5 s later) is taken.
          await until(`two requests at ${hookPath}`, async () => rx.received.filter((r) => r.path === hookPath).length >= 2, 60_000);
          const got = rx.received.filter((r) => r.path === hookPath);
          for (const r of got) {
            verifySignature(secret, r.headers['warden-signature'], r.raw);
            expect(r.headers['warden-event']).toBe('webhook.test');
          }
          expect(got[0]!.raw).toBe(got[1]!.raw);

          const attempts = page.getByRole('table', { name: 'Attempts' });
          const failed = attempts.locator('tr[data-ok="false"]');
          const ok = attempts.locator('tr[data-ok="true"]');
          await ok.getByText('HTTP 200', { exact: true }).waitFor({ timeout: 30_000 });
          await failed.getByText('HTTP 500', { exact: true }).waitFor();
          expect(await failed.textContent()).toContain('failed');
          expect(await failed.textContent()).toContain('attempt 1');
          expect(await ok.textContent()).toContain('attempt 2');
          await failed.getByText('Show bodies').click();
          await failed.getByText(`receiver down for maintenance (${hookPath})`).first().waitFor();
          expect(await failed.locator('pre').first().textContent()).toContain('"type": "webhook.test"');
          // The failed row's mark is visible inside the viewport (no scrolling sideways for it).
          const box = (await failed.getByText('HTTP 500', { exact: true }).boundingBox())!;
          expect(box.x + box.width).toBeLessThanOrEqual(size.viewport.width + 1);
          await shot(page, `webhooks-attempts-${tag}`);

          // The ping's audit entry, opened as a table of fields.
          const hookId = (await api<{ webhooks: { id: string; url: string }[] }>('GET', '/api/v1/webhooks')).body.webhooks.find((w) => w.url === url)!.id;
          await page.goto(`${base}/audit?action=webhook.test`);
          const auditRow = page.locator('table[aria-label="Audit events"] tr', { hasText: hookId.slice(0, 40) });
          await auditRow.first().getByRole('button', { name: /Open audit event/ }).click();
          const dialog = page.getByRole('dialog', { name: 'Webhook test ping' });
          const fields = dialog.getByRole('table', { name: 'Audit entry fields' });
          await fields.waitFor();
          expect(await fields.getByRole('rowheader', { name: 'Action' }).count()).toBe(1);
          expect(await fields.textContent()).toContain(url);
          expect(await fields.textContent()).toContain('deliveryId');
          expect(await fields.textContent()).not.toContain('{"');
          await shot(page, `audit-entry-${tag}`, false);
          await page.keyboard.press('Escape');
          await expect.poll(() => dialog.count()).toBe(0);
        } finally {
          await context.close();
        }
      });
    }
  }

  it('the audit dialog flattens nested details to dotted keys and names plan fields as the plan form does', async () => {
    const { context, page } = await openPage(SIZES[0], 'light');
    try {
      const res = await fetch(`${base}/api/v1/plans/hooks-e2e`, { method: 'PUT', headers: { authorization: `Bearer ${opKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ maxConcurrentJobs: 2 }) });
      expect(res.status).toBe(201);
      const again = await fetch(`${base}/api/v1/plans/hooks-e2e`, { method: 'PUT', headers: { authorization: `Bearer ${opKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ maxConcurrentJobs: 5 }) });
      expect(again.status).toBe(200);
      await page.goto(`${base}/audit`);
      const row = page.locator('table[aria-label="Audit events"] tr', { hasText: 'hooks-e2e' }).first();
      await row.getByRole('button', { name: /Open audit event/ }).click();
      const fields = page.getByRole('dialog').getByRole('table', { name: 'Audit entry fields' });
      await fields.getByRole('rowheader', { name: 'Max concurrent jobs' }).waitFor();
      expect(await fields.textContent()).toContain('2 → 5');
      await shot(page, 'audit-plan-edit-1440-light', false);
    } finally {
      await context.close();
    }
  });

  it('left no page errors', () => {
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  });
});
