import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

// `server-only` throws outside Next's react-server graph; these modules are server code under test.
vi.mock('server-only', () => ({}));

import { action, formDataToObject, type ActionResult } from '../server/actions/action';
import { setDashboardRuntimeForTests } from './helpers/dashboard-runtime';
import { SESSION_COOKIE } from '../server/auth/session';
import type { Ctx } from '../server/context';
import { auditEvents, operators, sessions, type Role } from '../server/db/schema';
import type { Actor } from '../server/domain/actor';
import { AppError } from '../server/domain/errors';
import { sha256 } from '../server/domain/secrets';
import { closeAppPool, createTestDatabase } from './helpers/db';
import { makeCtx } from './helpers/fixtures';

/**
 * Every server action in server/actions/*.ts and every UI route under app/api/ui/** refuses a
 * caller without a session, and a caller below its role, before doing anything. The lists are
 * discovered from the file system, so a new action or route without a role cannot slip by.
 */

const ROLES: Role[] = ['viewer', 'operator', 'admin'];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
const ROOT = path.resolve(__dirname, '..');
const actorFor = (role: Role): Actor => ({ kind: 'operator', id: crypto.randomUUID(), email: `${role}@test`, role });

type AnyAction = ((input: unknown) => Promise<ActionResult<unknown>>) & { meta?: { role: Role | 'public' } };

async function loadActions(): Promise<{ file: string; name: string; fn: AnyAction }[]> {
  const dir = path.join(ROOT, 'server/actions');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'action.ts');
  const out: { file: string; name: string; fn: AnyAction }[] = [];
  for (const f of files) {
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    expect(src.trimStart().startsWith("'use server'"), `${f} must start with 'use server'`).toBe(true);
    const mod = (await import(path.join(dir, f))) as Record<string, unknown>;
    for (const [name, fn] of Object.entries(mod)) out.push({ file: f, name, fn: fn as AnyAction });
  }
  return out;
}

function routeFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...routeFiles(p));
    else if (e.name === 'route.ts') out.push(p);
  }
  return out;
}

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let ctx: Ctx;

beforeAll(async () => {
  db = await createTestDatabase();
  // A route that opens the app's own pool (the live events stream) boots this database, not an
  // embedded one in the repo's ./.data (test/setup/per-file.ts fails a file that does that).
  process.env.DATABASE_URL = db.url;
  ctx = await makeCtx(db.db);
});
afterAll(async () => {
  setDashboardRuntimeForTests({});
  await closeAppPool();
  await db?.drop();
});

async function auditCount(): Promise<number> {
  return (await ctx.db.select({ id: auditEvents.id }).from(auditEvents)).length;
}

describe('action() wrapper', () => {
  const echo = action(z.object({ n: z.coerce.number().int().positive('n must be positive'), flag: z.boolean().optional() }), 'operator', async (i) => ({ message: `got ${i.n}`, data: i }));

  it('refuses without a session, below the role, and passes at or above it', async () => {
    setDashboardRuntimeForTests({ getCtx: async () => ctx, resolveActor: async () => null });
    expect(await echo({ n: 1 })).toEqual({ ok: false, error: { code: 'unauthorized', message: expect.any(String) } });
    setDashboardRuntimeForTests({ getCtx: async () => ctx, resolveActor: async () => actorFor('viewer') });
    const r = await echo({ n: 1 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('forbidden');
      expect(r.error.message).toMatch(/operator role/);
    }
    for (const role of ['operator', 'admin'] as const) {
      setDashboardRuntimeForTests({ getCtx: async () => ctx, resolveActor: async () => actorFor(role) });
      expect(await echo({ n: 2 })).toEqual({ ok: true, message: 'got 2', data: { n: 2 } });
    }
  });

  it('coerces FormData: blanks are dropped, checkboxes become true, $ACTION keys are ignored', async () => {
    const fd = new FormData();
    fd.set('n', '7');
    fd.set('flag', 'on');
    fd.set('blank', '');
    fd.set('$ACTION_ID_abc', '');
    expect(formDataToObject(fd)).toEqual({ n: '7', flag: true, blank: undefined });
    setDashboardRuntimeForTests({ getCtx: async () => ctx, resolveActor: async () => actorFor('admin') });
    expect(await echo(fd as never)).toEqual({ ok: true, message: 'got 7', data: { n: 7, flag: true } });
  });

  it('turns validation errors, AppErrors and crashes into typed results without stacks', async () => {
    setDashboardRuntimeForTests({ getCtx: async () => ctx, resolveActor: async () => actorFor('admin') });
    const bad = await echo({ n: -1 });
    expect(bad).toEqual({ ok: false, error: { code: 'validation_failed', message: 'n must be positive', field: 'n' } });
    const appErr = action(z.object({}), 'viewer', async () => {
      throw new AppError(409, 'already_final', 'Job x has already ended', 'id');
    });
    expect(await appErr({})).toEqual({ ok: false, error: { code: 'already_final', message: 'Job x has already ended', field: 'id' } });
    const crash = action(z.object({}), 'viewer', async () => {
      throw new Error('connection terminated at /srv/secret/path.ts:12');
    });
    const r = await crash({});
    expect(r).toEqual({ ok: false, error: { code: 'internal', message: expect.any(String) } });
    expect(JSON.stringify(r)).not.toMatch(/secret|\.ts:|at /);
  });
});

describe('every server action', () => {
  it('is an action() with a declared role; only login is public', async () => {
    const all = await loadActions();
    expect(all.length).toBeGreaterThanOrEqual(14);
    for (const a of all) {
      expect(typeof a.fn, `${a.file}:${a.name}`).toBe('function');
      expect(a.fn.meta?.role, `${a.file}:${a.name} must be built with action(schema, role, fn)`).toMatch(/^(viewer|operator|admin|public)$/);
    }
    expect(all.filter((a) => a.fn.meta!.role === 'public').map((a) => a.name)).toEqual(['loginAction']);
  });

  it('refuses callers with no session and with each role below its own, and writes nothing', async () => {
    const all = (await loadActions()).filter((a) => a.fn.meta!.role !== 'public');
    const before = await auditCount();
    // A well-formed input, so a refusal can only come from the role check.
    const input = { id: crypto.randomUUID(), name: 'free', fields: {}, changes: {}, email: 'x@example.com', role: 'admin', seconds: 60, suspended: true, dryRun: true, containerId: 'abcdef012345', plan: 'free' };
    let checked = 0;
    for (const a of all) {
      setDashboardRuntimeForTests({ getCtx: async () => ctx, resolveActor: async () => null });
      const none = await a.fn(input);
      expect(none, `${a.name} without a session`).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
      checked++;
      const required = a.fn.meta!.role as Role;
      for (const role of ROLES.filter((r) => RANK[r] < RANK[required])) {
        setDashboardRuntimeForTests({ getCtx: async () => ctx, resolveActor: async () => actorFor(role) });
        const r = await a.fn(input);
        expect(r, `${a.name} as ${role}`).toMatchObject({ ok: false, error: { code: 'forbidden' } });
        checked++;
      }
      // At the required role the wrapper lets the call through (the domain may still refuse the input).
      setDashboardRuntimeForTests({ getCtx: async () => ctx, resolveActor: async () => actorFor(required) });
      const ok = await a.fn({});
      expect(ok.ok ? 'ok' : ok.error.code, `${a.name} as ${required}`).not.toMatch(/^(unauthorized|forbidden)$/);
    }
    expect(checked).toBeGreaterThan(all.length);
    expect(await auditCount()).toBe(before);
  });

  it('the domain refuses too: an action body calling a domain function with a too-low actor is refused', async () => {
    // Defence in depth: even if an action declared too low a role, killJob checks the role itself.
    const { killJobAction } = await import('../server/actions/jobs');
    expect(killJobAction.meta.role).toBe('operator');
    const { killJob } = await import('../server/domain/jobs');
    await expect(killJob(ctx, actorFor('viewer'), crypto.randomUUID(), {})).rejects.toMatchObject({ status: 403 });
  });
});

describe('every UI read route (app/api/ui/**)', () => {
  const tokens: Partial<Record<Role, string>> = {};

  beforeAll(async () => {
    setDashboardRuntimeForTests({ getCtx: async () => ctx });
    for (const role of ROLES) {
      const [op] = await ctx.db.insert(operators).values({ email: `route-${role}@test`, role, passwordHash: null }).returning();
      const token = crypto.randomBytes(32).toString('base64url');
      await ctx.db.insert(sessions).values({ id: sha256(token), operatorId: op!.id, expiresAt: new Date(ctx.clock.now().getTime() + 3600_000) });
      tokens[role] = token;
    }
  });

  type Handler = (req: Request, r: { params: Promise<never> }) => Promise<Response>;
  const call = async (handler: unknown, cookie?: string) => {
    const req = new Request('http://localhost/api/ui/x?tab=running', { headers: cookie ? { cookie } : {} });
    return (handler as Handler)(req, { params: Promise.resolve({ id: crypto.randomUUID() }) as Promise<never> });
  };

  it('are all uiRoute handlers that refuse no session (401) and lower roles (403)', async () => {
    setDashboardRuntimeForTests({ getCtx: async () => ctx });
    const files = routeFiles(path.join(ROOT, 'app/api/ui'));
    expect(files.length).toBeGreaterThanOrEqual(10);
    let handlers = 0;
    for (const f of files) {
      const mod = (await import(f)) as Record<string, unknown>;
      for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
        const h = mod[method] as Handler & { meta?: { role: Role } };
        if (!h) continue;
        handlers++;
        const rel = `${path.relative(ROOT, f)} ${method}`;
        expect(h.meta?.role, `${rel} must be built with uiRoute(role, fn)`).toMatch(/^(viewer|operator|admin)$/);
        expect((await call(h)).status, `${rel} without a cookie`).toBe(401);
        expect((await call(h, `${SESSION_COOKIE}=not-a-real-session-token-0123456789`)).status, `${rel} with a forged cookie`).toBe(401);
        for (const role of ROLES.filter((r) => RANK[r] < RANK[h.meta!.role])) {
          const res = await call(h, `other=1; ${SESSION_COOKIE}=${tokens[role]}`);
          expect(res.status, `${rel} as ${role}`).toBe(403);
          expect(await res.json()).toMatchObject({ error: { code: 'forbidden' } });
        }
        const res = await call(h, `${SESSION_COOKIE}=${tokens[h.meta!.role]}`);
        expect([401, 403], `${rel} as ${h.meta!.role} must pass the role check`).not.toContain(res.status);
      }
    }
    expect(handlers).toBe(files.length);
  });

  it('refuses an expired session and a disabled operator', async () => {
    setDashboardRuntimeForTests({ getCtx: async () => ctx });
    const { GET } = await import('../app/api/ui/overview/route');
    const [op] = await ctx.db.insert(operators).values({ email: 'expired@test', role: 'admin', passwordHash: null }).returning();
    const expired = crypto.randomBytes(32).toString('base64url');
    await ctx.db.insert(sessions).values({ id: sha256(expired), operatorId: op!.id, expiresAt: new Date(ctx.clock.now().getTime() - 1000) });
    const r0 = await call(GET, `${SESSION_COOKIE}=${expired}`);
    expect(r0.status, await r0.clone().text()).toBe(401);
    const live = crypto.randomBytes(32).toString('base64url');
    await ctx.db.insert(sessions).values({ id: sha256(live), operatorId: op!.id, expiresAt: new Date(ctx.clock.now().getTime() + 60_000) });
    expect((await call(GET, `${SESSION_COOKIE}=${live}`)).status).toBe(200);
    await ctx.db.update(operators).set({ disabled: true }).where(eq(operators.id, op!.id));
    expect((await call(GET, `${SESSION_COOKIE}=${live}`)).status).toBe(401);
  });
});
