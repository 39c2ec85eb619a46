import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { launchBrowser, requireBrowser } from '../helpers/browser';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../server/clock';
import { ensureInstallation } from '../../server/domain/installation';
import { createOperatorKey } from '../../server/domain/operators';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { startWarden, until, type Warden } from '../helpers/warden-server';

/**
 * Issue 23 points 6 and 8 in a real browser (Debian's Chromium via playwright-core) against
 * `next start` on a fresh embedded database and the real Docker engine: any screen (390 px Menu,
 * Kill in view), any light (dark mode from prefers-color-scheme and a remembered toggle, status
 * colours readable in both), any zone (browser time zone named, UTC on hover), the keyboard, and
 * many jobs at once (row selection with one confirmation and a result line per job; CSV export).
 * Colours are compared through a canvas: Tailwind 4 computes oklch()/lab(), the canvas gives RGB.
 */
vi.setConfig({ testTimeout: 300_000 });

const REPO = path.resolve(__dirname, '../..');
const SHOTS = path.join(REPO, 'test-results/screenshots');
const hasBrowser = requireBrowser('screen e2e tests');
const hasDocker = dockerAvailable();

const ADMIN = { email: 'admin@screens-e2e.test', password: 'admin-pass-screens-e2e-1' };
const SIZES = [
  { name: '1440', viewport: { width: 1440, height: 900 } },
  { name: '390', viewport: { width: 390, height: 844 } },
] as const;

interface JobJson {
  id: string;
  status: string;
  deadlineAt: string | null;
}

/** A CSS colour as RGB through a canvas (Chromium computes oklch()/lab() for Tailwind 4 colours). */
async function rgb(page: Page, css: string): Promise<[number, number, number]> {
  return page.evaluate((c) => {
    const cv = document.createElement('canvas');
    cv.width = cv.height = 1;
    const x = cv.getContext('2d')!;
    x.fillStyle = c;
    x.fillRect(0, 0, 1, 1);
    const d = x.getImageData(0, 0, 1, 1).data;
    return [d[0]!, d[1]!, d[2]!] as [number, number, number];
  }, css);
}
const luminance = ([r, g, b]: [number, number, number]) => {
  const f = (v: number) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const contrast = (a: [number, number, number], b: [number, number, number]) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
};

describe.skipIf(!hasBrowser || !hasDocker)('the dashboard on any screen, in any light and zone, many jobs at once (issue 23)', () => {
  let warden: Warden | null = null;
  let base = '';
  let opKey = '';
  let userId = '';
  let userKey = '';
  let userName = '';
  let browser: Browser;
  const pageErrors: string[] = [];

  const api = async <T = unknown>(method: string, p: string, body?: unknown, key = opKey): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${base}${p}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
  const submit = async (body: Record<string, unknown>) => {
    const r = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '600'], timeoutSeconds: 600, ...body }, userKey);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id;
  };
  const job = async (id: string) => (await api<JobJson>('GET', `/api/v1/jobs/${id}`)).body;
  const running = (id: string) => until(`job ${id} to run`, async () => (await job(id)).status === 'running', 60_000);
  const shot = async (page: Page, name: string) => {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  const openPage = async (size: (typeof SIZES)[number], opts: BrowserContextOptions = {}): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: size.viewport, colorScheme: 'light', ...opts });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${base}/login`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(/\/overview$/, { timeout: 30_000 });
    return { context, page };
  };

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    warden = await startWarden('screens', { admin: ADMIN, env: { WARDEN_WEBHOOK_ALLOW_PRIVATE: 'on' } });
    base = warden.base;
    opKey = (await createOperatorKey({ db: warden.db().db, clock: systemClock, node: 'e2e', installation: await ensureInstallation(warden.db().db), docker: null }, { kind: 'system', name: 'cli' }, ADMIN.email)).apiKey;
    // Two running at most, so the third and later jobs queue.
    expect((await api('PUT', '/api/v1/plans/screens', { defaultTimeoutSeconds: 600, maxTimeoutSeconds: 3600, maxConcurrentJobs: 2, maxQueuedJobs: 20 })).status).toBe(201);
    userName = `screens-${crypto.randomBytes(3).toString('hex')}`;
    const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: userName, plan: 'screens' });
    expect(u.status).toBe(201);
    userId = u.body.id;
    userKey = u.body.apiKey;
    browser = await launchBrowser();
  }, 900_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    if (userId) {
      try {
        const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=warden.user=${userId}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
        if (ids.length) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
      } catch {
        /* engine gone */
      }
    }
    await warden?.stop();
  }, 120_000);

  /** Kills whatever this user still runs or queues, so each test starts with free slots. */
  const clearJobs = async () => {
    const r = await api<{ jobs?: JobJson[]; data?: JobJson[] }>('GET', `/api/v1/jobs?user=${userId}&limit=100`);
    const list = (r.body.jobs ?? r.body.data ?? []) as JobJson[];
    for (const j of list) if (['running', 'starting', 'queued'].includes(j.status)) await api('POST', `/api/v1/jobs/${j.id}/kill`, { force: true });
    await until('no job of the user to be live', async () => {
      const again = await api<{ jobs?: JobJson[]; data?: JobJson[] }>('GET', `/api/v1/jobs?user=${userId}&limit=100`);
      return ((again.body.jobs ?? again.body.data ?? []) as JobJson[]).every((j) => !['running', 'starting', 'queued', 'terminating'].includes(j.status));
    }, 60_000);
  };

  describe.each(SIZES)('any screen at $name px', (size) => {
    it('the navigation collapses behind a Menu button at 390 px, and a running job\'s Kill is inside the viewport', async () => {
      await clearJobs();
      const id = await submit({ name: `narrow-${size.name}` });
      await running(id);
      const { context, page } = await openPage(size);
      try {
        const menu = page.getByRole('button', { name: 'Menu' });
        const nav = page.getByRole('navigation', { name: 'Main' });
        if (size.name === '390') {
          await menu.waitFor();
          expect(await nav.count()).toBe(0);
          await menu.click();
          expect(await menu.getAttribute('aria-expanded')).toBe('true');
          await nav.getByRole('link', { name: 'Jobs', exact: true }).click();
          await page.waitForURL(/\/jobs/);
          // The menu closes on the way.
          await expect.poll(() => nav.count()).toBe(0);
        } else {
          await nav.getByRole('link', { name: 'Jobs', exact: true }).waitFor();
          expect(await menu.isVisible()).toBe(false);
          await nav.getByRole('link', { name: 'Jobs', exact: true }).click();
          await page.waitForURL(/\/jobs/);
        }
        const row = page.locator(`tr[data-job-id="${id}"]`);
        const kill = row.getByRole('button', { name: 'Kill' });
        await kill.waitFor();
        const box = (await kill.boundingBox())!;
        expect(box.x).toBeGreaterThanOrEqual(0);
        expect(box.x + box.width).toBeLessThanOrEqual(size.viewport.width);
        // Nothing on the page is wider than the screen (the table scrolls inside its box).
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(size.viewport.width);
        await shot(page, `screens-jobs-${size.name}`);
        await kill.click();
        await page.getByRole('dialog', { name: /Kill job/ }).getByRole('button', { name: 'Kill job' }).click();
        await until('the job to be killed', async () => ['terminating', 'killed'].includes((await job(id)).status), 30_000);
      } finally {
        await context.close();
      }
    });
  });

  describe.each(SIZES)('any light at $name px', (size) => {
    it('dark mode follows prefers-color-scheme; status colours are readable in both; the toggle is remembered across a reload', async () => {
      await clearJobs();
      const id = await submit({ name: `light-${size.name}` });
      await running(id);
      for (const scheme of ['light', 'dark'] as const) {
        const { context, page } = await openPage(size, { colorScheme: scheme });
        try {
          await page.goto(`${base}/jobs?tab=running`);
          const chip = page.locator(`tr[data-job-id="${id}"]`).getByText('running', { exact: true });
          await chip.waitFor();
          expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(scheme === 'dark');
          const bodyBg = await rgb(page, await page.evaluate(() => getComputedStyle(document.body).backgroundColor));
          if (scheme === 'dark') expect(luminance(bodyBg)).toBeLessThan(0.05);
          else expect(luminance(bodyBg)).toBeGreaterThan(0.8);
          const [fg, bg] = await chip.evaluate((el) => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]);
          const c = contrast(await rgb(page, fg!), await rgb(page, bg!));
          expect(c, `running chip contrast in ${scheme}`).toBeGreaterThanOrEqual(4.5);
          // A final status's chip on the Finished tab too.
          await shot(page, `screens-${scheme}-${size.name}`);
          const toggle = page.getByRole('switch', { name: 'Dark mode' });
          expect(await toggle.getAttribute('aria-checked')).toBe(String(scheme === 'dark'));
          await toggle.click();
          const flipped = scheme === 'dark' ? 'light' : 'dark';
          await expect.poll(() => page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(flipped === 'dark');
          await page.reload();
          await page.locator(`tr[data-job-id="${id}"]`).waitFor();
          // Remembered: the emulated scheme no longer decides.
          expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(flipped === 'dark');
          expect(await page.getByRole('switch', { name: 'Dark mode' }).getAttribute('aria-checked')).toBe(String(flipped === 'dark'));
          const after = await rgb(page, await page.evaluate(() => getComputedStyle(document.body).backgroundColor));
          if (flipped === 'dark') expect(luminance(after)).toBeLessThan(0.05);
          else expect(luminance(after)).toBeGreaterThan(0.8);
        } finally {
          await context.close();
        }
      }
      await api('POST', `/api/v1/jobs/${id}/kill`, { force: true });
      await until('the job to end', async () => (await job(id)).status === 'killed', 30_000);
      // Finished chips (killed) are readable in both schemes too.
      for (const scheme of ['light', 'dark'] as const) {
        const { context, page } = await openPage(size, { colorScheme: scheme });
        try {
          await page.goto(`${base}/jobs?tab=finished&q=light-${size.name}`);
          const chip = page.locator(`tr[data-job-id="${id}"]`).getByText('killed', { exact: true });
          await chip.waitFor();
          const [fg, bg] = await chip.evaluate((el) => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]);
          expect(contrast(await rgb(page, fg!), await rgb(page, bg!)), `killed chip contrast in ${scheme}`).toBeGreaterThanOrEqual(4.5);
        } finally {
          await context.close();
        }
      }
    });
  });

  describe.each(SIZES)('any zone at $name px', (size) => {
    it('times show in the browser\'s time zone with the zone named, UTC on hover, and relative times stay', async () => {
      await clearJobs();
      const id = await submit({ name: `zone-${size.name}` });
      await running(id);
      const deadline = (await job(id)).deadlineAt!;
      const { context, page } = await openPage(size, { timezoneId: 'America/New_York' });
      try {
        await page.goto(`${base}/jobs/${id}`);
        const abs = page.getByTestId('abs-time').first();
        // Rendered in UTC on the server, then in the browser's zone once hydrated.
        await expect.poll(() => abs.textContent(), { timeout: 20_000 }).toMatch(/ EST$/);
        const deadlineRow = page.locator(`time[data-testid="abs-time"][datetime="${deadline}"]`).first();
        const expected = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(deadline));
        expect(await deadlineRow.textContent()).toContain(`${expected}:`);
        expect(await deadlineRow.getAttribute('title')).toBe(`${deadline.slice(0, 19).replace('T', ' ')} UTC`);
        // Relative times stay, with both the local time and UTC on hover.
        await page.goto(`${base}/jobs?tab=running`);
        const started = page.locator(`tr[data-job-id="${id}"] time`).first();
        await expect.poll(() => started.getAttribute('title')).toMatch(/ EST · .* UTC$/);
        expect(await started.textContent()).toMatch(/ago|just now/);
        await shot(page, `screens-zone-${size.name}`);
      } finally {
        await context.close();
      }
    });
  });

  describe.each(SIZES)('the keyboard at $name px', (size) => {
    it('/ focuses the search, ? lists the shortcuts, Esc closes dialogs', async () => {
      await clearJobs();
      const id = await submit({ name: `keys-${size.name}` });
      await running(id);
      const { context, page } = await openPage(size);
      try {
        await page.goto(`${base}/jobs?tab=running`);
        await page.locator(`tr[data-job-id="${id}"]`).waitFor();
        await page.locator('body').click({ position: { x: 5, y: 300 } });
        await page.keyboard.press('/');
        await expect.poll(() => page.evaluate(() => (document.activeElement as HTMLInputElement | null)?.labels?.[0]?.textContent ?? null)).toBe('Search name, image or id');
        // Typed into the field, `?` is a character, not the shortcut.
        await page.keyboard.type('?');
        expect(await page.getByRole('dialog', { name: 'Keyboard shortcuts' }).count()).toBe(0);
        await page.keyboard.press('Backspace');
        await page.locator('body').click({ position: { x: 5, y: 300 } });
        await page.keyboard.press('?');
        const list = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
        await list.waitFor();
        await list.getByText('Focus the search field of this page').waitFor();
        await shot(page, `screens-shortcuts-${size.name}`);
        await page.keyboard.press('Escape');
        await expect.poll(() => list.count()).toBe(0);
        await page.locator(`tr[data-job-id="${id}"]`).getByRole('button', { name: 'Kill' }).click();
        const kill = page.getByRole('dialog', { name: /Kill job/ });
        await kill.waitFor();
        await page.keyboard.press('Escape');
        await expect.poll(() => kill.count()).toBe(0);
        expect((await job(id)).status).toBe('running');
      } finally {
        await context.close();
      }
    });
  });

  describe.each(SIZES)('many at once at $name px', (size) => {
    it('Cancel, Extend and Kill selected: one confirmation naming how many and which kinds, one result line per job', async () => {
      await clearJobs();
      const tag = `bulk-${size.name}-${crypto.randomBytes(2).toString('hex')}`;
      const run1 = await submit({ name: `${tag}-r1` });
      const run2 = await submit({ name: `${tag}-r2` });
      await running(run1);
      await running(run2);
      const q1 = await submit({ name: `${tag}-q1` });
      const q2 = await submit({ name: `${tag}-q2` });
      const { context, page } = await openPage(size);
      try {
        // Queued: Cancel selected.
        await page.goto(`${base}/jobs?tab=queued&q=${tag}`);
        await page.locator(`tr[data-job-id="${q2}"]`).waitFor();
        await page.getByRole('checkbox', { name: `Select job ${tag}-q1` }).check();
        await page.getByRole('checkbox', { name: `Select job ${tag}-q2` }).check();
        await page.getByTestId('selected-count').getByText('2 selected').waitFor();
        expect(await page.getByRole('button', { name: 'Kill selected' }).isDisabled()).toBe(true);
        await page.getByRole('button', { name: 'Cancel selected' }).click();
        let dialog = page.getByRole('dialog', { name: 'Cancel 2 jobs?' });
        await dialog.getByText('Cancel 2 jobs (2 queued).').waitFor();
        await dialog.getByRole('button', { name: 'Cancel 2 jobs' }).click();
        let results = dialog.getByRole('list', { name: 'Results' });
        await expect.poll(() => results.locator('li[data-ok="true"]').count(), { timeout: 30_000 }).toBe(2);
        await results.locator(`li[data-job-id="${q1}"]`).getByText('Job cancelled').waitFor();
        await shot(page, `screens-bulk-cancel-${size.name}`);
        await dialog.getByRole('button', { name: 'Done' }).click();
        expect((await job(q1)).status).toBe('cancelled');
        expect((await job(q2)).status).toBe('cancelled');

        // Running: select all, Extend selected by 120 s.
        await page.goto(`${base}/jobs?tab=running&q=${tag}`);
        await page.locator(`tr[data-job-id="${run2}"]`).waitFor();
        const before = { [run1]: (await job(run1)).deadlineAt!, [run2]: (await job(run2)).deadlineAt! };
        await page.getByRole('checkbox', { name: 'Select all jobs on this page' }).check();
        await page.getByRole('button', { name: 'Extend selected' }).click();
        dialog = page.getByRole('dialog', { name: 'Extend 2 jobs?' });
        await dialog.getByText('Extend 2 jobs (2 running).').waitFor();
        await dialog.getByLabel('Seconds to add to each').fill('120');
        await dialog.getByRole('button', { name: 'Extend 2 jobs' }).click();
        results = dialog.getByRole('list', { name: 'Results' });
        await expect.poll(() => results.locator('li[data-ok="true"]').count(), { timeout: 30_000 }).toBe(2);
        await results.locator(`li[data-job-id="${run1}"]`).getByText('Deadline extended by 120s').waitFor();
        await dialog.getByRole('button', { name: 'Done' }).click();
        for (const id of [run1, run2]) expect(new Date((await job(id)).deadlineAt!).getTime() - new Date(before[id]!).getTime()).toBe(120_000);

        // Kill selected, once for both.
        await page.getByRole('checkbox', { name: 'Select all jobs on this page' }).check();
        await page.getByRole('button', { name: 'Kill selected' }).click();
        dialog = page.getByRole('dialog', { name: 'Kill 2 jobs?' });
        await dialog.getByText('Kill 2 jobs (2 running).').waitFor();
        await dialog.getByRole('list', { name: 'Jobs affected' }).getByText(`${tag}-r1`).waitFor();
        await dialog.getByRole('button', { name: 'Kill 2 jobs' }).click();
        results = dialog.getByRole('list', { name: 'Results' });
        await expect.poll(() => results.locator('li[data-ok="true"]').count(), { timeout: 30_000 }).toBe(2);
        await shot(page, `screens-bulk-kill-${size.name}`);
        await dialog.getByRole('button', { name: 'Done' }).click();
        for (const id of [run1, run2]) await until(`job ${id} to be killed`, async () => ['terminating', 'killed'].includes((await job(id)).status), 30_000);
      } finally {
        await context.close();
      }
    });

    it('Export CSV downloads every job of the current filter', async () => {
      await clearJobs();
      const tag = `csv-${size.name}-${crypto.randomBytes(2).toString('hex')}`;
      const a = await submit({ name: `${tag}-a,"quoted"` });
      const b = await submit({ name: `=${tag}-b` });
      await running(a);
      await running(b);
      const other = await submit({ name: `other-${size.name}` });
      const { context, page } = await openPage(size);
      try {
        await page.goto(`${base}/jobs?tab=running&q=${encodeURIComponent(tag)}`);
        await page.locator(`tr[data-job-id="${b}"]`).waitFor();
        const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export CSV' }).click()]);
        expect(download.suggestedFilename()).toMatch(/^warden-jobs-running-\d{4}-\d{2}-\d{2}\.csv$/);
        const text = fs.readFileSync((await download.path())!, 'utf8');
        const lines = text.trim().split('\r\n');
        expect(lines[0]).toMatch(/^id,name,user,status,image,/);
        expect(lines).toHaveLength(3);
        expect(text).toContain(`${a},"${tag}-a,""quoted""",${userName},running,`);
        // A name a spreadsheet would run as a formula is defused.
        expect(text).toContain(`${b},'=${tag}-b,`);
        expect(text).not.toContain(other);
        // Without a session the export is refused in the error shape.
        const anon = await fetch(`${base}/api/ui/jobs/export?tab=running`);
        expect(anon.status).toBe(401);
        expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      } finally {
        await context.close();
      }
    });
  });

  describe.each(SIZES)('plans as a table at $name px', (size) => {
    it('one row per plan with its limits at a glance, users and running jobs; Edit opens the plan form in a drawer and a save shows in the row', async () => {
      await clearJobs();
      const id = await submit({ name: `plans-${size.name}` });
      await running(id);
      const { context, page } = await openPage(size);
      try {
        await page.goto(`${base}/plans`);
        const table = page.getByRole('table', { name: 'Plans' });
        const row = table.locator('tr[data-plan="screens"]');
        await row.waitFor();
        // Limits at a glance: timeout 10m / 1h, 2 concurrent / 20 queued; 1 user, 1 running.
        await row.getByText('10m / 1h').waitFor();
        await row.getByText('2 / 20').waitFor();
        const cells = row.locator('td');
        await expect.poll(async () => (await cells.allTextContents()).slice(6, 8)).toEqual(['1', '1']);
        expect(await page.getByRole('form').count()).toBe(0);
        const edit = row.getByRole('button', { name: 'Edit plan screens' });
        const box = (await edit.boundingBox())!;
        expect(box.x + box.width).toBeLessThanOrEqual(size.viewport.width);
        await shot(page, `screens-plans-${size.name}`);
        await edit.click();
        const drawer = page.getByRole('dialog', { name: 'Edit plan screens' });
        const form = drawer.getByRole('form', { name: 'Plan screens' });
        await form.getByLabel('Max concurrent jobs').fill('3');
        await drawer.getByTestId('plan-preview').getByText(/If you save/).waitFor();
        await drawer.getByRole('button', { name: 'Save' }).click();
        await page.getByText('Plan screens saved').waitFor();
        await shot(page, `screens-plan-drawer-${size.name}`);
        await page.keyboard.press('Escape');
        await expect.poll(() => drawer.count()).toBe(0);
        await row.getByText('3 / 20').waitFor();
        expect((await api<{ maxConcurrentJobs: number }>('GET', '/api/v1/plans/screens')).body.maxConcurrentJobs).toBe(3);
        expect((await api('PUT', '/api/v1/plans/screens', { maxConcurrentJobs: 2 })).status).toBe(200);
      } finally {
        await context.close();
      }
    });
  });

  it('an operator creates a webhook in the dashboard; its secret is shown once, with a copy button', async () => {
    const { context, page } = await openPage(SIZES[1]);
    try {
      await page.goto(`${base}/webhooks`);
      await page.getByRole('button', { name: 'New webhook' }).click();
      let dialog = page.getByRole('dialog', { name: 'New webhook' });
      // A bad URL: one error in the form's words, nothing created.
      await dialog.getByLabel('URL').fill('ftp://example.com/hook');
      await dialog.getByRole('button', { name: 'Create webhook' }).click();
      await dialog.getByRole('alert').waitFor();
      expect((await api<{ webhooks: unknown[] }>('GET', '/api/v1/webhooks')).body.webhooks).toHaveLength(0);
      await dialog.getByLabel('URL').fill('http://127.0.0.1:9/screens-hook');
      await dialog.getByRole('button', { name: 'Create webhook' }).click();
      dialog = page.getByRole('dialog', { name: 'Webhook created' });
      const secret = (await dialog.getByTestId('webhook-secret').textContent())!.trim();
      expect(secret.length).toBeGreaterThanOrEqual(20);
      await dialog.getByRole('button', { name: 'Copy secret' }).waitFor();
      await shot(page, 'screens-webhook-secret-390');
      await dialog.getByRole('button', { name: 'Done' }).click();
      await page.locator('table[aria-label="Webhooks"] tr', { hasText: 'screens-hook' }).waitFor();
      // Shown once: nowhere on the page or in the API afterwards.
      expect(await page.getByText(secret).count()).toBe(0);
      const listed = (await api<{ webhooks: { url: string; secret?: string }[] }>('GET', '/api/v1/webhooks')).body.webhooks;
      expect(listed.map((w) => w.url)).toEqual(['http://127.0.0.1:9/screens-hook']);
      expect(JSON.stringify(listed)).not.toContain(secret);
    } finally {
      await context.close();
    }
  });

  it('left no page errors', () => {
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  });
});
