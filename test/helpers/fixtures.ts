import { eq } from 'drizzle-orm';
import { FakeClock, type Clock } from '../../server/clock';
import type { Ctx } from '../../server/context';
import type { Db } from '../../server/db/client';
import { plans, users, type Plan, type User } from '../../server/db/schema';
import type { Actor } from '../../server/domain/actor';
import type { DockerRuntime } from '../../server/docker/types';
import { ensureInstallation } from '../../server/domain/installation';
import { seedDefaultPlans } from '../../server/domain/plans';
import { createUser } from '../../server/domain/users';

export const ADMIN: Actor = { kind: 'operator', id: '00000000-0000-4000-8000-000000000001', email: 'admin@test', role: 'admin' };
export const OPERATOR: Actor = { kind: 'operator', id: '00000000-0000-4000-8000-000000000002', email: 'op@test', role: 'operator' };
export const VIEWER: Actor = { kind: 'operator', id: '00000000-0000-4000-8000-000000000003', email: 'viewer@test', role: 'viewer' };

/** A context over a test database; fake clock unless one is given. */
export async function makeCtx(db: Db, opts: { clock?: Clock; docker?: DockerRuntime | null; node?: string } = {}): Promise<Ctx & { clock: Clock }> {
  await seedDefaultPlans(db);
  return { db, clock: opts.clock ?? new FakeClock(), node: opts.node ?? 'test-node', installation: await ensureInstallation(db), docker: opts.docker ?? null };
}

/** Creates a plan (overriding defaults) and a user on it; returns the user actor and API key. */
export async function makeUser(
  ctx: Ctx,
  opts: { name?: string; plan?: Partial<Plan> & { name?: string }; overrides?: Partial<User> } = {},
): Promise<{ user: User; plan: Plan; actor: Actor; apiKey: string }> {
  const planName = opts.plan?.name ?? 'free';
  const [existing] = await ctx.db.select().from(plans).where(eq(plans.name, planName));
  if (!existing) {
    await ctx.db.insert(plans).values({ name: planName, ...opts.plan });
  } else if (opts.plan) {
    const { name: _n, id: _i, ...rest } = opts.plan;
    if (Object.keys(rest).length) await ctx.db.update(plans).set(rest).where(eq(plans.name, planName));
  }
  const name = opts.name ?? `u${Math.random().toString(36).slice(2, 10)}`;
  const r = await createUser(ctx, ADMIN, { name, plan: planName });
  let user = r.user;
  if (opts.overrides) {
    [user] = (await ctx.db.update(users).set(opts.overrides).where(eq(users.id, r.user.id)).returning()) as [User];
  }
  const [plan] = await ctx.db.select().from(plans).where(eq(plans.name, planName));
  return { user, plan: plan!, actor: { kind: 'user', id: user.id, name: user.name }, apiKey: r.apiKey };
}

/** Polls until fn returns a truthy value (no fixed sleeps as assertions). */
export async function waitFor<T>(fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const until = Date.now() + (opts.timeoutMs ?? 20_000);
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
  throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${last ? `: ${String(last)}` : ''}`);
}
