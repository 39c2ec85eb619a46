import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { API_ROUTES, type ApiRoute } from '../server/api/routes';
import { systemClock } from '../server/clock';
import type { Ctx } from '../server/context';
import { ensureInstallation } from '../server/domain/installation';
import { createKey, revokeKey } from '../server/domain/keys';
import { killJob, submitJob } from '../server/domain/jobs';
import { createOperatorKey } from '../server/domain/operators';
import { createUser } from '../server/domain/users';
import { BODY_LIMITS } from '../server/http';
import { badAuthorization, badId, badQuery, brokenBody, FUZZ_SEED, fingerprint, objectBody, rowCounts } from './helpers/fuzz';
import { startServer, type Server } from './helpers/http-server';

/**
 * Every route of the route registry (server/api/routes.ts — a route added there is fuzzed here
 * with no edit) driven over real HTTP through `bin/server.mjs`, as `npm start` serves it: bad
 * credentials, ids of nothing, junk queries and junk bodies (helpers/fuzz.ts), FUZZ_HTTP_RUNS
 * cases a route (1,000 in CI) with a fixed seed. The property, for every answer: status < 500;
 * not 2xx → exactly `{"error":{code,message}}`; a 4xx wrote nothing (row counts of every table
 * before and after). GETs write nothing whatever they answer. Cases go 4 at a time on a
 * keep-alive agent; row counts are taken around each group of 4.
 *
 * The server runs web-only (WARDEN_WORKER=off: nothing else writes) with no engine.
 */

const RUNS = Number(process.env.FUZZ_HTTP_RUNS ?? 1000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : FUZZ_SEED;
const BATCH = 4;
const ADMIN = { email: 'admin@fuzz-http.test', password: 'fuzz-http-password-1' };
const NOTHING_ID = '00000000-0000-4000-8000-000000000000';

let s: Server;
let agent: http.Agent;
interface Known {
  adminKey: string;
  userKey: string;
  userId: string;
  operatorId: string;
  cancelledJob: string;
  revokedKeyId: string;
}
let known: Known;

beforeAll(async () => {
  s = await startServer('fuzz-http', {
    WARDEN_WORKER: 'off',
    WARDEN_ADMIN_EMAIL: ADMIN.email,
    WARDEN_ADMIN_PASSWORD: ADMIN.password,
    DOCKER_HOST: 'unix:///tmp/warden-fuzz-http-no-engine.sock',
  });
  const db = s.db().db;
  const ctx: Ctx = { db, clock: systemClock, node: 'fuzz-http', installation: await ensureInstallation(db), docker: null };
  const system = { kind: 'system', name: 'cli' } as const;
  const op = await createOperatorKey(ctx, system, ADMIN.email);
  const u = await createUser(ctx, system, { name: 'fuzz-http-user', plan: 'free' });
  const actor = { kind: 'user', id: u.user.id, name: u.user.name } as const;
  const cancelled = await submitJob(ctx, actor, { image: 'alpine' });
  await killJob(ctx, actor, cancelled.id);
  const spare = await createKey(ctx, system, { kind: 'user', id: u.user.id });
  await revokeKey(ctx, system, { kind: 'user', id: u.user.id }, spare.key.id);
  const [opRow] = (await s.db().sql`select id from operators where email = ${ADMIN.email}`) as unknown as [{ id: string }];
  known = { adminKey: op.apiKey, userKey: u.apiKey, userId: u.user.id, operatorId: opRow.id, cancelledJob: cancelled.id, revokedKeyId: spare.key.id };
  agent = new http.Agent({ keepAlive: true, maxSockets: BATCH });
}, 900_000);

afterAll(async () => {
  agent?.destroy();
  await s?.stop();
});

interface Reply {
  status: number;
  text: string;
  json: unknown;
}

/** One request on the shared keep-alive agent. */
function send(method: string, urlPath: string, headers: Record<string, string>, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const h = { ...headers };
    if (body !== undefined) h['content-length'] = String(Buffer.byteLength(body));
    const req = http.request({ host: '127.0.0.1', port: s.port, method, path: urlPath, headers: h, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, text, json });
      });
      res.on('error', reject);
    });
    // A server that answers an oversized body before reading it all may close while we write.
    let answered = false;
    req.on('response', () => (answered = true));
    req.on('error', (e) => (answered ? undefined : reject(e)));
    req.end(body);
  });
}

function isErrorShape(r: Reply): boolean {
  const j = r.json as { error?: Record<string, unknown> } | undefined;
  if (!j || typeof j !== 'object' || Object.keys(j).length !== 1 || !j.error) return false;
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

/** What the fuzzer knows of a registry route: its params, query keys, body fields and limit. */
interface Target {
  route: ApiRoute;
  name: string;
  params: string[];
  queryKeys: string[];
  bodyFields: string[] | null;
  bodyLimit: number;
  /** Needs an operator key (a user key is wrong credentials). */
  operatorOnly: boolean;
}

const keysOf = (t: z.ZodType | undefined): string[] => (t instanceof z.ZodObject ? Object.keys(t.shape) : []);

const TARGETS: Target[] = API_ROUTES.map((r) => ({
  route: r,
  name: `${r.method.toUpperCase()} ${r.path}`,
  params: [...r.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!),
  queryKeys: r.query ? [...keysOf(r.query), 'bogus'] : [],
  bodyFields: r.body ? keysOf(r.body) : null,
  bodyLimit: r.method === 'post' && r.path === '/api/v1/jobs' ? BODY_LIMITS.submit : BODY_LIMITS.json,
  operatorOnly: r.access !== 'public' && r.access !== 'user',
}));

/**
 * Path values for the dimensions that are not the path's: rows that exist where the route reads
 * (a GET, or a body to validate), so the other dimensions get past the lookup — and are safe,
 * whatever a case does (a cancelled job, a revoked key); ids of nothing where the route would
 * act on the row itself (DELETE, cancel, …).
 */
function goodParams(t: Target): Record<string, string> {
  const reads = t.route.method === 'get' || t.bodyFields !== null || t.route.query !== undefined;
  const out: Record<string, string> = {};
  for (const p of t.params) {
    const seg = t.route.path.split('/');
    const owner = seg[seg.indexOf(`{${p}}`) - 1];
    let v: string | undefined;
    if (reads) {
      if (p === 'keyId') v = known.revokedKeyId;
      else if (owner === 'jobs') v = known.cancelledJob;
      else if (owner === 'users') v = known.userId;
      else if (owner === 'operators') v = known.operatorId;
      else if (owner === 'plans') v = 'free';
    }
    out[p] = v ?? (p === 'name' ? 'nothing-here' : NOTHING_ID);
  }
  return out;
}

type Dim = 'auth' | 'params' | 'query' | 'body';
interface Case {
  dim: Dim;
  auth: string | null;
  params: Record<string, string>;
  query: string;
  body: string | null;
  contentType: string | null;
}

function caseArb(t: Target): fc.Arbitrary<Case> {
  const dims: Dim[] = [];
  if (t.route.access !== 'public') dims.push('auth');
  if (t.params.length) dims.push('params');
  if (t.queryKeys.length) dims.push('query');
  if (t.bodyFields) dims.push('body');
  // A public route that reads no input still gets junk auth headers and queries.
  if (dims.length === 0) dims.push('auth', 'query');
  const auth = t.operatorOnly ? fc.oneof(badAuthorization, fc.constant('USERKEY')) : badAuthorization;
  const params = fc.record(Object.fromEntries(t.params.map((p) => [p, badId])) as Record<string, fc.Arbitrary<string>>);
  const body = t.bodyFields ? fc.oneof({ weight: 4, arbitrary: objectBody(t.bodyFields) }, { weight: 1, arbitrary: brokenBody(t.bodyLimit) }) : fc.constant(null);
  return fc.record({
    dim: fc.constantFrom(...dims),
    auth,
    params,
    query: badQuery(t.queryKeys.length ? t.queryKeys : ['bogus', 'limit']),
    body,
    contentType: fc.oneof({ weight: 6, arbitrary: fc.constant('application/json') }, { weight: 1, arbitrary: fc.constantFrom(null, 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1') }),
  });
}

const enc = (v: string) => {
  try {
    return encodeURIComponent(v);
  } catch {
    return 'x'; // a lone surrogate
  }
};

function request(t: Target, c: Case): { method: string; url: string; headers: Record<string, string>; body?: string } {
  const params = c.dim === 'params' ? c.params : goodParams(t);
  const urlPath = t.route.path.replace(/\{(\w+)\}/g, (_m, p: string) => enc(params[p] ?? ''));
  const query = c.dim === 'query' ? c.query : '';
  const headers: Record<string, string> = {};
  const goodKey = t.route.access === 'user' ? known.userKey : known.adminKey;
  if (c.dim === 'auth') {
    if (c.auth === 'USERKEY') headers.authorization = `Bearer ${known.userKey}`;
    else if (c.auth !== null) headers.authorization = c.auth;
  } else if (t.route.access !== 'public') headers.authorization = `Bearer ${goodKey}`;
  let body: string | undefined;
  if (t.bodyFields) {
    body = c.dim === 'body' ? (c.body ?? '') : '{"__fuzz": true}';
    if (c.contentType) headers['content-type'] = c.contentType;
  }
  return { method: t.route.method.toUpperCase(), url: `${urlPath}${query ? `?${query}` : ''}`, headers, ...(body !== undefined ? { body } : {}) };
}

const stats: { target: string; cases: number; statuses: Record<number, number>; ms: number }[] = [];

describe('fuzz over HTTP: every registry route through bin/server.mjs answers < 500, errors in one shape, and a 4xx writes nothing', () => {
  it('the targets are the route registry, every route of it', () => {
    expect(TARGETS.map((t) => t.name)).toEqual(API_ROUTES.map((r) => `${r.method.toUpperCase()} ${r.path}`));
    expect(new Set(TARGETS.map((t) => t.name)).size).toBe(API_ROUTES.length);
    for (const must of ['/api/v1/jobs/{id}/results', '/api/v1/classes', '/api/v1/me', '/api/v1/webhooks']) expect(TARGETS.some((t) => t.route.path === must), must).toBe(true);
  });

  for (const t of TARGETS) {
    it(t.name, async () => {
      const db = s.db().db;
      const statuses: Record<number, number> = {};
      let cases = 0;
      let wrote2xx = false;
      const before = await fingerprint(db);
      const t0 = Date.now();
      await fc.assert(
        fc.asyncProperty(fc.array(caseArb(t), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
          const counts = await rowCounts(db);
          const replies = await Promise.all(batch.map((c) => {
            const r = request(t, c);
            return send(r.method, r.url, r.headers, r.body).then((reply) => ({ c, r, reply }));
          }));
          const after = await rowCounts(db);
          let any2xxWrite = false;
          for (const { r, reply } of replies) {
            cases++;
            statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
            const what = `${r.method} ${r.url.slice(0, 200)} → ${reply.status} ${reply.text.slice(0, 300)}`;
            expect(reply.status, what).toBeGreaterThanOrEqual(200);
            expect(reply.status, what).toBeLessThan(500);
            if (reply.status >= 300) expect(isErrorShape(reply), what).toBe(true);
            else if (r.method !== 'GET') any2xxWrite = true;
          }
          // Only a 2xx of a writing method may change rows; otherwise nothing did.
          if (any2xxWrite) wrote2xx = true;
          else expect(after, `rows changed by ${replies.map((x) => `${x.r.method} ${x.r.url.slice(0, 80)} → ${x.reply.status}`).join('; ')}`).toBe(counts);
        }),
        { numRuns: Math.ceil(RUNS / BATCH), seed: SEED, endOnFailure: true },
      );
      if (!wrote2xx) expect(await fingerprint(db)).toBe(before);
      expect(cases).toBeGreaterThanOrEqual(RUNS);
      stats.push({ target: t.name, cases, statuses, ms: Date.now() - t0 });
    }, 600_000);
  }

  afterAll(() => {
    const total = stats.reduce((a, x) => a + x.ms, 0);
    console.log(`fuzz over HTTP: ${stats.length} routes, ${stats.reduce((a, x) => a + x.cases, 0)} cases, ${(total / 1000).toFixed(1)} s`);
    if (process.env.FUZZ_STATS_DIR) fs.writeFileSync(path.join(process.env.FUZZ_STATS_DIR, 'fuzz-http.json'), JSON.stringify({ seed: SEED, runs: RUNS, routes: stats }, null, 2));
  });
});
