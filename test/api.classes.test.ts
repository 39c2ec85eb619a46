import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, jobs, plans, users } from '../server/db/schema';
import { loadJobDetail } from '../server/dashboard/loaders';
import { finishJob, lockJobWithPlan } from '../server/domain/lifecycle';
import { call, counts, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * Job classes through the real route handlers on a real PostgreSQL: CRUD and who may do it, bad
 * input in the one error shape (changing nothing), and the timeout precedence
 * job → class → user override → plan → 300 s, table-driven through real submits.
 */

let h: ApiHarness;
let classesRoute: { GET: Handler };
let classRoute: { GET: Handler; PUT: Handler; DELETE: Handler };
let jobsRoute: { POST: Handler };
let extendRoute: { POST: Handler };
let usersRoute: { POST: Handler };

const put = (key: string | null, name: string, body: unknown) => call(classRoute.PUT, 'PUT', `/api/v1/classes/${name}`, { key, body, params: { name } });
const get = (key: string | null, name: string) => call(classRoute.GET, 'GET', `/api/v1/classes/${name}`, { key, params: { name } });
const del = (key: string | null, name: string) => call(classRoute.DELETE, 'DELETE', `/api/v1/classes/${name}`, { key, params: { name } });
const submit = (key: string, body: Record<string, unknown>) => call(jobsRoute.POST, 'POST', '/api/v1/jobs', { key, body: { image: 'busybox:1.36', ...body } });

let plain: { id: string; key: string };
let overridden: { id: string; key: string };
let highCap: { id: string; key: string };

async function newUser(plan: string): Promise<{ id: string; key: string }> {
  const r = await call(usersRoute.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: `c-${crypto.randomBytes(4).toString('hex')}`, plan } });
  expect(r.status).toBe(201);
  return { id: r.json.id, key: r.json.apiKey };
}

beforeAll(async () => {
  h = await setupApi();
  classesRoute = (await import('../app/api/v1/classes/route')) as unknown as typeof classesRoute;
  classRoute = (await import('../app/api/v1/classes/[name]/route')) as unknown as typeof classRoute;
  jobsRoute = (await import('../app/api/v1/jobs/route')) as unknown as typeof jobsRoute;
  extendRoute = (await import('../app/api/v1/jobs/[id]/extend/route')) as unknown as typeof extendRoute;
  usersRoute = (await import('../app/api/v1/users/route')) as unknown as typeof usersRoute;
  // A plan with its own default (120 s), cap (900 s), idle timeout and results path.
  await h.db.insert(plans).values({ name: 'cls', defaultTimeoutS: 120, maxTimeoutS: 900, idleTimeoutS: 240, resultsPath: '/plan-out', ttlSucceededS: 1000, maxQueuedJobs: 1000 });
  plain = await newUser('cls');
  overridden = await newUser('cls');
  await h.db.update(users).set({ defaultTimeoutS: 60 }).where(eq(users.id, overridden.id));
  highCap = await newUser('cls');
  await h.db.update(users).set({ maxTimeoutS: 5000 }).where(eq(users.id, highCap.id));
});

afterAll(async () => {
  await h?.close();
});

describe('classes: create, read, replace, delete', () => {
  it('an admin creates (201) and replaces (200) a class; PUT clears what it leaves out; both audited', async () => {
    const r = await put(h.admin, 'build', { description: 'CI builds', defaultTimeoutSeconds: 600, maxTimeoutSeconds: 700, gracePeriodSeconds: 5, idleTimeoutSeconds: 60, ttlSucceededSeconds: 77, resultsPath: '/out' });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ name: 'build', description: 'CI builds', defaultTimeoutSeconds: 600, maxTimeoutSeconds: 700, gracePeriodSeconds: 5, idleTimeoutSeconds: 60, ttlSucceededSeconds: 77, ttlFailedSeconds: null, resultsPath: '/out' });
    const again = await put(h.admin, 'build', { defaultTimeoutSeconds: 600, maxTimeoutSeconds: 700, gracePeriodSeconds: 5, idleTimeoutSeconds: 60, ttlSucceededSeconds: 77, resultsPath: '/out' });
    expect(again.status).toBe(200);
    expect(again.json.description).toBeNull();
    const audits = await h.db.select().from(auditEvents).where(eq(auditEvents.targetType, 'class'));
    expect(audits.map((a) => a.action)).toEqual(['class.create', 'class.update']);
    expect(audits[1]!.details).toMatchObject({ changes: { description: { from: 'CI builds', to: null } } });
    expect((await put(h.admin, 'big', { defaultTimeoutSeconds: 3600 })).status).toBe(201);
  });

  it('everyone reads: viewers and user keys list and get; unknown is 404', async () => {
    for (const key of [h.viewer, plain.key]) {
      const l = await call(classesRoute.GET, 'GET', '/api/v1/classes', { key });
      expect(l.status).toBe(200);
      expect(l.json.classes.map((c: { name: string }) => c.name)).toEqual(['big', 'build']);
      expect((await get(key, 'build')).json.maxTimeoutSeconds).toBe(700);
    }
    expectError(await get(h.viewer, 'nope'), 404, 'not_found');
    expectError(await call(classesRoute.GET, 'GET', '/api/v1/classes', {}), 401);
  });

  it('only admins write: operators, viewers and user keys get 403 and nothing changes', async () => {
    const before = await counts(h.db);
    for (const key of [h.operator, h.viewer, plain.key]) {
      expectError(await put(key, 'build', { defaultTimeoutSeconds: 1 }), 403, 'forbidden');
      expectError(await del(key, 'build'), 403, 'forbidden');
    }
    expect(await counts(h.db)).toEqual(before);
    expect((await get(h.admin, 'build')).json.defaultTimeoutSeconds).toBe(600);
  });

  it('bad input is a 422 naming the field and changes nothing', async () => {
    const before = await counts(h.db);
    const cases: [string, unknown, string, RegExp][] = [
      ['build', { maxTimeoutSeconds: 10 }, 'defaultTimeoutSeconds', /defaultTimeoutSeconds is required/],
      ['build', { defaultTimeoutSeconds: 800, maxTimeoutSeconds: 700 }, 'defaultTimeoutSeconds', /class build: defaultTimeoutSeconds \(800\) must not exceed its maxTimeoutSeconds \(700\)/],
      ['build', { defaultTimeoutSeconds: 60, resultsPath: 'out' }, 'resultsPath', /absolute path/],
      ['build', { defaultTimeoutSeconds: 60, idleTimeoutSeconds: 0 }, 'idleTimeoutSeconds', /at least 1/],
      ['build', { defaultTimeoutSeconds: 60, extra: 1 }, '', /extra|Unrecognized/i],
      ['Bad Name', { defaultTimeoutSeconds: 60 }, 'name', /class names are/],
    ];
    for (const [name, body, field, msg] of cases) {
      const r = await put(h.admin, name, body);
      expectError(r, 422);
      if (field) expect(r.json.error.field).toBe(field);
      expect(r.json.error.message).toMatch(msg);
    }
    expectError(await call(classRoute.PUT, 'PUT', '/api/v1/classes/build', { key: h.admin, params: { name: 'build' }, raw: '{"defaultTimeoutSeconds": ' }), 400, 'invalid_json');
    expect(await counts(h.db)).toEqual(before);
  });

  it('DELETE removes a class (200, then 404); submits naming it are refused', async () => {
    expect((await put(h.admin, 'temp', { defaultTimeoutSeconds: 30 })).status).toBe(201);
    const d = await del(h.admin, 'temp');
    expect(d.status).toBe(200);
    expect(d.json.name).toBe('temp');
    expectError(await del(h.admin, 'temp'), 404);
    const r = await submit(plain.key, { class: 'temp' });
    expectError(r, 422, 'unknown_class', 'class');
  });
});

describe('the timeout precedence through classes, on real submits', () => {
  // Plan cls: default 120 s, cap 900 s. Class build: default 600, cap 700. Class big: default 3600, no cap.
  type Want = { timeoutSeconds: number; timeoutSource: string } | { status: number; code: string; field: string; msg: RegExp };
  const table: { name: string; user: () => { key: string }; body: Record<string, unknown>; want: Want }[] = [
    { name: 'nothing: the plan default', user: () => plain, body: {}, want: { timeoutSeconds: 120, timeoutSource: 'plan' } },
    { name: 'user override beats the plan', user: () => overridden, body: {}, want: { timeoutSeconds: 60, timeoutSource: 'user' } },
    { name: 'class beats the user override', user: () => overridden, body: { class: 'build' }, want: { timeoutSeconds: 600, timeoutSource: 'class' } },
    { name: 'class beats the plan', user: () => plain, body: { class: 'build' }, want: { timeoutSeconds: 600, timeoutSource: 'class' } },
    { name: 'job request beats the class', user: () => plain, body: { class: 'build', timeoutSeconds: 30 }, want: { timeoutSeconds: 30, timeoutSource: 'job' } },
    { name: "request above the class's cap: refused naming it", user: () => plain, body: { class: 'build', timeoutSeconds: 800 }, want: { status: 422, code: 'timeout_exceeds_cap', field: 'timeoutSeconds', msg: /timeoutSeconds 800 exceeds the maximum of 700s allowed by class build/ } },
    { name: 'the same request without the class is fine (plan cap 900)', user: () => plain, body: { timeoutSeconds: 800 }, want: { timeoutSeconds: 800, timeoutSource: 'job' } },
    { name: "class default above the plan's cap: refused naming both", user: () => plain, body: { class: 'big' }, want: { status: 422, code: 'class_exceeds_cap', field: 'class', msg: /class big has a default timeout of 3600s, above the maximum of 900s allowed by plan cls/ } },
    { name: 'a user whose cap is higher may use it', user: () => highCap, body: { class: 'big' }, want: { timeoutSeconds: 3600, timeoutSource: 'class' } },
    { name: 'a class never lifts the cap: a request above the plan cap stays refused', user: () => plain, body: { class: 'big', timeoutSeconds: 1000 }, want: { status: 422, code: 'timeout_exceeds_cap', field: 'timeoutSeconds', msg: /maximum of 900s allowed by plan cls/ } },
  ];
  for (const row of table) {
    it(row.name, async () => {
      const before = await counts(h.db);
      const r = await submit(row.user().key, row.body);
      if ('status' in row.want) {
        expectError(r, row.want.status, row.want.code, row.want.field);
        expect(r.json.error.message).toMatch(row.want.msg);
        expect(await counts(h.db)).toEqual(before);
      } else {
        expect(r.status, r.text).toBe(201);
        expect(r.json).toMatchObject({ ...row.want, class: row.body.class ?? null });
      }
    });
  }

  it("the class's grace, idle timeout and results path apply, else the plan's; the job's own win", async () => {
    const a = await submit(plain.key, { class: 'build' });
    expect(a.json).toMatchObject({ gracePeriodSeconds: 5, idleTimeoutSeconds: 60, resultsPath: '/out' });
    const b = await submit(plain.key, {});
    expect(b.json).toMatchObject({ idleTimeoutSeconds: 240, resultsPath: '/plan-out', class: null });
    const c = await submit(plain.key, { class: 'build', gracePeriodSeconds: 1, idleTimeoutSeconds: 9, resultsPath: '/mine' });
    expect(c.json).toMatchObject({ gracePeriodSeconds: 1, idleTimeoutSeconds: 9, resultsPath: '/mine' });
  });

  it("the class's TTL for the final state applies when the job ends", async () => {
    const r = await submit(plain.key, { class: 'build' });
    const t0 = new Date();
    await h.db.update(jobs).set({ status: 'running', startedAt: t0, deadlineAt: new Date(t0.getTime() + 600_000) }).where(eq(jobs.id, r.json.id));
    const row = await h.db.transaction(async (tx) => {
      const l = (await lockJobWithPlan(tx, r.json.id))!;
      return finishJob(tx, { job: l.job, plan: l.plan, from: ['running'], status: 'succeeded', at: t0, actor: 'dispatcher', action: 'job.succeeded' });
    });
    expect(row!.ttlExpiresAt!.getTime() - t0.getTime()).toBe(77_000); // class 77 s, not the plan's 1000 s
  });

  it("the Job page's limits of a class's job come from its class", async () => {
    const r = await submit(plain.key, { class: 'build' });
    const d = await loadJobDetail(h.ctx, { kind: 'system', name: 'cli' }, r.json.id);
    expect(d.job).toMatchObject({ class: 'build', timeoutSource: 'class' });
    expect(d.limits).toMatchObject({ maxTimeoutSeconds: 700, maxTimeoutFrom: 'class', gracePeriodSeconds: 5 });
  });

  it("extending a job of a class is capped by the class's max", async () => {
    const r = await submit(plain.key, { class: 'build', timeoutSeconds: 600 });
    const t0 = new Date();
    await h.db.update(jobs).set({ status: 'running', startedAt: t0, deadlineAt: new Date(t0.getTime() + 600_000) }).where(eq(jobs.id, r.json.id));
    const over = await call(extendRoute.POST, 'POST', '/x', { key: h.operator, params: { id: r.json.id }, body: { seconds: 200 } });
    expectError(over, 422, 'timeout_exceeds_cap', 'seconds');
    expect(over.json.error.message).toMatch(/above the maximum of 700s allowed by class build/);
    const ok = await call(extendRoute.POST, 'POST', '/x', { key: h.operator, params: { id: r.json.id }, body: { seconds: 100 } });
    expect(ok.status).toBe(200);
    expect(ok.json.timeoutSeconds).toBe(700);
  });
});
