import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import type { Job } from '../db/schema';
import { isUuid } from './schemas';
import { ACTIVE_STATUSES, sqlList } from './status';
import { waits, type Wait, type WaitCode } from './waits';

/**
 * Where a queued job stands: its place among its user's queued jobs (1 = the next of them to
 * start; the dispatcher takes a user's jobs oldest first, `queued_at, id`) and the user's slots.
 * Computed when read, never stored: a stored position would have to be rewritten for every job
 * behind one that starts.
 *
 * Cost: per job, one count over its user's queue in the partial index jobs_queued_idx (user_id,
 * queued_at) up to the job's own place, and one over the user's active jobs
 * (jobs_active_user_idx); one statement for a whole page of jobs.
 */
export interface QueueInfo {
  position: number;
  active: number;
  limit: number;
  limitFrom: 'user' | 'plan';
  planName: string;
}

const ACTIVE = sql.raw(sqlList(ACTIVE_STATUSES));

/** QueueInfo of the queued jobs among `ids` (others are absent from the map). */
export async function queueInfo(db: DbOrTx, ids: readonly string[]): Promise<Map<string, QueueInfo>> {
  const out = new Map<string, QueueInfo>();
  const safe = ids.filter(isUuid);
  if (safe.length === 0) return out;
  const rows = await db.execute<{ id: string; position: number; active: number; lim: number; from_user: boolean; plan: string }>(sql`
    select j.id,
      1 + (select count(*)::int from jobs q
           where q.user_id = j.user_id and q.status = 'queued' and q.queued_at <= j.queued_at
             and (q.queued_at < j.queued_at or q.id < j.id)) as position,
      (select count(*)::int from jobs a where a.user_id = j.user_id and a.status in ${ACTIVE}) as active,
      coalesce(u.max_concurrent_jobs, p.max_concurrent_jobs) as lim,
      u.max_concurrent_jobs is not null as from_user,
      p.name as plan
    from jobs j
    join users u on u.id = j.user_id
    join plans p on p.id = u.plan_id
    where j.id in ${sql.raw(`(${safe.map((i) => `'${i}'`).join(',')})`)} and j.status = 'queued'`);
  for (const r of rows) {
    out.set(r.id, { position: Number(r.position), active: Number(r.active), limit: Number(r.lim), limitFrom: r.from_user ? 'user' : 'plan', planName: r.plan });
  }
  return out;
}

export interface JobWait {
  waitCode: WaitCode | null;
  waitReason: string | null;
  queuePosition: number | null;
}

/**
 * Pure: why a job waits. A cause the dispatcher stored (engine down, quota, an image being
 * pulled) wins; otherwise it follows from the user's slots and the job's place:
 * - more of the user's jobs are ahead than there are free slots (or none is free): `user_limit`;
 * - within the free slots: `queued_behind` — only the dispatcher's turn-taking between users
 *   stands between it and a start.
 * Jobs that are not queued keep what is stored (e.g. `pulling_image` while starting) and have no
 * position.
 */
export function describeWait(j: Pick<Job, 'status' | 'waitCode' | 'waitReason'>, q: QueueInfo | null | undefined): JobWait {
  const stored = { waitCode: (j.waitCode as WaitCode | null) ?? null, waitReason: j.waitReason ?? null };
  if (j.status !== 'queued') return { ...stored, queuePosition: null };
  if (!q) return { ...stored, queuePosition: null };
  if (stored.waitCode) return { ...stored, queuePosition: q.position };
  const free = Math.max(0, q.limit - q.active);
  const w: Wait = q.position > free ? waits.userLimit(q) : waits.queuedBehind(q.position);
  return { ...w, queuePosition: q.position };
}
