import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser, requireBrowser } from '../helpers/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { startReceiver } from '../helpers/receiver';
import { ROOT, startWarden, until, type Warden } from '../helpers/warden-server';
import { apiClient, logIn, operatorKey } from '../helpers/e2e';

/**
 * The dashboard in a real browser (Debian's Chromium via playwright-core; never a downloaded one)
 * against `next start` on a fresh embedded database and the real Docker engine.
 *
 *   WARDEN_E2E_DIR   run `next start` from another checkout (default: this repo)
 *   E2E_REBUILD=1    rebuild even when the build looks current (otherwise: built when missing or stale)
 *   REQUIRE_BROWSER=1  fail (instead of skip) when /usr/bin/chromium is missing
 */
const REPO = path.resolve(__dirname, '../..');
const SHOTS = path.join(REPO, 'test-results/screenshots');
const hasBrowser = requireBrowser('dashboard e2e tests');
const hasDocker = dockerAvailable();
if (!hasDocker) console.warn('\n!!! No Docker engine: dashboard e2e tests are SKIPPED (set REQUIRE_DOCKER=1 to fail instead)\n');

const ADMIN = { email: 'admin@e2e.test', password: 'admin-pass-e2e-1' };
const VIEWER = { email: 'viewer@e2e.test', password: 'viewer-pass-e2e-1' };
const XSS_NAME = '<img src=x onerror=alert(1)>';
const XSS_LABEL = '<script>alert(2)</script>';
const XSS_LOG = '<b>bold</b><script>alert(3)</script>';
const XSS_REASON = '<img src=y onerror=alert(4)>';

/** "4m 05s" / "1h 02m" / "45s" → seconds. */
function parseCountdown(s: string): number {
  let n = 0;
  for (const [, v, u] of s.matchAll(/(\d+)([dhms])/g)) n += Number(v) * { d: 86400, h: 3600, m: 60, s: 1 }[u as 'd' | 'h' | 'm' | 's'];
  return n;
}

interface JobJson {
  id: string;
  status: string;
  deadlineAt: string | null;
  timeoutSeconds: number;
  containerId: string | null;
  reason: string | null;
}

describe.skipIf(!hasBrowser || !hasDocker)('operator dashboard in a browser', () => {
  let warden: Warden | null = null;
  let base = '';
  let opKey = '';
  let userId = '';
  let userKey = '';
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  const pageErrors: string[] = [];
  const jobs: { sleeper: string; xss: string; keeper: string } = { sleeper: '', xss: '', keeper: '' };

  const api = apiClient(() => base, () => opKey);
  const getJob = async (id: string) => (await api<JobJson>('GET', `/api/v1/jobs/${id}`)).body;
  const shot = async (name: string) => {
    // Fonts loaded and animations frozen, rather than a pause before the picture.
    await page.evaluate(() => document.fonts.ready.then(() => true));
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true, animations: 'disabled' });
  };
  const login = async (who: { email: string; password: string }) => {
    await logIn(page, base, who);
  };

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    // Webhook receivers in these tests listen on 127.0.0.1.
    warden = await startWarden('main', { admin: ADMIN, env: { WARDEN_WEBHOOK_ALLOW_PRIVATE: 'on' } });
    base = warden.base;
    // An operator API key straight from the database the server started (as `warden operator key` does).
    opKey = await operatorKey(warden, ADMIN.email);

    // A user and three jobs through the public HTTP API.
    const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `e2e-${crypto.randomBytes(3).toString('hex')}`, plan: 'pro' });
    expect(u.status).toBe(201);
    userId = u.body.id;
    userKey = u.body.apiKey;
    const submit = async (body: Record<string, unknown>) => {
      const r = await api<JobJson>('POST', '/api/v1/jobs', body, u.body.apiKey);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      return r.body.id;
    };
    jobs.sleeper = await submit({ image: TEST_IMAGE, command: ['sleep', '600'], name: 'e2e-sleeper', timeoutSeconds: 600, labels: { team: 'e2e' } });
    jobs.xss = await submit({ image: TEST_IMAGE, command: ['sh', '-c', `echo '${XSS_LOG}'; sleep 600`], name: XSS_NAME, timeoutSeconds: 900, labels: { note: XSS_LABEL } });
    jobs.keeper = await submit({ image: TEST_IMAGE, command: ['sleep', '600'], name: 'e2e-keeper', timeoutSeconds: 900 });
    for (const id of Object.values(jobs)) await until(`job ${id} to run`, async () => (await getJob(id)).status === 'running', 60_000);

    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  }, 900_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await warden?.stop();
  }, 120_000);

  it('logs in and shows the overview', async () => {
    await page.goto(`${base}/`);
    await page.waitForURL(/\/login/);
    await shot('login');
    // Wrong password first: a clear refusal, no session.
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByText('Email or password is incorrect').isVisible()).toBe(true);
    await login(ADMIN);
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const l of ['Overview', 'Jobs', 'Users', 'Plans', 'Orphans', 'Audit', 'Sweepers', 'Operators']) {
      await expect.poll(() => nav.getByRole('link', { name: l, exact: true }).isVisible()).toBe(true);
    }
    await expect.poll(() => page.getByText('Nearing their deadline').isVisible()).toBe(true);
    await page.getByText('Jobs running at once, last 24 h (UTC)').waitFor();
    await shot('overview');
  });

  it('logs in without JavaScript too, and never puts the password in a URL', async () => {
    // A form submitted before hydration must POST, not GET: credentials never reach a URL.
    const noJs = await browser!.newContext({ viewport: { width: 1280, height: 800 }, javaScriptEnabled: false });
    try {
      const p = await noJs.newPage();
      const urls: string[] = [];
      p.on('request', (r) => urls.push(r.url()));
      await p.goto(`${base}/login`);
      await p.getByLabel('Email').fill(ADMIN.email);
      await p.getByLabel('Password').fill('wrong-password');
      await p.getByRole('button', { name: 'Log in' }).click();
      await p.waitForURL(/\/login\?/);
      await p.getByText('Email or password is incorrect').waitFor();
      await p.getByLabel('Email').fill(ADMIN.email);
      await p.getByLabel('Password').fill(ADMIN.password);
      await p.getByRole('button', { name: 'Log in' }).click();
      await p.waitForURL(/\/overview$/);
      expect(urls.some((u) => u.includes('wrong-password') || u.includes(encodeURIComponent(ADMIN.password)) || u.includes(ADMIN.password))).toBe(false);
      expect((await noJs.cookies()).some((c) => c.name === 'warden_session' && c.httpOnly)).toBe(true);
    } finally {
      await noJs.close();
    }
  });

  it('shows a running job counting down, and Extend moves its deadline', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs', exact: true }).click();
    await page.waitForURL(/\/jobs/);
    for (const t of ['Running', 'Queued', 'Timed out', 'Lost', 'Finished']) await page.getByRole('tab', { name: t, exact: true }).waitFor();
    const row = page.locator(`tr[data-job-id="${jobs.sleeper}"]`);
    await row.waitFor();
    const countdown = async () => parseCountdown((await row.getByTestId('countdown').textContent()) ?? '');
    const t1 = await countdown();
    expect(t1).toBeGreaterThan(500);
    // It counts down on its own (waited for, however slow the box): a later reading is smaller.
    let t2 = t1;
    await expect.poll(async () => (t2 = await countdown()), { timeout: 30_000 }).toBeLessThan(t1);
    expect(t2).toBeGreaterThan(0);
    await shot('jobs-running');

    const before = await getJob(jobs.sleeper);
    await row.getByRole('button', { name: 'Extend' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Add seconds').fill('120');
    await dialog.getByLabel('Reason (recorded in the audit log)').fill('e2e: needs two more minutes');
    await shot('extend-dialog');
    await dialog.getByRole('button', { name: 'Extend deadline' }).click();
    await page.getByText('Deadline extended by 120s').waitFor();
    await dialog.waitFor({ state: 'hidden' });
    const after = await getJob(jobs.sleeper);
    expect(Date.parse(after.deadlineAt!) - Date.parse(before.deadlineAt!)).toBe(120_000);
    expect(after.timeoutSeconds).toBe(before.timeoutSeconds + 120);
    // The table picks up the new deadline without a reload: left alone the countdown only falls,
    // so a reading above the last one before the extend is the new deadline showing.
    await expect.poll(countdown, { timeout: 30_000 }).toBeGreaterThan(t2);
  });

  it('renders job names, labels, logs and reasons with markup as plain text', async () => {
    await page.goto(`${base}/jobs?tab=running`);
    const row = page.locator(`tr[data-job-id="${jobs.xss}"]`);
    await row.getByText(XSS_NAME, { exact: true }).waitFor();
    await page.goto(`${base}/jobs/${jobs.xss}`);
    await page.getByRole('heading', { name: XSS_NAME }).waitFor();
    await page.getByText(`note=${XSS_LABEL}`, { exact: true }).waitFor();
    await expect.poll(async () => (await page.getByTestId('log-tail').textContent().catch(() => '')) ?? '', { timeout: 20_000 }).toContain(XSS_LOG);
    // Kill it with a reason that is markup too.
    await page.getByRole('button', { name: 'Kill', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason (recorded in the audit log)').fill(XSS_REASON);
    await dialog.getByLabel('Force: skip the grace period (SIGKILL now)').check();
    await dialog.getByRole('button', { name: 'Kill job' }).click();
    await page.getByText(/Kill requested/).first().waitFor();
    await page.getByText(`Killed by operator:${ADMIN.email}: ${XSS_REASON}`).first().waitFor({ timeout: 30_000 });
    await shot('job-xss');
    // Nothing was interpreted as HTML: no alert, no injected elements.
    expect(dialogs).toEqual([]);
    expect(await page.locator('img[src="x"], img[src="y"]').count()).toBe(0);
    // No script element carries the payloads' code (Next's own inline scripts hold them only as escaped JSON strings).
    expect(await page.evaluate(() => [...document.scripts].filter((s) => /^\s*alert\(\d\)\s*$/.test(s.textContent ?? '')).length)).toBe(0);
    expect(await page.locator('b', { hasText: 'bold' }).count()).toBe(0);
  });

  it('Kill ends a job as killed and its container stops', async () => {
    await page.goto(`${base}/jobs/${jobs.sleeper}`);
    await page.getByRole('heading', { name: 'e2e-sleeper' }).waitFor();
    await page.getByText('Timeline').waitFor();
    await shot('job-running');
    await page.getByRole('button', { name: 'Kill', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Reason (recorded in the audit log)').fill('e2e: stop it');
    await shot('kill-dialog');
    await dialog.getByRole('button', { name: 'Kill job' }).click();
    await page.getByText(/Kill requested/).first().waitFor();
    const killed = await until('the job to end as killed', async () => {
      const j = await getJob(jobs.sleeper);
      return j.status === 'killed' ? j : null;
    }, 90_000, 500);
    expect(killed.reason).toContain('e2e: stop it');
    // The page shows it without a reload.
    await page.locator('main').getByText('killed', { exact: true }).first().waitFor({ timeout: 10_000 });
    const cid = killed.containerId!;
    expect(cid).toBeTruthy();
    const running = (() => {
      try {
        return execFileSync('docker', ['inspect', '-f', '{{.State.Running}}', cid], { encoding: 'utf8' }).trim();
      } catch {
        return 'gone';
      }
    })();
    expect(['false', 'gone']).toContain(running);
    // The timeline speaks in words; the code stays in the tooltip.
    await page.locator('[data-code="job.kill"]', { hasText: 'Kill requested' }).first().waitFor();
    await shot('job-killed');
  });

  it('a plan edit with a bad value shows the error and changes nothing; a good one saves', async () => {
    const before = (await api<{ defaultTimeoutSeconds: number; maxTimeoutSeconds: number; maxConcurrentJobs: number; updatedAt: string }>('GET', '/api/v1/plans/pro')).body;
    await page.goto(`${base}/plans`);
    // Plans are a table; a plan's form opens in a drawer.
    await page.getByRole('button', { name: 'Edit plan pro' }).click();
    const form = page.getByRole('form', { name: 'Plan pro' });
    const card = page.locator('section', { has: form });
    await form.getByLabel('Default timeout (s)').fill(String(before.maxTimeoutSeconds + 1));
    await card.getByRole('button', { name: 'Save' }).click();
    const msg = `Default timeout (${before.maxTimeoutSeconds + 1} s) must not exceed Maximum timeout (${before.maxTimeoutSeconds} s)`;
    await card.getByText(msg, { exact: false }).first().waitFor();
    await shot('plans-error');
    const unchanged = (await api<typeof before>('GET', '/api/v1/plans/pro')).body;
    expect(unchanged).toEqual(before);
    // Client-side validation catches a negative limit before it leaves the browser.
    await form.getByLabel('Default timeout (s)').fill(String(before.defaultTimeoutSeconds));
    await form.getByLabel('Max concurrent jobs').fill('-3');
    await card.getByRole('button', { name: 'Save' }).click();
    await card.getByText('Max concurrent jobs must be at least 0').waitFor();
    expect((await api<typeof before>('GET', '/api/v1/plans/pro')).body).toEqual(before);
    // A good value saves.
    await form.getByLabel('Max concurrent jobs').fill(String(before.maxConcurrentJobs + 2));
    await card.getByText('If you save:').waitFor();
    await card.getByRole('button', { name: 'Save' }).click();
    await page.getByText('Plan pro saved').waitFor();
    const saved = (await api<typeof before>('GET', '/api/v1/plans/pro')).body;
    expect(saved.maxConcurrentJobs).toBe(before.maxConcurrentJobs + 2);
    expect(saved.defaultTimeoutSeconds).toBe(before.defaultTimeoutSeconds);
    await shot('plans');
  });

  it('Classes: an admin creates a class; a job of it shows the class and its results download with the session', async () => {
    await page.goto(`${base}/classes`);
    await page.getByText('No job classes yet').waitFor();
    await page.getByRole('button', { name: 'New class' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Class name').fill('e2e-build');
    await dialog.getByLabel('Default timeout (s)').fill('100000');
    await dialog.getByLabel('Max timeout (s)').fill('600');
    await dialog.getByRole('button', { name: 'Create class' }).click();
    // The API's own rule, shown on the field: a default above the class's cap is refused.
    await dialog.getByText('must not exceed its maxTimeoutSeconds (600)', { exact: false }).waitFor();
    await dialog.getByLabel('Default timeout (s)').fill('300');
    await dialog.getByLabel('Results path').fill('/out');
    await dialog.getByRole('button', { name: 'Create class' }).click();
    await page.getByText('Class e2e-build created').waitFor();
    await page.getByRole('form', { name: 'Class e2e-build' }).waitFor();
    await shot('classes');
    const cls = await api<{ defaultTimeoutSeconds: number; maxTimeoutSeconds: number; resultsPath: string }>('GET', '/api/v1/classes/e2e-build');
    expect(cls.body).toMatchObject({ defaultTimeoutSeconds: 300, maxTimeoutSeconds: 600, resultsPath: '/out' });

    const sub = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, name: 'e2e-classy', class: 'e2e-build', command: ['sh', '-c', 'mkdir -p /out && echo from-e2e > /out/x.txt'] }, userKey);
    expect(sub.status, JSON.stringify(sub.body)).toBe(201);
    expect(sub.body).toMatchObject({ timeoutSeconds: 300, timeoutSource: 'class' });
    await until('the class job to succeed with results', async () => {
      const j = (await api<JobJson & { resultsBytes: number | null }>('GET', `/api/v1/jobs/${sub.body.id}`)).body;
      return j.status === 'succeeded' && j.resultsBytes != null;
    }, 60_000, 500);
    await page.goto(`${base}/jobs/${sub.body.id}`);
    await page.getByRole('heading', { name: 'e2e-classy' }).waitFor();
    expect(await page.getByTestId('job-class').textContent()).toBe('e2e-build');
    const link = page.getByTestId('results-link');
    await link.waitFor();
    await shot('job-results');
    const dl = await page.evaluate(async (href) => {
      const r = await fetch(href);
      const b = new Uint8Array(await r.arrayBuffer());
      return { status: r.status, type: r.headers.get('content-type'), size: b.length, text: new TextDecoder().decode(b) };
    }, (await link.getAttribute('href'))!);
    expect(dl).toMatchObject({ status: 200, type: 'application/x-tar' });
    expect(dl.text).toContain('out/x.txt');
    expect(dl.text).toContain('from-e2e');
  });

  it('shows the other pages', async () => {
    await page.goto(`${base}/jobs?tab=finished`);
    await page.locator(`tr[data-job-id="${jobs.sleeper}"]`).waitFor();
    await shot('jobs-finished');
    await page.goto(`${base}/jobs?tab=queued`);
    await page.getByText('The queue is empty').waitFor();
    await shot('jobs-queued');
    await page.goto(`${base}/users`);
    await page.getByRole('table', { name: 'Users' }).waitFor();
    await shot('users');
    await page.goto(`${base}/orphans`);
    await page.getByRole('heading', { name: 'Orphans' }).waitFor();
    await page.waitForLoadState('networkidle').catch(() => {});
    await shot('orphans');
    await page.goto(`${base}/audit`);
    await page.getByLabel('Job id').fill(jobs.sleeper);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('table', { name: 'Audit events' }).getByText('Deadline extended').first().waitFor();
    await shot('audit');
    await page.goto(`${base}/sweepers`);
    await page.getByRole('heading', { name: 'Sweepers' }).waitFor();
    await page.waitForLoadState('networkidle').catch(() => {});
    await shot('sweepers');
    // Laptop and wide screens.
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.goto(`${base}/jobs?tab=running`);
    await page.locator(`tr[data-job-id="${jobs.keeper}"]`).waitFor();
    await shot('jobs-running-1280');
    await page.setViewportSize({ width: 1920, height: 1080 });
    await page.goto(`${base}/overview`);
    await page.getByText('Jobs running at once, last 24 h (UTC)').waitFor();
    await shot('overview-1920');
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it('the Webhooks page lists subscriptions and deliveries with their last error; redeliver and delete work', async () => {
    const rx = await startReceiver();
    try {
      rx.handler = () => 500;
      const hook = await api<{ id: string; secret: string }>('POST', '/api/v1/webhooks', { url: rx.url('/e2e'), events: ['job.cancelled', 'job.killed'] });
      expect(hook.status, JSON.stringify(hook.body)).toBe(201);
      // A job that ends (cancelled while queued, or killed if it already started) makes one event.
      const j = await api<JobJson>('POST', `/api/v1/jobs?user=${userId}`, { image: TEST_IMAGE, command: ['sleep', '600'], name: 'e2e-hooked' });
      expect(j.status).toBe(201);
      await api('POST', `/api/v1/jobs/${j.body.id}/kill`, { force: true, reason: 'e2e webhook' });
      await until('the receiver to be called', async () => rx.received.length > 0, 60_000);
      await page.goto(`${base}/webhooks`);
      await page.getByRole('heading', { name: 'Webhooks' }).waitFor();
      await page.getByRole('table', { name: 'Webhooks' }).getByText(rx.url('/e2e')).waitFor();
      const row = page.getByRole('table', { name: 'Deliveries' }).locator('tr[data-delivery-id]').first();
      await row.getByText('HTTP 500: receiver says 500').waitFor({ timeout: 30_000 });
      await row.getByText('pending').waitFor();
      await shot('webhooks');
      rx.handler = () => 200;
      await row.getByRole('button', { name: 'Redeliver' }).click();
      await page.getByText(/Delivery queued/).first().waitFor();
      await row.getByText('delivered', { exact: true }).waitFor({ timeout: 30_000 });
      const ids = new Set(rx.received.map((r) => r.headers['warden-delivery']));
      expect(ids.size).toBe(1);
      await page.getByRole('table', { name: 'Webhooks' }).getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete webhook' }).click();
      await page.getByText('No webhooks yet').waitFor();
      const list = await api<{ webhooks: unknown[] }>('GET', '/api/v1/webhooks');
      expect(list.body.webhooks).toEqual([]);
    } finally {
      await rx.close();
    }
  });

  it('admins create operators; a viewer sees no action buttons and a forged action is refused', async () => {
    await page.goto(`${base}/operators`);
    await page.getByRole('button', { name: 'New operator' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Email').fill(VIEWER.email);
    await dialog.getByLabel('Role').selectOption('viewer');
    await dialog.getByLabel('Password (optional)').fill(VIEWER.password);
    await dialog.getByRole('button', { name: 'Create operator' }).click();
    await page.getByText(`Operator ${VIEWER.email} created as viewer`).waitFor();
    await dialog.getByRole('button', { name: 'Done' }).click();
    await page.locator(`tr[data-operator="${VIEWER.email}"]`).waitFor();
    await shot('operators');

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(/\/login/);
    await login(VIEWER);
    await expect.poll(() => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Operators' }).count()).toBe(0);
    await page.goto(`${base}/jobs?tab=running`);
    const row = page.locator(`tr[data-job-id="${jobs.keeper}"]`);
    await row.waitFor();
    expect(await page.getByRole('button', { name: 'Kill' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Extend' }).count()).toBe(0);
    await page.goto(`${base}/jobs/${jobs.keeper}`);
    await page.getByRole('heading', { name: 'e2e-keeper' }).waitFor();
    for (const name of ['Kill', 'Extend', 'Cancel job', 'Suspend timeout']) expect(await page.getByRole('button', { name }).count(), name).toBe(0);
    await page.goto(`${base}/plans`);
    expect(await page.getByRole('button', { name: 'Edit plan pro' }).count()).toBe(0);
    await page.getByRole('button', { name: 'View plan pro' }).click();
    await page.getByRole('form', { name: 'Plan pro' }).waitFor();
    expect(await page.getByRole('button', { name: 'Save' }).count()).toBe(0);
    await page.goto(`${base}/classes`);
    await page.getByRole('form', { name: 'Class e2e-build' }).waitFor();
    for (const name of ['New class', 'Save', 'Delete']) expect(await page.getByRole('button', { name }).count(), name).toBe(0);
    await page.goto(`${base}/jobs/${jobs.keeper}`);
    await page.getByRole('heading', { name: 'e2e-keeper' }).waitFor();
    await shot('viewer-job');

    // Forge the kill server action from the viewer's browser session (its id from the build's manifest).
    const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, '.next/server/server-reference-manifest.json'), 'utf8')) as { node: Record<string, { exportedName?: string; filename?: string }> };
    const actionId = Object.entries(manifest.node).find(([, v]) => v.exportedName === 'killJobAction')?.[0];
    expect(actionId).toBeTruthy();
    const forged = await page.evaluate(
      async ({ actionId, id }) => {
        const res = await fetch(`/jobs/${id}`, {
          method: 'POST',
          headers: { 'Next-Action': actionId, 'Content-Type': 'text/plain;charset=UTF-8', Accept: 'text/x-component' },
          body: JSON.stringify([{ id, reason: 'forged by a viewer', force: true }]),
        });
        return { status: res.status, text: await res.text() };
      },
      { actionId: actionId!, id: jobs.keeper },
    );
    expect(forged.text).toContain('forbidden');
    expect(forged.text).toContain('needs the operator role');
    // …and the UI read route for admins refuses the viewer too.
    const opsStatus = await page.evaluate(async () => (await fetch('/api/ui/operators')).status);
    expect(opsStatus).toBe(403);
    const keeper = await getJob(jobs.keeper);
    expect(keeper.status).toBe('running');
    const audit = await api<{ events: { action: string }[] }>('GET', `/api/v1/audit?job=${jobs.keeper}`);
    expect(audit.body.events.map((e) => e.action)).not.toContain('job.kill');
    expect(dialogs).toEqual([]);
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  });
});

describe.skipIf(!hasBrowser)('dashboard without a Docker engine', () => {
  let warden: Warden | null = null;
  let browser: Browser | null = null;

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    // Nothing listens on port 9: every engine call fails fast.
    warden = await startWarden('nodocker', { admin: ADMIN, env: { DOCKER_HOST: 'tcp://127.0.0.1:9' } });
    browser = await launchBrowser();
  }, 900_000);
  afterAll(async () => {
    await browser?.close().catch(() => {});
    await warden?.stop();
  }, 120_000);

  it('says so plainly in a banner on every page', async () => {
    const page = await browser!.newPage({ viewport: { width: 1440, height: 900 } });
    await logIn(page, warden!.base, ADMIN);
    await page.getByText('Docker engine unreachable — jobs stay queued').waitFor({ timeout: 20_000 });
    await page.getByText('Docker', { exact: true }).waitFor();
    await page.screenshot({ path: path.join(SHOTS, 'overview-docker-down.png'), fullPage: true });
    await page.goto(`${warden!.base}/jobs`);
    await page.getByText('Docker engine unreachable — jobs stay queued').waitFor({ timeout: 20_000 });
  });
});
