import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser, requireBrowser } from '../helpers/browser';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../server/clock';
import { ensureInstallation } from '../../server/domain/installation';
import { createOperatorKey } from '../../server/domain/operators';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { startWarden, until, type Warden } from '../helpers/warden-server';

/**
 * Issue 23, the operator's dashboard, in a real browser (Debian's Chromium via playwright-core)
 * against `next start` on a fresh embedded database and the real Docker engine, at 1440 px and at
 * 390 px, light and dark where colour matters. Screenshots go to test-results/screenshots/ (a test
 * run never changes the tree); the ones in docs/screenshots/ are copies of a run's.
 */
// Browser tests on a shared 2-core box: generous, since every wait inside is on a condition.
vi.setConfig({ testTimeout: 300_000 });

const REPO = path.resolve(__dirname, '../..');
const SHOTS = path.join(REPO, 'test-results/screenshots');
const hasBrowser = requireBrowser('operator e2e tests');
const hasDocker = dockerAvailable();

const ADMIN = { email: 'admin@op-e2e.test', password: 'admin-pass-op-e2e-1' };
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
    browser = await launchBrowser();
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

  describe.each(SIZES)('operators\' words at $name px', (size) => {
    it('plan form errors use the form\'s labels and show once; the preview drops an old error on Discard; the audit diff and the timeline speak in words', async () => {
      const { context, page } = await openPage(size);
      try {
        const plan = `words-${size.name}`;
        expect((await api('PUT', `/api/v1/plans/${plan}`, { defaultTimeoutSeconds: 60, maxTimeoutSeconds: 120, maxConcurrentJobs: 1 })).status).toBe(201);
        await page.goto(`${base}/plans`);
        await page.getByRole('button', { name: `Edit plan ${plan}` }).click();
        const form = page.getByRole('form', { name: `Plan ${plan}` });
        const card = page.locator('section', { has: form });
        await form.getByLabel('Default timeout (s)').fill('500');
        const msg = 'Default timeout (500 s) must not exceed Maximum timeout (120 s)';
        // The preview says it first, in the same words.
        await card.getByTestId('plan-preview').getByText(msg).waitFor();
        await card.getByRole('button', { name: 'Save' }).click();
        // One error: on the field, not also in the preview box or a toast.
        await expect.poll(() => card.getByTestId('plan-preview').count()).toBe(0);
        await form.getByText(msg).waitFor();
        expect(await page.getByText(msg).count()).toBe(1);
        await shot(page, `words-plan-error-${size.name}`);
        await card.getByRole('button', { name: 'Discard' }).click();
        await expect.poll(() => card.getByTestId('plan-preview').count()).toBe(0);
        await form.getByLabel('Max concurrent jobs').fill('2');
        await card.getByTestId('plan-preview').getByText(/If you save/).waitFor();
        expect(await card.getByText(msg).count()).toBe(0);
        await card.getByRole('button', { name: 'Save' }).click();
        await page.getByText(`Plan ${plan} saved`).waitFor();

        // The audit diff names the field as the form does.
        await page.goto(`${base}/audit?action=plan.update`);
        const row = page.getByRole('table', { name: 'Audit events' }).locator('tr', { hasText: plan }).first();
        await row.getByRole('table', { name: 'Details' }).getByText('Max concurrent jobs').waitFor();
        await row.getByText('1 → 2').waitFor();
        await row.locator('[data-code="plan.update"]', { hasText: 'Plan edited' }).waitFor();
        await row.locator('[data-code^="operator:"]', { hasText: `Operator ${ADMIN.email}` }).waitFor();
        await shot(page, `words-audit-${size.name}`);
      } finally {
        await context.close();
      }
    });

    it('wait codes and the timeline in words, the code in a tooltip; the lost jobs\' tab is Lost', async () => {
      const { context, page } = await openPage(size);
      try {
        const plan = `wait-${size.name}`;
        expect((await api('PUT', `/api/v1/plans/${plan}`, { defaultTimeoutSeconds: 600, maxTimeoutSeconds: 900, maxConcurrentJobs: 1 })).status).toBe(201);
        const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `wait-${size.name}-${crypto.randomBytes(2).toString('hex')}`, plan });
        const first = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '600'], name: 'holds-the-slot' }, u.body.apiKey);
        const second = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '600'], name: 'waits' }, u.body.apiKey);
        await page.goto(`${base}/jobs/${second.body.id}`);
        await page.locator('[data-code="user_limit"]', { hasText: 'Waiting: plan limit reached' }).waitFor({ timeout: 30_000 });
        expect(await page.locator('[data-code="user_limit"]').getAttribute('title')).toBe('user_limit');
        await page.locator('[data-code="job.submit"]', { hasText: 'Submitted' }).waitFor();
        await shot(page, `words-wait-${size.name}`);
        await page.goto(`${base}/jobs?tab=lost`);
        await page.getByRole('tab', { name: 'Lost', exact: true }).waitFor();
        expect(await page.getByRole('tab', { name: 'Lost', exact: true }).getAttribute('aria-selected')).toBe('true');
        for (const j of [first.body.id, second.body.id]) await api('POST', `/api/v1/jobs/${j}/kill`, { force: true, reason: 'e2e cleanup' });
      } finally {
        await context.close();
      }
    });
  });

  describe.each(SIZES)('Extend knows the cap at $name px', (size) => {
    it('presets above what the cap leaves are disabled, it says how much is left, one error, the reason cleared after success, and a job that ends keeps the dialog and the reason', async () => {
      const { context, page } = await openPage(size);
      try {
        const plan = `cap-${size.name}`;
        expect((await api('PUT', `/api/v1/plans/${plan}`, { defaultTimeoutSeconds: 200, maxTimeoutSeconds: 300, maxConcurrentJobs: 5 })).status).toBe(201);
        const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `cap-${size.name}-${crypto.randomBytes(2).toString('hex')}`, plan });
        const j = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '600'], name: `capped-${size.name}` }, u.body.apiKey);
        expect(j.body.timeoutSeconds).toBe(200);
        await until('the capped job to run', async () => (await api<JobJson>('GET', `/api/v1/jobs/${j.body.id}`)).body.status === 'running', 60_000);
        await page.goto(`${base}/jobs?tab=running`);
        const row = page.locator(`[data-job-id="${j.body.id}"]`).first();
        await row.getByRole('button', { name: 'Extend' }).click();
        const dialog = page.getByRole('dialog');
        await dialog.getByTestId('extend-cap').getByText(`You can add at most 1m 40s (cap 5m from plan ${plan}).`).waitFor();
        const presets = dialog.getByRole('group', { name: 'Presets' });
        expect(await presets.getByRole('button', { name: '+1m', exact: true }).isEnabled()).toBe(true);
        for (const p of ['+5m', '+15m', '+1h']) expect(await presets.getByRole('button', { name: p, exact: true }).isDisabled(), p).toBe(true);
        expect(await dialog.getByLabel('Add seconds').inputValue()).toBe('100');
        await shot(page, `extend-cap-${size.name}`);

        // Past the cap as an admin without a reason: the server's one error, inline only.
        await dialog.getByLabel('Add seconds').fill('500');
        await dialog.getByLabel('Override the cap (admin; a reason is required)').check();
        await dialog.getByRole('button', { name: 'Extend deadline' }).click();
        await dialog.getByText('A reason is required to extend past the cap').waitFor();
        expect(await page.getByText('A reason is required to extend past the cap').count()).toBe(1);
        await dialog.getByLabel('Override the cap (admin; a reason is required)').uncheck();

        // Within the cap: saved, the dialog closes, and the next opening starts with no reason.
        await presets.getByRole('button', { name: '+1m', exact: true }).click();
        await dialog.getByLabel('Reason (recorded in the audit log)').fill('e2e: one more minute');
        await dialog.getByRole('button', { name: 'Extend deadline' }).click();
        await page.getByText('Deadline extended by 60s').waitFor();
        await dialog.waitFor({ state: 'hidden' });
        await row.getByRole('button', { name: 'Extend' }).click();
        await dialog.getByTestId('extend-cap').getByText('You can add at most 40s').waitFor();
        expect(await dialog.getByLabel('Reason (recorded in the audit log)').inputValue()).toBe('');

        // The job ends while the dialog is open: it stays, says so, and keeps the reason.
        await dialog.getByLabel('Reason (recorded in the audit log)').fill('typed before it ended');
        expect((await api('POST', `/api/v1/jobs/${j.body.id}/kill`, { force: true, reason: 'ended under the dialog' })).status).toBe(200);
        await dialog.getByTestId('extend-ended').waitFor({ timeout: 30_000 });
        expect(await dialog.getByLabel('Reason (recorded in the audit log)').inputValue()).toBe('typed before it ended');
        expect(await dialog.getByRole('button', { name: 'Extend deadline' }).isDisabled()).toBe(true);
        await shot(page, `extend-ended-${size.name}`);
        await page.keyboard.press('Escape');
        await dialog.waitFor({ state: 'hidden' });
      } finally {
        await context.close();
      }
    });
  });

  describe.each(SIZES)('short ids at $name px', (size) => {
    it('a short job URL redirects to the full one; Jobs search and the audit job filter find a job by its short id', async () => {
      const { context, page } = await openPage(size);
      try {
        const id = await submit({ command: ['sleep', '600'], name: `short-${size.name}`, timeoutSeconds: 600 });
        const short = id.slice(0, 8);
        await page.goto(`${base}/jobs/${short}`);
        await page.waitForURL(new RegExp(`/jobs/${id}$`));
        await page.getByRole('heading', { name: `short-${size.name}` }).waitFor();
        await page.goto(`${base}/jobs?tab=queued`);
        await page.getByLabel('Search name, image or id').fill(short);
        await page.getByLabel('Search name, image or id').press('Enter');
        await page.waitForURL(new RegExp(`q=${short}`));
        // Queued or already running: look in whichever tab it is, by the short id.
        await page.goto(`${base}/jobs?tab=running&q=${short}`);
        const inRunning = page.locator(`[data-job-id="${id}"]`).first();
        await until('the job to show under its short id', async () => {
          if (await inRunning.count()) return true;
          await page.goto(`${base}/jobs?tab=${(await api<JobJson>('GET', `/api/v1/jobs/${short}`)).body.status === 'queued' ? 'queued' : 'running'}&q=${short}`);
          return (await page.locator(`[data-job-id="${id}"]`).count()) > 0;
        }, 30_000, 1000);
        await shot(page, `short-id-search-${size.name}`);
        await page.goto(`${base}/audit`);
        await page.getByLabel('Job id').fill(short);
        await page.getByRole('button', { name: 'Filter' }).click();
        await page.getByRole('table', { name: 'Audit events' }).locator('[data-code="job.submit"]').first().waitFor();
        await shot(page, `short-id-audit-${size.name}`);
        await api('POST', `/api/v1/jobs/${short}/kill`, { force: true, reason: 'e2e cleanup' });
      } finally {
        await context.close();
      }
    });
  });

  describe.each(SIZES)('logs at $name px', (size) => {
    it('a job whose container was docker-killed is lost and its page still shows its output; the viewer searches with highlight, wraps, jumps to the end and downloads the whole log', async () => {
      const { context, page } = await openPage(size);
      try {
        const marker = `needle-${size.name}`;
        const id = await submit({ command: ['sh', '-c', `for i in 1 2 3; do echo line-$i ${marker}; done; echo oops >&2; sleep 600`], name: `logs-${size.name}`, timeoutSeconds: 600, maxRetries: 0 });
        const j = await until('the job to run with a container', async () => {
          const r = await api<JobJson>('GET', `/api/v1/jobs/${id}`);
          return r.body.status === 'running' && r.body.containerId ? r.body : null;
        }, 60_000);
        await until('its output', async () => ((await api<string>('GET', `/api/v1/jobs/${id}/logs`)).body ?? '').includes('oops'), 30_000);
        execFileSync('docker', ['kill', j.containerId!], { stdio: 'ignore' });
        await until('the job to be lost', async () => (await api<JobJson>('GET', `/api/v1/jobs/${id}`)).body.status === 'lost', 60_000);
        execFileSync('docker', ['rm', '-f', j.containerId!], { stdio: 'ignore' });
        const logs = await api<string>('GET', `/api/v1/jobs/${id}/logs`);
        expect(logs.status).toBe(200);
        expect(logs.body).toContain(`line-3 ${marker}`);

        await page.goto(`${base}/jobs/${id}`);
        const log = page.getByTestId('log-tail');
        await log.getByText(`line-1 ${marker}`, { exact: false }).waitFor();
        await page.getByLabel('Search the log').fill(marker);
        await expect.poll(() => log.locator('mark').count()).toBe(3);
        expect(await page.getByTestId('log-matches').textContent()).toBe('3 matches');
        expect(await log.getAttribute('data-wrap')).toBe('on');
        await page.getByLabel('Wrap').uncheck();
        expect(await log.getAttribute('data-wrap')).toBe('off');
        await page.getByRole('button', { name: 'Jump to end' }).click();
        const dl = await page.evaluate(async (href) => {
          const r = await fetch(href);
          return { status: r.status, disposition: r.headers.get('content-disposition'), text: await r.text() };
        }, (await page.getByRole('link', { name: 'Download' }).getAttribute('href'))!);
        expect(dl.status).toBe(200);
        expect(dl.disposition).toContain('attachment');
        expect(dl.text).toContain(`line-1 ${marker}`);
        expect(dl.text).toContain('oops');
        await shot(page, `logs-lost-${size.name}`);
      } finally {
        await context.close();
      }
    });
  });

  it('left no page errors', () => {
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  });
});
