import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeys, auditEvents } from '../server/db/schema';
import { call, counts, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * API keys through the real route handlers and the CLI: list (never the secret), revoke (refused
 * at once), expiry, who may do what, audit rows. Over real HTTP: test/http.hostile.test.ts.
 */

let h: ApiHarness;
let users: { POST: Handler };
let userKeys: { GET: Handler; POST: Handler };
let userKey: { DELETE: Handler };
let opKeys: { GET: Handler; POST: Handler };
let opKey: { DELETE: Handler };
let operators: { GET: Handler };
let plans: { GET: Handler };
let job: { GET: Handler };

const NO_JOB = '00000000-0000-4000-8000-00000000abcd';
const IN_A_YEAR = new Date(Math.floor(Date.now() / 1000) * 1000 + 365 * 86400_000).toISOString();
/** A request any valid key may make: 404 (no such job) proves the key was accepted. */
const probe = (key: string) => call(job.GET, 'GET', `/api/v1/jobs/${NO_JOB}`, { key, params: { id: NO_JOB } });

async function newUser(name: string): Promise<{ id: string; key: string }> {
  const r = await call(users.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name, plan: 'free' } });
  expect(r.status).toBe(201);
  return { id: r.json.id, key: r.json.apiKey };
}
const list = (id: string, key: string) => call(userKeys.GET, 'GET', `/api/v1/users/${id}/keys`, { key, params: { id } });
const create = (id: string, key: string, body?: unknown) => call(userKeys.POST, 'POST', `/api/v1/users/${id}/keys`, { key, params: { id }, body });
const revoke = (id: string, keyId: string, key: string) => call(userKey.DELETE, 'DELETE', `/api/v1/users/${id}/keys/${keyId}`, { key, params: { id, keyId } });

beforeAll(async () => {
  h = await setupApi();
  users = (await import('../app/api/v1/users/route')) as unknown as typeof users;
  userKeys = (await import('../app/api/v1/users/[id]/keys/route')) as unknown as typeof userKeys;
  userKey = (await import('../app/api/v1/users/[id]/keys/[keyId]/route')) as unknown as typeof userKey;
  opKeys = (await import('../app/api/v1/operators/[id]/keys/route')) as unknown as typeof opKeys;
  opKey = (await import('../app/api/v1/operators/[id]/keys/[keyId]/route')) as unknown as typeof opKey;
  operators = (await import('../app/api/v1/operators/route')) as unknown as typeof operators;
  plans = (await import('../app/api/v1/plans/route')) as unknown as typeof plans;
  job = (await import('../app/api/v1/jobs/[id]/route')) as unknown as typeof job;
});
afterAll(async () => {
  await h?.close();
});

describe('user keys', () => {
  it('GET lists {id, prefix, createdAt, lastUsedAt, revokedAt, expiresAt}, never the secret or its hash', async () => {
    const u = await newUser('kate');
    const second = await create(u.id, h.admin, { expiresAt: IN_A_YEAR });
    expect(second.status).toBe(201);
    expect(second.json).toMatchObject({ prefix: second.json.apiKey.slice(0, 10), expiresAt: IN_A_YEAR, revokedAt: null });
    const r = await list(u.id, h.admin);
    expect(r.status).toBe(200);
    expect(r.json.keys).toHaveLength(2);
    for (const k of r.json.keys) expect(Object.keys(k).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'prefix', 'revokedAt']);
    expect(r.text).not.toContain(u.key);
    const [row] = await h.db.select().from(apiKeys).where(eq(apiKeys.userId, u.id));
    expect(r.text).not.toContain(row!.keyHash);
  });

  it('DELETE revokes: the key is refused on the very next request, the other key keeps working; audited', async () => {
    const u = await newUser('leo');
    const other = (await create(u.id, h.admin)).json.apiKey as string;
    expect((await probe(u.key)).status).toBe(404);
    const [first] = (await list(u.id, h.admin)).json.keys;
    const before = await counts(h.db);
    const r = await revoke(u.id, first.id, h.admin);
    expect(r.status).toBe(200);
    expect(r.json.revokedAt).not.toBeNull();
    expectError(await probe(u.key), 401, 'unknown_key');
    expect((await probe(other)).status).toBe(404);
    expect((await counts(h.db)).audit).toBe(before.audit + 1);
    const [a] = await h.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'user.key.revoke'), eq(auditEvents.targetId, u.id)));
    expect(a).toMatchObject({ actor: 'operator:admin@test.local', targetType: 'user', details: { keyId: first.id, prefix: first.prefix } });
    // Again: 409; unknown key and another user's key: 404; nothing written.
    const mid = await counts(h.db);
    expectError(await revoke(u.id, first.id, h.admin), 409, 'already_revoked');
    expectError(await revoke(u.id, NO_JOB, h.admin), 404, 'not_found');
    const v = await newUser('vic');
    const vKey = (await list(v.id, h.admin)).json.keys[0].id;
    const mid2 = await counts(h.db);
    expectError(await revoke(u.id, vKey, h.admin), 404, 'not_found');
    expectError(await revoke(u.id, 'not-a-uuid', h.admin), 404, 'not_found');
    expect(await counts(h.db)).toEqual(mid2);
    expect(mid2.audit).toBe(mid.audit + 1); // vic's creation only
  });

  it('a user may list and revoke its own keys (a leak can be killed by whoever notices), never create one or see another\'s', async () => {
    const u = await newUser('mia');
    const spare = (await create(u.id, h.admin)).json.apiKey as string;
    const own = await list(u.id, u.key);
    expect(own.status).toBe(200);
    expect(own.json.keys).toHaveLength(2);
    expectError(await create(u.id, u.key), 403, 'forbidden');
    const n = await newUser('ned');
    expectError(await list(n.id, u.key), 404, 'not_found');
    expectError(await revoke(n.id, (await list(n.id, h.admin)).json.keys[0].id, u.key), 404, 'not_found');
    const mine = own.json.keys.find((k: { prefix: string }) => u.key.startsWith(k.prefix));
    expect((await revoke(u.id, mine.id, u.key)).status).toBe(200);
    expectError(await probe(u.key), 401);
    expect((await probe(spare)).status).toBe(404);
  });

  it('viewers and operators may not manage other people\'s keys', async () => {
    const u = await newUser('oli');
    for (const k of [h.viewer, h.operator]) {
      expectError(await list(u.id, k), 403, 'forbidden');
      expectError(await create(u.id, k), 403, 'forbidden');
      expectError(await revoke(u.id, NO_JOB, k), 403, 'forbidden');
    }
  });

  it('expiry: a past, malformed or far-future expiresAt is refused; an expired key is refused with a message saying so', async () => {
    const u = await newUser('pia');
    const before = await counts(h.db);
    for (const expiresAt of ['2000-01-01T00:00:00Z', 'tomorrow', '2026-13-01T00:00:00Z', 12345, new Date(Date.now() + 11 * 365 * 86400_000).toISOString()]) {
      expectError(await create(u.id, h.admin, { expiresAt }), 422, undefined, 'expiresAt');
    }
    expectError(await create(u.id, h.admin, { expiresInDays: 3 }), 422);
    expect(await counts(h.db)).toEqual(before);
    const soon = await create(u.id, h.admin, { expiresAt: new Date(Date.now() + 3600_000).toISOString() });
    expect((await probe(soon.json.apiKey)).status).toBe(404);
    // An hour passes (the row is the clock's only input):
    await h.db.update(apiKeys).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(apiKeys.id, soon.json.id));
    const r = await probe(soon.json.apiKey);
    expectError(r, 401, 'unauthorized');
    expect(r.json.error.message).toMatch(/^This API key expired at /);
  });

  it('lastUsedAt is written at most once a minute per key', async () => {
    const u = await newUser('quin');
    const [k0] = (await list(u.id, h.admin)).json.keys;
    expect(k0.lastUsedAt).toBeNull();
    await probe(u.key);
    const t1 = (await list(u.id, h.admin)).json.keys[0].lastUsedAt;
    expect(t1).not.toBeNull();
    await probe(u.key);
    await probe(u.key);
    expect((await list(u.id, h.admin)).json.keys[0].lastUsedAt).toBe(t1);
    await h.db.update(apiKeys).set({ lastUsedAt: new Date(Date.now() - 61_000) }).where(eq(apiKeys.id, k0.id));
    await probe(u.key);
    expect(Date.parse((await list(u.id, h.admin)).json.keys[0].lastUsedAt)).toBeGreaterThan(Date.now() - 10_000);
  });
});

describe('operator keys', () => {
  it('list, create with expiry, revoke (refused at once); an operator revokes its own key; audited', async () => {
    const ops = await call(operators.GET, 'GET', '/api/v1/operators', { key: h.admin });
    expect(ops.status).toBe(200);
    const viewer = ops.json.operators.find((o: { email: string }) => o.email === 'viewer@test.local');
    const lst = (key: string) => call(opKeys.GET, 'GET', `/api/v1/operators/${viewer.id}/keys`, { key, params: { id: viewer.id } });
    const r = await lst(h.admin);
    expect(r.status).toBe(200);
    expect(r.json.keys).toHaveLength(1);
    expect((await lst(h.viewer)).status).toBe(200); // its own
    expectError(await lst(h.operator), 403, 'forbidden');
    const y = new Date().getUTCFullYear() + 2;
    const made = await call(opKeys.POST, 'POST', `/api/v1/operators/${viewer.id}/keys`, { key: h.admin, params: { id: viewer.id }, body: { expiresAt: `${y}-06-01T00:00:00+02:00` } });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ expiresAt: `${y}-05-31T22:00:00.000Z` });
    expect(made.json.apiKey).toMatch(/^wd_o_/);
    expect((await call(plans.GET, 'GET', '/api/v1/plans', { key: made.json.apiKey })).status).toBe(200);
    const del = await call(opKey.DELETE, 'DELETE', `/api/v1/operators/${viewer.id}/keys/${made.json.id}`, { key: h.viewer, params: { id: viewer.id, keyId: made.json.id } });
    expect(del.status).toBe(200);
    expectError(await call(plans.GET, 'GET', '/api/v1/plans', { key: made.json.apiKey }), 401, 'unknown_key');
    const rows = await h.db.select().from(auditEvents).where(eq(auditEvents.targetId, 'viewer@test.local'));
    expect(rows.map((a) => a.action)).toEqual(expect.arrayContaining(['operator.key.create', 'operator.key.revoke']));
    expectError(await call(opKeys.GET, 'GET', `/api/v1/operators/${NO_JOB}/keys`, { key: h.admin, params: { id: NO_JOB } }), 404, 'not_found');
    expectError(await call(operators.GET, 'GET', '/api/v1/operators', { key: h.operator }), 403, 'forbidden');
  });
});

describe('CLI: user key / operator key list|create|revoke', () => {
  const run = promisify(execFile);
  const ROOT = path.resolve(__dirname, '..');
  const cli = async (...args: string[]) => {
    // The CLI as `npm run warden` runs it: the bundle bin/warden.mjs builds (and caches) on first use.
    const r = await run(process.execPath, ['bin/warden.mjs', ...args], { cwd: ROOT, env: { ...process.env, DATABASE_URL: h.url, WARDEN_CLI: '1', LOG_LEVEL: 'warn' } });
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  it('lists, creates with an expiry and revokes, and the revoked key is refused', async () => {
    const u = await newUser('cli-user');
    const l = await cli('user', 'key', 'list', '--user', 'cli-user');
    expect(l.keys).toHaveLength(1);
    const made = await cli('user', 'key', 'create', '--user', u.id, '--expires-at', IN_A_YEAR);
    expect(made).toMatchObject({ expiresAt: IN_A_YEAR });
    expect((await probe(made.apiKey)).status).toBe(404);
    const gone = await cli('user', 'key', 'revoke', '--user', 'cli-user', '--key', made.id);
    expect(gone.revokedAt).not.toBeNull();
    expectError(await probe(made.apiKey), 401);
    const ol = await cli('operator', 'key', 'list', '--email', 'operator@test.local');
    expect(ol.keys).toHaveLength(1);
    const ok = await cli('operator', 'key', 'revoke', '--email', 'operator@test.local', '--key', ol.keys[0].id);
    expect(ok.revokedAt).not.toBeNull();
    expectError(await call(plans.GET, 'GET', '/api/v1/plans', { key: h.operator }), 401);
    const [a] = await h.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'operator.key.revoke'), eq(auditEvents.actor, 'cli')));
    expect(a).toBeDefined();
  }, 120_000);
});
