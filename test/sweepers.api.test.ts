import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, jobs } from '../server/db/schema';
import { sweep } from '../server/sweepers';
import { call, counts, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * The routes this issue adds, through the real handlers: POST /api/v1/jobs/:id/suspend (admin),
 * GET /api/v1/orphans (viewer+), GET /api/metrics (open, Prometheus text).
 */

let h: ApiHarness;
let suspendRoute: { POST: Handler };
let orphansRoute: { GET: Handler };
let metricsRoute: { GET: () => Promise<Response> };
let usersRoute: { POST: Handler };
let user: { id: string; apiKey: string };
let jobId: string;

beforeAll(async () => {
  h = await setupApi();
  suspendRoute = (await import('../app/api/v1/jobs/[id]/suspend/route')) as unknown as typeof suspendRoute;
  orphansRoute = (await import('../app/api/v1/orphans/route')) as unknown as typeof orphansRoute;
  metricsRoute = (await import('../app/api/metrics/route')) as unknown as typeof metricsRoute;
  usersRoute = (await import('../app/api/v1/users/route')) as unknown as typeof usersRoute;
  const r = await call(usersRoute.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: `s-${crypto.randomBytes(4).toString('hex')}`, plan: 'free' } });
  expect(r.status).toBe(201);
  user = { id: r.json.id, apiKey: r.json.apiKey };
  const now = new Date();
  const [j] = await h.db
    .insert(jobs)
    .values({
      userId: user.id,
      image: 'busybox',
      status: 'running',
      maxRetries: 0,
      timeoutS: 60,
      timeoutSource: 'plan',
      gracePeriodS: 1,
      queuedAt: now,
      startedAt: now,
      deadlineAt: new Date(now.getTime() + 60_000),
      node: h.ctx.node,
      containerId: 'abcdef',
    })
    .returning();
  jobId = j!.id;
});
afterAll(async () => {
  await h?.close();
});

const suspend = (key: string | null, body: unknown, id = jobId) => call(suspendRoute.POST, 'POST', `/api/v1/jobs/${id}/suspend`, { key, body, params: { id } });

describe('POST /api/v1/jobs/:id/suspend', () => {
  it('admins suspend and resume, audited with the reason', async () => {
    let r = await suspend(h.admin, { suspended: true, reason: 'attaching a debugger' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ id: jobId, status: 'running', timeoutSuspended: true });
    r = await suspend(h.admin, { suspended: false });
    expect(r.json.timeoutSuspended).toBe(false);
    const rows = await h.db.select().from(auditEvents).where(eq(auditEvents.targetId, jobId));
    expect(rows.map((a) => [a.action, a.actor, a.reason])).toEqual([
      ['job.timeout_suspend', 'operator:admin@test.local', 'attaching a debugger'],
      ['job.timeout_resume', 'operator:admin@test.local', null],
    ]);
  });

  it('refuses other roles, bad bodies, unknown and finished jobs, writing nothing', async () => {
    const before = await counts(h.db);
    expectError(await suspend(h.operator, { suspended: true }), 403, 'forbidden');
    expectError(await suspend(user.apiKey, { suspended: true }), 403, 'forbidden');
    expectError(await suspend(null, { suspended: true }), 401);
    expectError(await suspend(h.admin, {}), 422, 'validation_failed', 'suspended');
    expectError(await suspend(h.admin, { suspended: 'yes' }), 422, 'validation_failed', 'suspended');
    expectError(await suspend(h.admin, { suspended: true, extra: 1 }), 422);
    expectError(await call(suspendRoute.POST, 'POST', `/api/v1/jobs/${jobId}/suspend`, { key: h.admin, raw: '{nope', params: { id: jobId } }), 400, 'invalid_json');
    expectError(await suspend(h.admin, { suspended: true }, 'not-a-uuid'), 404, 'not_found');
    expectError(await suspend(h.admin, { suspended: true }, crypto.randomUUID()), 404, 'not_found');
    expect(await counts(h.db)).toEqual(before);
    const [done] = await h.db
      .insert(jobs)
      .values({ userId: user.id, image: 'x', status: 'succeeded', maxRetries: 0, timeoutS: 60, timeoutSource: 'plan', gracePeriodS: 1, queuedAt: new Date(), finishedAt: new Date() })
      .returning();
    expectError(await suspend(h.admin, { suspended: true }, done!.id), 409, 'not_running');
  });
});

describe('GET /api/v1/orphans', () => {
  it('viewers and up see the report; user keys may not', async () => {
    const r = await call(orphansRoute.GET, 'GET', '/api/v1/orphans', { key: h.viewer });
    expect(r.status).toBe(200);
    // No engine in API tests: the report says so and still lists what the database knows.
    expect(r.json).toMatchObject({ dockerOk: false, containers: [], lostJobs: [], orphanedChildren: [] });
    expectError(await call(orphansRoute.GET, 'GET', '/api/v1/orphans', { key: user.apiKey }), 403, 'forbidden');
    expectError(await call(orphansRoute.GET, 'GET', '/api/v1/orphans', {}), 401);
  });

  it('lists a live child of an ended parent', async () => {
    const now = new Date();
    const base = { userId: user.id, image: 'x', maxRetries: 0, timeoutS: 60, timeoutSource: 'plan', gracePeriodS: 1, queuedAt: now };
    const [p] = await h.db.insert(jobs).values({ ...base, status: 'killed', finishedAt: now }).returning();
    const [c] = await h.db.insert(jobs).values({ ...base, status: 'queued', parentId: p!.id }).returning();
    const r = await call(orphansRoute.GET, 'GET', '/api/v1/orphans', { key: h.operator });
    expect(r.json.orphanedChildren).toEqual([{ jobId: c!.id, parentId: p!.id, parentStatus: 'killed' }]);
  });
});

describe('GET /api/metrics', () => {
  it('serves Prometheus text with sweeper and job metrics, no key needed', async () => {
    await sweep(h.ctx, 'ttl');
    const res = await metricsRoute.GET();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/^# TYPE warden_sweeper_runs_total counter$/m);
    expect(text).toMatch(/^warden_sweeper_runs_total\{sweeper="ttl",outcome="ok"\} \d+$/m);
    expect(text).toMatch(/^# TYPE warden_sweeper_duration_seconds histogram$/m);
    expect(text).toMatch(/^# TYPE warden_kill_lateness_seconds histogram$/m);
    expect(text).toMatch(/^warden_jobs\{status="running"\} 1$/m);
    expect(text).toMatch(/^warden_jobs\{status="queued"\} \d+$/m);
    expect(text).toMatch(/^warden_jobs_rows_estimate \d+$/m);
    expect(text).toMatch(/^# TYPE warden_dispatcher_claims_total counter$/m);
    expect(text).toMatch(/^# TYPE warden_dispatcher_starts_total counter$/m);
    expect(text).toMatch(/^# TYPE warden_jobs_finished_total counter$/m);
  });
});
