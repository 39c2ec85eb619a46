import { eq, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import { plans, usage, users } from '../db/schema';
import type { Actor } from './actor';
import { forbidden, notFound } from './errors';
import { effectiveLimits, monthKey } from './limits';
import { ACTIVE_STATUSES, sqlList } from './status';

/**
 * GET /api/v1/me — what a user key may see of itself: its plan, its effective limits and which
 * rule set each (`user`: a per-user override; `plan`: the plan's value), how many of its jobs hold
 * a slot and how many wait, and this month's usage against its quota with the time until the
 * quota resets (usage is counted per calendar month, UTC). Operator keys get who they are.
 */

type Source = 'user' | 'plan';
const lim = <T>(value: T, source: Source) => ({ value, source });

/** First instant of the month after `now`, UTC: when this month's usage stops counting. */
export function quotaResetsAt(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

export async function getMe(ctx: Ctx, actor: Actor) {
  if (actor.kind === 'operator') return { operator: { id: actor.id, email: actor.email, role: actor.role } };
  if (actor.kind !== 'user') throw forbidden('GET /api/v1/me needs an API key');
  const now = ctx.clock.now();
  const month = monthKey(now);
  const [r] = await ctx.db
    .select({
      user: users,
      plan: plans,
      active: sql<number>`(select count(*)::int from jobs j where j.user_id = ${users.id} and j.status in ${sql.raw(sqlList(ACTIVE_STATUSES))})`,
      queued: sql<number>`(select count(*)::int from jobs j where j.user_id = ${users.id} and j.status = 'queued')`,
      usedS: sql<number>`coalesce((select ${usage.seconds} from ${usage} where ${usage.userId} = ${users.id} and ${usage.month} = ${month}), 0)::float8`,
      usedJobs: sql<number>`coalesce((select ${usage.jobs} from ${usage} where ${usage.userId} = ${users.id} and ${usage.month} = ${month}), 0)::int`,
    })
    .from(users)
    .innerJoin(plans, eq(plans.id, users.planId))
    .where(eq(users.id, actor.id));
  if (!r) throw notFound('User', actor.id);
  const { user: u, plan: p } = r;
  const l = effectiveLimits(p, u);
  const src = (override: unknown): Source => (override != null ? 'user' : 'plan');
  const used = Number(r.usedS);
  const resets = quotaResetsAt(now);
  return {
    user: { id: u.id, name: u.name, createdAt: u.createdAt.toISOString() },
    plan: p.name,
    limits: {
      defaultTimeoutSeconds: lim(l.defaultTimeoutS, src(u.defaultTimeoutS)),
      maxTimeoutSeconds: lim(l.maxTimeoutS, src(u.maxTimeoutS)),
      maxConcurrentJobs: lim(l.maxConcurrentJobs, src(u.maxConcurrentJobs)),
      maxQueuedJobs: lim(l.maxQueuedJobs, src(u.maxQueuedJobs)),
      monthlyQuotaSeconds: lim(l.monthlyQuotaS, src(u.monthlyQuotaS)),
      gracePeriodSeconds: lim(p.gracePeriodS, 'plan'),
      warnBeforeSeconds: lim(p.warnBeforeS, 'plan'),
      maxRetries: lim(p.maxRetries, 'plan'),
      cpus: lim(p.cpus, 'plan'),
      memoryMb: lim(p.memoryMb, 'plan'),
    },
    /** Jobs holding one of the user's slots (starting, running, terminating). */
    running: Number(r.active),
    queued: Number(r.queued),
    usage: {
      month,
      seconds: used,
      jobs: Number(r.usedJobs),
      quotaSeconds: l.monthlyQuotaS,
      remainingSeconds: l.monthlyQuotaS == null ? null : Math.max(0, l.monthlyQuotaS - used),
      overQuota: l.monthlyQuotaS != null && used >= l.monthlyQuotaS,
      resetsAt: resets.toISOString(),
      secondsUntilReset: Math.max(0, Math.ceil((resets.getTime() - now.getTime()) / 1000)),
    },
  };
}
