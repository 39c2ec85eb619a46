import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/clock';
import { ensureInstallation } from '../../server/domain/installation';
import { createOperatorKey } from '../../server/domain/operators';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { startWarden, until, type Warden } from '../helpers/warden-server';

/**
 * Issue 23, the operator's dashboard, in a real browser (Debian's Chromium via playwright-core)
 * against `next start` on a fresh embedded database and the real Docker engine, at 1440 px and at
 * 390 px, light and dark where colour matters. Screenshots go to docs/screenshots/.
 */
const CHROMIUM = '/usr/bin/chromium';
const REPO = path.resolve(__dirname, '../..');
const SHOTS = path.join(REPO, 'docs/screenshots');
const hasBrowser = fs.existsSync(CHROMIUM);
const hasDocker = dockerAvailable();
if (!hasBrowser && process.env.REQUIRE_BROWSER === '1') throw new Error(`REQUIRE_BROWSER=1 but ${CHROMIUM} is missing`);

const ADMIN = { email: 'admin@op-e2e.test', password: 'admin-pass-op-e2e-1' };
const BROWSER_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const SIZES = [
  { name: '1440', viewport: { width: 1440, height: 900 } },
  { name: '390', viewport: { width: 390, height: 844 } },
] as const;

interface JobJson {
  id: string;
  status: string;
  deadlineAt: string | null;
  timeoutSeconds: number;
  containerId: string | null;
  reason: string | null;
}

describe.skipIf(!hasBrowser || !hasDocker)('the operator dashboard (issue 23)', () => {
  let warden: Warden | null = null;
  let base = '';
  let opKey = '';
  let userId = '';
  let userKey = '';
  let browser: Browser;
  const pageErrors: string[] = [];

  const api = async <T = unknown>(method: string, p: string, body?: unknown, key = opKey): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${base}${p}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* text body (logs) */
    }
    return { status: res.status, body: parsed as T };
  };
  const submit = async (body: Record<string, unknown>) => {
    const r = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, ...body }, userKey);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id;
  };
  const shot = async (page: Page, name: string) => {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  /** A logged-in page at a size and colour scheme. */
  const openPage = async (size: (typeof SIZES)[number], colorScheme: 'light' | 'dark' = 'light'): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: size.viewport, colorScheme });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${base}/login`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/overview$/, { timeout: 30_000 });
    return { context, page };
  };
  const cleanupContainers = () => {
    if (!userId) return;
    try {
      const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=warden.user=${userId}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
      if (ids.length) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
    } catch {
      /* engine gone */
    }
  };

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    warden = await startWarden('operator', { admin: ADMIN });
    base = warden.base;
    opKey = (await createOperatorKey({ db: warden.db().db, clock: systemClock, node: 'e2e', installation: await ensureInstallation(warden.db().db), docker: null }, { kind: 'system', name: 'cli' }, ADMIN.email)).apiKey;
    const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `op-e2e-${crypto.randomBytes(3).toString('hex')}`, plan: 'pro' });
    expect(u.status).toBe(201);
    userId = u.body.id;
    userKey = u.body.apiKey;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: BROWSER_ARGS });
  }, 900_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    cleanupContainers();
    await warden?.stop();
  }, 120_000);

  describe.each(SIZES)('live, not polled, at $name px', (size) => {
    it('a started job appears in Running without a reload while the dot says Live; when the stream is cut, polling takes over and the dot says so', async () => {
      const { context, page } = await openPage(size);
      try {
        await page.goto(`${base}/jobs?tab=running`);
        const dot = page.getByTestId('live-dot').first();
        await expect.poll(() => dot.getAttribute('data-mode'), { timeout: 20_000 }).toBe('live');
        expect(await dot.textContent()).toContain('Live');

        const id = await submit({ command: ['sleep', '600'], name: `live-${size.name}`, timeoutSeconds: 600 });
        // Pushed, not polled: no view polls while the stream is up (useViewQuery), so the row can only
        // arrive through the stream.
        await page.locator(`[data-job-id="${id}"]`).first().waitFor({ timeout: 30_000 });
        expect(await dot.getAttribute('data-mode')).toBe('live');
        await shot(page, `live-jobs-${size.name}`);

        // Cut the stream: the browser may not reconnect, and the server's LISTEN connection is
        // terminated (the hub ends every stream when it re-listens, as after a database restart).
        await page.route('**/api/ui/events', (r) => r.abort());
        const db = warden!.db();
        await until('the LISTEN connection to be terminated', async () => {
          const rows = await db.sql<{ ok: boolean }[]>`select pg_terminate_backend(pid) as ok from pg_stat_activity where query ilike 'listen%warden_live%'`;
          return rows.length > 0 && rows.every((r) => r.ok);
        }, 20_000);
        await expect.poll(() => dot.getAttribute('data-mode'), { timeout: 30_000 }).toBe('polling');
        expect(await dot.textContent()).toContain('Polling');

        // The fallback still brings new jobs in.
        const id2 = await submit({ command: ['sleep', '600'], name: `poll-${size.name}`, timeoutSeconds: 600 });
        await page.locator(`[data-job-id="${id2}"]`).first().waitFor({ timeout: 30_000 });
        await shot(page, `live-polling-${size.name}`);

        // And when the stream may connect again, it is live again.
        await page.unroute('**/api/ui/events');
        await expect.poll(() => dot.getAttribute('data-mode'), { timeout: 60_000 }).toBe('live');
        for (const j of [id, id2]) await api('POST', `/api/v1/jobs/${j}/kill`, { force: true, reason: 'e2e cleanup' });
      } finally {
        await context.close();
      }
    });
  });

  it('left no page errors', () => {
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  });
});
