import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, BrowserContextOptions, Locator, Page } from 'playwright-core';
import { apiClient, logIn, operatorKey } from '../helpers/e2e';
import { launchBrowser, requireBrowser } from '../helpers/browser';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { auditEvents } from '../../server/db/schema';
import { actionInWords, actorInWords } from '../../server/domain/vocabulary';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { contrast, luminance, pageBackground, rgb, unreadableText } from '../helpers/readable';
import { startWarden, until, type Warden } from '../helpers/warden-server';

/**
 * Issue 23 points 6 and 8 in a real browser (Debian's Chromium via playwright-core) against
 * `next start` on a fresh embedded database and the real Docker engine, every case at 1440 and
 * 390 px, in light and in dark (the context's prefers-color-scheme): any screen (390 px Menu,
 * Kill in view), any light (dark mode from prefers-color-scheme and a remembered toggle, status
 * colours readable in both), any zone (browser time zone named, UTC on hover), the keyboard, and
 * many jobs at once (row selection with one confirmation and a result line per job; CSV export;
 * plans as a table with an edit drawer; audit pickers filled from the data, search by job name,
 * details as a table of fields that fits a phone). In each case the page is checked to be in the
 * scheme asked for (the class on <html>, a dark or light background) and every visible text on
 * the screens it visits reads at WCAG AA contrast (test/helpers/readable.ts, measured through a
 * canvas since Tailwind 4 computes oklch()/lab()). Screenshots go to test-results/screenshots/,
 * one per case, size and scheme.
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
const SCHEMES = ['light', 'dark'] as const;
type Size = (typeof SIZES)[number];
type Scheme = (typeof SCHEMES)[number];
/** Every case runs once per size and scheme; `tag` names its jobs and screenshots (`390-dark`). */
const CASES = SIZES.flatMap((size) => SCHEMES.map((scheme) => ({ size, scheme, tag: `${size.name}-${scheme}` })));

interface JobJson {
  id: string;
  status: string;
  deadlineAt: string | null;
}

describe.skipIf(!hasBrowser || !hasDocker)('the dashboard on any screen, in any light and zone, many jobs at once (issue 23)', () => {
  let warden: Warden | null = null;
  let base = '';
  let opKey = '';
  let userId = '';
  let userKey = '';
  let userName = '';
  let browser: Browser;
  const pageErrors: string[] = [];

  const api = apiClient(() => base, () => opKey);
  const submit = async (body: Record<string, unknown>) => {
    const r = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '600'], timeoutSeconds: 600, ...body }, userKey);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id;
  };
  const job = async (id: string) => (await api<JobJson>('GET', `/api/v1/jobs/${id}`)).body;
  const running = (id: string) => until(`job ${id} to run`, async () => (await job(id)).status === 'running', 60_000);
  /** A screenshot into test-results/screenshots/; the whole page unless `fullPage` is false (the audit log is long). */
  const shot = async (page: Page, name: string, fullPage = true) => {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
  };
  const openPage = async (size: Size, scheme: Scheme, opts: BrowserContextOptions = {}): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: size.viewport, colorScheme: scheme, acceptDownloads: true, ...opts });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await logIn(page, base, ADMIN);
    return { context, page };
  };
  /**
   * The page is in `scheme` (the class on <html>, a background that is dark in dark and light in
   * light) and every visible text inside `scope` (the whole page by default) reads at WCAG AA.
   */
  const expectScheme = async (page: Page, scheme: Scheme, what: string, scope?: Locator) => {
    expect(await page.evaluate(() => document.documentElement.classList.contains('dark')), `${what}: dark class`).toBe(scheme === 'dark');
    const bg = luminance(await pageBackground(page));
    if (scheme === 'dark') expect(bg, `${what}: page background luminance`).toBeLessThan(0.05);
    else expect(bg, `${what}: page background luminance`).toBeGreaterThan(0.8);
    const bad = await unreadableText(page, scope);
    expect(bad, `${what} in ${scheme}, text below WCAG AA contrast:\n${bad.map((b) => `  ${b.ratio}:1 (needs ${b.needs}) "${b.text}" rgb(${b.fg}) on rgb(${b.bg}) .${b.className}`).join('\n')}`).toEqual([]);
  };

  /** An open dialog's backdrop dims the cards behind it, in dark as in light (it never lightens them). */
  const expectDimmed = async (page: Page, what: string) => {
    const overlay = await page.locator('[data-overlay]').evaluate((el) => getComputedStyle(el).backgroundColor);
    // A card's surface (`bg-white`, which dark mode turns into a dark grey).
    const behind = await rgb(page, await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--color-white')));
    const seen = await page.evaluate(
      ([under, over]) => {
        const cv = document.createElement('canvas');
        cv.width = cv.height = 1;
        const x = cv.getContext('2d')!;
        x.fillStyle = under!;
        x.fillRect(0, 0, 1, 1);
        x.fillStyle = over!;
        x.fillRect(0, 0, 1, 1);
        const d = x.getImageData(0, 0, 1, 1).data;
        return [d[0]!, d[1]!, d[2]!] as [number, number, number];
      },
      [`rgb(${behind.join(' ')})`, overlay],
    );
    expect(luminance(seen), `${what}: the backdrop over a card`).toBeLessThan(luminance(behind) * 0.9);
  };

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    warden = await startWarden('screens', { admin: ADMIN, env: { WARDEN_WEBHOOK_ALLOW_PRIVATE: 'on' } });
    base = warden.base;
    opKey = await operatorKey(warden, ADMIN.email);
    // Two running at most, so the third and later jobs queue.
    expect((await api('PUT', '/api/v1/plans/screens', { network: 'none', defaultTimeoutSeconds: 600, maxTimeoutSeconds: 3600, maxConcurrentJobs: 2, maxQueuedJobs: 20 })).status).toBe(201);
    userName = `screens-${crypto.randomBytes(3).toString('hex')}`;
    const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: userName, plan: 'screens' });
    expect(u.status).toBe(201);
    userId = u.body.id;
    userKey = u.body.apiKey;
    browser = await launchBrowser();
  }, 900_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
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

  describe.each(CASES)('any screen at $tag', ({ size, scheme, tag }) => {
    it('the navigation collapses behind a Menu button at 390 px, and a running job\'s Kill is inside the viewport', async () => {
      await clearJobs();
      const id = await submit({ name: `narrow-${tag}` });
      await running(id);
      const { context, page } = await openPage(size, scheme);
      try {
        const menu = page.getByRole('button', { name: 'Menu' });
        const nav = page.getByRole('navigation', { name: 'Main' });
        if (size.name === '390') {
          await menu.waitFor();
          expect(await nav.count()).toBe(0);
          await menu.click();
          expect(await menu.getAttribute('aria-expanded')).toBe('true');
          await expectScheme(page, scheme, 'the open menu', nav);
          await shot(page, `screens-menu-${tag}`);
          await nav.getByRole('link', { name: 'Jobs', exact: true }).click();
          await page.waitForURL(/\/jobs/);
          // The menu closes on the way.
          await expect.poll(() => nav.count()).toBe(0);
        } else {
          await nav.getByRole('link', { name: 'Jobs', exact: true }).waitFor();
          expect(await menu.isVisible()).toBe(false);
          await expectScheme(page, scheme, 'the navigation', nav);
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
        await expectScheme(page, scheme, 'the Jobs page');
        await shot(page, `screens-jobs-${tag}`);
        await kill.click();
        const dialog = page.getByRole('dialog', { name: /Kill job/ });
        await dialog.waitFor();
        await expectScheme(page, scheme, 'the Kill dialog', dialog);
        await expectDimmed(page, 'the Kill dialog');
        await dialog.getByRole('button', { name: 'Kill job' }).click();
        await until('the job to be killed', async () => ['terminating', 'killed'].includes((await job(id)).status), 30_000);
      } finally {
        await context.close();
      }
    });
  });

  describe.each(CASES)('any light at $tag', ({ size, scheme, tag }) => {
    it('the scheme follows prefers-color-scheme; status colours read; the toggle flips it and is remembered across a reload', async () => {
      await clearJobs();
      const id = await submit({ name: `light-${tag}` });
      await running(id);
      const flipped: Scheme = scheme === 'dark' ? 'light' : 'dark';
      let { context, page } = await openPage(size, scheme);
      try {
        await page.goto(`${base}/jobs?tab=running`);
        const chip = page.locator(`tr[data-job-id="${id}"]`).getByText('running', { exact: true });
        await chip.waitFor();
        const [fg, bg] = await chip.evaluate((el) => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]);
        expect(contrast(await rgb(page, fg!), await rgb(page, bg!)), `running chip contrast in ${scheme}`).toBeGreaterThanOrEqual(4.5);
        await expectScheme(page, scheme, 'Running jobs');
        await shot(page, `screens-${tag}`);
        const toggle = page.getByRole('switch', { name: 'Dark mode' });
        expect(await toggle.getAttribute('aria-checked')).toBe(String(scheme === 'dark'));
        await toggle.click();
        await expect.poll(() => page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(flipped === 'dark');
        await page.reload();
        await page.locator(`tr[data-job-id="${id}"]`).waitFor();
        // Remembered: the emulated scheme no longer decides.
        expect(await page.getByRole('switch', { name: 'Dark mode' }).getAttribute('aria-checked')).toBe(String(flipped === 'dark'));
        await expectScheme(page, flipped, `Running jobs toggled from ${scheme}`);
        // Toggled back, and remembered that way too (the next case's context starts clean anyway).
        await page.getByRole('switch', { name: 'Dark mode' }).click();
        await expect.poll(() => page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(scheme === 'dark');
      } finally {
        await context.close();
      }
      await api('POST', `/api/v1/jobs/${id}/kill`, { force: true });
      await until('the job to end', async () => (await job(id)).status === 'killed', 30_000);
      // A final status's chip (killed) reads too.
      ({ context, page } = await openPage(size, scheme));
      try {
        await page.goto(`${base}/jobs?tab=finished&q=light-${tag}`);
        const chip = page.locator(`tr[data-job-id="${id}"]`).getByText('killed', { exact: true });
        await chip.waitFor();
        const [fg, bg] = await chip.evaluate((el) => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]);
        expect(contrast(await rgb(page, fg!), await rgb(page, bg!)), `killed chip contrast in ${scheme}`).toBeGreaterThanOrEqual(4.5);
        await expectScheme(page, scheme, 'Finished jobs');
      } finally {
        await context.close();
      }
    });
  });

  describe.each(CASES)('any zone at $tag', ({ size, scheme, tag }) => {
    it('times show in the browser\'s time zone with the zone named, UTC on hover, and relative times stay', async () => {
      await clearJobs();
      const id = await submit({ name: `zone-${tag}` });
      await running(id);
      const deadline = (await job(id)).deadlineAt!;
      const { context, page } = await openPage(size, scheme, { timezoneId: 'America/New_York' });
      try {
        await page.goto(`${base}/jobs/${id}`);
        const abs = page.getByTestId('abs-time').first();
        // Rendered in UTC on the server, then in the browser's zone once hydrated.
        await expect.poll(() => abs.textContent(), { timeout: 20_000 }).toMatch(/ EST$/);
        const deadlineRow = page.locator(`time[data-testid="abs-time"][datetime="${deadline}"]`).first();
        const expected = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(new Date(deadline));
        expect(await deadlineRow.textContent()).toContain(`${expected}:`);
        expect(await deadlineRow.getAttribute('title')).toBe(`${deadline.slice(0, 19).replace('T', ' ')} UTC`);
        await expectScheme(page, scheme, 'the job page');
        await shot(page, `screens-job-${tag}`);
        // Relative times stay, with both the local time and UTC on hover.
        await page.goto(`${base}/jobs?tab=running`);
        const started = page.locator(`tr[data-job-id="${id}"] time`).first();
        await expect.poll(() => started.getAttribute('title')).toMatch(/ EST · .* UTC$/);
        expect(await started.textContent()).toMatch(/ago|just now/);
        await shot(page, `screens-zone-${tag}`);
      } finally {
        await context.close();
      }
    });
  });

  describe.each(CASES)('the keyboard at $tag', ({ size, scheme, tag }) => {
    it('/ focuses the search, ? lists the shortcuts, Esc closes dialogs', async () => {
      await clearJobs();
      const id = await submit({ name: `keys-${tag}` });
      await running(id);
      const { context, page } = await openPage(size, scheme);
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
        await expectScheme(page, scheme, 'the shortcuts dialog', list);
        await expectDimmed(page, 'the shortcuts dialog');
        await shot(page, `screens-shortcuts-${tag}`);
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

  describe.each(CASES)('many at once at $tag', ({ size, scheme, tag }) => {
    it('Cancel, Extend and Kill selected: one confirmation naming how many and which kinds, one result line per job', async () => {
      await clearJobs();
      const t = `bulk-${tag}-${crypto.randomBytes(2).toString('hex')}`;
      const run1 = await submit({ name: `${t}-r1` });
      const run2 = await submit({ name: `${t}-r2` });
      await running(run1);
      await running(run2);
      const q1 = await submit({ name: `${t}-q1` });
      const q2 = await submit({ name: `${t}-q2` });
      const { context, page } = await openPage(size, scheme);
      try {
        // Queued: Cancel selected.
        await page.goto(`${base}/jobs?tab=queued&q=${t}`);
        await page.locator(`tr[data-job-id="${q2}"]`).waitFor();
        await page.getByRole('checkbox', { name: `Select job ${t}-q1` }).check();
        await page.getByRole('checkbox', { name: `Select job ${t}-q2` }).check();
        await page.getByTestId('selected-count').getByText('2 selected').waitFor();
        expect(await page.getByRole('button', { name: 'Kill selected' }).isDisabled()).toBe(true);
        await expectScheme(page, scheme, 'Queued jobs with two selected');
        await page.getByRole('button', { name: 'Cancel selected' }).click();
        let dialog = page.getByRole('dialog', { name: 'Cancel 2 jobs?' });
        await dialog.getByText('Cancel 2 jobs (2 queued).').waitFor();
        await dialog.getByRole('button', { name: 'Cancel 2 jobs' }).click();
        let results = dialog.getByRole('list', { name: 'Results' });
        await expect.poll(() => results.locator('li[data-ok="true"]').count(), { timeout: 30_000 }).toBe(2);
        await results.locator(`li[data-job-id="${q1}"]`).getByText('Job cancelled').waitFor();
        await expectScheme(page, scheme, 'the Cancel selected results', dialog);
        await shot(page, `screens-bulk-cancel-${tag}`);
        await dialog.getByRole('button', { name: 'Done' }).click();
        expect((await job(q1)).status).toBe('cancelled');
        expect((await job(q2)).status).toBe('cancelled');

        // Running: select all, Extend selected by 120 s.
        await page.goto(`${base}/jobs?tab=running&q=${t}`);
        await page.locator(`tr[data-job-id="${run2}"]`).waitFor();
        const before = { [run1]: (await job(run1)).deadlineAt!, [run2]: (await job(run2)).deadlineAt! };
        await page.getByRole('checkbox', { name: 'Select all jobs on this page' }).check();
        await page.getByRole('button', { name: 'Extend selected' }).click();
        dialog = page.getByRole('dialog', { name: 'Extend 2 jobs?' });
        await dialog.getByText('Extend 2 jobs (2 running).').waitFor();
        await dialog.getByLabel('Seconds to add to each').fill('120');
        await expectScheme(page, scheme, 'the Extend selected dialog', dialog);
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
        await dialog.getByRole('list', { name: 'Jobs affected' }).getByText(`${t}-r1`).waitFor();
        await dialog.getByRole('button', { name: 'Kill 2 jobs' }).click();
        results = dialog.getByRole('list', { name: 'Results' });
        await expect.poll(() => results.locator('li[data-ok="true"]').count(), { timeout: 30_000 }).toBe(2);
        await expectScheme(page, scheme, 'the Kill selected results', dialog);
        await shot(page, `screens-bulk-kill-${tag}`);
        await dialog.getByRole('button', { name: 'Done' }).click();
        for (const id of [run1, run2]) await until(`job ${id} to be killed`, async () => ['terminating', 'killed'].includes((await job(id)).status), 30_000);
      } finally {
        await context.close();
      }
    });

    it('Export CSV downloads every job of the current filter', async () => {
      await clearJobs();
      const t = `csv-${tag}-${crypto.randomBytes(2).toString('hex')}`;
      const a = await submit({ name: `${t}-a,"quoted"` });
      const b = await submit({ name: `=${t}-b` });
      await running(a);
      await running(b);
      const other = await submit({ name: `other-${tag}` });
      const { context, page } = await openPage(size, scheme);
      try {
        await page.goto(`${base}/jobs?tab=running&q=${encodeURIComponent(t)}`);
        await page.locator(`tr[data-job-id="${b}"]`).waitFor();
        const exportLink = page.getByRole('link', { name: 'Export CSV' });
        const box = (await exportLink.boundingBox())!;
        expect(box.x + box.width).toBeLessThanOrEqual(size.viewport.width);
        await expectScheme(page, scheme, 'Running jobs filtered for export');
        await shot(page, `screens-csv-${tag}`);
        const [download] = await Promise.all([page.waitForEvent('download'), exportLink.click()]);
        expect(download.suggestedFilename()).toMatch(/^warden-jobs-running-\d{4}-\d{2}-\d{2}\.csv$/);
        const text = fs.readFileSync((await download.path())!, 'utf8');
        const lines = text.trim().split('\r\n');
        expect(lines[0]).toMatch(/^id,name,user,status,image,/);
        expect(lines).toHaveLength(3);
        expect(text).toContain(`${a},"${t}-a,""quoted""",${userName},running,`);
        // A name a spreadsheet would run as a formula is defused.
        expect(text).toContain(`${b},'=${t}-b,`);
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

  describe.each(CASES)('plans as a table at $tag', ({ size, scheme, tag }) => {
    it('one row per plan with its limits at a glance, users and running jobs; Edit opens the plan form in a drawer and a save shows in the row', async () => {
      await clearJobs();
      const id = await submit({ name: `plans-${tag}` });
      await running(id);
      const { context, page } = await openPage(size, scheme);
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
        await expectScheme(page, scheme, 'the Plans table');
        await shot(page, `screens-plans-${tag}`);
        await edit.click();
        const drawer = page.getByRole('dialog', { name: 'Edit plan screens' });
        const form = drawer.getByRole('form', { name: 'Plan screens' });
        await form.getByLabel('Max concurrent jobs').fill('3');
        await drawer.getByTestId('plan-preview').getByText(/If you save/).waitFor();
        await expectScheme(page, scheme, 'the plan drawer with a preview', drawer);
        await expectDimmed(page, 'the plan drawer');
        await drawer.getByRole('button', { name: 'Save' }).click();
        await page.getByText('Plan screens saved').waitFor();
        await shot(page, `screens-plan-drawer-${tag}`);
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

  describe.each(CASES)('the audit log at $tag', ({ size, scheme, tag }) => {
    it('pickers for actor and action are filled from the data and filter; search by job name; details are a table of fields that fits the screen', async () => {
      await clearJobs();
      const hex = crypto.randomBytes(2).toString('hex');
      const name = `audited-${tag}-${hex}`;
      const id = await submit({ name });
      const decoy = await submit({ name: `decoy-${tag}-${hex}` });
      await running(id);
      await running(decoy);
      expect((await api('POST', `/api/v1/jobs/${id}/extend`, { seconds: 60, reason: `audit e2e ${tag}: one more minute` })).status).toBe(200);
      // A plan edit: its details are a diff of fields, named as the plan form names them.
      const plan = `audit-${tag}`;
      expect((await api('PUT', `/api/v1/plans/${plan}`, { network: 'none', defaultTimeoutSeconds: 60, maxTimeoutSeconds: 120, maxConcurrentJobs: 1 })).status).toBe(201);
      expect((await api('PUT', `/api/v1/plans/${plan}`, { maxConcurrentJobs: 4, monthlyQuotaSeconds: 36_000 })).status).toBe(200);
      const { context, page } = await openPage(size, scheme);
      try {
        await page.goto(`${base}/audit`);
        const table = page.getByRole('table', { name: 'Audit events' });
        await table.locator('[data-code="plan.update"]').first().waitFor();

        // The pickers hold exactly the actors and actions the log has (in words), nothing made up.
        const db = warden!.db().db;
        const known = async () => ({
          actions: (await db.selectDistinct({ v: auditEvents.action }).from(auditEvents)).map((r) => r.v).sort(),
          actors: (await db.selectDistinct({ v: auditEvents.actor }).from(auditEvents)).map((r) => r.v).sort(),
        });
        const options = async (label: string) =>
          (await page.getByLabel(label, { exact: true }).locator('option').evaluateAll((os) => os.map((o) => [(o as HTMLOptionElement).value, o.textContent ?? ''] as const))).filter(([v]) => v);
        // The page refreshes every 5 s, and sweepers may log meanwhile: wait until both agree.
        await until('the pickers to match the audit log', async () => {
          const k = await known();
          const acts = await options('Action');
          const actors = await options('Actor');
          return JSON.stringify(acts.map(([v]) => v).sort()) === JSON.stringify(k.actions) && JSON.stringify(actors.map(([v]) => v).sort()) === JSON.stringify(k.actors);
        }, 30_000, 1000);
        const actionOpts = await options('Action');
        for (const code of ['job.submit', 'job.extend', 'plan.update']) expect(actionOpts).toContainEqual([code, actionInWords(code)]);
        expect(actionInWords('job.extend')).not.toBe('job.extend');
        const operator = `operator:${ADMIN.email}`;
        expect(await options('Actor')).toContainEqual([operator, actorInWords(operator)]);
        await expectScheme(page, scheme, 'the Audit page');
        await shot(page, `screens-audit-${tag}`, false);

        // Picking an actor and an action filters by both.
        await page.getByLabel('Actor', { exact: true }).selectOption(operator);
        await page.getByLabel('Action', { exact: true }).selectOption('job.extend');
        await page.getByRole('button', { name: 'Filter' }).click();
        await page.waitForURL((u) => u.searchParams.get('actor') === operator && u.searchParams.get('action') === 'job.extend');
        // The table keeps the unfiltered rows until the filtered ones arrive: wait for those.
        const rows = table.locator('tr[data-event-id]');
        const rowCodes = () => rows.evaluateAll((trs) => trs.map((tr) => [tr.querySelector('td:nth-child(3) [data-code]')?.getAttribute('data-code'), tr.querySelector('td:nth-child(2) [data-code]')?.getAttribute('data-code')].join(' ')));
        await expect.poll(async () => [...new Set(await rowCodes())], { timeout: 20_000 }).toEqual([`job.extend ${operator}`]);
        await table.locator(`tr[data-event-id]:has(a[href="/jobs/${id}"])`).first().waitFor();

        // Search by job name: that job's events, not the decoy's.
        await page.getByRole('button', { name: 'Clear filters' }).click();
        await page.waitForURL((u) => !u.searchParams.get('action'));
        await page.getByLabel('Job name').fill(name);
        await page.getByRole('button', { name: 'Filter' }).click();
        await page.waitForURL((u) => u.searchParams.get('jobName') === name);
        const targets = () => rows.evaluateAll((trs) => trs.map((tr) => tr.querySelector('a[href^="/jobs/"]')?.getAttribute('href') ?? null));
        await expect.poll(async () => [...new Set(await targets())], { timeout: 20_000 }).toEqual([`/jobs/${id}`]);
        await table.locator('[data-code="job.extend"]').first().waitFor();
        await table.locator('[data-code="job.submit"]').first().waitFor();
        expect(await table.locator(`a[href="/jobs/${decoy}"]`).count()).toBe(0);
        await table.getByText(`audit e2e ${tag}: one more minute`).waitFor();
        await shot(page, `screens-audit-job-name-${tag}`, false);

        // The plan edit's details: a table of fields, in the form's words, every cell inside the
        // screen and in a readable size, and no page wider than the screen.
        await page.goto(`${base}/audit?action=plan.update&q=${plan}`);
        const row = table.locator('tr[data-event-id]', { hasText: plan }).first();
        const details = row.getByRole('table', { name: 'Details' });
        await details.getByText('Max concurrent jobs').waitFor();
        await row.getByText('1 → 4').waitFor();
        await details.getByText('Monthly quota').waitFor();
        const boxes = await details.locator('th, td').evaluateAll((cells) =>
          cells.map((c) => {
            const r = c.getBoundingClientRect();
            return { text: c.textContent ?? '', left: r.left, right: r.right, width: r.width, font: parseFloat(getComputedStyle(c).fontSize) };
          }),
        );
        expect(boxes.length).toBeGreaterThanOrEqual(4);
        for (const b of boxes) {
          expect(b.left, `"${b.text}" starts inside the screen`).toBeGreaterThanOrEqual(0);
          expect(b.right, `"${b.text}" ends inside the screen`).toBeLessThanOrEqual(size.viewport.width);
          expect(b.font, `"${b.text}" font size`).toBeGreaterThanOrEqual(size.name === '390' ? 12 : 11);
        }
        // On a phone, wide enough to read: the values are not squeezed into a sliver of a column.
        if (size.name === '390') expect(Math.min(...boxes.filter((_, i) => i % 2 === 1).map((b) => b.width))).toBeGreaterThanOrEqual(120);
        expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(size.viewport.width);
        await expectScheme(page, scheme, 'the plan edit\'s details', row);
        await row.scrollIntoViewIfNeeded();
        await shot(page, `screens-audit-details-${tag}`, false);
        // Open: the whole entry as a table of fields, never raw JSON.
        await row.getByRole('button', { name: /Open audit event/ }).click();
        const dialog = page.getByRole('dialog');
        const fields = dialog.getByRole('table', { name: 'Audit entry fields' });
        await fields.getByText('Max concurrent jobs').waitFor();
        expect(await dialog.textContent()).not.toContain('{"');
        await expectScheme(page, scheme, 'the audit entry dialog', dialog);
        await page.keyboard.press('Escape');
        await expect.poll(() => dialog.count()).toBe(0);
      } finally {
        await context.close();
      }
    });
  });

  describe.each(CASES)('webhooks at $tag', ({ size, scheme, tag }) => {
    it('an operator creates a webhook in the dashboard; its secret is shown once, with a copy button', async () => {
      const url = `http://127.0.0.1:9/screens-hook-${tag}`;
      const hooks = async () => (await api<{ webhooks: { url: string; secret?: string }[] }>('GET', '/api/v1/webhooks')).body.webhooks;
      const { context, page } = await openPage(size, scheme);
      try {
        await page.goto(`${base}/webhooks`);
        await page.getByRole('button', { name: 'New webhook' }).click();
        let dialog = page.getByRole('dialog', { name: 'New webhook' });
        // A bad URL: one error in the form's words, nothing created.
        const before = (await hooks()).length;
        await dialog.getByLabel('URL').fill('ftp://example.com/hook');
        await dialog.getByRole('button', { name: 'Create webhook' }).click();
        await dialog.getByRole('alert').waitFor();
        await expectScheme(page, scheme, 'the New webhook dialog with an error', dialog);
        expect(await hooks()).toHaveLength(before);
        await dialog.getByLabel('URL').fill(url);
        await dialog.getByRole('button', { name: 'Create webhook' }).click();
        dialog = page.getByRole('dialog', { name: 'Webhook created' });
        const secret = (await dialog.getByTestId('webhook-secret').textContent())!.trim();
        expect(secret.length).toBeGreaterThanOrEqual(20);
        await dialog.getByRole('button', { name: 'Copy secret' }).waitFor();
        await expectScheme(page, scheme, 'the Webhook created dialog', dialog);
        await shot(page, `screens-webhook-secret-${tag}`);
        await dialog.getByRole('button', { name: 'Done' }).click();
        await page.locator('table[aria-label="Webhooks"] tr', { hasText: `screens-hook-${tag}` }).waitFor();
        await expectScheme(page, scheme, 'the Webhooks page');
        // Shown once: nowhere on the page or in the API afterwards.
        expect(await page.getByText(secret).count()).toBe(0);
        const listed = await hooks();
        expect(listed.filter((w) => w.url === url)).toHaveLength(1);
        expect(JSON.stringify(listed)).not.toContain(secret);
      } finally {
        await context.close();
      }
    });
  });

  it('left no page errors', () => {
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  });
});
