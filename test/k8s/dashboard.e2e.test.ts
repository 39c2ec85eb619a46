import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, requireBrowser } from '../helpers/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_IMAGE } from '../helpers/docker';
import { kubeConfig } from '../helpers/k8s';
import { startWarden, until, type Warden } from '../helpers/warden-server';
import { apiClient, logIn, operatorKey } from '../helpers/e2e';

/**
 * `WARDEN_RUNTIME=kubernetes` end to end: `next start` (web and worker in one process, as
 * `npm start` runs them) against the real test cluster (scripts/k8s-test-cluster.sh), driven
 * through the public HTTP API and seen in a real browser (Debian's Chromium via playwright-core):
 * a job runs and its Pod is cleaned up at its TTL, a job times out (TERM → grace → KILL), Extend
 * moves a deadline and Kill ends a job from the dashboard, and the Nodes page lists the cluster's
 * nodes read-only. All of it in a namespace of its own, deleted at the end.
 */
requireBrowser('the Kubernetes dashboard e2e test');
const REPO = path.resolve(__dirname, '../..');
const SHOTS = path.join(REPO, 'test-results/screenshots');
const ADMIN = { email: 'admin@k8s-e2e.test', password: 'admin-pass-k8s-1' };
const TRAP_TERM = ['sh', '-c', 'trap "echo got TERM" TERM; echo started; while :; do sleep 1 & wait; done'];

interface JobJson {
  id: string;
  status: string;
  deadlineAt: string | null;
  startedAt: string | null;
  timeoutSeconds: number;
  gracePeriodSeconds: number;
  containerId: string | null;
  reason: string | null;
  exitCode: number | null;
}
interface ClusterJson {
  runtime: string;
  nodes: { name: string; ready: boolean; allocatableCpus: number | null; allocatableMemoryMb: number | null; wardenPods: number }[];
  error: string | null;
}

describe('WARDEN_RUNTIME=kubernetes: the server, its worker and the dashboard on the real cluster', () => {
  const namespace = `warden-e2e-${crypto.randomBytes(3).toString('hex')}`;
  const core = kubeConfig().makeApiClient(CoreV1Api);
  let warden: Warden | null = null;
  let base = '';
  let opKey = '';
  let userKey = '';
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const api = apiClient(() => base, () => opKey);
  const getJob = async (id: string) => (await api<JobJson>('GET', `/api/v1/jobs/${id}`)).body;
  const submit = async (body: Record<string, unknown>) => {
    const r = await api<JobJson>('POST', '/api/v1/jobs', { image: TEST_IMAGE, ...body }, userKey);
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    return r.body.id;
  };
  const status = (id: string, want: string, timeoutMs = 120_000) =>
    until(`job ${id} to be ${want}`, async () => {
      const j = await getJob(id);
      return j.status === want ? j : null;
    }, timeoutMs, 500);
  const pod = async (name: string) => core.readNamespacedPod({ name, namespace }).catch(() => null);
  const shot = async (name: string) => {
    await page.evaluate(() => document.fonts.ready.then(() => true));
    await page.screenshot({ path: path.join(SHOTS, `k8s-${name}.png`), fullPage: true, animations: 'disabled' });
  };

  beforeAll(async () => {
    fs.mkdirSync(SHOTS, { recursive: true });
    warden = await startWarden('k8s', {
      admin: ADMIN,
      env: {
        WARDEN_RUNTIME: 'kubernetes',
        WARDEN_K8S_NAMESPACE: namespace,
        WARDEN_K8S_KEEPER_IMAGE: TEST_IMAGE,
        KUBECONFIG: process.env.KUBECONFIG!,
        // The TTL sweeper every 2 s, so a Pod's cleanup is seen within the test.
        WARDEN_TTL_SWEEP_S: '2',
      },
    });
    base = warden.base;
    opKey = await operatorKey(warden, ADMIN.email);
    const u = await api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `k8s-${crypto.randomBytes(3).toString('hex')}`, plan: 'pro' });
    expect(u.status, JSON.stringify(u.body)).toBe(201);
    userKey = u.body.apiKey;
    browser = await launchBrowser();
    page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await logIn(page, base, ADMIN);
  }, 900_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await warden?.stop();
    await core.deleteNamespace({ name: namespace, gracePeriodSeconds: 0 }).catch(() => {});
  }, 120_000);

  it('runs a job in a Pod to success; the job page shows it and its output; the TTL sweeper deletes the Pod', async () => {
    const id = await submit({ command: ['sh', '-c', 'echo hello from a pod; sleep 1'], name: 'k8s-ok', timeoutSeconds: 60, ttlSecondsAfterFinished: 3 });
    const running = await status(id, 'running');
    const p = await pod(running.containerId!);
    expect(p?.metadata?.labels).toMatchObject({ 'warden.managed': 'true', 'warden.job': id, 'warden.attempt': '1' });
    const done = await status(id, 'succeeded');
    expect(done.exitCode).toBe(0);
    await page.goto(`${base}/jobs/${id}`);
    await page.getByRole('heading', { name: 'k8s-ok' }).waitFor();
    await page.locator('main').getByText('succeeded', { exact: true }).first().waitFor();
    await expect.poll(async () => (await page.getByTestId('log-tail').textContent().catch(() => '')) ?? '', { timeout: 30_000 }).toContain('hello from a pod');
    await shot('job-succeeded');
    // Cleaned up at its TTL: the Pod is gone, the job's record (and its saved output) stays.
    await until('the Pod to be deleted at its TTL', async () => (await pod(running.containerId!)) === null, 90_000, 500);
    await page.reload();
    await expect.poll(async () => (await page.getByTestId('log-tail').textContent().catch(() => '')) ?? '', { timeout: 30_000 }).toContain('hello from a pod');
  });

  it('times a job out: TERM (a delete with its grace), the trapped TERM runs, KILL after the grace; the dashboard lists it under Timed out', async () => {
    // The timeout counts from the Pod's creation (scheduling and image included, as Kubernetes'
    // own activeDeadlineSeconds does): 20 s leaves the Pod ample time to start and set its trap.
    const id = await submit({ command: TRAP_TERM, name: 'k8s-timeout', timeoutSeconds: 20, gracePeriodSeconds: 2 });
    const logs = async () => (await fetch(`${base}/api/v1/jobs/${id}/logs`, { headers: { authorization: `Bearer ${opKey}` } })).text();
    await until('the job to print "started" (its TERM trap is set)', async () => (await logs()).includes('started'), 60_000, 500);
    expect((await getJob(id)).status).toBe('running');
    const row = await status(id, 'timed_out');
    expect(row).toMatchObject({ exitCode: -1, reason: 'Timeout: exceeded 20s (job request)' });
    expect(await logs()).toMatch(/started\s+got TERM/);
    await page.goto(`${base}/jobs?tab=timed_out`);
    await page.locator(`tr[data-job-id="${id}"]`).waitFor({ timeout: 30_000 });
    await shot('jobs-timed-out');
    await page.goto(`${base}/jobs/${id}`);
    await page.getByText('Timeout: exceeded 20s (job request)').first().waitFor();
    await expect.poll(async () => (await page.getByTestId('log-tail').textContent().catch(() => '')) ?? '', { timeout: 30_000 }).toContain('got TERM');
  });

  it('Extend in the dashboard moves the deadline (the Pod\'s backstop already covers it); Kill ends the job and its Pod', async () => {
    const id = await submit({ command: ['sh', '-c', 'echo started; sleep 600'], name: 'k8s-sleeper', timeoutSeconds: 300, gracePeriodSeconds: 5 });
    const before = await status(id, 'running');
    await page.goto(`${base}/jobs?tab=running`);
    const row = page.locator(`tr[data-job-id="${id}"]`);
    await row.waitFor({ timeout: 30_000 });
    await row.getByRole('button', { name: 'Extend' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Add seconds').fill('120');
    await dialog.getByLabel('Reason (recorded in the audit log)').fill('k8s e2e: two more minutes');
    await dialog.getByRole('button', { name: 'Extend deadline' }).click();
    await page.getByText('Deadline extended by 120s').waitFor();
    const after = await getJob(id);
    expect(Date.parse(after.deadlineAt!) - Date.parse(before.deadlineAt!)).toBe(120_000);
    const p = await pod(before.containerId!);
    const allowed = (Date.parse(after.deadlineAt!) - Date.parse(p!.status!.startTime as unknown as string)) / 1000;
    expect(p!.spec!.activeDeadlineSeconds!).toBeGreaterThan(allowed + after.gracePeriodSeconds);

    await page.goto(`${base}/jobs/${id}`);
    await page.getByRole('heading', { name: 'k8s-sleeper' }).waitFor();
    await page.getByRole('button', { name: 'Kill', exact: true }).click();
    await page.getByRole('dialog').getByLabel('Reason (recorded in the audit log)').fill('k8s e2e: stop it');
    await page.getByRole('dialog').getByRole('button', { name: 'Kill job' }).click();
    await page.getByText(/Kill requested/).first().waitFor();
    const killed = await status(id, 'killed');
    expect(killed.reason).toBe(`Killed by operator:${ADMIN.email}: k8s e2e: stop it`);
    await page.locator('main').getByText('killed', { exact: true }).first().waitFor({ timeout: 30_000 });
    await shot('job-killed');
    await until('the killed job\'s Pod to be gone', async () => (await pod(before.containerId!)) === null, 90_000, 500);
  });

  it('the Nodes page and GET /api/v1/nodes list the cluster\'s nodes read-only, with allocatable and Warden\'s Pods on each', async () => {
    const id = await submit({ command: ['sh', '-c', 'echo started; sleep 600'], name: 'k8s-on-node', timeoutSeconds: 300, gracePeriodSeconds: 1 });
    const running = await status(id, 'running');
    const nodeName = (await pod(running.containerId!))!.spec!.nodeName!;
    const r = await api<{ nodes: unknown[]; cluster: ClusterJson }>('GET', '/api/v1/nodes');
    expect(r.status).toBe(200);
    expect(r.body.cluster).toMatchObject({ runtime: 'kubernetes', error: null });
    const n = r.body.cluster.nodes.find((x) => x.name === nodeName)!;
    expect(n).toMatchObject({ ready: true, wardenPods: 1 });
    expect(n.allocatableCpus).toBeGreaterThan(0);
    expect(n.allocatableMemoryMb).toBeGreaterThan(0);
    await page.goto(`${base}/nodes`);
    const tr = page.locator(`tr[data-cluster-node="${nodeName}"]`);
    await tr.waitFor({ timeout: 30_000 });
    await expect.poll(async () => (await tr.textContent()) ?? '').toContain('ready');
    // No drain or resume for the cluster's nodes: Warden only reads them.
    expect(await tr.getByRole('button').count()).toBe(0);
    await shot('nodes');
    await api('POST', `/api/v1/jobs/${id}/kill`, { force: true, reason: 'k8s e2e cleanup' });
    await status(id, 'killed');
    expect(pageErrors).toEqual([]);
  });
});
