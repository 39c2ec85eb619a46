import crypto from 'node:crypto';
import { and, eq, gt } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, sweeperRuns } from '../server/db/schema';
import { createDockerRuntime } from '../server/docker/runtime';
import { removeNodeContainers } from './helpers/sweepers';
import { call, setupApi, type ApiHarness, type Handler } from './helpers/api';
import { dockerAvailable, TEST_IMAGE } from './helpers/docker';
import { waitFor } from './helpers/fixtures';
import { startReceiver, verifySignature, type Received, type Receiver } from './helpers/receiver';

/**
 * The whole path on real parts: jobs on the real Docker engine, the real worker (dispatcher,
 * events, timeout sweeper, webhook delivery loop — started in this process, on node-cron and
 * the system clock), the real route handlers, and a real HTTP receiver on 127.0.0.1
 * (WARDEN_WEBHOOK_ALLOW_PRIVATE=on). A job with a short deadline produces job.started,
 * job.warning, job.terminating and job.timed_out in that order, each signed; a receiver that
 * extends on job.warning keeps its job alive past the first deadline.
 *
 * No timing windows: the warning comes 10 s before a 12 s deadline (2 s after the start), so a
 * worker that is seconds late on a busy box still warns before the deadline, and a receiver that
 * takes seconds to extend still lands before it. "Alive past its first deadline" waits for a
 * timeout sweep that began after that deadline, then looks.
 */
const WARN_BEFORE_S = 10;
const TIMEOUT_S = 12;

const NODE = `whj-${crypto.randomBytes(4).toString('hex')}`;

describe.skipIf(!dockerAvailable())('webhooks for real jobs (real Docker, worker and receiver)', () => {
  let h: ApiHarness;
  let rx: Receiver;
  let stopWorker: () => Promise<void>;
  let docker: import('../server/docker/types').DockerRuntime;
  const r: Record<string, { POST?: Handler; GET?: Handler }> = {};
  let user: { id: string; key: string; name: string };

  beforeAll(async () => {
    h = await setupApi({ WARDEN_NODE_ID: NODE, WARDEN_WEBHOOK_ALLOW_PRIVATE: 'on', DOCKER_HOST: '', LOG_LEVEL: 'warn', WARDEN_ORPHAN_SWEEP_S: '30' });
    r.jobs = (await import('../app/api/v1/jobs/route')) as never;
    r.job = (await import('../app/api/v1/jobs/[id]/route')) as never;
    r.extend = (await import('../app/api/v1/jobs/[id]/extend/route')) as never;
    r.webhooks = (await import('../app/api/v1/webhooks/route')) as never;
    r.deliveries = (await import('../app/api/v1/webhooks/[id]/deliveries/route')) as never;
    const plans = await import('../app/api/v1/plans/[name]/route');
    const users = await import('../app/api/v1/users/route');
    const p = await call((plans as unknown as { PUT: Handler }).PUT, 'PUT', '/api/v1/plans/hooks', {
      key: h.admin,
      params: { name: 'hooks' },
      body: { defaultTimeoutSeconds: 60, maxTimeoutSeconds: 600, warnBeforeSeconds: WARN_BEFORE_S, gracePeriodSeconds: 1, maxConcurrentJobs: 10, ttlTimedOutSeconds: 0, ttlKilledSeconds: 0 },
    });
    expect(p.status, p.text).toBeLessThan(300);
    const name = `hooks-${crypto.randomBytes(3).toString('hex')}`;
    const u = await call((users as unknown as { POST: Handler }).POST, 'POST', '/api/v1/users', { key: h.admin, body: { name, plan: 'hooks' } });
    expect(u.status).toBe(201);
    user = { id: u.json.id, key: u.json.apiKey, name };
    rx = await startReceiver();
    const { startWorker } = await import('../server/worker');
    const w = await startWorker();
    await w.ready;
    docker = createDockerRuntime();
    stopWorker = () => w.stop();
  });

  afterAll(async () => {
    await stopWorker?.();
    await rx?.close();
    if (docker) {
      await removeNodeContainers(docker, NODE);
      expect(await docker.list({ 'warden.node': NODE })).toEqual([]);
    }
    await h?.close();
  });

  const subscribe = async (path: string, events?: string[]) => {
    const res = await call(r.webhooks!.POST!, 'POST', '/api/v1/webhooks', { key: user.key, body: { url: rx.url(path), ...(events ? { events } : {}) } });
    expect(res.status, res.text).toBe(201);
    return res.json as { id: string; secret: string };
  };
  const submit = async (body: Record<string, unknown>) => {
    const res = await call(r.jobs!.POST!, 'POST', '/api/v1/jobs', { key: user.key, body: { image: TEST_IMAGE, ...body } });
    expect(res.status, res.text).toBe(201);
    return res.json as { id: string };
  };
  const getJob = async (id: string) => (await call(r.job!.GET!, 'GET', `/api/v1/jobs/${id}`, { key: user.key, params: { id } })).json;
  const forJob = (path: string, jobId: string) => {
    // At-least-once: a receiver dedupes on Warden-Delivery.
    const seen = new Set<string>();
    const out: Received[] = [];
    for (const x of rx.received) {
      const id = x.headers['warden-delivery'] as string;
      if (x.path === path && x.body?.job?.id === jobId && !seen.has(id)) {
        seen.add(id);
        out.push(x);
      }
    }
    return out;
  };

  it('a job with a short deadline: job.started, job.warning before the deadline, job.terminating, job.timed_out, in order, each signature verified', async () => {
    const hook = await subscribe('/order');
    const job = await submit({ command: ['sh', '-c', 'trap "exit 0" TERM; echo started; sleep 300 & wait'], timeoutSeconds: TIMEOUT_S, gracePeriodSeconds: 1 });
    const got = await waitFor(() => {
      const x = forJob('/order', job.id);
      return x.some((e) => e.body.type === 'job.timed_out') ? x : null;
    }, { timeoutMs: 60_000, intervalMs: 200, what: 'job.timed_out at the receiver' });
    expect(got.map((e) => e.body.type)).toEqual(['job.started', 'job.warning', 'job.terminating', 'job.timed_out']);
    for (const e of got) {
      const t = verifySignature(hook.secret, e.headers['warden-signature'], e.raw);
      expect(Math.abs(t - Date.now() / 1000)).toBeLessThan(300);
      expect(e.headers['warden-event']).toBe(e.body.type);
      expect(e.headers['warden-delivery']).toMatch(/^[0-9a-f-]{36}$/);
      expect(e.body).toMatchObject({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), at: expect.any(String), job: { id: job.id, userId: user.id } });
    }
    const [started, warning, terminating, timedOut] = got.map((e) => e.body);
    expect(started.job).toMatchObject({ status: 'running', containerId: expect.any(String) });
    // The warning comes at deadline − warnBefore (10 s), before the deadline, and says so.
    expect(warning.deadlineAt).toBe(started.job.deadlineAt);
    expect(Date.parse(warning.at)).toBeLessThan(Date.parse(warning.deadlineAt));
    expect(warning.secondsLeft).toBeGreaterThan(0);
    expect(warning.secondsLeft).toBeLessThanOrEqual(WARN_BEFORE_S);
    expect(warning.job).toMatchObject({ status: 'running', warnedAt: warning.at });
    expect(terminating).toMatchObject({ kind: 'timeout', reason: `Timeout: exceeded ${TIMEOUT_S}s (job request)`, job: { status: 'terminating' } });
    expect(Date.parse(terminating.at)).toBeGreaterThanOrEqual(Date.parse(warning.deadlineAt));
    expect(timedOut.job).toMatchObject({ status: 'timed_out', exitCode: -1, reason: `Timeout: exceeded ${TIMEOUT_S}s (job request)` });
    // The deliveries, as the API lists them.
    const d = await call(r.deliveries!.GET!, 'GET', `/api/v1/webhooks/${hook.id}/deliveries`, { key: user.key, params: { id: hook.id } });
    expect(d.status).toBe(200);
    const mine = (d.json.deliveries as { event: string; status: string; attempts: number; jobId: string; deliveredAt: string | null }[]).filter((x) => x.jobId === job.id);
    expect(mine.map((x) => x.event).reverse()).toEqual(['job.started', 'job.warning', 'job.terminating', 'job.timed_out']);
    for (const x of mine) expect(x).toMatchObject({ status: 'delivered', attempts: 1, deliveredAt: expect.any(String) });
  });

  it('a receiver that extends on job.warning keeps its job alive past the first deadline (the extend is audited as the user)', async () => {
    const extended: { status: number; body: unknown }[] = [];
    rx.handler = async (x) => {
      if (x.path === '/extend' && x.body?.type === 'job.warning' && x.body.job.extendedSeconds === 0) {
        const id = x.body.job.id as string;
        const res = await call(r.extend!.POST!, 'POST', `/api/v1/jobs/${id}/extend`, { key: user.key, params: { id }, body: { seconds: 8, reason: 'still working' } });
        extended.push({ status: res.status, body: res.json });
      }
      return 200;
    };
    await subscribe('/extend', ['job.warning']);
    const job = await submit({ command: ['sleep', '300'], timeoutSeconds: TIMEOUT_S, gracePeriodSeconds: 1 });
    const first = await waitFor(() => forJob('/extend', job.id)[0], { timeoutMs: 60_000, what: 'the first job.warning' });
    const firstDeadline = Date.parse(first.body.deadlineAt);
    // The extend reset the warning: the next one comes 10 s before the new deadline, 8 s after the first.
    const second = await waitFor(() => forJob('/extend', job.id)[1], { timeoutMs: 60_000, what: 'a second job.warning, after the extend' });
    expect(extended).toHaveLength(1);
    expect(extended[0]!.status).toBe(200);
    expect(Date.parse(second.body.deadlineAt)).toBe(firstDeadline + 8000);
    expect(second.body.job).toMatchObject({ status: 'running', extendedSeconds: 8, timeoutSeconds: TIMEOUT_S + 8 });
    // Alive past its first deadline: a timeout sweep that began after it has finished, and the job still runs.
    await waitFor(async () => {
      const [run] = await h.db.select({ id: sweeperRuns.id }).from(sweeperRuns)
        .where(and(eq(sweeperRuns.sweeper, 'timeout'), eq(sweeperRuns.node, NODE), gt(sweeperRuns.startedAt, new Date(firstDeadline))));
      return run ?? null;
    }, { timeoutMs: 60_000, what: 'a timeout sweep after the first deadline' });
    const now = await getJob(job.id);
    expect(now).toMatchObject({ status: 'running', extendedSeconds: 8 });
    const audits = await h.db.select().from(auditEvents).where(and(eq(auditEvents.targetId, job.id), eq(auditEvents.action, 'job.extend')));
    expect(audits).toHaveLength(1);
    expect(audits[0]).toMatchObject({ actor: `api:${user.name}`, reason: 'still working' });
    expect(audits[0]!.details).toMatchObject({ seconds: 8, overCap: false, cap: 600 });
    rx.handler = () => 200;
  });
});
