import { and, asc, eq, gt, ilike, sql, type SQL } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { apiKeys, plans, users, type Plan, type User } from '../db/schema';
import { type Actor, requireRole } from './actor';
import { audit } from './audit';
import { conflict, invalid, notFound, parseInput } from './errors';
import { effectiveLimits, monthKey } from './limits';
import { createUserSchema, isUuid, updateUserSchema } from './schemas';
import { createKey, keyToJson, type KeyJson } from './keys';
import { newApiKey } from './secrets';
import { ACTIVE_STATUSES, sqlList } from './status';

export function userToJson(u: User, plan: Plan) {
  const l = effectiveLimits(plan, u);
  return {
    id: u.id,
    name: u.name,
    plan: plan.name,
    overrides: {
      defaultTimeoutSeconds: u.defaultTimeoutS,
      maxTimeoutSeconds: u.maxTimeoutS,
      maxConcurrentJobs: u.maxConcurrentJobs,
      maxQueuedJobs: u.maxQueuedJobs,
      monthlyQuotaSeconds: u.monthlyQuotaS,
    },
    limits: {
      defaultTimeoutSeconds: l.defaultTimeoutS,
      maxTimeoutSeconds: l.maxTimeoutS,
      maxConcurrentJobs: l.maxConcurrentJobs,
      maxQueuedJobs: l.maxQueuedJobs,
      monthlyQuotaSeconds: l.monthlyQuotaS,
    },
    createdAt: u.createdAt.toISOString(),
  };
}

async function planByName(db: DbOrTx, name: string): Promise<Plan> {
  const [p] = await db.select().from(plans).where(eq(plans.name, name));
  if (!p) throw invalid(`Unknown plan "${name}"`, 'plan', 'unknown_plan');
  return p;
}

/** Creates a user with a fresh API key (returned once, stored hashed). */
export async function createUser(ctx: Ctx, actor: Actor, raw: unknown): Promise<{ user: User; plan: Plan; apiKey: string }> {
  requireRole(actor, 'admin');
  const input = parseInput(createUserSchema, raw);
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const plan = await planByName(tx, input.plan);
    const [user] = await tx
      .insert(users)
      .values({ name: input.name, planId: plan.id, createdAt: now })
      .onConflictDoNothing({ target: users.name })
      .returning();
    if (!user) throw conflict(`A user named "${input.name}" already exists`, 'already_exists');
    const k = newApiKey('user');
    await tx.insert(apiKeys).values({ keyHash: k.hash, prefix: k.prefix, userId: user.id, createdAt: now });
    await audit(tx, { actor, action: 'user.create', targetType: 'user', targetId: user.id, at: now, details: { name: user.name, plan: plan.name } });
    return { user, plan, apiKey: k.key };
  });
}

export async function getUserWithPlan(db: DbOrTx, id: string): Promise<{ user: User; plan: Plan } | null> {
  if (!isUuid(id)) return null;
  const [r] = await db.select({ user: users, plan: plans }).from(users).innerJoin(plans, eq(plans.id, users.planId)).where(eq(users.id, id));
  return r ?? null;
}

export interface UserStats {
  user: User;
  plan: Plan;
  running: number;
  queued: number;
  usageSeconds: number;
}

/** Users with their live counts and this month's usage (one query), by name; `q` matches names. */
export async function listUsersWithStats(
  db: DbOrTx,
  now: Date,
  opts: { limit?: number; afterName?: string; q?: string } = {},
): Promise<UserStats[]> {
  const month = monthKey(now);
  const conds: SQL[] = [];
  if (opts.q) conds.push(ilike(users.name, `%${opts.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`));
  if (opts.afterName) conds.push(gt(users.name, opts.afterName));
  return db
    .select({
      user: users,
      plan: plans,
      running: sql<number>`(select count(*)::int from jobs j where j.user_id = ${users.id} and j.status in ${sql.raw(sqlList(ACTIVE_STATUSES))})`,
      queued: sql<number>`(select count(*)::int from jobs j where j.user_id = ${users.id} and j.status = 'queued')`,
      usageSeconds: sql<number>`coalesce((select seconds from usage us where us.user_id = ${users.id} and us.month = ${month}), 0)::float8`,
    })
    .from(users)
    .innerJoin(plans, eq(plans.id, users.planId))
    .where(conds.length ? and(...conds) : undefined)
    .orderBy(asc(users.name))
    .limit(opts.limit ?? 500);
}

export async function listUsers(ctx: Ctx, actor: Actor) {
  requireRole(actor, 'viewer');
  return listUsersWithStats(ctx.db, ctx.clock.now());
}

/** PUT /api/v1/users/:id — change plan and per-user overrides (null clears an override). */
export async function updateUser(ctx: Ctx, actor: Actor, id: string, raw: unknown): Promise<{ user: User; plan: Plan }> {
  requireRole(actor, 'admin');
  const input = parseInput(updateUserSchema, raw);
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const found = await getUserWithPlan(tx, id);
    if (!found) throw notFound('User', id);
    const plan = input.plan ? await planByName(tx, input.plan) : found.plan;
    const patch: Partial<User> = {};
    if (input.plan) patch.planId = plan.id;
    if (input.defaultTimeoutSeconds !== undefined) patch.defaultTimeoutS = input.defaultTimeoutSeconds;
    if (input.maxTimeoutSeconds !== undefined) patch.maxTimeoutS = input.maxTimeoutSeconds;
    if (input.maxConcurrentJobs !== undefined) patch.maxConcurrentJobs = input.maxConcurrentJobs;
    if (input.maxQueuedJobs !== undefined) patch.maxQueuedJobs = input.maxQueuedJobs;
    if (input.monthlyQuotaSeconds !== undefined) patch.monthlyQuotaS = input.monthlyQuotaSeconds;
    const next = { ...found.user, ...patch };
    const l = effectiveLimits(plan, next);
    if (l.defaultTimeoutS != null && l.defaultTimeoutS > l.maxTimeoutS) {
      throw invalid(`defaultTimeoutSeconds (${l.defaultTimeoutS}) must not exceed the maximum timeout (${l.maxTimeoutS})`, 'defaultTimeoutSeconds');
    }
    if (Object.keys(patch).length === 0) return { user: found.user, plan };
    const [user] = await tx.update(users).set(patch).where(eq(users.id, id)).returning();
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    for (const [k, v] of Object.entries(patch)) changes[k] = { from: (found.user as Record<string, unknown>)[k], to: v };
    await audit(tx, { actor, action: 'user.update', targetType: 'user', targetId: id, at: now, details: { changes } });
    return { user: user!, plan };
  });
}

/** POST /api/v1/users/:id/keys — a new key for the user (shown once); body `{expiresAt?}`. */
export async function createUserKey(ctx: Ctx, actor: Actor, id: string, raw: unknown = {}): Promise<KeyJson & { apiKey: string }> {
  const r = await createKey(ctx, actor, { kind: 'user', id }, raw);
  return { ...keyToJson(r.key), apiKey: r.apiKey };
}
