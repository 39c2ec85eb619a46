import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('server-only', () => ({}));

import { formDataToObject, type ActionResult } from '../server/actions/action';
import { setDashboardRuntimeForTests } from './helpers/dashboard-runtime';
import type { Ctx } from '../server/context';
import type { Actor } from '../server/domain/actor';
import { createOperatorSchema, createUserSchema, planFieldsSchema, updateUserSchema } from '../server/domain/schemas';
import { createTestDatabase } from './helpers/db';
import { makeCtx } from './helpers/fixtures';
import { FUZZ_SEED, fingerprint, junkPrimitive, rowCounts } from './helpers/fuzz';

/**
 * Every server action in server/actions (discovered from the file system) with generated bad
 * input, as an admin (so the role check passes and the input is what is tested): objects whose
 * fields hold junk, non-objects, FormData of odd strings, and per action the near-valid input
 * only the domain can refuse (ids of nothing, plan fields out of range). The property: a refusal
 * `{ok: false, error: {code, message}}` that is the client's fault (never `internal`), nothing
 * written. Input the action would accept is skipped (fc.pre), so every counted case is bad.
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : FUZZ_SEED;
const DIR = path.resolve(__dirname, '../server/actions');
const ADMIN: Actor = { kind: 'operator', id: '00000000-0000-4000-8000-0000000000aa', email: 'fuzz-admin@test', role: 'admin' };
const NOTHING = '00000000-0000-4000-8000-00000000dead';

type AnyAction = ((input: unknown) => Promise<ActionResult<unknown>>) & { meta: { role: string; schema: { safeParse(x: unknown): { success: boolean } } } };

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let ctx: Ctx;
const ids = { user: '', queuedJob: '', cancelledJob: '', revokedKey: '' };
const actions: { name: string; fn: AnyAction }[] = [];
const stats: { name: string; runs: number; outcomes: Record<string, number>; ms: number }[] = [];

/** Field names each action reads (junk goes there), and the near-valid input only its domain function refuses. */
const FIELDS: Record<string, string[]> = {
  loginAction: ['email', 'password'],
  logoutAction: [],
  killJobAction: ['id', 'reason', 'force'],
  extendJobAction: ['id', 'seconds', 'reason', 'overrideCap'],
  cancelJobAction: ['id'],
  suspendTimeoutAction: ['id', 'suspended', 'reason'],
  createOperatorAction: ['email', 'role', 'password'],
  updateOperatorAction: ['id', 'role', 'disabled'],
  savePlanAction: ['name', 'fields'],
  previewPlanAction: ['name', 'fields'],
  setDryRunAction: ['name', 'dryRun'],
  runSweeperNowAction: ['name'],
  removeOrphanAction: ['containerId'],
  updateUserAction: ['id', 'changes'],
  createUserAction: ['name', 'plan'],
  createKeyAction: ['ownerKind', 'ownerId', 'expiresInDays'],
  revokeKeyAction: ['ownerKind', 'ownerId', 'keyId', 'reason'],
  saveClassAction: ['name', 'fields'],
  deleteClassAction: ['name'],
  redeliverAction: ['id'],
  pingWebhookAction: ['id'],
  deleteWebhookAction: ['id'],
  createWebhookAction: ['url'],
  drainNodeAction: ['id', 'reason', 'deadlineSeconds'],
  resumeNodeAction: ['id', 'reason'],
};

const str = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), fc.constantFrom('', 'x', 'admin', 'viewer', 'free', 'timeout', 'on', 'true', NOTHING, '-1', '1e9'));
const junkRecord = (keys: string[]) => fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.constantFrom('__proto__', 'constructor'), fc.string({ maxLength: 8 })), fc.oneof(junkPrimitive, fc.array(junkPrimitive, { maxLength: 3 })), { maxKeys: 5 });
const id = fc.constant(NOTHING);

/** Inputs the domain must refuse although the action's own schema lets them through. */
function nearValid(name: string): fc.Arbitrary<unknown> | null {
  switch (name) {
    case 'killJobAction':
      return fc.record({ id: fc.constantFrom(NOTHING, ids.cancelledJob), reason: fc.option(str, { nil: undefined }), force: fc.option(fc.boolean(), { nil: undefined }) });
    case 'cancelJobAction':
      return fc.record({ id: fc.constantFrom(NOTHING, ids.cancelledJob) });
    case 'extendJobAction':
      return fc.record({ id: fc.constantFrom(NOTHING, ids.queuedJob, ids.cancelledJob), seconds: fc.oneof(fc.integer(), fc.double()), reason: fc.option(str, { nil: undefined }) });
    case 'suspendTimeoutAction':
      return fc.record({ id: fc.constantFrom(NOTHING, ids.cancelledJob), suspended: fc.boolean(), reason: fc.option(str, { nil: undefined }) });
    case 'updateOperatorAction':
      return fc.record({ id, role: fc.constantFrom('viewer', 'operator', 'admin'), disabled: fc.option(fc.boolean(), { nil: undefined }) });
    case 'savePlanAction':
    case 'previewPlanAction':
      return fc.record({ name: fc.constantFrom('free', 'fuzz-new'), fields: junkRecord(Object.keys(planFieldsSchema.shape)) }).filter((i) => !planFieldsSchema.safeParse(i.fields).success);
    case 'updateUserAction':
      return fc.record({ id: fc.constantFrom(NOTHING, ids.user), changes: junkRecord(Object.keys(updateUserSchema.shape)) }).filter((i) => !updateUserSchema.safeParse(i.changes).success);
    case 'createUserAction':
      return fc.record({ name: str, plan: str }).filter((i) => !createUserSchema.safeParse(i).success);
    case 'createOperatorAction':
      return fc.record({ email: str, role: str, password: fc.option(str, { nil: undefined }) }).filter((i) => !createOperatorSchema.safeParse(i).success);
    case 'createKeyAction':
      return fc.record({ ownerKind: fc.constantFrom('user', 'operator'), ownerId: id, expiresInDays: fc.option(fc.integer({ min: 1, max: 3650 }), { nil: undefined }) });
    case 'revokeKeyAction':
      return fc.record({ ownerKind: fc.constant('user'), ownerId: fc.constant(ids.user), keyId: fc.constantFrom(NOTHING, ids.revokedKey) });
    case 'removeOrphanAction':
      // ctx has no Docker engine: a well-formed id is refused as "engine unreachable" (503), never removed.
      return fc.record({ containerId: fc.stringMatching(/^[0-9a-f]{12,64}$/) });
    default:
      return null;
  }
}

function formData(entries: [string, string][]): FormData {
  const fd = new FormData();
  for (const [k, v] of entries) fd.append(k, v);
  return fd;
}

function badInput(name: string): fc.Arbitrary<{ input: unknown; near: boolean }> {
  const fields = FIELDS[name] ?? [];
  const keys = fields.length ? fields : ['x'];
  const wrapperBad = fc.oneof(
    { weight: 5, arbitrary: junkRecord(keys) },
    { weight: 2, arbitrary: fc.oneof(junkPrimitive, fc.array(junkPrimitive, { maxLength: 4 }), fc.constant(undefined)) },
    { weight: 2, arbitrary: fc.array(fc.tuple(fc.constantFrom(...keys, '$ACTION_ID_x', '__proto__'), str), { maxLength: 6 }).map(formData) },
  );
  const near = nearValid(name);
  return near
    ? fc.oneof({ weight: 3, arbitrary: wrapperBad.map((input) => ({ input, near: false })) }, { weight: 2, arbitrary: near.map((input) => ({ input, near: true })) })
    : wrapperBad.map((input) => ({ input, near: false }));
}

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = await makeCtx(db.db);
  const { createUser } = await import('../server/domain/users');
  const { submitJob, killJob } = await import('../server/domain/jobs');
  const { createKey, revokeKey } = await import('../server/domain/keys');
  const u = await createUser(ctx, ADMIN, { name: 'fuzz-actions', plan: 'free' });
  const actor: Actor = { kind: 'user', id: u.user.id, name: u.user.name };
  ids.user = u.user.id;
  ids.queuedJob = (await submitJob(ctx, actor, { image: 'alpine' })).id;
  ids.cancelledJob = (await submitJob(ctx, actor, { image: 'alpine' })).id;
  await killJob(ctx, actor, ids.cancelledJob);
  const k = await createKey(ctx, ADMIN, { kind: 'user', id: u.user.id });
  await revokeKey(ctx, ADMIN, { kind: 'user', id: u.user.id }, k.key.id);
  ids.revokedKey = k.key.id;
  setDashboardRuntimeForTests({ getCtx: async () => ctx, resolveActor: async () => ADMIN });
  for (const f of fs.readdirSync(DIR).filter((f) => f.endsWith('.ts') && f !== 'action.ts').sort()) {
    const mod = (await import(path.join(DIR, f))) as Record<string, AnyAction>;
    for (const [name, fn] of Object.entries(mod)) actions.push({ name, fn });
  }
});
afterAll(async () => {
  setDashboardRuntimeForTests({});
  await db?.drop();
});

describe('fuzz: every server action refuses bad input with a client error and writes nothing', () => {
  it('every action has fields listed here (a new action must be added)', () => {
    expect(actions.length).toBeGreaterThan(10);
    expect(actions.map((a) => a.name).filter((n) => !(n in FIELDS))).toEqual([]);
  });

  for (const name of Object.keys(FIELDS)) it.concurrent(name, async ({ expect }) => {
    const a = actions.find((x) => x.name === name);
    expect(a, `${name} is exported from server/actions`).toBeDefined();
    const before = await fingerprint(ctx.db);
    let runs = 0;
    const codes: Record<string, number> = {};
    const t0 = Date.now();
    await fc.assert(
      fc.asyncProperty(badInput(name), async ({ input, near }) => {
        if (!near) {
          const asObject = input instanceof FormData ? formDataToObject(input) : input;
          fc.pre(!a!.fn.meta.schema.safeParse(asObject).success);
        }
        const counts = await rowCounts(ctx.db);
        const r = await a!.fn(input);
        runs++;
        expect(r.ok, JSON.stringify(r).slice(0, 300)).toBe(false);
        if (r.ok) return;
        expect(r.error.code, r.error.message).not.toBe('internal');
        codes[r.error.code] = (codes[r.error.code] ?? 0) + 1;
        expect(typeof r.error.message).toBe('string');
        expect(r.error.message.length).toBeGreaterThan(0);
        expect(r.error.message.length).toBeLessThan(2000);
        expect(r.error.message).not.toMatch(/\n\s+at\s|node_modules|\.ts:\d+/);
        expect(await rowCounts(ctx.db)).toBe(counts);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true, maxSkipsPerRun: 1000 },
    );
    expect(runs).toBe(RUNS);
    expect(await fingerprint(ctx.db)).toBe(before);
    stats.push({ name, runs, outcomes: codes, ms: Date.now() - t0 });
  }, 600_000);

  afterAll(() => {
    if (process.env.FUZZ_STATS_DIR) fs.writeFileSync(path.join(process.env.FUZZ_STATS_DIR, 'fuzz-actions.json'), JSON.stringify({ seed: SEED, runs: RUNS, cases: stats }, null, 2));
  });
});
