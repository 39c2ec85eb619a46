import { and, desc, eq, ilike, lt, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { Ctx } from '../context';
import { auditEvents, jobs } from '../db/schema';
import { type Actor, requireRole } from './actor';
import { parseInput } from './errors';
import { resolveJobId } from './job-ids';

export const auditQuerySchema = z.strictObject({
  actor: z.string().max(300).optional(),
  action: z.string().max(100).optional(),
  targetType: z.string().max(50).optional(),
  targetId: z.string().max(100).optional(),
  job: z.string().max(100).optional(),
  /** Events of jobs whose name contains this (of at most 500 such jobs). */
  jobName: z.string().max(200).optional(),
  q: z.string().max(200).optional(),
  limit: z.coerce.number().int('limit must be a whole number').min(1, 'limit must be at least 1').max(500, 'limit must be at most 500').optional(),
  cursor: z.coerce.number().int().positive().optional(),
});

/** GET /api/v1/audit — newest first; filters by actor, action, target; `q` searches reason/target/actor. */
export async function listAudit(ctx: Ctx, actor: Actor, raw: Record<string, string | undefined>) {
  requireRole(actor, 'viewer');
  const f = parseInput(auditQuerySchema, raw);
  const where: SQL[] = [];
  if (f.actor) where.push(f.actor.includes(':') ? eq(auditEvents.actor, f.actor) : ilike(auditEvents.actor, `%${escapeLike(f.actor)}%`));
  if (f.action) where.push(f.action.endsWith('*') ? ilike(auditEvents.action, `${escapeLike(f.action.slice(0, -1))}%`) : eq(auditEvents.action, f.action));
  if (f.targetType) where.push(eq(auditEvents.targetType, f.targetType));
  if (f.targetId) where.push(eq(auditEvents.targetId, f.targetId));
  // A job id may be a unique prefix (≥ 6 characters), as the dashboard shows ids.
  if (f.job) where.push(and(eq(auditEvents.targetType, 'job'), eq(auditEvents.targetId, await resolveJobId(ctx.db, actor, f.job)))!);
  if (f.jobName) {
    where.push(
      and(
        eq(auditEvents.targetType, 'job'),
        sql`${auditEvents.targetId} in (select id::text from ${jobs} where ${jobs.name} ilike ${`%${escapeLike(f.jobName)}%`} limit 500)`,
      )!,
    );
  }
  if (f.q) {
    const like = `%${escapeLike(f.q)}%`;
    where.push(or(ilike(auditEvents.reason, like), ilike(auditEvents.targetId, like), ilike(auditEvents.actor, like), ilike(auditEvents.action, like), ilike(auditEvents.error, like))!);
  }
  if (f.cursor) where.push(lt(auditEvents.id, f.cursor));
  const limit = f.limit ?? 100;
  const rows = await ctx.db
    .select()
    .from(auditEvents)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(auditEvents.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { events: page, nextCursor: rows.length > limit ? String(page[page.length - 1]!.id) : null };
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export function auditToJson(e: typeof auditEvents.$inferSelect) {
  return {
    id: e.id,
    at: e.at.toISOString(),
    actor: e.actor,
    action: e.action,
    targetType: e.targetType,
    targetId: e.targetId,
    reason: e.reason,
    success: e.success,
    error: e.error,
    details: e.details,
  };
}
