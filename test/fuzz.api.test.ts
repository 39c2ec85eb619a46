import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobs, operators } from '../server/db/schema';
import { auditQuerySchema } from '../server/domain/audit-queries';
import { drainNodeSchema } from '../server/domain/nodes';
import { classFieldsSchema, createKeySchema, createUserSchema, createWebhookSchema, listAttemptsQuerySchema, listDeliveriesQuerySchema, listJobsQuerySchema, logsQuerySchema, logStreamQuerySchema, planFieldsSchema, submitJobSchema, updateUserSchema } from '../server/domain/schemas';
import { call, setupApi, type ApiHarness, type Handler } from './helpers/api';
import { badAuthorization, badId, badQuery, brokenBody, FUZZ_SEED, fingerprint, objectBody, parsedObject, rowCounts } from './helpers/fuzz';

/**
 * Every route handler under app/api/v1 (and the catch-all) with generated bad input — wrong
 * credentials, ids of nothing, junk queries, junk bodies (see helpers/fuzz.ts) — called in-process
 * as Next calls them. The property: a 4xx in the one error shape, never a 5xx, nothing written
 * (row counts after every case, a fingerprint of every row after each route). FUZZ_RUNS cases
 * per route (1,000 in CI) with a fixed seed; bench/fuzz.ts runs more with random seeds. A case
 * that happens to be valid input is skipped (fc.pre), so every counted case is a bad one.
 * Routes are discovered from the file system: one without a spec below fails the last test.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : FUZZ_SEED;
const API = path.resolve(__dirname, '../app/api');

type Key = 'admin' | 'user' | 'none';
interface Ids {
  userId: string;
  userKey: string;
  queuedJob: string;
  cancelledJob: string;
  operatorId: string;
  revokedKeyId: string;
}
interface Spec {
  /** Route file under app/api, and the method. */
  file: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  /** The good key for the non-auth dimensions. */
  key: Key;
  /** Path params; bad ones are generated for each, good ones (safe: never writable by any body) come from `good`. */
  params?: string[];
  good?: (ids: Ids) => Record<string, string>;
  /** Query parameters the route reads; `queryOk` says whether a query would be accepted. */
  query?: string[];
  queryOk?: (q: Record<string, string>) => boolean;
  /** The body's fields and limit; `bodyOk` says whether a body would be accepted (then skipped). */
  body?: { fields: string[]; limit: number; ok?: (b: Record<string, unknown>) => boolean; optional?: boolean };
  /** A user key is wrong credentials here (operator-only route). */
  operatorOnly?: boolean;
}

const safe = <T>(f: () => T, def: T): T => {
  try {
    return f();
  } catch {
    return def;
  }
};
const SUBMIT = Object.keys(submitJobSchema.shape);
const CLASS = Object.keys(classFieldsSchema.shape);
const WEBHOOK = Object.keys(createWebhookSchema.shape);
const PLAN = Object.keys(planFieldsSchema.shape);

const SPECS: Spec[] = [
  { file: 'v1/jobs/route.ts', method: 'POST', key: 'user', body: { fields: SUBMIT, limit: 256 * 1024, ok: (b) => submitJobSchema.safeParse(b).success } },
  // User keys list their own jobs (issue 12), so a user key is right credentials here.
  { file: 'v1/jobs/route.ts', method: 'GET', key: 'admin', query: ['status', 'user', 'limit', 'cursor', 'bogus'], queryOk: (q) => listJobsQuerySchema.safeParse(q).success },
  { file: 'v1/jobs/[id]/route.ts', method: 'GET', key: 'user', params: ['id'] },
  { file: 'v1/jobs/[id]/logs/route.ts', method: 'GET', key: 'user', params: ['id'], query: ['follow', 'bogus'], queryOk: (q) => logsQuerySchema.safeParse(q).success },
  { file: 'v1/jobs/[id]/logs/stream/route.ts', method: 'GET', key: 'user', params: ['id'], query: ['tail', 'bogus'], queryOk: (q) => logStreamQuerySchema.safeParse(q).success },
  { file: 'v1/jobs/[id]/results/route.ts', method: 'GET', key: 'user', params: ['id'] },
  { file: 'v1/jobs/[id]/cancel/route.ts', method: 'POST', key: 'user', params: ['id'] },
  // Owners kill (issue 12) and extend (issue 11) their own jobs: user keys are right credentials.
  { file: 'v1/jobs/[id]/kill/route.ts', method: 'POST', key: 'admin', params: ['id'], good: (i) => ({ id: i.cancelledJob }), body: { fields: ['force', 'reason'], limit: 64 * 1024 } },
  { file: 'v1/jobs/[id]/extend/route.ts', method: 'POST', key: 'admin', params: ['id'], good: (i) => ({ id: i.queuedJob }), body: { fields: ['seconds', 'reason', 'overrideCap'], limit: 64 * 1024 } },
  { file: 'v1/jobs/[id]/suspend/route.ts', method: 'POST', key: 'admin', operatorOnly: true, params: ['id'], good: (i) => ({ id: i.cancelledJob }), body: { fields: ['suspended', 'reason'], limit: 64 * 1024 } },
  { file: 'v1/plans/route.ts', method: 'GET', key: 'admin', operatorOnly: true },
  { file: 'v1/plans/[name]/route.ts', method: 'GET', key: 'admin', operatorOnly: true, params: ['name'] },
  { file: 'v1/plans/[name]/route.ts', method: 'PUT', key: 'admin', operatorOnly: true, params: ['name'], good: () => ({ name: 'free' }), body: { fields: PLAN, limit: 64 * 1024, ok: (b) => planFieldsSchema.safeParse(b).success } },
  { file: 'v1/users/route.ts', method: 'GET', key: 'admin', operatorOnly: true },
  { file: 'v1/users/route.ts', method: 'POST', key: 'admin', operatorOnly: true, body: { fields: ['name', 'plan'], limit: 64 * 1024, ok: (b) => createUserSchema.safeParse(b).success } },
  { file: 'v1/users/[id]/route.ts', method: 'GET', key: 'admin', operatorOnly: true, params: ['id'] },
  { file: 'v1/users/[id]/route.ts', method: 'PUT', key: 'admin', operatorOnly: true, params: ['id'], good: (i) => ({ id: i.userId }), body: { fields: Object.keys(updateUserSchema.shape), limit: 64 * 1024, ok: (b) => updateUserSchema.safeParse(b).success } },
  { file: 'v1/users/[id]/keys/route.ts', method: 'GET', key: 'admin', params: ['id'] },
  { file: 'v1/users/[id]/keys/route.ts', method: 'POST', key: 'admin', params: ['id'], good: (i) => ({ id: i.userId }), body: { fields: ['expiresAt'], limit: 64 * 1024, optional: true, ok: (b) => createKeySchema.safeParse(b).success } },
  { file: 'v1/users/[id]/keys/[keyId]/route.ts', method: 'DELETE', key: 'admin', params: ['id', 'keyId'], good: (i) => ({ id: i.userId, keyId: i.revokedKeyId }) },
  { file: 'v1/operators/route.ts', method: 'GET', key: 'admin', operatorOnly: true },
  { file: 'v1/operators/[id]/keys/route.ts', method: 'GET', key: 'admin', params: ['id'] },
  { file: 'v1/operators/[id]/keys/route.ts', method: 'POST', key: 'admin', params: ['id'], good: (i) => ({ id: i.operatorId }), body: { fields: ['expiresAt'], limit: 64 * 1024, optional: true, ok: (b) => createKeySchema.safeParse(b).success } },
  { file: 'v1/operators/[id]/keys/[keyId]/route.ts', method: 'DELETE', key: 'admin', params: ['id', 'keyId'], good: (i) => ({ id: i.operatorId, keyId: i.revokedKeyId }) },
  { file: 'v1/classes/route.ts', method: 'GET', key: 'user' },
  { file: 'v1/classes/[name]/route.ts', method: 'GET', key: 'user', params: ['name'] },
  { file: 'v1/classes/[name]/route.ts', method: 'PUT', key: 'admin', operatorOnly: true, params: ['name'], good: () => ({ name: 'fuzz-class' }), body: { fields: CLASS, limit: 64 * 1024, ok: (b) => classFieldsSchema.safeParse(b).success } },
  { file: 'v1/classes/[name]/route.ts', method: 'DELETE', key: 'admin', operatorOnly: true, params: ['name'] },
  { file: 'v1/me/route.ts', method: 'GET', key: 'user' },
  { file: 'v1/webhooks/route.ts', method: 'POST', key: 'user', body: { fields: WEBHOOK, limit: 64 * 1024, ok: (b) => createWebhookSchema.safeParse(b).success } },
  { file: 'v1/webhooks/route.ts', method: 'GET', key: 'user' },
  { file: 'v1/webhooks/[id]/route.ts', method: 'GET', key: 'user', params: ['id'] },
  { file: 'v1/webhooks/[id]/route.ts', method: 'DELETE', key: 'user', params: ['id'] },
  { file: 'v1/webhooks/[id]/deliveries/route.ts', method: 'GET', key: 'user', params: ['id'], query: ['status', 'limit', 'cursor', 'bogus'], queryOk: (q) => listDeliveriesQuerySchema.safeParse(q).success },
  { file: 'v1/webhooks/[id]/attempts/route.ts', method: 'GET', key: 'user', params: ['id'], query: ['limit', 'cursor', 'bogus'], queryOk: (q) => listAttemptsQuerySchema.safeParse(q).success },
  { file: 'v1/webhooks/[id]/ping/route.ts', method: 'POST', key: 'user', params: ['id'] },
  { file: 'v1/audit/route.ts', method: 'GET', key: 'admin', operatorOnly: true, query: ['actor', 'action', 'targetType', 'targetId', 'job', 'q', 'limit', 'cursor', 'bogus'], queryOk: (q) => auditQuerySchema.safeParse(q).success },
  { file: 'v1/orphans/route.ts', method: 'GET', key: 'admin', operatorOnly: true },
  // Viewers read the node list; drain and resume need the operator role (issue 21).
  { file: 'v1/nodes/route.ts', method: 'GET', key: 'admin', operatorOnly: true },
  { file: 'v1/nodes/[id]/drain/route.ts', method: 'POST', key: 'admin', operatorOnly: true, params: ['id'], body: { fields: Object.keys(drainNodeSchema.shape), limit: 64 * 1024, ok: (b) => drainNodeSchema.safeParse(b).success } },
  { file: 'v1/nodes/[id]/resume/route.ts', method: 'POST', key: 'admin', operatorOnly: true, params: ['id'] },
  ...(['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const).map((method): Spec => ({ file: '[...path]/route.ts', method, key: 'admin', params: ['path'] })),
];

let h: ApiHarness;
let ids: Ids;
const handlers = new Map<string, Handler>();

beforeAll(async () => {
  h = await setupApi();
  const { createUser } = await import('../server/domain/users');
  const { submitJob, killJob } = await import('../server/domain/jobs');
  const { createKey, revokeKey } = await import('../server/domain/keys');
  const system = { kind: 'system', name: 'cli' } as const;
  const u = await createUser(h.ctx, system, { name: 'fuzz-user', plan: 'free' });
  const actor = { kind: 'user', id: u.user.id, name: u.user.name } as const;
  const queued = await submitJob(h.ctx, actor, { image: 'alpine', command: ['true'] });
  const cancelled = await submitJob(h.ctx, actor, { image: 'alpine' });
  await killJob(h.ctx, actor, cancelled.id);
  const spare = await createKey(h.ctx, system, { kind: 'user', id: u.user.id });
  await revokeKey(h.ctx, system, { kind: 'user', id: u.user.id }, spare.key.id);
  const [op] = await h.db.select().from(operators).where(eq(operators.email, 'admin@test.local'));
  ids = { userId: u.user.id, userKey: u.apiKey, queuedJob: queued.id, cancelledJob: cancelled.id, operatorId: op!.id, revokedKeyId: spare.key.id };
  expect((await h.db.select().from(jobs).where(eq(jobs.id, cancelled.id)))[0]!.status).toBe('cancelled');
  for (const s of SPECS) {
    const mod = (await import(path.join(API, s.file))) as Record<string, Handler>;
    handlers.set(`${s.method} ${s.file}`, mod[s.method]!);
  }
});
afterAll(async () => {
  await h?.close();
});

type Dim = 'auth' | 'params' | 'query' | 'body';
interface Case {
  dim: Dim;
  auth: string | null;
  params: Record<string, string>;
  query: string;
  body: string | null;
}

function caseArb(s: Spec): fc.Arbitrary<Case> {
  const dims: Dim[] = ['auth'];
  if (s.params?.length) dims.push('params');
  if (s.query) dims.push('query');
  if (s.body) dims.push('body');
  const auth = s.operatorOnly ? fc.oneof(badAuthorization, fc.constant(`Bearer ${'USERKEY'}`)) : badAuthorization;
  const params = fc.record(Object.fromEntries((s.params ?? []).map((p) => [p, badId])) as Record<string, fc.Arbitrary<string>>);
  const body = s.body ? fc.oneof({ weight: 4, arbitrary: objectBody(s.body.fields) }, { weight: 1, arbitrary: brokenBody(s.body.limit) }) : fc.constant(null);
  return fc.record({ dim: fc.constantFrom(...dims), auth, params, query: s.query ? badQuery(s.query) : fc.constant(''), body });
}

/** Runs one case; returns null when it is valid input by chance (skipped), else the response. */
async function runCase(s: Spec, c: Case) {
  const keys: Record<Key, string | null> = { admin: h.admin, user: ids.userKey, none: null };
  const good = s.good?.(ids) ?? Object.fromEntries((s.params ?? []).map((p) => [p, p === 'id' ? '00000000-0000-4000-8000-000000000000' : 'nothing-here']));
  const params = c.dim === 'params' ? c.params : good;
  // Ids that exist are only ever the safe ones above; a generated one hitting a real row is astronomically unlikely, but say so.
  if (c.dim === 'params' && Object.values(params).some((v) => Object.values(ids).includes(v) || v === 'free' || v === 'pro' || v === 'enterprise')) return null;
  const query = c.dim === 'query' ? c.query : '';
  if (c.dim === 'query' && s.queryOk?.(Object.fromEntries(new URLSearchParams(query)))) return null;
  let body: string | undefined;
  if (s.body) {
    body = c.dim === 'body' ? (c.body ?? '{}') : '{"__fuzz": true}';
    // An optional body may be empty: the route reads that as {}.
    const obj = parsedObject(body) ?? (s.body.optional && body.trim() === '' ? {} : null);
    if (c.dim === 'body' && obj && s.body.ok && safe(() => s.body!.ok!(obj), true)) return null;
  }
  const headers: Record<string, string> = {};
  if (c.dim === 'auth') {
    if (c.auth === 'Bearer USERKEY') headers.authorization = `Bearer ${ids.userKey}`;
    else if (c.auth !== null) headers.authorization = c.auth;
  } else if (keys[s.key]) headers.authorization = `Bearer ${keys[s.key]}`;
  const urlPath = `/api/${s.file.replace(/\/?route\.ts$/, '').replace(/\[(\.\.\.)?(\w+)\]/g, (_m, _d, p: string) => safe(() => encodeURIComponent(params[p] ?? ''), 'x'))}`;
  const handler = handlers.get(`${s.method} ${s.file}`)!;
  return call(handler, s.method, `${urlPath}${query ? `?${query}` : ''}`, {
    params: s.file.startsWith('[...path]') ? ({ path: [params.path ?? ''] } as unknown as Record<string, string>) : params,
    headers,
    ...(body !== undefined ? { raw: body } : {}),
  });
}

function isErrorShape(r: { status: number; json: unknown; text: string }): boolean {
  const j = r.json as { error?: Record<string, unknown> } | undefined;
  if (!j || Object.keys(j).length !== 1 || !j.error) return false;
  const e = j.error;
  return (
    typeof e.code === 'string' &&
    typeof e.message === 'string' &&
    e.message.length > 0 &&
    e.message.length < 2000 &&
    Object.keys(e).every((k) => ['code', 'message', 'field'].includes(k)) &&
    !/\n\s+at\s|node_modules|\.ts:\d+/.test(r.text)
  );
}

const fuzzStats: { name: string; runs: number; outcomes: Record<string, number>; ms: number }[] = [];

describe('fuzz: every API route with bad input answers 4xx in the error shape and writes nothing', () => {
  for (const s of SPECS) {
    // Concurrent (a few routes at a time): no case writes, so one route's cases cannot move
    // another's row counts; if any did, some case's count check and the fingerprint would fail.
    it.concurrent(`${s.method} /api/${s.file.replace(/\/?route\.ts$/, '')}`, async ({ expect }) => {
      const before = await fingerprint(h.db);
      const statuses: Record<number, number> = {};
      const t0 = Date.now();
      await fc.assert(
        fc.asyncProperty(caseArb(s), async (c) => {
          const counts = await rowCounts(h.db);
          const r = await runCase(s, c);
          fc.pre(r !== null);
          statuses[r!.status] = (statuses[r!.status] ?? 0) + 1;
          expect(r!.status, `${r!.status} ${r!.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
          expect(r!.status, r!.text.slice(0, 300)).toBeLessThan(500);
          expect(isErrorShape(r!), r!.text.slice(0, 300)).toBe(true);
          expect(await rowCounts(h.db)).toBe(counts);
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true, maxSkipsPerRun: 1000 },
      );
      expect(await fingerprint(h.db)).toBe(before);
      const total = Object.values(statuses).reduce((a, b) => a + b, 0);
      expect(total).toBe(RUNS);
      fuzzStats.push({ name: `${s.method} /api/${s.file.replace(/\/?route\.ts$/, '')}`, runs: total, outcomes: statuses, ms: Date.now() - t0 });
    }, 600_000);
  }

  it('every route handler under app/api/v1 (and the catch-all) has a fuzz spec', () => {
    const found: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name === 'route.ts') {
          const rel = path.relative(API, p);
          const src = fs.readFileSync(p, 'utf8');
          for (const m of src.matchAll(/export const (GET|POST|PUT|PATCH|DELETE)\b/g)) found.push(`${m[1]} ${rel}`);
        }
      }
    };
    walk(path.join(API, 'v1'));
    found.push(...['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].map((m) => `${m} [...path]/route.ts`));
    // Public and reading no input at all: nothing a client sends can change its answer.
    const NO_INPUT = ['GET v1/openapi.json/route.ts'];
    // An event stream answers a good key with a body that never ends: fuzzed over real HTTP
    // instead (test/fuzz.http.test.ts: bad credentials, junk queries, with the route registry).
    const STREAMS = ['GET v1/events/route.ts'];
    const specified = new Set([...SPECS.map((s) => `${s.method} ${s.file}`), ...NO_INPUT, ...STREAMS]);
    expect(found.filter((f) => !specified.has(f)), 'routes without a fuzz spec in test/fuzz.api.test.ts').toEqual([]);
  });

  afterAll(() => {
    if (process.env.FUZZ_STATS_DIR) fs.writeFileSync(path.join(process.env.FUZZ_STATS_DIR, 'fuzz-api.json'), JSON.stringify({ seed: SEED, runs: RUNS, cases: fuzzStats }, null, 2));
  });
});
