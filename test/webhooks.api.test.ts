import crypto from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, jobs, usage, webhookDeliveries, webhookEvents } from '../server/db/schema';
import type { Actor } from '../server/domain/actor';
import { audit } from '../server/domain/audit';
import { WEBHOOK_EVENTS } from '../server/domain/webhook-events';
import { monthKey } from '../server/domain/limits';
import { call, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * The webhook, /me, owner-extend and queue-position routes through the real route handlers on a
 * real PostgreSQL, with the default settings (private webhook addresses refused). Bad input is a
 * 4xx in the error shape and writes nothing; keys see and change only what they may; the outbox
 * writes an event exactly when a subscription wants it and only if the change commits.
 */

let h: ApiHarness;
const R: Record<string, Record<string, Handler>> = {};
type U = { id: string; key: string; name: string };
let alice: U;
let bob: U;
const PUBLIC = 'https://93.184.216.34/hooks/warden';

async function newUser(plan = 'free'): Promise<U> {
  const name = `u-${crypto.randomBytes(4).toString('hex')}`;
  const r = await call(R.users!.POST!, 'POST', '/api/v1/users', { key: h.admin, body: { name, plan } });
  expect(r.status).toBe(201);
  return { id: r.json.id, key: r.json.apiKey, name };
}
const create = (key: string | null, body: unknown) => call(R.webhooks!.POST!, 'POST', '/api/v1/webhooks', { key, body });
async function rows() {
  const [r] = await h.db.execute<{ w: number; a: number; e: number; d: number }>(sql`select
    (select count(*)::int from webhooks) as w, (select count(*)::int from audit_events) as a,
    (select count(*)::int from webhook_events) as e, (select count(*)::int from webhook_deliveries) as d`);
  return { webhooks: Number(r!.w), audit: Number(r!.a), events: Number(r!.e), deliveries: Number(r!.d) };
}
/** A job row in a given state, written directly (no dispatcher, no Docker). */
async function jobRow(userId: string, o: Partial<typeof jobs.$inferInsert> = {}) {
  const now = new Date();
  const [j] = await h.db
    .insert(jobs)
    .values({ userId, image: 'alpine', maxRetries: 0, timeoutS: 60, timeoutSource: 'job', gracePeriodS: 1, queuedAt: now, updatedAt: now, ...o })
    .returning();
  return j!;
}

beforeAll(async () => {
  h = await setupApi();
  R.users = (await import('../app/api/v1/users/route')) as never;
  R.userOne = (await import('../app/api/v1/users/[id]/route')) as never;
  R.webhooks = (await import('../app/api/v1/webhooks/route')) as never;
  R.webhook = (await import('../app/api/v1/webhooks/[id]/route')) as never;
  R.deliveries = (await import('../app/api/v1/webhooks/[id]/deliveries/route')) as never;
  R.me = (await import('../app/api/v1/me/route')) as never;
  R.jobs = (await import('../app/api/v1/jobs/route')) as never;
  R.job = (await import('../app/api/v1/jobs/[id]/route')) as never;
  R.cancel = (await import('../app/api/v1/jobs/[id]/cancel/route')) as never;
  R.extend = (await import('../app/api/v1/jobs/[id]/extend/route')) as never;
  alice = await newUser();
  bob = await newUser();
});
afterAll(async () => {
  await h?.close();
});

describe('POST /api/v1/webhooks: bad input is a 4xx in the error shape and writes nothing', () => {
  const cases: { name: string; body?: unknown; raw?: string; status: number; code?: string; field?: string; key?: 'alice' | 'viewer' | 'none' | 'operator' }[] = [
    { name: 'loopback IP', body: { url: 'http://127.0.0.1:8080/hook' }, status: 422, code: 'url_not_allowed', field: 'url' },
    { name: 'localhost (resolved)', body: { url: 'http://localhost:8080/hook' }, status: 422, code: 'url_not_allowed', field: 'url' },
    { name: 'IPv6 loopback', body: { url: 'http://[::1]/hook' }, status: 422, code: 'url_not_allowed', field: 'url' },
    { name: 'RFC 1918', body: { url: 'https://10.20.30.40/hook' }, status: 422, code: 'url_not_allowed', field: 'url' },
    { name: 'RFC 1918 192.168', body: { url: 'https://192.168.0.10/hook' }, status: 422, code: 'url_not_allowed', field: 'url' },
    { name: 'cloud metadata (link-local)', body: { url: 'http://169.254.169.254/latest/meta-data' }, status: 422, code: 'url_not_allowed', field: 'url' },
    { name: 'IPv4-mapped loopback', body: { url: 'http://[::ffff:127.0.0.1]/' }, status: 422, code: 'url_not_allowed', field: 'url' },
    { name: 'decimal loopback', body: { url: 'http://2130706433/' }, status: 422, code: 'url_not_allowed', field: 'url' },
    { name: 'ftp scheme', body: { url: 'ftp://example.com/hook' }, status: 422, code: 'bad_scheme', field: 'url' },
    { name: 'file scheme', body: { url: 'file:///etc/passwd' }, status: 422, code: 'bad_scheme', field: 'url' },
    { name: 'javascript scheme', body: { url: 'javascript:alert(1)' }, status: 422, code: 'bad_scheme', field: 'url' },
    { name: 'not a URL', body: { url: 'hooks.example.com/x' }, status: 422, field: 'url' },
    { name: 'credentials in the URL', body: { url: 'https://u:p@93.184.216.34/' }, status: 422, field: 'url' },
    { name: 'missing url', body: {}, status: 422, field: 'url' },
    { name: 'url not a string', body: { url: 42 }, status: 422, field: 'url' },
    { name: 'url too long', body: { url: `${PUBLIC}/${'x'.repeat(2100)}` }, status: 422, field: 'url' },
    { name: 'unknown event', body: { url: PUBLIC, events: ['job.started', 'job.exploded'] }, status: 422, field: 'events.1' },
    { name: 'events not an array', body: { url: PUBLIC, events: 'job.started' }, status: 422, field: 'events' },
    { name: 'empty events', body: { url: PUBLIC, events: [] }, status: 422, field: 'events' },
    { name: 'repeated event', body: { url: PUBLIC, events: ['job.failed', 'job.failed'] }, status: 422, field: 'events' },
    { name: 'short secret', body: { url: PUBLIC, secret: 'short' }, status: 422, field: 'secret' },
    { name: 'secret with spaces', body: { url: PUBLIC, secret: 'a secret with spaces in it' }, status: 422, field: 'secret' },
    { name: 'unknown field', body: { url: PUBLIC, retries: 3 }, status: 422 },
    { name: 'userId not a UUID', body: { url: PUBLIC, userId: 'alice' }, key: 'operator', status: 422, field: 'userId' },
    { name: 'unknown userId', body: { url: PUBLIC, userId: crypto.randomUUID() }, key: 'operator', status: 422, code: 'unknown_user', field: 'userId' },
    { name: "a user key for another user's jobs", body: { url: PUBLIC, userId: '00000000-0000-4000-8000-000000000000' }, status: 403, code: 'forbidden' },
    { name: 'a viewer', body: { url: PUBLIC }, key: 'viewer', status: 403, code: 'forbidden' },
    { name: 'no key', body: { url: PUBLIC }, key: 'none', status: 401, code: 'unauthorized' },
    { name: 'malformed JSON', raw: '{"url":', status: 400, code: 'invalid_json' },
    { name: 'JSON array', raw: '[]', status: 400, code: 'invalid_json' },
  ];
  it.each(cases)('$name → $status', async (c) => {
    const before = await rows();
    const key = c.key === 'none' ? null : c.key === 'viewer' ? h.viewer : c.key === 'operator' ? h.operator : alice.key;
    const r = c.raw !== undefined ? await call(R.webhooks!.POST!, 'POST', '/api/v1/webhooks', { key, raw: c.raw }) : await create(key, c.body);
    expectError(r, c.status, c.code, c.field);
    expect(await rows()).toEqual(before);
  });
  it('the unknown-event message names the known events', async () => {
    const r = await create(alice.key, { url: PUBLIC, events: ['job.exploded'] });
    expect(r.json.error.message).toContain('unknown event "job.exploded"');
    expect(r.json.error.message).toContain(WEBHOOK_EVENTS.join(', '));
  });
  it('an unknown event sent as a long value is echoed short (found by `npm run bench -- fuzz --seed 93131349`)', async () => {
    const before = await rows();
    const r = await create(alice.key, { url: PUBLIC, events: [['x'.repeat(3000), 1]] });
    expectError(r, 422, undefined, 'events.0');
    expect(r.json.error.message).toContain('unknown event ["xxxxxxxxxx');
    expect(r.json.error.message.length).toBeLessThan(400);
    expect(await rows()).toEqual(before);
  });
});

describe('webhook subscriptions: who sees and changes what', () => {
  let mine: { id: string; secret: string };
  let opAll: { id: string };
  let opBob: { id: string };

  it('a user key subscribes to its own jobs: 201 with a generated secret, shown once', async () => {
    const r = await create(alice.key, { url: PUBLIC });
    expect(r.status, r.text).toBe(201);
    expect(r.headers.get('location')).toBe(`/api/v1/webhooks/${r.json.id}`);
    expect(r.json).toMatchObject({ url: PUBLIC, events: [...WEBHOOK_EVENTS], userId: alice.id, createdBy: `api:${alice.name}`, createdAt: expect.any(String) });
    expect(r.json.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    mine = r.json;
    const own = await create(alice.key, { url: `${PUBLIC}/2`, events: ['job.warning'], secret: 'my-own-secret-0123456789', userId: alice.id });
    expect(own.status).toBe(201);
    expect(own.json).toMatchObject({ events: ['job.warning'], secret: 'my-own-secret-0123456789' });
    const [audited] = await h.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'webhook.create'), eq(auditEvents.targetId, mine.id)));
    expect(audited).toMatchObject({ actor: `api:${alice.name}`, targetType: 'webhook' });
    expect(JSON.stringify(audited!.details)).not.toContain(mine.secret);
  });

  it('operators subscribe to every job, or to one user with userId', async () => {
    const all = await create(h.operator, { url: `${PUBLIC}/all`, events: ['job.cancelled', 'job.timed_out'] });
    expect(all.status).toBe(201);
    expect(all.json.userId).toBeNull();
    opAll = all.json;
    const one = await create(h.operator, { url: `${PUBLIC}/bob`, userId: bob.id, events: ['job.cancelled'] });
    expect(one.status).toBe(201);
    expect(one.json.userId).toBe(bob.id);
    opBob = one.json;
  });

  it('lists: a user sees its own (never a secret), operators and viewers see all', async () => {
    const a = await call(R.webhooks!.GET!, 'GET', '/api/v1/webhooks', { key: alice.key });
    expect(a.status).toBe(200);
    expect(a.json.webhooks.map((w: { userId: string }) => w.userId)).toEqual([alice.id, alice.id]);
    expect(a.text).not.toContain('secret');
    const b = await call(R.webhooks!.GET!, 'GET', '/api/v1/webhooks', { key: bob.key });
    expect(b.json.webhooks).toEqual([]);
    const v = await call(R.webhooks!.GET!, 'GET', '/api/v1/webhooks', { key: h.viewer });
    expect(v.json.webhooks.map((w: { id: string }) => w.id)).toEqual(expect.arrayContaining([mine.id, opAll.id, opBob.id]));
    expect(v.text).not.toContain('secret');
    // One subscription: its owner and operators; to anyone else it does not exist.
    expect((await call(R.webhook!.GET!, 'GET', '/x', { key: alice.key, params: { id: mine.id } })).json.id).toBe(mine.id);
    expectError(await call(R.webhook!.GET!, 'GET', '/x', { key: bob.key, params: { id: mine.id } }), 404, 'not_found');
    expectError(await call(R.webhook!.GET!, 'GET', '/x', { key: alice.key, params: { id: opBob.id } }), 404, 'not_found');
    expectError(await call(R.webhook!.GET!, 'GET', '/x', { key: alice.key, params: { id: 'not-a-uuid' } }), 404, 'not_found');
  });

  it('the outbox: a state change writes one event and one delivery per subscription that wants it, in its transaction', async () => {
    const before = await rows();
    // Bob's job: only the operator's all-jobs and bob subscriptions want job.cancelled; alice's never see bob's jobs.
    const bj = await call(R.jobs!.POST!, 'POST', '/api/v1/jobs', { key: bob.key, body: { image: 'alpine' } });
    expect((await rows()).events).toBe(before.events); // job.submit is not an event
    const c = await call(R.cancel!.POST!, 'POST', '/x', { key: bob.key, params: { id: bj.json.id } });
    expect(c.json.status).toBe('cancelled');
    const ev = await h.db.select().from(webhookEvents).where(eq(webhookEvents.jobId, bj.json.id));
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ type: 'job.cancelled', job: { id: bj.json.id, status: 'cancelled' } });
    expect(ev[0]!.job).not.toHaveProperty('env');
    const ds = await h.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.eventSeq, ev[0]!.seq));
    expect(ds.map((d) => d.webhookId).sort()).toEqual([opAll.id, opBob.id].sort());
    for (const d of ds) expect(d).toMatchObject({ status: 'pending', attempts: 0, jobId: bj.json.id });
    // Alice's job.cancelled: her all-events subscription and the operator's all-jobs one (not her job.warning-only one, not bob's).
    const aj = await call(R.jobs!.POST!, 'POST', '/api/v1/jobs', { key: alice.key, body: { image: 'alpine' } });
    await call(R.cancel!.POST!, 'POST', '/x', { key: alice.key, params: { id: aj.json.id } });
    const [aev] = await h.db.select().from(webhookEvents).where(eq(webhookEvents.jobId, aj.json.id));
    const ads = await h.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.eventSeq, aev!.seq));
    expect(ads.map((d) => d.webhookId).sort()).toEqual([mine.id, opAll.id].sort());
    // Nobody wants job.started of bob's jobs: a start writes no event at all.
    const run = await jobRow(bob.id, { status: 'running', startedAt: new Date(), deadlineAt: new Date(Date.now() + 60_000) });
    await audit(h.db, { actor: 'dispatcher', action: 'container.start', targetType: 'job', targetId: run.id, at: new Date(), details: {} });
    expect(await h.db.select().from(webhookEvents).where(eq(webhookEvents.jobId, run.id))).toEqual([]);
  });

  it('no event without its commit: a rolled-back change leaves none', async () => {
    const j = await jobRow(alice.id, { status: 'queued' });
    const before = await rows();
    await expect(
      h.db.transaction(async (tx) => {
        await tx.update(jobs).set({ status: 'cancelled' }).where(eq(jobs.id, j.id));
        await audit(tx, { actor: 'system', action: 'job.cancel', targetType: 'job', targetId: j.id, at: new Date() });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await rows()).toEqual(before);
  });

  it('deliveries: the owner and operators list them; bad queries are 422; others get 404', async () => {
    const d = await call(R.deliveries!.GET!, 'GET', '/x', { key: alice.key, params: { id: mine.id } });
    expect(d.status).toBe(200);
    expect(d.json.deliveries).toHaveLength(1);
    expect(Object.keys(d.json.deliveries[0])).toEqual(expect.arrayContaining(['id', 'event', 'status', 'attempts', 'lastError', 'nextAttemptAt', 'deliveredAt']));
    expect(d.json.deliveries[0]).toMatchObject({ event: 'job.cancelled', status: 'pending', attempts: 0, lastError: null, deliveredAt: null, nextAttemptAt: expect.any(String) });
    const all = await call(R.deliveries!.GET!, 'GET', '/x?limit=1', { key: h.viewer, params: { id: opAll.id } });
    expect(all.json.deliveries).toHaveLength(1);
    expect(all.json.nextCursor).toMatch(/^\d+$/);
    const next = await call(R.deliveries!.GET!, 'GET', `/x?limit=1&cursor=${all.json.nextCursor}`, { key: h.viewer, params: { id: opAll.id } });
    expect(next.json.deliveries).toHaveLength(1);
    expect(next.json.deliveries[0].id).not.toBe(all.json.deliveries[0].id);
    expect((await call(R.deliveries!.GET!, 'GET', '/x?status=failed', { key: h.viewer, params: { id: opAll.id } })).json.deliveries).toEqual([]);
    for (const q of ['status=lost', 'limit=0', 'limit=abc', 'cursor=x1', 'page=2']) {
      expectError(await call(R.deliveries!.GET!, 'GET', `/x?${q}`, { key: h.viewer, params: { id: opAll.id } }), 422);
    }
    expectError(await call(R.deliveries!.GET!, 'GET', '/x', { key: bob.key, params: { id: mine.id } }), 404, 'not_found');
  });

  it('DELETE: the owner or an operator (204, deliveries go too); nobody else', async () => {
    const before = await rows();
    expectError(await call(R.webhook!.DELETE!, 'DELETE', '/x', { key: bob.key, params: { id: mine.id } }), 404, 'not_found');
    expectError(await call(R.webhook!.DELETE!, 'DELETE', '/x', { key: alice.key, params: { id: opAll.id } }), 404, 'not_found');
    expectError(await call(R.webhook!.DELETE!, 'DELETE', '/x', { key: h.viewer, params: { id: opAll.id } }), 403, 'forbidden');
    expectError(await call(R.webhook!.DELETE!, 'DELETE', '/x', { key: h.operator, params: { id: crypto.randomUUID() } }), 404, 'not_found');
    expect(await rows()).toEqual(before);
    const del = await call(R.webhook!.DELETE!, 'DELETE', '/x', { key: alice.key, params: { id: mine.id } });
    expect(del.status).toBe(204);
    expect((await call(R.webhook!.DELETE!, 'DELETE', '/x', { key: h.operator, params: { id: opAll.id } })).status).toBe(204);
    expect(await h.db.select().from(webhookDeliveries).where(eq(webhookDeliveries.webhookId, mine.id))).toEqual([]);
    expectError(await call(R.webhook!.DELETE!, 'DELETE', '/x', { key: alice.key, params: { id: mine.id } }), 404, 'not_found');
    const audited = await h.db.select().from(auditEvents).where(eq(auditEvents.action, 'webhook.delete'));
    expect(audited.map((a) => a.actor).sort()).toEqual([`api:${alice.name}`, 'operator:operator@test.local'].sort());
  });

  it('a user may keep at most 25 subscriptions', async () => {
    const u = await newUser();
    for (let i = 0; i < 25; i++) expect((await create(u.key, { url: `${PUBLIC}/${i}` })).status).toBe(201);
    const before = await rows();
    expectError(await create(u.key, { url: `${PUBLIC}/26` }), 429, 'too_many_webhooks');
    expect(await rows()).toEqual(before);
  });
});

describe('GET /api/v1/me', () => {
  it('the user, plan, effective limits and which rule set each, counts, usage vs quota and the reset', async () => {
    const u = await newUser('free');
    await call(R.userOne!.PUT!, 'PUT', `/api/v1/users/${u.id}`, { key: h.admin, params: { id: u.id }, body: { maxConcurrentJobs: 1, monthlyQuotaSeconds: 600 } });
    await jobRow(u.id, { status: 'running', startedAt: new Date(), deadlineAt: new Date(Date.now() + 60_000) });
    await jobRow(u.id, { status: 'terminating', startedAt: new Date(), deadlineAt: new Date() });
    await jobRow(u.id, { status: 'queued' });
    await jobRow(u.id, { status: 'succeeded', finishedAt: new Date() });
    const now = new Date();
    await h.db.insert(usage).values({ userId: u.id, month: monthKey(now), seconds: 250, jobs: 3 });
    const r = await call(R.me!.GET!, 'GET', '/api/v1/me', { key: u.key });
    expect(r.status, r.text).toBe(200);
    const [plan] = await h.db.execute<{ max_timeout_s: number; default_timeout_s: number; max_queued_jobs: number; grace_period_s: number; warn_before_s: number }>(sql`select * from plans where name = 'free'`);
    expect(r.json).toMatchObject({
      user: { id: u.id, name: u.name },
      plan: 'free',
      limits: {
        maxConcurrentJobs: { value: 1, source: 'user' },
        monthlyQuotaSeconds: { value: 600, source: 'user' },
        maxTimeoutSeconds: { value: plan!.max_timeout_s, source: 'plan' },
        defaultTimeoutSeconds: { value: plan!.default_timeout_s, source: 'plan' },
        maxQueuedJobs: { value: plan!.max_queued_jobs, source: 'plan' },
        gracePeriodSeconds: { value: plan!.grace_period_s, source: 'plan' },
        warnBeforeSeconds: { value: plan!.warn_before_s, source: 'plan' },
      },
      running: 2,
      queued: 1,
      usage: { month: monthKey(now), seconds: 250, jobs: 3, quotaSeconds: 600, remainingSeconds: 350, overQuota: false },
    });
    const resets = Date.parse(r.json.usage.resetsAt);
    expect(new Date(resets).getUTCDate()).toBe(1);
    expect(new Date(resets).getUTCHours()).toBe(0);
    expect(resets).toBeGreaterThan(now.getTime());
    expect(resets - now.getTime()).toBeLessThanOrEqual(31 * 86400_000);
    expect(r.json.usage.secondsUntilReset).toBeGreaterThan(0);
    expect(Math.abs(r.json.usage.secondsUntilReset - (resets - now.getTime()) / 1000)).toBeLessThan(60);
  });
  it('an operator key gets who it is; no key is 401', async () => {
    const r = await call(R.me!.GET!, 'GET', '/api/v1/me', { key: h.viewer });
    expect(r.json).toEqual({ operator: { id: expect.any(String), email: 'viewer@test.local', role: 'viewer' } });
    expectError(await call(R.me!.GET!, 'GET', '/api/v1/me', { key: null }), 401, 'unauthorized');
  });
});

describe('owners extend their running jobs within the cap', () => {
  it('extends up to the cap, never past it, no override; audited as the user; others get 404', async () => {
    const u = await newUser('free');
    await call(R.userOne!.PUT!, 'PUT', `/api/v1/users/${u.id}`, { key: h.admin, params: { id: u.id }, body: { defaultTimeoutSeconds: 60, maxTimeoutSeconds: 100 } });
    const deadline = new Date(Date.now() + 60_000);
    const j = await jobRow(u.id, { status: 'running', timeoutS: 60, startedAt: new Date(), deadlineAt: deadline });
    const ext = (key: string, body: unknown) => call(R.extend!.POST!, 'POST', `/api/v1/jobs/${j.id}/extend`, { key, params: { id: j.id }, body });
    const ok = await ext(u.key, { seconds: 30, reason: 'almost done' });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.json).toMatchObject({ timeoutSeconds: 90, extendedSeconds: 30, deadlineAt: new Date(deadline.getTime() + 30_000).toISOString() });
    const before = await rows();
    const over = await ext(u.key, { seconds: 11 });
    expectError(over, 422, 'timeout_exceeds_cap', 'seconds');
    expect(over.json.error.message).toMatch(/above the maximum of 100s allowed by the per-user limit/);
    expectError(await ext(u.key, { seconds: 11, overrideCap: true, reason: 'please' }), 403, 'forbidden');
    expectError(await ext(bob.key, { seconds: 5 }), 404, 'not_found');
    expectError(await ext(u.key, { seconds: 0 }), 422, undefined, 'seconds');
    expect(await rows()).toEqual(before);
    // Exactly to the cap is fine.
    expect((await ext(u.key, { seconds: 10 })).json.timeoutSeconds).toBe(100);
    const audits = await h.db.select().from(auditEvents).where(and(eq(auditEvents.targetId, j.id), eq(auditEvents.action, 'job.extend')));
    expect(audits.map((a) => a.actor)).toEqual([`api:${u.name}`, `api:${u.name}`]);
    expect(audits[0]).toMatchObject({ reason: 'almost done' });
  });
});

describe('why a queued job waits, through the API', () => {
  it('queuePosition counts from 1 among the user’s queued jobs; waitCode says user_limit or queued_behind; a stored cause wins', async () => {
    const u = await newUser('free');
    await call(R.userOne!.PUT!, 'PUT', `/api/v1/users/${u.id}`, { key: h.admin, params: { id: u.id }, body: { maxConcurrentJobs: 2 } });
    await jobRow(u.id, { status: 'running', startedAt: new Date(), deadlineAt: new Date(Date.now() + 60_000) });
    const t = Date.now() - 10_000;
    const q = [];
    for (let i = 0; i < 3; i++) q.push(await jobRow(u.id, { status: 'queued', queuedAt: new Date(t + i * 1000) }));
    // Another user's queue does not count.
    await jobRow(bob.id, { status: 'queued', queuedAt: new Date(t - 5000) });
    const get = async (id: string) => (await call(R.job!.GET!, 'GET', '/x', { key: u.key, params: { id } })).json;
    expect(await get(q[0]!.id)).toMatchObject({ queuePosition: 1, waitCode: 'queued_behind', waitReason: 'Waiting for the dispatcher: next of this user to start, users are served in turn' });
    expect(await get(q[1]!.id)).toMatchObject({ queuePosition: 2, waitCode: 'user_limit', waitReason: 'Waiting: 1 of 2 concurrent jobs running (per-user limit); 1 earlier job of this user starts first' });
    expect(await get(q[2]!.id)).toMatchObject({ queuePosition: 3, waitCode: 'user_limit' });
    // The running one has none of it.
    const list = await call(R.jobs!.GET!, 'GET', `/api/v1/jobs?user=${u.id}`, { key: h.viewer });
    const byId = new Map(list.json.jobs.map((j: { id: string }) => [j.id, j]));
    expect(list.json.jobs.filter((j: { status: string }) => j.status === 'running')[0]).toMatchObject({ queuePosition: null, waitCode: null, waitReason: null });
    expect(byId.get(q[2]!.id)).toMatchObject({ queuePosition: 3, waitCode: 'user_limit' });
    // The quota, as the dispatcher stores it, wins.
    await h.db.update(jobs).set({ waitCode: 'quota', waitReason: 'Waiting: monthly quota of 60s used (60s this month)' }).where(eq(jobs.id, q[0]!.id));
    expect(await get(q[0]!.id)).toMatchObject({ queuePosition: 1, waitCode: 'quota', waitReason: 'Waiting: monthly quota of 60s used (60s this month)' });
    // A fresh submit answers with its place.
    const s = await call(R.jobs!.POST!, 'POST', '/api/v1/jobs', { key: u.key, body: { image: 'alpine' } });
    expect(s.json).toMatchObject({ status: 'queued', queuePosition: 4, waitCode: 'user_limit' });
    // Once the first starts, everyone moves up.
    await h.db.update(jobs).set({ status: 'running' }).where(eq(jobs.id, q[0]!.id));
    expect(await get(q[1]!.id)).toMatchObject({ queuePosition: 1, waitCode: 'user_limit', waitReason: 'Waiting: 2 of 2 concurrent jobs running (per-user limit)' });
  });

  it('the dashboard Jobs loader (queued tab) and Job page loader show the same', async () => {
    const { loadJobs, loadJobDetail } = await import('../server/dashboard/loaders');
    const op: Actor = { kind: 'operator', id: crypto.randomUUID(), email: 'v@test', role: 'viewer' };
    const u = await newUser('free');
    const a = await jobRow(u.id, { status: 'queued', queuedAt: new Date(Date.now() - 2000) });
    const b = await jobRow(u.id, { status: 'queued' });
    const tab = await loadJobs(h.ctx, op, { tab: 'queued', user: u.id });
    expect(tab.rows.map((r) => [r.id, r.queuePosition, r.waitCode])).toEqual([
      [a.id, 1, 'queued_behind'],
      [b.id, 2, 'queued_behind'],
    ]);
    const d = await loadJobDetail(h.ctx, op, b.id);
    expect(d.job).toMatchObject({ queuePosition: 2, waitCode: 'queued_behind' });
  });
});
