import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { apiClient, logIn, operatorKey } from '../helpers/e2e';
import { launchBrowser, requireBrowser } from '../helpers/browser';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { startWarden, until, type Warden } from '../helpers/warden-server';

/**
 * Issue 23, the operator's dashboard, in a real browser (Debian's Chromium via playwright-core)
 * against `next start` on a fresh embedded database and the real Docker engine. Every case runs at
 * 1440 px and at 390 px, in light and in dark (the context's prefers-color-scheme): it checks that
 * the page is in that scheme (the page background dark or light) and that the text the case is
 * about (an error, a wait reason, the Extend dialog's limit, a short id, a node's name) is readable
 * there, its contrast against the background actually behind it at least 4.5:1. Colours are read
 * through a canvas (Tailwind 4 computes oklch()/lab(); the canvas gives sRGB). Screenshots go to
 * test-results/screenshots/ (a test run never changes the tree); the ones in docs/screenshots/ are
 * copies of a run's.
 *
 * The Warden here runs without WARDEN_NODE_ID, so its node id is the Docker engine's own ID (some
 * 60 characters), as in production: the pages must show the node's name instead. Containers stay
 * apart from other Wardens' on the engine by their installation label, as always.
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
const SCHEMES = ['light', 'dark'] as const;
type Scheme = (typeof SCHEMES)[number];
/** Every case at both sizes and in both schemes; `tag` names its jobs, plans and screenshots. */
const CASES = SIZES.flatMap((size) => SCHEMES.map((scheme) => ({ size, scheme, tag: `${size.name}-${scheme}`, label: `${size.name} px, ${scheme}` })));

type RGB = [number, number, number];
const luminance = ([r, g, b]: RGB) => {
  const f = (v: number) => {
    const x = v / 255;
    return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const contrast = (a: RGB, b: RGB) => {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
};

/**
 * An element's text colour and the colour actually behind it, as sRGB: every ancestor's
 * background painted on a canvas from the outside in (so translucent ones blend as on screen),
 * then the text colour over that. A colour the canvas cannot parse fails instead of reading as
 * the previous one.
 */
async function colours(loc: Locator): Promise<{ fg: RGB; bg: RGB }> {
  const [fg, bg] = await loc.evaluate((el) => {
    const cv = document.createElement('canvas');
    cv.width = 2;
    cv.height = 1;
    const x = cv.getContext('2d')!;
    const paint = (css: string, at: number, w: number) => {
      x.fillStyle = '#010203';
      x.fillStyle = css;
      if (x.fillStyle === '#010203' && !/^(#010203|rgb\(1, 2, 3\))$/.test(css)) throw new Error(`the canvas cannot paint ${css}`);
      x.fillRect(at, 0, w, 1);
    };
    const layers: string[] = [];
    for (let e: Element | null = el; e; e = e.parentElement) layers.unshift(getComputedStyle(e).backgroundColor);
    paint('#ffffff', 0, 2);
    for (const c of layers) paint(c, 0, 2);
    paint(getComputedStyle(el).color, 1, 1);
    const d = x.getImageData(0, 0, 2, 1).data;
    return [
      [d[4]!, d[5]!, d[6]!],
      [d[0]!, d[1]!, d[2]!],
    ];
  });
  return { fg: fg as RGB, bg: bg as RGB };
}

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
  let userKey = '';
  let browser: Browser;
  const pageErrors: string[] = [];

  const api = apiClient(() => base, () => opKey);
  const submit = async (body: Record<string, unknown>) => {
    const r = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, ...body }, userKey);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id;
  };
  /** Full page, or the viewport only for a dialog (a full-page shot leaves the overlay mid-page). */
  const shot = async (page: Page, name: string, fullPage = true) => {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
  };
  /** The page is in the scheme asked for: `dark` on <html> or not, and the page's background dark or light. */
  const expectScheme = async (page: Page, scheme: Scheme) => {
    expect(await page.evaluate(() => document.documentElement.classList.contains('dark')), 'html.dark').toBe(scheme === 'dark');
    const { bg } = await colours(page.locator('body'));
    if (scheme === 'dark') expect(luminance(bg), `page background ${bg.join(',')} in dark`).toBeLessThan(0.05);
    else expect(luminance(bg), `page background ${bg.join(',')} in light`).toBeGreaterThan(0.8);
  };
  /** The text is readable: at least 4.5:1 against the background behind it (WCAG AA for body text). */
  const expectReadable = async (loc: Locator, what: string) => {
    const { fg, bg } = await colours(loc);
    expect(contrast(fg, bg), `${what}: rgb(${fg.join(',')}) on rgb(${bg.join(',')})`).toBeGreaterThanOrEqual(4.5);
  };
  /** A logged-in page at a size and colour scheme. */
  const openPage = async (size: (typeof SIZES)[number], colorScheme: Scheme): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: size.viewport, colorScheme });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await logIn(page, base, ADMIN);
    return { context, page };
  };
  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    // No WARDEN_NODE_ID: the node id is the engine's own ID, as in production (see the top).
    warden = await startWarden('operator', { admin: ADMIN, env: { WARDEN_NODE_ID: '' } });
    base = warden.base;
    opKey = await operatorKey(warden, ADMIN.email);
    const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `op-e2e-${crypto.randomBytes(3).toString('hex')}`, plan: 'pro' });
    expect(u.status).toBe(201);
    userKey = u.body.apiKey;
    browser = await launchBrowser();
  }, 900_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await warden?.stop();
  }, 120_000);

  describe.each(CASES)('live, not polled, at $label', ({ size, scheme, tag }) => {
    it('a started job appears in Running without a reload while the dot says Live; when the stream is cut, polling takes over and the dot says so', async () => {
      const { context, page } = await openPage(size, scheme);
      try {
        await page.goto(`${base}/jobs?tab=running`);
        await expectScheme(page, scheme);
        const dot = page.getByTestId('live-dot').first();
        await expect.poll(() => dot.getAttribute('data-mode'), { timeout: 20_000 }).toBe('live');
        expect(await dot.textContent()).toContain('Live');
        await expectReadable(dot, 'the Live dot');

        const id = await submit({ command: ['sleep', '600'], name: `live-${tag}`, timeoutSeconds: 600 });
        // Pushed, not polled: no view polls while the stream is up (useViewQuery), so the row can only
        // arrive through the stream.
        await page.locator(`[data-job-id="${id}"]`).first().waitFor({ timeout: 30_000 });
        expect(await dot.getAttribute('data-mode')).toBe('live');
        await shot(page, `live-jobs-${tag}`);

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
        await expectReadable(dot, 'the Polling dot');

        // The fallback still brings new jobs in.
        const id2 = await submit({ command: ['sleep', '600'], name: `poll-${tag}`, timeoutSeconds: 600 });
        await page.locator(`[data-job-id="${id2}"]`).first().waitFor({ timeout: 30_000 });
        await shot(page, `live-polling-${tag}`);

        // And when the stream may connect again, it is live again.
        await page.unroute('**/api/ui/events');
        await expect.poll(() => dot.getAttribute('data-mode'), { timeout: 60_000 }).toBe('live');
        for (const j of [id, id2]) await api('POST', `/api/v1/jobs/${j}/kill`, { force: true, reason: 'e2e cleanup' });
      } finally {
        await context.close();
      }
    });
  });

  describe.each(CASES)('operators\' words at $label', ({ size, scheme, tag }) => {
    it('plan form errors use the form\'s labels and show once; the preview drops an old error on Discard; the audit diff and the timeline speak in words', async () => {
      const { context, page } = await openPage(size, scheme);
      try {
        // No plan name is a part of another's (the audit row is found by it).
        const plan = `words-${scheme}-${size.name}`;
        expect((await api('PUT', `/api/v1/plans/${plan}`, { network: 'none', defaultTimeoutSeconds: 60, maxTimeoutSeconds: 120, maxConcurrentJobs: 1 })).status).toBe(201);
        await page.goto(`${base}/plans`);
        await expectScheme(page, scheme);
        await page.getByRole('button', { name: `Edit plan ${plan}` }).click();
        const form = page.getByRole('form', { name: `Plan ${plan}` });
        const card = page.locator('section', { has: form });
        await form.getByLabel('Default timeout (s)').fill('500');
        const msg = 'Default timeout (500 s) must not exceed Maximum timeout (120 s)';
        // The preview says it first, in the same words.
        await card.getByTestId('plan-preview').getByText(msg).waitFor();
        await expectReadable(card.getByTestId('plan-preview').getByText(msg), 'the preview\'s error');
        await card.getByRole('button', { name: 'Save' }).click();
        // One error: on the field, not also in the preview box or a toast.
        await expect.poll(() => card.getByTestId('plan-preview').count()).toBe(0);
        await form.getByText(msg).waitFor();
        expect(await page.getByText(msg).count()).toBe(1);
        await expectReadable(form.getByText(msg), 'the field\'s error');
        await shot(page, `words-plan-error-${tag}`);
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
        const field = row.getByRole('table', { name: 'Details' }).getByText('Max concurrent jobs');
        await field.waitFor();
        await row.getByText('1 → 2').waitFor();
        const action = row.locator('[data-code="plan.update"]', { hasText: 'Plan edited' });
        await action.waitFor();
        await row.locator('[data-code^="operator:"]', { hasText: `Operator ${ADMIN.email}` }).waitFor();
        await expectReadable(action, 'the audit action in words');
        await expectReadable(field, 'the audit diff\'s field name');
        await expectReadable(row.getByText('1 → 2'), 'the audit diff\'s values');
        await shot(page, `words-audit-${tag}`);
      } finally {
        await context.close();
      }
    });

    it('wait codes and the timeline in words, the code in a tooltip; the lost jobs\' tab is Lost', async () => {
      const { context, page } = await openPage(size, scheme);
      try {
        const plan = `wait-${tag}`;
        expect((await api('PUT', `/api/v1/plans/${plan}`, { network: 'none', defaultTimeoutSeconds: 600, maxTimeoutSeconds: 900, maxConcurrentJobs: 1 })).status).toBe(201);
        const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `wait-${tag}-${crypto.randomBytes(2).toString('hex')}`, plan });
        const first = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '600'], name: 'holds-the-slot' }, u.body.apiKey);
        const second = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '600'], name: 'waits' }, u.body.apiKey);
        try {
          await page.goto(`${base}/jobs/${second.body.id}`);
          await expectScheme(page, scheme);
          const wait = page.locator('[data-code="user_limit"]', { hasText: 'Waiting: plan limit reached' });
          await wait.waitFor({ timeout: 30_000 });
          expect(await wait.getAttribute('title')).toBe('user_limit');
          await expectReadable(wait, 'the wait code in words');
          await expectReadable(page.locator('[data-wait-code="user_limit"]').getByText('Why it waits:'), 'why it waits');
          const submitted = page.locator('[data-code="job.submit"]', { hasText: 'Submitted' });
          await submitted.waitFor();
          await expectReadable(submitted, 'the timeline\'s action');
          await shot(page, `words-wait-${tag}`);
          await page.goto(`${base}/jobs?tab=lost`);
          const lost = page.getByRole('tab', { name: 'Lost', exact: true });
          await lost.waitFor();
          expect(await lost.getAttribute('aria-selected')).toBe('true');
          await expectReadable(lost, 'the Lost tab');
        } finally {
          for (const j of [first.body.id, second.body.id]) await api('POST', `/api/v1/jobs/${j}/kill`, { force: true, reason: 'e2e cleanup' });
        }
      } finally {
        await context.close();
      }
    });
  });

  describe.each(CASES)('Extend knows the cap at $label', ({ size, scheme, tag }) => {
    it('presets above what the cap leaves are disabled, it says how much is left, one error, the reason cleared after success, and a job that ends keeps the dialog and the reason', async () => {
      const { context, page } = await openPage(size, scheme);
      try {
        const plan = `cap-${tag}`;
        expect((await api('PUT', `/api/v1/plans/${plan}`, { network: 'none', defaultTimeoutSeconds: 200, maxTimeoutSeconds: 300, maxConcurrentJobs: 5 })).status).toBe(201);
        const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `cap-${tag}-${crypto.randomBytes(2).toString('hex')}`, plan });
        const j = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '600'], name: `capped-${tag}` }, u.body.apiKey);
        expect(j.body.timeoutSeconds).toBe(200);
        await until('the capped job to run', async () => (await api<JobJson>('GET', `/api/v1/jobs/${j.body.id}`)).body.status === 'running', 60_000);
        await page.goto(`${base}/jobs?tab=running`);
        await expectScheme(page, scheme);
        const row = page.locator(`[data-job-id="${j.body.id}"]`).first();
        await row.getByRole('button', { name: 'Extend' }).click();
        const dialog = page.getByRole('dialog');
        const cap = dialog.getByTestId('extend-cap').getByText(`You can add at most 1m 40s (cap 5m from plan ${plan}).`);
        await cap.waitFor();
        await expectReadable(cap, 'the Extend dialog\'s limit');
        // The dim behind the dialog darkens the page in either scheme (in dark, not a light veil).
        const dimmed = (await colours(page.getByTestId('dialog-scrim'))).bg;
        expect(luminance(dimmed), `the scrim, rgb(${dimmed.join(',')})`).toBeLessThan(luminance((await colours(page.locator('body'))).bg));
        if (scheme === 'dark') expect(luminance(dimmed), `the scrim in dark, rgb(${dimmed.join(',')})`).toBeLessThan(0.05);
        const presets = dialog.getByRole('group', { name: 'Presets' });
        expect(await presets.getByRole('button', { name: '+1m', exact: true }).isEnabled()).toBe(true);
        for (const p of ['+5m', '+15m', '+1h']) expect(await presets.getByRole('button', { name: p, exact: true }).isDisabled(), p).toBe(true);
        await expectReadable(presets.getByRole('button', { name: '+1m', exact: true }), 'an enabled preset');
        expect(await dialog.getByLabel('Add seconds').inputValue()).toBe('100');
        await shot(page, `extend-cap-${tag}`, false);

        // Past the cap as an admin without a reason: the server's one error, inline only.
        await dialog.getByLabel('Add seconds').fill('500');
        await dialog.getByLabel('Override the cap (admin; a reason is required)').check();
        await dialog.getByRole('button', { name: 'Extend deadline' }).click();
        const err = dialog.getByText('A reason is required to extend past the cap');
        await err.waitFor();
        expect(await page.getByText('A reason is required to extend past the cap').count()).toBe(1);
        await expectReadable(err, 'the Extend dialog\'s error');
        await shot(page, `extend-error-${tag}`, false);
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
        const ended = dialog.getByTestId('extend-ended');
        await ended.waitFor({ timeout: 30_000 });
        expect(await dialog.getByLabel('Reason (recorded in the audit log)').inputValue()).toBe('typed before it ended');
        expect(await dialog.getByRole('button', { name: 'Extend deadline' }).isDisabled()).toBe(true);
        await expectReadable(ended, 'the Extend dialog\'s "the job ended"');
        await shot(page, `extend-ended-${tag}`, false);
        await page.keyboard.press('Escape');
        await dialog.waitFor({ state: 'hidden' });
      } finally {
        await context.close();
      }
    });
  });

  describe.each(CASES)('short ids at $label', ({ size, scheme, tag }) => {
    it('a short job URL redirects to the full one; Jobs search and the audit job filter find a job by its short id', async () => {
      const { context, page } = await openPage(size, scheme);
      try {
        const name = `short-${tag}`;
        const id = await submit({ command: ['sleep', '600'], name, timeoutSeconds: 600 });
        const short = id.slice(0, 8);
        await page.goto(`${base}/jobs/${short}`);
        await page.waitForURL(new RegExp(`/jobs/${id}$`));
        await page.getByRole('heading', { name }).waitFor();
        await expectScheme(page, scheme);
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
        // The row shows the short id (its name is the link), readable.
        const shortText = page.locator(`[data-job-id="${id}"]`).first().getByText(short, { exact: true });
        await shortText.waitFor();
        await expectReadable(shortText, 'the short id in the Jobs list');
        await shot(page, `short-id-search-${tag}`);
        await page.goto(`${base}/audit`);
        await page.getByLabel('Job id').fill(short);
        await page.getByRole('button', { name: 'Filter' }).click();
        const submitted = page.getByRole('table', { name: 'Audit events' }).locator('[data-code="job.submit"]').first();
        await submitted.waitFor();
        await expectReadable(submitted, 'the audit action found by the short id');
        await shot(page, `short-id-audit-${tag}`);
        await api('POST', `/api/v1/jobs/${short}/kill`, { force: true, reason: 'e2e cleanup' });
      } finally {
        await context.close();
      }
    });
  });

  describe.each(CASES)('node names at $label', ({ size, scheme, tag }) => {
    it('the Nodes page, a job\'s page and the Sweepers page name the node by its host name and short engine id, never by the engine\'s 60-character ID', async () => {
      // What the worker names its node: this host's name and the engine ID's first 6 letters/digits.
      const engineId = execFileSync('docker', ['info', '--format', '{{.ID}}'], { encoding: 'utf8' }).trim();
      const expected = `${os.hostname()} ${engineId.replace(/[^A-Za-z0-9]/g, '').slice(0, 6).toLowerCase()}`;
      const node = await until('this Warden\'s node', async () => (await api<{ nodes: { id: string; name: string }[] }>('GET', '/api/v1/nodes')).body.nodes[0], 30_000);
      // No WARDEN_NODE_ID: the node's id is the engine's long ID, so showing it would show.
      expect(node.id.length).toBeGreaterThan(40);
      expect(node.name).toBe(expected);
      const id = await submit({ command: ['sleep', '600'], name: `node-${tag}`, timeoutSeconds: 600 });
      const { context, page } = await openPage(size, scheme);
      try {
        await page.goto(`${base}/nodes`);
        await expectScheme(page, scheme);
        const row = page.locator(`[data-node="${node.id}"]`);
        const name = row.getByText(expected, { exact: true });
        await name.waitFor();
        await expectReadable(name, 'the node\'s name on the Nodes page');
        // The long id is never shown whole (the tooltip has it).
        expect(await page.locator('main').textContent()).not.toContain(node.id);
        expect(await row.locator(`[title="${node.id}"]`).count()).toBe(1);
        await shot(page, `nodes-name-${tag}`);

        await until('the job to run on the node', async () => (await api<JobJson & { node: string | null }>('GET', `/api/v1/jobs/${id}`)).body.node === node.id, 60_000);
        await page.goto(`${base}/jobs/${id}`);
        const link = page.getByRole('link', { name: expected, exact: true });
        await link.waitFor({ timeout: 30_000 });
        expect(await link.getAttribute('title')).toBe(node.id);
        expect(await page.locator('main').textContent()).not.toContain(node.id);
        await expectReadable(link, 'the node\'s name on the job\'s page');
        await shot(page, `job-node-${tag}`);
        await link.click();
        await page.waitForURL(/\/nodes$/);
        await row.getByText(expected, { exact: true }).waitFor();
        // The Sweepers page names the node that ran each sweep the same way.
        await page.goto(`${base}/sweepers`);
        const ran = page.getByRole('table', { name: 'Recent runs of timeout' }).getByRole('link', { name: expected, exact: true }).first();
        await ran.waitFor({ timeout: 30_000 });
        expect(await ran.getAttribute('title')).toBe(node.id);
        expect(await page.locator('main').textContent()).not.toContain(node.id);
        await expectReadable(ran, 'the node\'s name on the Sweepers page');
      } finally {
        await context.close();
        await api('POST', `/api/v1/jobs/${id}/kill`, { force: true, reason: 'e2e cleanup' });
      }
    });
  });

  describe.each(CASES)('logs at $label', ({ size, scheme, tag }) => {
    it('a job whose container was docker-killed is lost and its page still shows its output; the viewer searches with highlight, wraps, jumps to the end and downloads the whole log', async () => {
      const marker = `needle-${tag}`;
      const id = await submit({ command: ['sh', '-c', `for i in 1 2 3; do echo line-$i ${marker}; done; echo oops >&2; sleep 600`], name: `logs-${tag}`, timeoutSeconds: 600, maxRetries: 0 });
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

      const { context, page } = await openPage(size, scheme);
      try {
        await page.goto(`${base}/jobs/${id}`);
        await expectScheme(page, scheme);
        const log = page.getByTestId('log-tail');
        const line = log.getByText(`line-1 ${marker}`, { exact: false });
        await line.waitFor();
        await expectReadable(line, 'a log line');
        await page.getByLabel('Search the log').fill(marker);
        await expect.poll(() => log.locator('mark').count()).toBe(3);
        expect(await page.getByTestId('log-matches').textContent()).toBe('3 matches');
        await expectReadable(log.locator('mark').first(), 'a search match');
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
        await shot(page, `logs-lost-${tag}`);
      } finally {
        await context.close();
      }
    });
  });

  it('left no page errors', () => {
    expect(pageErrors, pageErrors.join('\n')).toEqual([]);
  });
});
