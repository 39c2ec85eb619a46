import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, counts, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * Operator routes through the real handlers: plans (GET/PUT with validation), users (create,
 * duplicate, update, keys), audit. Roles: viewer reads, admin edits; user keys get 403.
 */

let h: ApiHarness;
let planRoute: { GET: Handler; PUT: Handler };
let usersRoute: { GET: Handler; POST: Handler };
let userRoute: { GET: Handler; PUT: Handler };
let keysRoute: { POST: Handler };
let jobsRoute: { POST: Handler };
let auditRoute: { GET: Handler };
let userKey: string;
let userId: string;

beforeAll(async () => {
  h = await setupApi();
  planRoute = (await import('../app/api/v1/plans/[name]/route')) as unknown as typeof planRoute;
  usersRoute = (await import('../app/api/v1/users/route')) as unknown as typeof usersRoute;
  userRoute = (await import('../app/api/v1/users/[id]/route')) as unknown as typeof userRoute;
  keysRoute = (await import('../app/api/v1/users/[id]/keys/route')) as unknown as typeof keysRoute;
  jobsRoute = (await import('../app/api/v1/jobs/route')) as unknown as typeof jobsRoute;
  auditRoute = (await import('../app/api/v1/audit/route')) as unknown as typeof auditRoute;
  const r = await call(usersRoute.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: 'carol', plan: 'free' } });
  expect(r.status).toBe(201);
  userKey = r.json.apiKey;
  userId = r.json.id;
});

afterAll(async () => {
  await h?.close();
});

const putPlan = (name: string, body: unknown, key = h.admin) => call(planRoute.PUT, 'PUT', `/api/v1/plans/${name}`, { key, params: { name }, body });

describe('plans', () => {
  it('GET /api/v1/plans lists every plan for viewers; user keys are refused', async () => {
    const list = (await import('../app/api/v1/plans/route')) as unknown as { GET: Handler };
    const r = await call(list.GET, 'GET', '/api/v1/plans', { key: h.viewer });
    expect(r.status).toBe(200);
    expect(r.json.plans.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['free', 'pro', 'enterprise']));
    expectError(await call(list.GET, 'GET', '/api/v1/plans', { key: userKey }), 403, 'forbidden');
    expectError(await call(list.GET, 'GET', '/api/v1/plans'), 401, 'unauthorized');
  });

  it('an unknown API path answers 404 in the error shape', async () => {
    const unknown = (await import('../app/api/[...path]/route')) as unknown as Record<string, Handler>;
    for (const m of ['GET', 'POST', 'PUT', 'DELETE']) {
      const r = await call(unknown[m]!, m, '/api/v1/nope');
      expectError(r, 404, 'not_found');
      expect(r.json.error.message).toBe(`No API route ${m} /api/v1/nope`);
    }
  });

  it('GET a seeded plan in camelCase; unknown → 404; viewers may read, user keys may not', async () => {
    const r = await call(planRoute.GET, 'GET', '/api/v1/plans/free', { key: h.viewer, params: { name: 'free' } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'free', defaultTimeoutSeconds: 300, maxTimeoutSeconds: 900, maxConcurrentJobs: 2, maxQueuedJobs: 20, gracePeriodSeconds: 10 });
    expectError(await call(planRoute.GET, 'GET', '/x', { key: h.viewer, params: { name: 'nope' } }), 404, 'not_found');
    expectError(await call(planRoute.GET, 'GET', '/x', { key: userKey, params: { name: 'free' } }), 403, 'forbidden');
  });

  it('PUT creates (201) then updates (200), audited with what changed', async () => {
    const before = await counts(h.db);
    const c = await putPlan('team', { defaultTimeoutSeconds: 120, maxTimeoutSeconds: 600, maxConcurrentJobs: 4, monthlyQuotaSeconds: null, cpus: 0.5, memoryMb: 256 });
    expect(c.status).toBe(201);
    expect(c.json).toMatchObject({ name: 'team', defaultTimeoutSeconds: 120, maxTimeoutSeconds: 600, maxConcurrentJobs: 4, monthlyQuotaSeconds: null, cpus: 0.5, memoryMb: 256 });
    const u = await putPlan('team', { maxConcurrentJobs: 6 });
    expect(u.status).toBe(200);
    expect(u.json).toMatchObject({ maxConcurrentJobs: 6, defaultTimeoutSeconds: 120 });
    const after = await counts(h.db);
    expect(after.plans).toBe(before.plans + 1);
    expect(after.audit).toBe(before.audit + 2);
    // No-op update: nothing written.
    expect((await putPlan('team', { maxConcurrentJobs: 6 })).status).toBe(200);
    expect(await counts(h.db)).toEqual(after);
  });

  const bad: { name: string; plan?: string; body?: unknown; raw?: string; status: number; field?: string; code?: string }[] = [
    { name: 'default > max on create', plan: 'newplan', body: { defaultTimeoutSeconds: 1000, maxTimeoutSeconds: 900 }, status: 422, field: 'defaultTimeoutSeconds' },
    { name: 'default > max on update (against the stored max)', body: { defaultTimeoutSeconds: 901 }, status: 422, field: 'defaultTimeoutSeconds' },
    { name: 'max below the stored default', body: { maxTimeoutSeconds: 299 }, status: 422, field: 'defaultTimeoutSeconds' },
    { name: 'negative', body: { maxConcurrentJobs: -1 }, status: 422, field: 'maxConcurrentJobs' },
    { name: 'zero timeout', body: { defaultTimeoutSeconds: 0 }, status: 422, field: 'defaultTimeoutSeconds' },
    { name: 'fractional', body: { maxQueuedJobs: 2.5 }, status: 422, field: 'maxQueuedJobs' },
    { name: 'huge', body: { maxTimeoutSeconds: 1e12 }, status: 422, field: 'maxTimeoutSeconds' },
    { name: 'string number', body: { maxConcurrentJobs: '5' }, status: 422, field: 'maxConcurrentJobs' },
    { name: 'null for a required limit', body: { maxConcurrentJobs: null }, status: 422, field: 'maxConcurrentJobs' },
    { name: 'cpus zero', body: { cpus: 0 }, status: 422, field: 'cpus' },
    { name: 'memory below Docker minimum', body: { memoryMb: 1 }, status: 422, field: 'memoryMb' },
    { name: 'snake_case field', body: { max_timeout_s: 10 }, status: 422 },
    { name: 'unknown field', body: { priority: 1 }, status: 422 },
    { name: 'malformed JSON', raw: '{"maxRetries": }', status: 400, code: 'invalid_json' },
    { name: 'array body', raw: '[]', status: 400, code: 'invalid_json' },
    { name: 'bad plan name (spaces, caps)', plan: 'Bad Name', body: { maxRetries: 1 }, status: 422, field: 'name' },
    { name: 'plan name too long', plan: 'p'.repeat(64), body: {}, status: 422, field: 'name' },
  ];
  for (const c of bad) {
    it(`PUT rejects: ${c.name}; nothing changes`, async () => {
      const name = c.plan ?? 'free';
      const before = await counts(h.db);
      const planBefore = (await call(planRoute.GET, 'GET', '/x', { key: h.admin, params: { name: 'free' } })).json;
      const r = await call(planRoute.PUT, 'PUT', `/api/v1/plans/${name}`, { key: h.admin, params: { name }, body: c.body, raw: c.raw });
      expectError(r, c.status, c.code, c.field);
      expect(await counts(h.db)).toEqual(before);
      expect((await call(planRoute.GET, 'GET', '/x', { key: h.admin, params: { name: 'free' } })).json).toEqual(planBefore);
    });
  }

  it('only admins edit plans', async () => {
    const before = await counts(h.db);
    expectError(await putPlan('free', { maxRetries: 2 }, h.operator), 403, 'forbidden');
    expectError(await putPlan('free', { maxRetries: 2 }, h.viewer), 403, 'forbidden');
    expectError(await putPlan('free', { maxRetries: 2 }, userKey), 403, 'forbidden');
    expectError(await call(planRoute.PUT, 'PUT', '/x', { params: { name: 'free' }, body: { maxRetries: 2 } }), 401, 'unauthorized');
    expect(await counts(h.db)).toEqual(before);
  });

  it('concurrent creates of one new plan: one 201, the rest 200 or 409, never a 500', async () => {
    const rs = await Promise.all(Array.from({ length: 6 }, () => putPlan('racy', { maxConcurrentJobs: 3 })));
    expect(rs.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of rs) expect([200, 201, 409]).toContain(r.status);
  });
});

describe('users and keys', () => {
  it('POST creates a user with a key shown once; the key works; the list shows it', async () => {
    const before = await counts(h.db);
    const r = await call(usersRoute.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: 'dave', plan: 'pro' } });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ name: 'dave', plan: 'pro', limits: { maxConcurrentJobs: 10 } });
    expect(r.json.apiKey).toMatch(/^wd_u_/);
    const after = await counts(h.db);
    expect(after).toMatchObject({ users: before.users + 1, keys: before.keys + 1, audit: before.audit + 1 });
    // The key authenticates as that user.
    const j = await call(jobsRoute.POST, 'POST', '/api/v1/jobs', { key: r.json.apiKey, body: { image: 'alpine' } });
    expect(j.status).toBe(201);
    expect(j.json.userId).toBe(r.json.id);
    const list = await call(usersRoute.GET, 'GET', '/api/v1/users', { key: h.viewer });
    const dave = list.json.users.find((u: { name: string }) => u.name === 'dave');
    expect(dave).toMatchObject({ plan: 'pro', queued: 1, running: 0, usageSecondsThisMonth: 0 });
    expect(dave).not.toHaveProperty('apiKey');
    const one = await call(userRoute.GET, 'GET', '/x', { key: h.viewer, params: { id: r.json.id } });
    expect(one.json).toMatchObject({ id: r.json.id, name: 'dave' });
    expect(one.json).not.toHaveProperty('apiKey');
  });

  it('duplicate name → 409; unknown plan, bad names, missing fields → 422; nothing written', async () => {
    const before = await counts(h.db);
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.admin, body: { name: 'carol', plan: 'pro' } }), 409, 'already_exists');
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.admin, body: { name: 'erin', plan: 'platinum' } }), 422, 'unknown_plan', 'plan');
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.admin, body: { name: 'erin' } }), 422, undefined, 'plan');
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.admin, body: { plan: 'free' } }), 422, undefined, 'name');
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.admin, body: { name: '', plan: 'free' } }), 422, undefined, 'name');
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.admin, body: { name: 'has space', plan: 'free' } }), 422, undefined, 'name');
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.admin, body: { name: 'x'.repeat(1 << 20), plan: 'free' } }), 413, 'body_too_large');
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.admin, body: { name: 'x'.repeat(1000), plan: 'free' } }), 422, undefined, 'name');
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.admin, body: { name: 5, plan: 'free' } }), 422, undefined, 'name');
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.admin, raw: 'name=erin&plan=free' }), 400, 'invalid_json');
    expectError(await call(usersRoute.POST, 'POST', '/x', { key: h.operator, body: { name: 'erin', plan: 'free' } }), 403, 'forbidden');
    expectError(await call(usersRoute.GET, 'GET', '/x', { key: userKey }), 403, 'forbidden');
    expect(await counts(h.db)).toEqual(before);
  });

  it('concurrent creates of one name: exactly one 201, the rest 409', async () => {
    const rs = await Promise.all(Array.from({ length: 6 }, () => call(usersRoute.POST, 'POST', '/x', { key: h.admin, body: { name: 'twin', plan: 'free' } })));
    expect(rs.filter((r) => r.status === 201)).toHaveLength(1);
    expect(rs.filter((r) => r.status === 409)).toHaveLength(5);
  });

  it('PUT changes plan and overrides (null clears); validations are 422 and write nothing', async () => {
    const put = (body: unknown, id = userId, key = h.admin) => call(userRoute.PUT, 'PUT', `/api/v1/users/${id}`, { key, params: { id }, body });
    const r = await put({ plan: 'pro', maxConcurrentJobs: 3 });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ plan: 'pro', overrides: { maxConcurrentJobs: 3 }, limits: { maxConcurrentJobs: 3, maxTimeoutSeconds: 7200 } });
    expect((await put({ maxConcurrentJobs: null })).json).toMatchObject({ overrides: { maxConcurrentJobs: null }, limits: { maxConcurrentJobs: 10 } });

    const before = await counts(h.db);
    expectError(await put({ defaultTimeoutSeconds: 8000 }), 422, undefined, 'defaultTimeoutSeconds'); // pro max 7200
    expectError(await put({ defaultTimeoutSeconds: 100, maxTimeoutSeconds: 50 }), 422, undefined, 'defaultTimeoutSeconds');
    expectError(await put({ maxTimeoutSeconds: 600 }), 422, undefined, 'defaultTimeoutSeconds'); // pro default 900 > 600
    expectError(await put({ maxConcurrentJobs: -1 }), 422, undefined, 'maxConcurrentJobs');
    expectError(await put({ maxQueuedJobs: 1.5 }), 422, undefined, 'maxQueuedJobs');
    expectError(await put({ plan: 'platinum' }), 422, 'unknown_plan', 'plan');
    expectError(await put({ name: 'renamed' }), 422);
    expectError(await put({ maxConcurrentJobs: 1 }, 'not-a-uuid'), 404, 'not_found');
    expectError(await put({ maxConcurrentJobs: 1 }, '-'.repeat(36)), 404, 'not_found');
    expectError(await put({ maxConcurrentJobs: 1 }, crypto.randomUUID()), 404, 'not_found');
    expectError(await put({ maxConcurrentJobs: 1 }, userId, h.operator), 403, 'forbidden');
    expect(await counts(h.db)).toEqual(before);
  });

  it('POST /users/:id/keys: a new key (201) that works alongside the old; unknown user 404; admin only', async () => {
    const before = await counts(h.db);
    const r = await call(keysRoute.POST, 'POST', '/x', { key: h.admin, params: { id: userId } });
    expect(r.status).toBe(201);
    expect(r.json.apiKey).toMatch(/^wd_u_/);
    expect(r.json.prefix).toBe(r.json.apiKey.slice(0, 10));
    expect(await counts(h.db)).toMatchObject({ keys: before.keys + 1, audit: before.audit + 1 });
    for (const k of [r.json.apiKey, userKey]) {
      const j = await call(jobsRoute.POST, 'POST', '/api/v1/jobs', { key: k, body: { image: 'alpine' } });
      expect(j.status).toBe(201);
      expect(j.json.userId).toBe(userId);
    }
    const mid = await counts(h.db);
    expectError(await call(keysRoute.POST, 'POST', '/x', { key: h.admin, params: { id: crypto.randomUUID() } }), 404, 'not_found');
    expectError(await call(keysRoute.POST, 'POST', '/x', { key: h.admin, params: { id: 'nope' } }), 404, 'not_found');
    expectError(await call(keysRoute.POST, 'POST', '/x', { key: h.operator, params: { id: userId } }), 403, 'forbidden');
    expectError(await call(keysRoute.POST, 'POST', '/x', { key: userKey, params: { id: userId } }), 403, 'forbidden');
    expect(await counts(h.db)).toEqual(mid);
  });
});

describe('audit', () => {
  it('operators read the audit log; user keys may not', async () => {
    const r = await call(auditRoute.GET, 'GET', '/api/v1/audit?limit=5', { key: h.viewer });
    expect(r.status).toBe(200);
    expect(r.json.events.length).toBeGreaterThan(0);
    expectError(await call(auditRoute.GET, 'GET', '/api/v1/audit', { key: userKey }), 403, 'forbidden');
    for (const q of ['limit=0', 'limit=x', 'cursor=-1', 'cursor=abc', 'bogus=1', `q=${'x'.repeat(300)}`]) {
      expectError(await call(auditRoute.GET, 'GET', `/api/v1/audit?${q}`, { key: h.viewer }), 422);
    }
    expectError(await call(auditRoute.GET, 'GET', '/api/v1/audit?cursor=1e20', { key: h.viewer }), 422);
  });
});

describe('errorResponse safety net', () => {
  it('a database data error (as Drizzle throws it) is a 422 in the error shape; a unique violation a 409; anything else a bare 500', async () => {
    const { errorResponse } = await import('../server/http');
    const { users } = await import('../server/db/schema');
    const { eq } = await import('drizzle-orm');
    const asResult = async (res: Response) => {
      const text = await res.text();
      return { status: res.status, text, json: JSON.parse(text), headers: res.headers };
    };
    const badUuid = await h.db.select().from(users).where(eq(users.id, 'not-a-uuid')).catch((e: unknown) => e);
    expectError(await asResult(errorResponse(badUuid)), 422, 'invalid_input');
    const dup = await h.db.insert(users).values({ name: 'carol', planId: 1 }).catch((e: unknown) => e);
    expectError(await asResult(errorResponse(dup)), 409, 'conflict');
    const other = await asResult(errorResponse(new Error('secret detail at /srv/app.ts:12')));
    expectError(other, 500, 'internal');
    expect(other.text).not.toContain('secret');
  });
});
