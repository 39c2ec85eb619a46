import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../../server/db/client';
import { auditEvents, jobs, usage, type Job } from '../../server/db/schema';

/** Inserts `n` queued jobs for a user directly (no API), oldest first, 1 ms apart from `at`. */
export async function insertQueued(db: Db, userId: string, n: number, at: Date, over: Partial<typeof jobs.$inferInsert> = {}): Promise<Job[]> {
  if (n === 0) return [];
  return db
    .insert(jobs)
    .values(
      Array.from({ length: n }, (_, i) => ({
        userId,
        image: 'warden-test/busybox:latest',
        command: ['true'],
        maxRetries: 0,
        timeoutS: 300,
        timeoutSource: 'global',
        gracePeriodS: 10,
        queuedAt: new Date(at.getTime() + i),
        updatedAt: at,
        ...over,
      })),
    )
    .returning();
}

/** Active (slot-holding) jobs per user: starting + running + terminating. */
export async function activeByUser(db: Db): Promise<Map<string, number>> {
  const rows = await db.execute<{ user_id: string; n: number }>(sql`
    select user_id, count(*)::int as n from jobs where status in ('starting','running','terminating') group by user_id`);
  return new Map(rows.map((r) => [r.user_id, Number(r.n)]));
}

export async function auditFor(db: Db, jobId: string) {
  return db.select().from(auditEvents).where(and(eq(auditEvents.targetType, 'job'), eq(auditEvents.targetId, jobId))).orderBy(auditEvents.id);
}

export async function usageOf(db: Db, userId: string) {
  return db.select().from(usage).where(eq(usage.userId, userId));
}
