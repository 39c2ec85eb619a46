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
 * Cost (bench/queue-position.ts, docs/BENCHMARKS.md): one statement for a whole page of jobs; per
 * user on the page, one count over its queue in the partial index jobs_queued_idx (user_id,
 * queued_at) up to the page's first job, plus the page's own span, and one count of the user's
 * active jobs (jobs_active_user_idx).
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
  // Per user on the page: one count of its queued jobs before the page's earliest (an index range
  // scan that stops there), then row_number() over the queue between the page's earliest and
  // latest: a page deep in a long queue costs one count plus the page's span, not one count per job.
  const rows = await db.execute<{ id: string; position: number; active: number; lim: number; from_user: boolean; plan: string }>(queueInfoSql(safe));
  for (const r of rows) {
    out.set(r.id, { position: Number(r.position), active: Number(r.active), limit: Number(r.lim), limitFrom: r.from_user ? 'user' : 'plan', planName: r.plan });
  }
  return out;
}

/** The statement behind queueInfo (ids must be UUIDs); exported so bench/queue-position.ts can EXPLAIN it. */
export function queueInfoSql(ids: readonly string[]) {
  const list = sql.raw(`(${ids.filter(isUuid).map((i) => `'${i}'`).join(',')})`);
  return sql`
    with page as (
      select id, user_id, queued_at from jobs where id in ${list} and status = 'queued'
    ), bounds as (
      select user_id, min(queued_at) as lo, max(queued_at) as hi from page group by user_id
    ), ahead as materialized (
      select b.user_id, b.lo, b.hi,
        (select count(*)::int from jobs q where q.user_id = b.user_id and q.status = 'queued' and q.queued_at < b.lo) as n
      from bounds b
    ), ranked as (
      select q.id, a.n + row_number() over (partition by q.user_id order by q.queued_at, q.id) as position
      from ahead a
      join jobs q on q.user_id = a.user_id and q.status = 'queued' and q.queued_at >= a.lo and q.queued_at <= a.hi
    )
    select p.id, r.position::int as position,
      (select count(*)::int from jobs a where a.user_id = p.user_id and a.status in ${ACTIVE}) as active,
      coalesce(u.max_concurrent_jobs, pl.max_concurrent_jobs) as lim,
      u.max_concurrent_jobs is not null as from_user,
      pl.name as plan
    from page p
    join ranked r on r.id = p.id
    join users u on u.id = p.user_id
    join plans pl on pl.id = u.plan_id`;
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
