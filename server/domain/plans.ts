import { asc, eq, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { plans, users, type NewPlan, type Plan } from '../db/schema';
import { type Actor, requireRole } from './actor';
import { audit } from './audit';
import { AppError, invalid, notFound, parseInput } from './errors';
import { runtimeUnavailable } from '../docker/fence';
import { FENCE_DEFAULTS, MANAGED_NETWORK, networkMode, NO_NETWORK } from '../docker/host-config';
import { planFieldsSchema, planNameSchema, type PlanFieldsInput } from './schemas';
import { ACTIVE_STATUSES, LIVE_STATUSES, RUNNING_STATUSES, sqlList } from './status';

/** Plans created on first start; operators edit them freely afterwards. */
export const DEFAULT_PLANS: NewPlan[] = [
  {
    name: 'free',
    defaultTimeoutS: 300,
    maxTimeoutS: 900,
    maxConcurrentJobs: 2,
    maxQueuedJobs: 20,
    gracePeriodS: 10,
    warnBeforeS: 30,
    ttlSucceededS: 3600,
    ttlFailedS: 86400,
    ttlTimedOutS: 86400,
    ttlKilledS: 86400,
    ttlLostS: 86400,
    maxRetries: 1,
    monthlyQuotaS: 36000,
    cpus: 1,
    memoryMb: 512,
    maxResultsMb: 50,
  },
  {
    name: 'pro',
    defaultTimeoutS: 900,
    maxTimeoutS: 7200,
    maxConcurrentJobs: 10,
    maxQueuedJobs: 200,
    gracePeriodS: 30,
    warnBeforeS: 60,
    ttlSucceededS: 3600,
    ttlFailedS: 86400,
    ttlTimedOutS: 86400,
    ttlKilledS: 86400,
    ttlLostS: 86400,
    maxRetries: 3,
    monthlyQuotaS: null,
    cpus: 2,
    memoryMb: 2048,
    maxResultsMb: 50,
  },
  {
    name: 'enterprise',
    defaultTimeoutS: 3600,
    maxTimeoutS: 86400,
    maxConcurrentJobs: 50,
    maxQueuedJobs: 2000,
    gracePeriodS: 60,
    warnBeforeS: 300,
    ttlSucceededS: 7200,
    ttlFailedS: 7 * 86400,
    ttlTimedOutS: 7 * 86400,
    ttlKilledS: 7 * 86400,
    ttlLostS: 7 * 86400,
    maxRetries: 3,
    monthlyQuotaS: null,
    cpus: 4,
    memoryMb: 8192,
    maxResultsMb: 50,
  },
];

export async function seedDefaultPlans(db: DbOrTx): Promise<void> {
  await db.insert(plans).values(DEFAULT_PLANS).onConflictDoNothing({ target: plans.name });
}

export function planToJson(p: Plan) {
  return {
    name: p.name,
    defaultTimeoutSeconds: p.defaultTimeoutS,
    maxTimeoutSeconds: p.maxTimeoutS,
    maxConcurrentJobs: p.maxConcurrentJobs,
    maxQueuedJobs: p.maxQueuedJobs,
    gracePeriodSeconds: p.gracePeriodS,
    warnBeforeSeconds: p.warnBeforeS,
    ttlSucceededSeconds: p.ttlSucceededS,
    ttlFailedSeconds: p.ttlFailedS,
    ttlTimedOutSeconds: p.ttlTimedOutS,
    ttlKilledSeconds: p.ttlKilledS,
    ttlLostSeconds: p.ttlLostS,
    maxRetries: p.maxRetries,
    monthlyQuotaSeconds: p.monthlyQuotaS,
    cpus: p.cpus,
    memoryMb: p.memoryMb,
    idleTimeoutSeconds: p.idleTimeoutS,
    resultsPath: p.resultsPath,
    maxResultsMb: p.maxResultsMb,
    maxResultsTotalMb: p.maxResultsTotalMb,
    pidsLimit: p.pidsLimit,
    network: p.network,
    runtime: p.runtime,
    maxEnvVars: p.maxEnvVars,
    maxEnvBytes: p.maxEnvBytes,
    maxCommandArgs: p.maxCommandArgs,
    maxCommandBytes: p.maxCommandBytes,
    maxLabels: p.maxLabels,
    maxLabelBytes: p.maxLabelBytes,
    createdAt: p.createdAt.toISOString(),
    updatedAt: p.updatedAt.toISOString(),
  };
}
export type PlanJson = ReturnType<typeof planToJson>;

const FIELD_MAP = {
  defaultTimeoutSeconds: 'defaultTimeoutS',
  maxTimeoutSeconds: 'maxTimeoutS',
  maxConcurrentJobs: 'maxConcurrentJobs',
  maxQueuedJobs: 'maxQueuedJobs',
  gracePeriodSeconds: 'gracePeriodS',
  warnBeforeSeconds: 'warnBeforeS',
  ttlSucceededSeconds: 'ttlSucceededS',
  ttlFailedSeconds: 'ttlFailedS',
  ttlTimedOutSeconds: 'ttlTimedOutS',
  ttlKilledSeconds: 'ttlKilledS',
  ttlLostSeconds: 'ttlLostS',
  maxRetries: 'maxRetries',
  monthlyQuotaSeconds: 'monthlyQuotaS',
  cpus: 'cpus',
  memoryMb: 'memoryMb',
  idleTimeoutSeconds: 'idleTimeoutS',
  resultsPath: 'resultsPath',
  maxResultsMb: 'maxResultsMb',
  maxResultsTotalMb: 'maxResultsTotalMb',
  pidsLimit: 'pidsLimit',
  network: 'network',
  runtime: 'runtime',
  maxEnvVars: 'maxEnvVars',
  maxEnvBytes: 'maxEnvBytes',
  maxCommandArgs: 'maxCommandArgs',
  maxCommandBytes: 'maxCommandBytes',
  maxLabels: 'maxLabels',
  maxLabelBytes: 'maxLabelBytes',
} as const satisfies Record<keyof PlanFieldsInput, keyof NewPlan>;

export async function listPlans(db: DbOrTx): Promise<Plan[]> {
  return db.select().from(plans).orderBy(asc(plans.id));
}

export async function getPlanByName(db: DbOrTx, name: string): Promise<Plan | null> {
  const [p] = await db.select().from(plans).where(eq(plans.name, name));
  return p ?? null;
}

export async function getPlan(ctx: Ctx, actor: Actor, name: string): Promise<Plan> {
  requireRole(actor, 'viewer');
  const p = await getPlanByName(ctx.db, name);
  if (!p) throw notFound('Plan', name);
  return p;
}

/** Cross-field rules a plan must satisfy after a change. */
export function checkPlanConsistency(p: Pick<Plan, 'defaultTimeoutS' | 'maxTimeoutS'>): void {
  if (p.defaultTimeoutS > p.maxTimeoutS) {
    throw invalid(
      `defaultTimeoutSeconds (${p.defaultTimeoutS}) must not exceed maxTimeoutSeconds (${p.maxTimeoutS})`,
      'defaultTimeoutSeconds',
    );
  }
}

/**
 * A plan's runtime and named network must exist on the engine. Checked here against this
 * process's engine when it answers (the dispatcher checks again on the job's own node at start,
 * so an engine that is down now cannot let a bad value through to a running container).
 */
async function checkPlanFence(ctx: Ctx, input: PlanFieldsInput): Promise<void> {
  if (!ctx.docker || (input.runtime == null && input.network === undefined)) return;
  try {
    if (input.runtime != null) {
      const have = await ctx.docker.runtimes();
      if (!have.includes(input.runtime)) throw invalid(runtimeUnavailable(input.runtime, have, 'the Docker engine this Warden uses'), 'runtime', 'runtime_unavailable');
    }
    const mode = input.network === undefined ? null : networkMode(input.network);
    if (mode && mode !== NO_NETWORK && mode !== MANAGED_NETWORK.name && !(await ctx.docker.networkExists(mode))) {
      throw invalid(`network "${mode}" does not exist on the Docker engine this Warden uses; create it first, or use "warden" or "none"`, 'network', 'network_unavailable');
    }
  } catch (e) {
    if (e instanceof AppError) throw e;
    // Engine unreachable: the start-time check on the job's node refuses instead.
  }
}

/** What a plan change means for work in flight: shown before saving. */
export interface PlanChangePreview {
  runningJobs: number;
  runningOverNewMax: number;
  usersOverNewConcurrency: number;
  queuedJobs: number;
  notes: string[];
}

export async function previewPlanChange(ctx: Ctx, actor: Actor, name: string, raw: unknown): Promise<PlanChangePreview> {
  requireRole(actor, 'viewer');
  const input = parseInput(planFieldsSchema, raw);
  const current = await getPlanByName(ctx.db, name);
  const next = { ...(current ?? DEFAULT_PLANS[0]!), ...mapFields(input) } as Plan;
  checkPlanConsistency(next);
  if (!current) return { runningJobs: 0, runningOverNewMax: 0, usersOverNewConcurrency: 0, queuedJobs: 0, notes: ['New plan: no users yet.'] };
  const RUNNING = sql.raw(sqlList(RUNNING_STATUSES));
  const [r] = await ctx.db.execute<{ running: number; over_max: number; queued: number; users_over: number }>(sql`
    select
      count(*) filter (where j.status in ${RUNNING})::int as running,
      count(*) filter (where j.status in ${RUNNING} and j.timeout_s > ${next.maxTimeoutS} and u.max_timeout_s is null)::int as over_max,
      count(*) filter (where j.status = 'queued')::int as queued,
      (select count(*)::int from (
         select u2.id from users u2 join jobs j2 on j2.user_id = u2.id
         where u2.plan_id = ${current.id} and u2.max_concurrent_jobs is null
           and j2.status in ${sql.raw(sqlList(ACTIVE_STATUSES))}
         group by u2.id having count(*) > ${next.maxConcurrentJobs}) x) as users_over
    from jobs j join users u on u.id = j.user_id
    where u.plan_id = ${current.id} and j.status in ${sql.raw(sqlList(LIVE_STATUSES))}`);
  const row = r ?? { running: 0, over_max: 0, queued: 0, users_over: 0 };
  const notes: string[] = [];
  notes.push('Running jobs keep their current deadline; new limits apply to jobs submitted or started after saving.');
  if (row.over_max > 0) notes.push(`${row.over_max} running job(s) already exceed the new maximum timeout and cannot be extended further.`);
  if (row.users_over > 0) notes.push(`${row.users_over} user(s) run more jobs than the new concurrency limit; no new jobs start for them until they drop below it.`);
  return { runningJobs: row.running, runningOverNewMax: row.over_max, usersOverNewConcurrency: row.users_over, queuedJobs: row.queued, notes };
}

function mapFields(input: PlanFieldsInput): Partial<NewPlan> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    out[FIELD_MAP[k as keyof PlanFieldsInput]] = v;
  }
  return out as Partial<NewPlan>;
}

/** PUT /api/v1/plans/:name — create or update (admin). Audited with the before/after of each changed field. */
export async function upsertPlan(ctx: Ctx, actor: Actor, name: string, raw: unknown): Promise<{ plan: Plan; created: boolean }> {
  requireRole(actor, 'admin');
  const n = planNameSchema.safeParse(name);
  if (!n.success) throw invalid(n.error.issues[0]!.message, 'name');
  const input = parseInput(planFieldsSchema, raw);
  await checkPlanFence(ctx, input);
  const patch = mapFields(input);
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    let [current] = await tx.select().from(plans).where(eq(plans.name, name)).for('update');
    if (!current) {
      // A plan created without caps gets the documented fence defaults, never "no cap".
      const base = { ...DEFAULT_PLANS[0]!, monthlyQuotaS: null, cpus: FENCE_DEFAULTS.cpus, memoryMb: FENCE_DEFAULTS.memoryMb, pidsLimit: FENCE_DEFAULTS.pidsLimit, idleTimeoutS: null, resultsPath: null };
      const row = { ...base, ...patch, name, createdAt: now, updatedAt: now };
      checkPlanConsistency(row as Plan);
      // Two PUTs creating one plan: the loser's insert waits for the winner, then does nothing
      // (instead of a unique-violation 500) and this PUT becomes an update of the new row.
      const [created] = await tx.insert(plans).values(row).onConflictDoNothing({ target: plans.name }).returning();
      if (created) {
        await audit(tx, { actor, action: 'plan.create', targetType: 'plan', targetId: name, at: now, details: { fields: input } });
        return { plan: created, created: true };
      }
      [current] = await tx.select().from(plans).where(eq(plans.name, name)).for('update');
      if (!current) throw new AppError(409, 'conflict', `Plan ${name} was changed concurrently; try again`);
    }
    const next = { ...current, ...patch };
    checkPlanConsistency(next);
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    for (const [k, v] of Object.entries(patch)) {
      const before = (current as Record<string, unknown>)[k];
      if (before !== v) changes[k] = { from: before, to: v };
    }
    if (Object.keys(changes).length === 0) return { plan: current, created: false };
    const [updated] = await tx
      .update(plans)
      .set({ ...patch, updatedAt: now })
      .where(eq(plans.id, current.id))
      .returning();
    await audit(tx, { actor, action: 'plan.update', targetType: 'plan', targetId: name, at: now, details: { changes } });
    return { plan: updated!, created: false };
  });
}

export async function planForUser(db: DbOrTx, userId: string): Promise<Plan> {
  const [r] = await db.select({ plan: plans }).from(users).innerJoin(plans, eq(plans.id, users.planId)).where(eq(users.id, userId));
  if (!r) throw new AppError(404, 'not_found', `User ${userId} not found`);
  return r.plan;
}

