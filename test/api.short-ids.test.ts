import crypto from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAudit, loadJobs } from '../server/dashboard/loaders';
import { jobs } from '../server/db/schema';
import type { Actor } from '../server/domain/actor';
import { jobIdRange } from '../server/domain/job-ids';
import { call, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * Short job ids (contract "People": unique prefixes of ≥ 6 characters everywhere a job id is
 * accepted) through the real route handlers on a real PostgreSQL.
 */

let h: ApiHarness;
let jobsRoute: { POST: Handler };
let jobRoute: { GET: Handler };
let cancelRoute: { POST: Handler };
let usersRoute: { POST: Handler };
const VIEWER: Actor = { kind: 'operator', id: '00000000-0000-0000-0000-000000000000', email: 'v@test.local', role: 'viewer' };

async function newUser(): Promise<{ id: string; key: string }> {
  const r = await call(usersRoute.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: `u-${crypto.randomBytes(4).toString('hex')}`, plan: 'free' } });
  expect(r.status).toBe(201);
  return { id: r.json.id, key: r.json.apiKey };
}

/** Submits a job and gives it a chosen id (so prefixes can collide on purpose). */
async function jobWithId(key: string, id: string, name: string): Promise<string> {
  const r = await call(jobsRoute.POST, 'POST', '/api/v1/jobs', { key, body: { image: 'busybox:1.36', command: ['true'], name } });
  expect(r.status).toBe(201);
  await h.db.update(jobs).set({ id }).where(eq(jobs.id, r.json.id));
  return id;
}

const get = (ref: string, key = h.operator) => call(jobRoute.GET, 'GET', `/api/v1/jobs/${ref}`, { key, params: { id: ref } });

let alice: { id: string; key: string };
let bob: { id: string; key: string };
const A1 = 'abcdef12-0000-4000-8000-000000000001';
const A2 = 'abcdef12-0000-4000-8000-000000000002';
const A3 = 'abcdef34-0000-4000-8000-000000000003';
const B1 = '7e57ab1e-0000-4000-8000-000000000001';
const A4 = '7e57ab1e-0000-4000-8000-000000000002';

beforeAll(async () => {
  h = await setupApi();
  jobsRoute = (await import('../app/api/v1/jobs/route')) as unknown as typeof jobsRoute;
  jobRoute = (await import('../app/api/v1/jobs/[id]/route')) as unknown as typeof jobRoute;
  cancelRoute = (await import('../app/api/v1/jobs/[id]/cancel/route')) as unknown as typeof cancelRoute;
  usersRoute = (await import('../app/api/v1/users/route')) as unknown as typeof usersRoute;
  alice = await newUser();
  bob = await newUser();
  await jobWithId(alice.key, A1, 'one');
  await jobWithId(alice.key, A2, 'two');
  await jobWithId(alice.key, A3, 'three');
  await jobWithId(bob.key, B1, 'bobs');
  await jobWithId(alice.key, A4, 'alices-twin');
});

afterAll(async () => {
  await h?.close();
});

describe('job-id prefixes', () => {
  it.each([
    ['abcdef', { lo: 'abcdef00-0000-0000-0000-000000000000', hi: 'abcdefff-ffff-ffff-ffff-ffffffffffff' }],
    ['ABCDEF12-00', { lo: 'abcdef12-0000-0000-0000-000000000000', hi: 'abcdef12-00ff-ffff-ffff-ffffffffffff' }],
  ])('jobIdRange(%s) is the uuid range the prefix covers', (ref, want) => {
    expect(jobIdRange(ref)).toMatchObject(want);
  });

  it.each(['abcde', 'abcdefg1', 'abc-def12', '', 'x'.repeat(40)])('jobIdRange(%j) is not a prefix', (ref) => {
    expect(jobIdRange(ref)).toBeNull();
  });

  it('GET /api/v1/jobs/:id takes a unique prefix of 6+ characters and answers the full job', async () => {
    for (const ref of ['abcdef34', 'abcdef3', 'ABCDEF34', 'abcdef34-0000']) {
      const r = await get(ref);
      expect(r.status, ref).toBe(200);
      expect(r.json.id).toBe(A3);
    }
  });

  it('an ambiguous prefix is a 409 ambiguous_id listing the matches', async () => {
    const r = await get('abcdef');
    expectError(r, 409, 'ambiguous_id', 'id');
    for (const id of [A1, A2, A3]) expect(r.json.error.message).toContain(id);
    expect(r.json.error.message).toContain('Type more characters');
  });

  it('a user key resolves among its own jobs only: another user’s job makes no prefix ambiguous', async () => {
    const op = await get('7e57ab1e');
    expectError(op, 409, 'ambiguous_id');
    const own = await get('7e57ab1e', alice.key);
    expect(own.status).toBe(200);
    expect(own.json.id).toBe(A4);
    const bobs = await get('7e57ab1e', bob.key);
    expect(bobs.json.id).toBe(B1);
  });

  it('too short is 422 id_too_short; no match or not hex is 404', async () => {
    expectError(await get('abcde'), 422, 'id_too_short', 'id');
    expectError(await get('123456'), 404, 'not_found');
    expectError(await get('not-an-id'), 404, 'not_found');
  });

  it('every job route takes the prefix: cancel by short id cancels that job', async () => {
    const r = await call(cancelRoute.POST, 'POST', '/api/v1/jobs/abcdef12-0000-4000-8000-00000000000/cancel', { key: h.operator, params: { id: 'abcdef12-0000-4000-8000-00000000000' } });
    // 31 hex digits: still two matches (…01 and …02 differ only in the last digit)
    expectError(r, 409, 'ambiguous_id');
    const ok = await call(cancelRoute.POST, 'POST', '/api/v1/jobs/abcdef34/cancel', { key: h.operator, params: { id: 'abcdef34' } });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ id: A3, status: 'cancelled' });
  });

  it('the lookup is a range on the primary key, which its index serves', async () => {
    const r = jobIdRange('abcdef12')!;
    const plan = await h.db.transaction(async (tx) => {
      await tx.execute(sql`set local enable_seqscan = off`);
      return tx.execute<{ 'QUERY PLAN': string }>(sql`explain select id from jobs where id between ${r.lo}::uuid and ${r.hi}::uuid`);
    });
    expect(plan.map((p) => p['QUERY PLAN']).join('\n')).toMatch(/Index (Only )?Scan using jobs_pkey/);
  });

  it('the Jobs search and the audit job filter find a job by its short id', async () => {
    const list = await loadJobs(h.ctx, VIEWER, { tab: 'queued', q: 'abcdef12' });
    expect(list.rows.map((x) => x.id).sort()).toEqual([A1, A2]);
    const audit = await loadAudit(h.ctx, VIEWER, { job: 'abcdef34' });
    expect(audit.events.length).toBeGreaterThan(0);
    expect(new Set(audit.events.map((e) => e.targetId))).toEqual(new Set([A3]));
    await expect(loadAudit(h.ctx, VIEWER, { job: 'abcdef' })).rejects.toMatchObject({ status: 409, code: 'ambiguous_id' });
  });
});
