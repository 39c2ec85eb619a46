import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { apiClient, logIn, operatorKey } from '../helpers/e2e';
import { launchBrowser, requireBrowser } from '../helpers/browser';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { startWarden, until, type Warden } from '../helpers/warden-server';

/**
 * Issue 23 points 5 and 9 in a real browser (Chromium via playwright-core) against `next start`
 * on a fresh embedded database and the real Docker engine, at 1440 and 390 px, light and dark:
 * the job page's log viewer follows the live stream (a line the container writes after the page
 * opened appears, with no re-poll), marks stderr, highlights search matches, toggles timestamps
 * and downloads the whole log; the Overview's charts show peak concurrency, starts, finishes by
 * outcome and the latencies, computed by the database.
 */
vi.setConfig({ testTimeout: 300_000 });

const REPO = path.resolve(__dirname, '../..');
const SHOTS = path.join(REPO, 'test-results/screenshots');
const hasBrowser = requireBrowser('log viewer e2e tests');
const hasDocker = dockerAvailable();
const ADMIN = { email: 'admin@logs-e2e.test', password: 'admin-pass-logs-e2e-1' };
const SIZES = [
  { name: '1440', viewport: { width: 1440, height: 900 } },
  { name: '390', viewport: { width: 390, height: 844 } },
] as const;
const SCHEMES = ['light', 'dark'] as const;

interface JobJson {
  id: string;
  status: string;
  containerId: string | null;
}

describe.skipIf(!hasBrowser || !hasDocker)('the log viewer and the Overview charts (issue 23 points 5 and 9)', () => {
  let warden: Warden | null = null;
  let base = '';
  let opKey = '';
  let userKey = '';
  let browser: Browser;
  const pageErrors: string[] = [];

  const api = apiClient(() => base, () => opKey);
  const shot = async (page: Page, name: string) => {
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  const job = async (id: string) => (await api<JobJson>('GET', `/api/v1/jobs/${id}`)).body;
  const openPage = async (size: (typeof SIZES)[number], scheme: (typeof SCHEMES)[number]): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: size.viewport, colorScheme: scheme, acceptDownloads: true });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await logIn(page, base, ADMIN);
    return { context, page };
  };

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    warden = await startWarden('logs', { admin: ADMIN });
    base = warden.base;
    opKey = await operatorKey(warden, ADMIN.email);
    expect((await api('PUT', '/api/v1/plans/logs', { network: 'none', defaultTimeoutSeconds: 600, maxTimeoutSeconds: 3600, maxConcurrentJobs: 4, maxQueuedJobs: 20 })).status).toBe(201);
    const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `logs-${crypto.randomBytes(3).toString('hex')}`, plan: 'logs' });
    expect(u.status).toBe(201);
    userKey = u.body.apiKey;
    browser = await launchBrowser();
  }, 900_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await warden?.stop();
    expect(pageErrors).toEqual([]);
  }, 120_000);

  for (const size of SIZES) {
    for (const scheme of SCHEMES) {
      it(`log viewer at ${size.name} px, ${scheme}: a line appears live, stderr marked, search highlights, timestamps toggle, download`, async () => {
        const marker = `mark-${crypto.randomBytes(3).toString('hex')}`;
        const script = `echo "first line"; sleep 0.3; echo "something went wrong" >&2; while [ ! -f /tmp/go ]; do sleep 0.2; done; echo "live ${marker} one"; sleep 0.3; echo "live ${marker} two"; sleep 600`;
        const r = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, name: `logs-${size.name}-${scheme}`, command: ['sh', '-c', script], timeoutSeconds: 600 }, userKey);
        expect(r.status, JSON.stringify(r.body)).toBe(201);
        const id = r.body.id;
        const j = await until(`job ${id} to run`, async () => {
          const x = await job(id);
          return x.status === 'running' && x.containerId ? x : null;
        }, 60_000);
        const { context, page } = await openPage(size, scheme);
        try {
          // Count requests: following must use the stream, not re-polls of the tail.
          const polls: string[] = [];
          page.on('request', (q) => {
            if (new URL(q.url()).pathname === `/api/ui/jobs/${id}/logs`) polls.push(q.url());
          });
          await page.goto(`${base}/jobs/${id}`);
          const log = page.getByRole('log', { name: 'Job output' });
          await log.getByText('first line').waitFor();
          await expect.poll(() => page.getByTestId('log-mode').getAttribute('data-mode')).toBe('live');
          expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(scheme === 'dark');
          // stderr is marked, in the DOM and for screen readers.
          const err = log.locator('[data-stream="stderr"]');
          await expect.poll(() => err.count()).toBe(1);
          expect(await err.textContent()).toContain('something went wrong');
          expect(await err.textContent()).toContain('stderr:');
          await page.getByText(/stderr lines are marked red \(1\)/).waitFor();

          // The container writes after the page opened: the line arrives over the stream.
          execFileSync('docker', ['exec', j.containerId!, 'touch', '/tmp/go']);
          await log.getByText(`live ${marker} two`).waitFor({ timeout: 20_000 });
          expect(polls).toEqual([]);
          expect(await page.getByTestId('log-mode').getAttribute('data-mode')).toBe('live');

          // Search highlights every match.
          await page.getByLabel('Search the log').fill(marker);
          await expect.poll(() => log.locator('mark').count()).toBe(2);
          expect(await page.getByTestId('log-matches').textContent()).toBe('2 matches');
          expect(await log.locator('mark').first().textContent()).toBe(marker);

          // Timestamps: off by default, on with the toggle (the line's time in the browser's zone).
          expect(await log.getByTestId('log-time').count()).toBe(0);
          await page.getByLabel('Timestamps').check();
          await expect.poll(() => log.getByTestId('log-time').count()).toBe(4);
          expect(await log.getByTestId('log-time').first().textContent()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
          expect(await log.getByTestId('log-time').first().getAttribute('title')).toMatch(/^\d{4}-\d\d-\d\dT.*Z \(UTC\)$/);

          // Wrap toggles; Jump to end is there.
          expect(await log.getAttribute('data-wrap')).toBe('on');
          await page.getByLabel('Wrap').uncheck();
          expect(await log.getAttribute('data-wrap')).toBe('off');
          await page.getByRole('button', { name: 'Jump to end' }).click();
          await shot(page, `log-viewer-${size.name}-${scheme}`);

          // Download: the whole log as a file, with the times since the toggle is on.
          const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
          expect(dl.suggestedFilename()).toBe(`job-${id}.log`);
          const file = fs.readFileSync((await dl.path())!, 'utf8').split('\n');
          expect(file.slice(0, 4).map((l) => l.replace(/^\S+ /, ''))).toEqual(['first line', 'something went wrong', `live ${marker} one`, `live ${marker} two`]);
          expect(file[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z first line$/);
        } finally {
          await context.close();
          await api('POST', `/api/v1/jobs/${id}/kill`, { force: true });
        }
        await until(`job ${id} to end`, async () => (await job(id)).status === 'killed', 60_000);
      });
    }
  }

  for (const size of SIZES) {
    for (const scheme of SCHEMES) {
      it(`overview charts at ${size.name} px, ${scheme}: peak running at once, starts, finishes by outcome, latencies`, async () => {
        const { context, page } = await openPage(size, scheme);
        try {
          // The log tests above ran 4 jobs one after another and killed each: the database says so
          // (the 24 h summary is refreshed every 10 s, so wait for it).
          const fig = page.getByTestId('chart-concurrency');
          await until('the charts to count the jobs that ran', async () => {
            await page.goto(`${base}/overview`);
            await fig.waitFor();
            const label = (await page.getByTestId('chart-outcomes').getAttribute('aria-label')) ?? '';
            return /4 killed/.test(label);
          }, 60_000, 2000);
          expect(await fig.getAttribute('aria-label')).toMatch(/peak 1 in 24 h; 4 jobs started/);
          expect(await fig.locator('.recharts-line').count()).toBe(1);
          expect(await page.getByTestId('chart-outcomes').locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0);
          const lat = page.getByRole('region', { name: 'Latencies over the last 24 h' });
          const kill = lat.getByRole('group', { name: 'Kill lateness' });
          await kill.getByText('4 jobs').waitFor();
          expect(await kill.textContent()).toMatch(/p50\s*\d+(\.\d+)? (ms|s)/);
          expect(await lat.getByRole('group', { name: 'Time to start' }).getByText('4 jobs').count()).toBe(1);
          await fig.scrollIntoViewIfNeeded();
          await shot(page, `overview-charts-${size.name}-${scheme}`);
        } finally {
          await context.close();
        }
      });
    }
  }
});
