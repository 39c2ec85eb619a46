import crypto from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, requireBrowser } from '../helpers/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { startWarden, until, type Warden } from '../helpers/warden-server';
import { apiClient, logIn, operatorKey } from '../helpers/e2e';

/**
 * The Nodes page in a real browser (Debian's Chromium via playwright-core) against `next start`
 * with its worker on the real Docker engine: the Overview's worker card links to it; it shows the
 * node's state, running count and capacity bars; Drain asks for a reason and says how many jobs
 * keep running; Resume takes the node back. Same harness as dashboard.e2e.test.ts.
 */
const hasBrowser = requireBrowser('Nodes page browser tests');
const hasDocker = dockerAvailable();
const ADMIN = { email: 'admin@nodes-e2e.test', password: 'admin-pass-nodes-1' };

interface NodeJson {
  id: string;
  name: string;
  state: string;
  running: number;
  drain: { reason: string } | null;
}

describe.skipIf(!hasBrowser || !hasDocker)('Nodes page in a browser', () => {
  let warden: Warden | null = null;
  let base = '';
  let opKey = '';
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const api = apiClient(() => base, () => opKey);
  const theNode = async () => (await api<{ nodes: NodeJson[] }>('GET', '/api/v1/nodes')).body.nodes[0]!;

  beforeAll(async () => {
    warden = await startWarden('nodes', { admin: ADMIN, env: { WARDEN_NODE_CPUS: '6', WARDEN_NODE_CPU_OVERCOMMIT: '1', WARDEN_NODE_MAX_JOBS: '8', WARDEN_NODE_LABELS: 'zone=e2e' } });
    base = warden.base;
    opKey = await operatorKey(warden, ADMIN.email);
    const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `nodes-${crypto.randomBytes(3).toString('hex')}`, plan: 'pro' });
    expect(u.status).toBe(201);
    for (let i = 0; i < 2; i++) {
      const r = await api<{ id: string }>('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '600'], name: `nodes-e2e-${i}`, timeoutSeconds: 900 }, u.body.apiKey);
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    await until('two jobs running on the node', async () => (await theNode())?.running === 2, 90_000);
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
  }, 900_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await warden?.stop();
  }, 120_000);

  it('from the Overview to Nodes; Drain with a reason, confirming how many jobs keep running; Resume', async () => {
    await logIn(page, base, ADMIN);
    await page.getByRole('link', { name: 'Nodes: capacity, drain' }).click();
    await page.waitForURL(/\/nodes$/);

    const n = await theNode();
    const row = page.locator(`tr[data-node="${n.id}"]`);
    await row.waitFor();
    await expect.poll(() => row.textContent()).toContain(n.name);
    expect(await row.textContent()).toContain('active');
    expect(await row.getByRole('meter', { name: 'CPUs allocated' }).getAttribute('aria-valuemax')).toBe('6');
    expect(await row.getByRole('meter', { name: 'Jobs allocated' }).getAttribute('aria-valuenow')).toBe('2');
    expect(await row.textContent()).toContain('zone=e2e');

    await row.getByRole('button', { name: 'Drain' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toContain('2 jobs keep running to their own end');
    // No reason: refused, nothing changes.
    await dialog.getByRole('button', { name: 'Drain node' }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent()).toContain('reason is required');
    expect((await theNode()).state).toBe('active');
    await dialog.getByLabel('Reason (audited)').fill('hardware check');
    await dialog.getByRole('button', { name: 'Drain node' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await until('the node draining', async () => (await theNode()).state === 'draining', 30_000);
    expect((await theNode()).drain?.reason).toBe('hardware check');
    await expect.poll(() => row.textContent(), { timeout: 30_000 }).toContain('hardware check');
    expect((await theNode()).running).toBe(2);

    await row.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Resume node' }).click();
    await until('the node active again', async () => (await theNode()).state === 'active', 30_000);
    await expect.poll(() => row.getByRole('button', { name: 'Drain' }).isVisible(), { timeout: 30_000 }).toBe(true);
    const audit = await api<{ events: { action: string; reason: string | null; actor: string }[] }>('GET', '/api/v1/audit?targetType=node');
    expect(audit.body.events.map((e) => [e.action, e.reason, e.actor])).toEqual([
      ['node.resume', null, `operator:${ADMIN.email}`],
      ['node.drain', 'hardware check', `operator:${ADMIN.email}`],
    ]);
    expect(pageErrors).toEqual([]);
  }, 300_000);
});
