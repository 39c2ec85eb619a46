import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobs } from '../server/db/schema';
import { call, counts, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * /api/v1/jobs* through the real route handlers on a real PostgreSQL: bad input of every kind
 * is a 4xx in the one error shape and writes nothing; keys see only what they may.
 */

let h: ApiHarness;
let jobsRoute: { GET: Handler; POST: Handler };
let jobRoute: { GET: Handler };
let cancelRoute: { POST: Handler };
let logsRoute: { GET: Handler };
let killRoute: { POST: Handler };
let extendRoute: { POST: Handler };
let usersRoute: { POST: Handler };
let userRoute: { PUT: Handler };

/** A user made through the API, with its key. */
async function newUser(plan = 'free'): Promise<{ id: string; key: string; name: string }> {
  const name = `u-${crypto.randomBytes(4).toString('hex')}`;
  const r = await call(usersRoute.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name, plan } });
  expect(r.status).toBe(201);
  return { id: r.json.id, key: r.json.apiKey, name };
}

const submit = (key: string | null, body: unknown, query = '') => call(jobsRoute.POST, 'POST', `/api/v1/jobs${query}`, { key, body });

let alice: { id: string; key: string; name: string };
let bob: { id: string; key: string; name: string };
let aliceJob: string;

beforeAll(async () => {
  h = await setupApi();
  jobsRoute = (await import('../app/api/v1/jobs/route')) as unknown as typeof jobsRoute;
  jobRoute = (await import('../app/api/v1/jobs/[id]/route')) as unknown as typeof jobRoute;
  cancelRoute = (await import('../app/api/v1/jobs/[id]/cancel/route')) as unknown as typeof cancelRoute;
  logsRoute = (await import('../app/api/v1/jobs/[id]/logs/route')) as unknown as typeof logsRoute;
  killRoute = (await import('../app/api/v1/jobs/[id]/kill/route')) as unknown as typeof killRoute;
  extendRoute = (await import('../app/api/v1/jobs/[id]/extend/route')) as unknown as typeof extendRoute;
  usersRoute = (await import('../app/api/v1/users/route')) as unknown as typeof usersRoute;
  userRoute = (await import('../app/api/v1/users/[id]/route')) as unknown as typeof userRoute;
  alice = await newUser();
  bob = await newUser();
  const r = await submit(alice.key, { image: 'busybox:1.36', command: ['echo', 'hi'], name: 'first' });
  expect(r.status).toBe(201);
  aliceJob = r.json.id;
});

afterAll(async () => {
  await h?.close();
});

describe('POST /api/v1/jobs: a good submit', () => {
  it('201 with the job in camelCase, a Location header, the plan default timeout and an audit row', async () => {
    const before = await counts(h.db);
    const r = await submit(alice.key, {
      image: 'registry.example.com:5000/team/tool:1.2.3',
      command: ['sh', '-c', 'echo ok'],
      name: '  nightly  ',
      env: { FOO: 'bar' },
      labels: { team: 'data' },
      gracePeriodSeconds: 5,
      ttlSecondsAfterFinished: 60,
      maxRetries: 1,
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe(`/api/v1/jobs/${r.json.id}`);
    for (const k of ['id', 'userId', 'name', 'image', 'command', 'status', 'exitCode', 'reason', 'attempt', 'queuedAt', 'startedAt', 'finishedAt', 'deadlineAt', 'timeoutSeconds', 'timeoutSource', 'gracePeriodSeconds', 'ttlSecondsAfterFinished', 'extendedSeconds', 'containerId', 'parentId', 'labels']) {
      expect(r.json, k).toHaveProperty(k);
    }
    expect(r.json).toMatchObject({
      userId: alice.id,
      name: 'nightly',
      status: 'queued',
      attempt: 1,
      timeoutSeconds: 300,
      timeoutSource: 'plan',
      gracePeriodSeconds: 5,
      ttlSecondsAfterFinished: 60,
      extendedSeconds: 0,
      exitCode: null,
      containerId: null,
      parentId: null,
      labels: { team: 'data' },
    });
    expect(r.json).not.toHaveProperty('env'); // secrets stay in the database
    const after = await counts(h.db);
    expect(after.jobs).toBe(before.jobs + 1);
    expect(after.audit).toBe(before.audit + 1);
  });

  it('an operator submits on behalf of a user with ?user=<id>', async () => {
    const r = await submit(h.operator, { image: 'alpine:3.20' }, `?user=${bob.id}`);
    expect(r.status).toBe(201);
    expect(r.json.userId).toBe(bob.id);
  });

  it('a child job of the same user is accepted', async () => {
    const r = await submit(alice.key, { image: 'alpine', parentId: aliceJob });
    expect(r.status).toBe(201);
    expect(r.json.parentId).toBe(aliceJob);
  });
});

describe('POST /api/v1/jobs: bad input is a 4xx in the error shape and writes nothing', () => {
  const MB = 1024 * 1024;
  const cases: { name: string; raw?: string; body?: unknown; status: number; code?: string; field?: string; query?: string }[] = [
    { name: 'malformed JSON', raw: '{"image": "alpine",', status: 400, code: 'invalid_json' },
    { name: 'empty body', raw: '', status: 400, code: 'invalid_json' },
    { name: 'whitespace body', raw: '   \n', status: 400, code: 'invalid_json' },
    { name: 'JSON array', raw: '[{"image":"alpine"}]', status: 400, code: 'invalid_json' },
    { name: 'JSON string', raw: '"alpine"', status: 400, code: 'invalid_json' },
    { name: 'JSON null', raw: 'null', status: 400, code: 'invalid_json' },
    { name: 'JSON number', raw: '42', status: 400, code: 'invalid_json' },
    { name: 'body over 2 MB', raw: JSON.stringify({ image: 'alpine', name: 'x'.repeat(3 * MB) }), status: 413, code: 'body_too_large' },
    { name: 'body just over the 256 KiB submit limit', raw: JSON.stringify({ image: 'alpine', name: 'x'.repeat(256 * 1024) }), status: 413, code: 'body_too_large' },
    { name: 'missing image', body: {}, status: 422, field: 'image' },
    { name: 'image null', body: { image: null }, status: 422, field: 'image' },
    { name: 'image number', body: { image: 42 }, status: 422, field: 'image' },
    { name: 'image empty', body: { image: '' }, status: 422, field: 'image' },
    { name: 'image not a reference', body: { image: 'Not An Image!' }, status: 422, field: 'image' },
    { name: 'image with shell', body: { image: 'alpine; rm -rf /' }, status: 422, field: 'image' },
    { name: 'image too long', body: { image: `a/${'b'.repeat(300)}` }, status: 422, field: 'image' },
    { name: 'command a string', body: { image: 'alpine', command: 'echo hi' }, status: 422, field: 'command' },
    { name: 'command of numbers', body: { image: 'alpine', command: [1, 2] }, status: 422, field: 'command.0' },
    { name: 'command too many args', body: { image: 'alpine', command: Array(300).fill('x') }, status: 422, field: 'command' },
    { name: 'name a number', body: { image: 'alpine', name: 7 }, status: 422, field: 'name' },
    { name: 'name blank', body: { image: 'alpine', name: '   ' }, status: 422, field: 'name' },
    { name: 'a 100 KB name', body: { image: 'alpine', name: 'n'.repeat(100_000) }, status: 422, field: 'name' },
    { name: 'timeoutSeconds negative', body: { image: 'alpine', timeoutSeconds: -5 }, status: 422, field: 'timeoutSeconds' },
    { name: 'timeoutSeconds zero', body: { image: 'alpine', timeoutSeconds: 0 }, status: 422, field: 'timeoutSeconds' },
    { name: 'timeoutSeconds fractional', body: { image: 'alpine', timeoutSeconds: 1.5 }, status: 422, field: 'timeoutSeconds' },
    { name: 'timeoutSeconds a string', body: { image: 'alpine', timeoutSeconds: '60' }, status: 422, field: 'timeoutSeconds' },
    { name: 'timeoutSeconds a boolean', body: { image: 'alpine', timeoutSeconds: true }, status: 422, field: 'timeoutSeconds' },
    { name: 'timeoutSeconds null', body: { image: 'alpine', timeoutSeconds: null }, status: 422, field: 'timeoutSeconds' },
    { name: 'timeoutSeconds huge (1e308)', raw: '{"image":"alpine","timeoutSeconds":1e308}', status: 422, field: 'timeoutSeconds' },
    { name: 'timeoutSeconds overflows to Infinity', raw: '{"image":"alpine","timeoutSeconds":1e999}', status: 422, field: 'timeoutSeconds' },
    { name: 'timeoutSeconds beyond 2^53', body: { image: 'alpine', timeoutSeconds: 2 ** 60 }, status: 422, field: 'timeoutSeconds' },
    { name: 'gracePeriodSeconds negative', body: { image: 'alpine', gracePeriodSeconds: -1 }, status: 422, field: 'gracePeriodSeconds' },
    { name: 'gracePeriodSeconds fractional', body: { image: 'alpine', gracePeriodSeconds: 0.5 }, status: 422, field: 'gracePeriodSeconds' },
    { name: 'gracePeriodSeconds huge', body: { image: 'alpine', gracePeriodSeconds: 1e9 }, status: 422, field: 'gracePeriodSeconds' },
    { name: 'ttlSecondsAfterFinished negative', body: { image: 'alpine', ttlSecondsAfterFinished: -1 }, status: 422, field: 'ttlSecondsAfterFinished' },
    { name: 'ttlSecondsAfterFinished huge', body: { image: 'alpine', ttlSecondsAfterFinished: 1e15 }, status: 422, field: 'ttlSecondsAfterFinished' },
    { name: 'maxRetries negative', body: { image: 'alpine', maxRetries: -1 }, status: 422, field: 'maxRetries' },
    { name: 'maxRetries fractional', body: { image: 'alpine', maxRetries: 0.5 }, status: 422, field: 'maxRetries' },
    { name: 'maxRetries above the plan (free: 1)', body: { image: 'alpine', maxRetries: 2 }, status: 422, field: 'maxRetries' },
    { name: 'env not an object', body: { image: 'alpine', env: ['A=1'] }, status: 422, field: 'env' },
    { name: 'env bad name', body: { image: 'alpine', env: { '1BAD': 'x' } }, status: 422 },
    { name: 'env non-string value', body: { image: 'alpine', env: { A: 1 } }, status: 422, field: 'env.A' },
    { name: 'labels reserved prefix', body: { image: 'alpine', labels: { 'warden.job': 'x' } }, status: 422 },
    { name: 'labels too many', body: { image: 'alpine', labels: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) }, status: 422, field: 'labels' },
    { name: 'unknown field', body: { image: 'alpine', priority: 10 }, status: 422 },
    { name: '__proto__ key', raw: '{"image":"alpine","__proto__":{"timeoutSeconds":99999}}', status: 422 },
    // zod's record parser drops this key without a word; docs/SECURITY.md says it is refused.
    { name: 'labels with a __proto__ key', raw: '{"image":"alpine","labels":{"__proto__":"x"}}', status: 422, code: 'validation_failed', field: 'labels' },
    { name: 'env with a __proto__ key', raw: '{"image":"alpine","env":{"__proto__":"x"}}', status: 422, code: 'validation_failed', field: 'env' },
    { name: 'idleTimeoutSeconds above the timeout cap (free: 900)', body: { image: 'alpine', idleTimeoutSeconds: 901 }, status: 422, code: 'idle_timeout_exceeds_cap', field: 'idleTimeoutSeconds' },
    { name: 'idleTimeoutSeconds of 2^31-1', body: { image: 'alpine', idleTimeoutSeconds: 2147483647 }, status: 422, code: 'idle_timeout_exceeds_cap', field: 'idleTimeoutSeconds' },
    { name: 'parentId not a uuid', body: { image: 'alpine', parentId: 'abc' }, status: 422, field: 'parentId' },
    { name: 'unknown parent', body: { image: 'alpine', parentId: crypto.randomUUID() }, status: 422, code: 'unknown_parent', field: 'parentId' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const before = await counts(h.db);
      const r = await call(jobsRoute.POST, 'POST', `/api/v1/jobs${c.query ?? ''}`, { key: alice.key, raw: c.raw, body: c.body });
      expectError(r, c.status, c.code, c.field);
      expect(await counts(h.db)).toEqual(before);
    });
  }

  it("another user's job is not a valid parent (no probing: same answer as unknown)", async () => {
    const before = await counts(h.db);
    const r = await submit(bob.key, { image: 'alpine', parentId: aliceJob });
    expectError(r, 422, 'unknown_parent', 'parentId');
    expect(await counts(h.db)).toEqual(before);
  });

  it('a parent that has ended is a 409', async () => {
    const p = await submit(alice.key, { image: 'alpine' });
    expect((await call(cancelRoute.POST, 'POST', `/api/v1/jobs/${p.json.id}/cancel`, { key: alice.key, params: { id: p.json.id } })).status).toBe(200);
    const before = await counts(h.db);
    expectError(await submit(alice.key, { image: 'alpine', parentId: p.json.id }), 409, 'parent_ended');
    expect(await counts(h.db)).toEqual(before);
  });

  it('operator submit: missing, malformed or unknown ?user=', async () => {
    const before = await counts(h.db);
    expectError(await submit(h.operator, { image: 'alpine' }), 422, undefined, 'user');
    expectError(await submit(h.operator, { image: 'alpine' }, '?user=not-a-uuid'), 422, undefined, 'user');
    expectError(await submit(h.operator, { image: 'alpine' }, `?user=${'-'.repeat(36)}`), 422, undefined, 'user');
    expectError(await submit(h.operator, { image: 'alpine' }, `?user=${crypto.randomUUID()}`), 404, 'not_found');
    // An operator cannot hang a job of one user under another user's job either.
    expectError(await submit(h.operator, { image: 'alpine', parentId: aliceJob }, `?user=${bob.id}`), 422, 'unknown_parent', 'parentId');
    expectError(await submit(h.viewer, { image: 'alpine' }, `?user=${bob.id}`), 403, 'forbidden');
    expect(await counts(h.db)).toEqual(before);
  });
});

describe('timeouts through the API: precedence and the cap', () => {
  it('job > user override > plan default, and a request above the cap is a 422 naming the cap', async () => {
    const u = await newUser('free'); // free: default 300, max 900
    expect((await submit(u.key, { image: 'alpine' })).json).toMatchObject({ timeoutSeconds: 300, timeoutSource: 'plan' });
    const put = await call(userRoute.PUT, 'PUT', `/api/v1/users/${u.id}`, { key: h.admin, params: { id: u.id }, body: { defaultTimeoutSeconds: 60 } });
    expect(put.status).toBe(200);
    expect((await submit(u.key, { image: 'alpine' })).json).toMatchObject({ timeoutSeconds: 60, timeoutSource: 'user' });
    expect((await submit(u.key, { image: 'alpine', timeoutSeconds: 30 })).json).toMatchObject({ timeoutSeconds: 30, timeoutSource: 'job' });
    expect((await submit(u.key, { image: 'alpine', timeoutSeconds: 900 })).json).toMatchObject({ timeoutSeconds: 900, timeoutSource: 'job' });

    const before = await counts(h.db);
    const over = await submit(u.key, { image: 'alpine', timeoutSeconds: 901 });
    expectError(over, 422, 'timeout_exceeds_cap', 'timeoutSeconds');
    expect(over.json.error.message).toMatch(/900s/);
    expect(over.json.error.message).toMatch(/plan free/);
    // Far above the cap (but a sane integer): still named, never clamped.
    const far = await submit(u.key, { image: 'alpine', timeoutSeconds: 10_000_000 });
    expectError(far, 422, 'timeout_exceeds_cap', 'timeoutSeconds');
    expect(far.json.error.message).toMatch(/maximum of 900s allowed by plan free/);
    expect(await counts(h.db)).toEqual(before);

    // A per-user cap replaces the plan's and is named as such.
    expect((await call(userRoute.PUT, 'PUT', `/api/v1/users/${u.id}`, { key: h.admin, params: { id: u.id }, body: { maxTimeoutSeconds: 100 } })).status).toBe(200);
    const capped = await submit(u.key, { image: 'alpine', timeoutSeconds: 101 });
    expectError(capped, 422, 'timeout_exceeds_cap', 'timeoutSeconds');
    expect(capped.json.error.message).toMatch(/maximum of 100s allowed by your per-user limit/);
    expect((await submit(u.key, { image: 'alpine', timeoutSeconds: 100 })).status).toBe(201);
  });
});

describe('idle timeout: capped like the other knobs', () => {
  it('above the cap is a 422 naming it (plan, then a per-user cap); at the cap it is stored', async () => {
    const u = await newUser('free'); // free: max 900
    const before = await counts(h.db);
    const over = await submit(u.key, { image: 'alpine', idleTimeoutSeconds: 2147483647 });
    expectError(over, 422, 'idle_timeout_exceeds_cap', 'idleTimeoutSeconds');
    expect(over.json.error.message).toMatch(/idleTimeoutSeconds 2147483647 exceeds the maximum of 900s allowed by plan free/);
    expect(await counts(h.db)).toEqual(before);
    expect((await submit(u.key, { image: 'alpine', idleTimeoutSeconds: 900 })).json).toMatchObject({ idleTimeoutSeconds: 900 });
    expect((await call(userRoute.PUT, 'PUT', `/api/v1/users/${u.id}`, { key: h.admin, params: { id: u.id }, body: { defaultTimeoutSeconds: 60, maxTimeoutSeconds: 100 } })).status).toBe(200);
    const capped = await submit(u.key, { image: 'alpine', idleTimeoutSeconds: 101 });
    expectError(capped, 422, 'idle_timeout_exceeds_cap', 'idleTimeoutSeconds');
    expect(capped.json.error.message).toMatch(/maximum of 100s allowed by your per-user limit/);
  });
});

describe('queue limit', () => {
  it('a full queue is a 429 naming the limit; nothing is written', async () => {
    const u = await newUser('free');
    expect((await call(userRoute.PUT, 'PUT', `/api/v1/users/${u.id}`, { key: h.admin, params: { id: u.id }, body: { maxQueuedJobs: 2 } })).status).toBe(200);
    expect((await submit(u.key, { image: 'alpine' })).status).toBe(201);
    expect((await submit(u.key, { image: 'alpine' })).status).toBe(201);
    const before = await counts(h.db);
    const r = await submit(u.key, { image: 'alpine' });
    expectError(r, 429, 'queue_full');
    expect(r.json.error.message).toMatch(/limit 2/);
    expect(await counts(h.db)).toEqual(before);
  });

  it('the queue limit holds under concurrent submits', async () => {
    const u = await newUser('free');
    await call(userRoute.PUT, 'PUT', `/api/v1/users/${u.id}`, { key: h.admin, params: { id: u.id }, body: { maxQueuedJobs: 3 } });
    const rs = await Promise.all(Array.from({ length: 10 }, () => submit(u.key, { image: 'alpine' })));
    expect(rs.filter((r) => r.status === 201)).toHaveLength(3);
    expect(rs.filter((r) => r.status === 429)).toHaveLength(7);
    const rows = await h.db.select().from(jobs).where(eq(jobs.userId, u.id));
    expect(rows).toHaveLength(3);
  });
});

describe('authentication and authorisation', () => {
  // A well-formed key that matches nothing says so (unknown_key: get a new key); a malformed
  // header stays `unauthorized` (fix the header).
  const authCases: { name: string; headers: Record<string, string>; code?: string }[] = [
    { name: 'no Authorization header', headers: {} },
    { name: 'empty bearer', headers: { authorization: 'Bearer ' } },
    { name: 'Basic scheme', headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } },
    { name: 'unknown key', headers: { authorization: `Bearer wd_u_${crypto.randomBytes(32).toString('base64url')}` }, code: 'unknown_key' },
    { name: 'key too long', headers: { authorization: `Bearer ${'k'.repeat(5000)}` } },
  ];
  for (const c of authCases) {
    it(`${c.name} → 401 on every route, nothing written`, async () => {
      const before = await counts(h.db);
      expectError(await call(jobsRoute.POST, 'POST', '/api/v1/jobs', { headers: c.headers, body: { image: 'alpine' } }), 401, c.code ?? 'unauthorized');
      expectError(await call(jobsRoute.GET, 'GET', '/api/v1/jobs', { headers: c.headers }), 401, c.code ?? 'unauthorized');
      expectError(await call(jobRoute.GET, 'GET', `/api/v1/jobs/${aliceJob}`, { headers: c.headers, params: { id: aliceJob } }), 401, c.code ?? 'unauthorized');
      expectError(await call(cancelRoute.POST, 'POST', `/api/v1/jobs/${aliceJob}/cancel`, { headers: c.headers, params: { id: aliceJob } }), 401, c.code ?? 'unauthorized');
      expect(await counts(h.db)).toEqual(before);
    });
  }

  it("GET another user's job is a 404, as is a missing or malformed id", async () => {
    expect((await call(jobRoute.GET, 'GET', `/api/v1/jobs/${aliceJob}`, { key: alice.key, params: { id: aliceJob } })).status).toBe(200);
    const other = await call(jobRoute.GET, 'GET', `/api/v1/jobs/${aliceJob}`, { key: bob.key, params: { id: aliceJob } });
    expectError(other, 404, 'not_found');
    const missing = crypto.randomUUID();
    const nf = await call(jobRoute.GET, 'GET', `/api/v1/jobs/${missing}`, { key: bob.key, params: { id: missing } });
    expectError(nf, 404, 'not_found');
    // Same message shape whether it exists or not (no probing).
    expect(other.json.error.message.replace(aliceJob, 'X')).toBe(nf.json.error.message.replace(missing, 'X'));
    expectError(await call(jobRoute.GET, 'GET', '/api/v1/jobs/nope', { key: bob.key, params: { id: 'nope' } }), 404);
    expectError(await call(logsRoute.GET, 'GET', `/api/v1/jobs/${aliceJob}/logs`, { key: bob.key, params: { id: aliceJob } }), 404);
    // Operators of any role see it.
    expect((await call(jobRoute.GET, 'GET', `/api/v1/jobs/${aliceJob}`, { key: h.viewer, params: { id: aliceJob } })).json.id).toBe(aliceJob);
  });

  it("cancel of another user's job is a 404 and changes nothing", async () => {
    const before = await counts(h.db);
    expectError(await call(cancelRoute.POST, 'POST', `/api/v1/jobs/${aliceJob}/cancel`, { key: bob.key, params: { id: aliceJob } }), 404);
    const [row] = await h.db.select().from(jobs).where(eq(jobs.id, aliceJob));
    expect(row!.status).toBe('queued');
    expect(await counts(h.db)).toEqual(before);
  });

  it('user keys on operator routes → 403, nothing written', async () => {
    const before = await counts(h.db);
    // The owner may extend its own job (within the cap; test/webhooks.api.test.ts): not while queued, and never another's.
    expectError(await call(extendRoute.POST, 'POST', `/api/v1/jobs/${aliceJob}/extend`, { key: alice.key, params: { id: aliceJob }, body: { seconds: 10 } }), 409, 'not_running');
    expectError(await call(extendRoute.POST, 'POST', `/api/v1/jobs/${aliceJob}/extend`, { key: bob.key, params: { id: aliceJob }, body: { seconds: 10 } }), 404, 'not_found');
    expectError(await call(usersRoute.POST, 'POST', '/api/v1/users', { key: alice.key, body: { name: 'sneaky', plan: 'enterprise' } }), 403, 'forbidden');
    expectError(await call(userRoute.PUT, 'PUT', `/api/v1/users/${alice.id}`, { key: alice.key, params: { id: alice.id }, body: { maxConcurrentJobs: 1000 } }), 403, 'forbidden');
    expect(await counts(h.db)).toEqual(before);
  });

  it('a user key lists only its own jobs (whatever ?user= says) and may not kill another user\'s job', async () => {
    const before = await counts(h.db);
    const mine = await call(jobsRoute.GET, 'GET', `/api/v1/jobs?user=${bob.id}`, { key: alice.key });
    expect(mine.status).toBe(200);
    expect(mine.json.jobs.length).toBeGreaterThan(0);
    expect(mine.json.jobs.every((j: { userId: string }) => j.userId === alice.id)).toBe(true);
    const bobs = await call(jobsRoute.GET, 'GET', '/api/v1/jobs', { key: bob.key });
    expect(bobs.json.jobs.map((j: { id: string }) => j.id)).not.toContain(aliceJob);
    expectError(await call(killRoute.POST, 'POST', `/api/v1/jobs/${aliceJob}/kill`, { key: bob.key, params: { id: aliceJob }, body: {} }), 404);
    expect(await counts(h.db)).toEqual(before);
  });

  it('viewers cannot kill or extend', async () => {
    const before = await counts(h.db);
    expectError(await call(killRoute.POST, 'POST', `/api/v1/jobs/${aliceJob}/kill`, { key: h.viewer, params: { id: aliceJob } }), 403, 'forbidden');
    expectError(await call(extendRoute.POST, 'POST', `/api/v1/jobs/${aliceJob}/extend`, { key: h.viewer, params: { id: aliceJob }, body: { seconds: 10 } }), 403, 'forbidden');
    expect(await counts(h.db)).toEqual(before);
  });
});

describe('kill / extend / cancel: bad input', () => {
  it('malformed ids and bodies are 4xx, never 500', async () => {
    const before = await counts(h.db);
    for (const [route, body] of [[killRoute, {}], [extendRoute, { seconds: 5 }]] as const) {
      expectError(await call(route.POST, 'POST', '/api/v1/jobs/nope/x', { key: h.operator, params: { id: 'nope' }, body }), 404);
      expectError(await call(route.POST, 'POST', `/api/v1/jobs/${aliceJob}/x`, { key: h.operator, params: { id: aliceJob }, raw: '{"seconds": ' }), 400, 'invalid_json');
    }
    const missing = crypto.randomUUID();
    expectError(await call(extendRoute.POST, 'POST', '/x', { key: h.operator, params: { id: missing }, body: { seconds: 5 } }), 404);
    for (const seconds of [-1, 0, 1.5, '10', null, 1e308]) {
      expectError(await call(extendRoute.POST, 'POST', '/x', { key: h.operator, params: { id: aliceJob }, body: { seconds } }), 422, undefined, 'seconds');
    }
    expectError(await call(extendRoute.POST, 'POST', '/x', { key: h.operator, params: { id: aliceJob }, body: {} }), 422, undefined, 'seconds');
    // Extending a queued job: refused with a clear message.
    expectError(await call(extendRoute.POST, 'POST', '/x', { key: h.operator, params: { id: aliceJob }, body: { seconds: 5 } }), 409, 'not_running');
    expectError(await call(killRoute.POST, 'POST', '/x', { key: h.operator, params: { id: aliceJob }, body: { force: 'yes' } }), 422, undefined, 'force');
    expectError(await call(killRoute.POST, 'POST', '/x', { key: h.operator, params: { id: aliceJob }, body: { reason: 'r'.repeat(501) } }), 422, undefined, 'reason');
    expectError(await call(cancelRoute.POST, 'POST', '/x', { key: alice.key, params: { id: 'nope' } }), 404);
    expect(await counts(h.db)).toEqual(before);
  });

  it('cancel: own queued job → cancelled (audited); again → 409', async () => {
    const j = await submit(alice.key, { image: 'alpine' });
    const r = await call(cancelRoute.POST, 'POST', '/x', { key: alice.key, params: { id: j.json.id } });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'cancelled' });
    expect(r.json.reason).toMatch(new RegExp(`Cancelled by api:${alice.name}`));
    expectError(await call(cancelRoute.POST, 'POST', '/x', { key: alice.key, params: { id: j.json.id } }), 409, 'already_final');
  });
});

describe('GET /api/v1/jobs (operators)', () => {
  it('filters, paginates with a cursor, and rejects bad query values', async () => {
    const p1 = await call(jobsRoute.GET, 'GET', `/api/v1/jobs?user=${alice.id}&status=queued&limit=2`, { key: h.viewer });
    expect(p1.status).toBe(200);
    expect(p1.json.jobs).toHaveLength(2);
    expect(p1.json.jobs.every((j: { userId: string; status: string }) => j.userId === alice.id && j.status === 'queued')).toBe(true);
    expect(p1.json.nextCursor).toEqual(expect.any(String));
    const p2 = await call(jobsRoute.GET, 'GET', `/api/v1/jobs?user=${alice.id}&status=queued&limit=2&cursor=${p1.json.nextCursor}`, { key: h.viewer });
    expect(p2.status).toBe(200);
    const ids1 = p1.json.jobs.map((j: { id: string }) => j.id);
    for (const j of p2.json.jobs) expect(ids1).not.toContain(j.id);
    // By name too.
    const byName = await call(jobsRoute.GET, 'GET', `/api/v1/jobs?user=${bob.name}`, { key: h.viewer });
    expect(byName.json.jobs.every((j: { userId: string }) => j.userId === bob.id)).toBe(true);
    expect(byName.json.jobs.length).toBeGreaterThan(0);

    for (const q of ['status=bogus', 'limit=0', 'limit=-1', 'limit=1.5', 'limit=abc', 'limit=501', 'cursor=%%%', 'cursor=bm9wZQ', `user=${'x'.repeat(200)}`, 'frobnicate=1']) {
      expectError(await call(jobsRoute.GET, 'GET', `/api/v1/jobs?${q}`, { key: h.viewer }), 422);
    }
    // A 36-character non-uuid user filter is a name that matches nobody, not a 500.
    const dashes = await call(jobsRoute.GET, 'GET', `/api/v1/jobs?user=${'-'.repeat(36)}`, { key: h.viewer });
    expect(dashes.status).toBe(200);
    expect(dashes.json.jobs).toEqual([]);
  });
});
