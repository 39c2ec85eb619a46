import { and, asc, desc, eq, ilike, inArray, or, sql, type SQL } from 'drizzle-orm';
import { z } from 'zod';
import type { DbOrTx } from '../db/client';
import { jobs, users, type JobStatus } from '../db/schema';
import { describeWait, queueInfo, type QueueInfo } from '../domain/queue';
import { jobIdPrefixCondition } from '../domain/job-ids';
import { isUuid } from '../domain/schemas';
import { FINAL_STATUSES, RUNNING_STATUSES, sqlList } from '../domain/status';

/**
 * Reads behind the Jobs tabs. Every tab is a status filter that an index serves, so a page costs
 * the same with 1M jobs in history as with 100:
 *   running   status in (running, terminating) by deadline  → jobs_live_deadline_idx (partial)
 *   queued    status in (queued, starting) by queue age      → jobs_status_queued_at_idx
 *   timed out / lost / finished by finished_at    → jobs_finished_at_idx (backwards, filtered)
 * Exact totals only for the live tabs (bounded by what runs now); history tabs show capped counts.
 */
export const JOB_TABS = ['running', 'queued', 'timed_out', 'lost', 'finished'] as const;
export type JobTab = (typeof JOB_TABS)[number];

export const TAB_STATUSES: Record<JobTab, JobStatus[]> = {
  running: [...RUNNING_STATUSES],
  queued: ['queued', 'starting'],
  timed_out: ['timed_out'],
  lost: ['lost'],
  finished: [...FINAL_STATUSES],
};

export const JOB_SORTS = ['deadline', 'started', 'queued', 'finished', 'name'] as const;
export type JobSort = (typeof JOB_SORTS)[number];
const DEFAULT_SORT: Record<JobTab, { sort: JobSort; dir: 'asc' | 'desc' }> = {
  running: { sort: 'deadline', dir: 'asc' },
  queued: { sort: 'queued', dir: 'asc' },
  timed_out: { sort: 'finished', dir: 'desc' },
  lost: { sort: 'finished', dir: 'desc' },
  finished: { sort: 'finished', dir: 'desc' },
};
/** Pages deeper than this are refused: use filters instead of paging through history. */
export const MAX_PAGE = 200;
/** History tabs count at most this many rows ("1000+"). */
export const HISTORY_COUNT_CAP = 1000;

export const jobListQuerySchema = z.object({
  // `orphaned` is the Lost tab's old name (links and bookmarks made before it was renamed).
  tab: z.preprocess((v) => (v === 'orphaned' ? 'lost' : v), z.enum(JOB_TABS, { error: 'unknown tab' })).catch('running'),
  q: z.string().trim().max(200, 'search must be at most 200 characters').optional(),
  user: z.string().trim().max(100, 'user must be at most 100 characters').optional(),
  status: z.enum(FINAL_STATUSES, { error: 'unknown status' }).optional().catch(undefined),
  sort: z.enum(JOB_SORTS).optional().catch(undefined),
  dir: z.enum(['asc', 'desc']).optional().catch(undefined),
  warned: z.enum(['1']).optional().catch(undefined),
  page: z.coerce.number().int().min(1).max(MAX_PAGE, `page must be at most ${MAX_PAGE}; narrow the filters instead`).catch(1).default(1),
  limit: z.coerce.number().int().min(5).max(200).catch(50).default(50),
});
export type JobListQuery = z.infer<typeof jobListQuerySchema>;

const rowFields = {
  id: jobs.id,
  name: jobs.name,
  userId: jobs.userId,
  userName: users.name,
  image: jobs.image,
  status: jobs.status,
  attempt: jobs.attempt,
  queuedAt: jobs.queuedAt,
  startedAt: jobs.startedAt,
  finishedAt: jobs.finishedAt,
  deadlineAt: jobs.deadlineAt,
  warnedAt: jobs.warnedAt,
  terminateRequestedAt: jobs.terminateRequestedAt,
  timeoutS: jobs.timeoutS,
  timeoutSource: jobs.timeoutSource,
  timeoutSuspended: jobs.timeoutSuspended,
  extendedS: jobs.extendedS,
  gracePeriodS: jobs.gracePeriodS,
  exitCode: jobs.exitCode,
  reason: jobs.reason,
  waitReason: jobs.waitReason,
  waitCode: jobs.waitCode,
  labels: jobs.labels,
  node: jobs.node,
  className: jobs.className,
  idleDeadlineAt: jobs.idleDeadlineAt,
};

/** Jobs joined with their user's name: the row every job list shows. */
export function selectJobRows(db: DbOrTx) {
  return db.select(rowFields).from(jobs).leftJoin(users, eq(users.id, jobs.userId));
}
type RawRow = Awaited<ReturnType<typeof selectJobRows>>[number];

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function jobRowToJson(r: RawRow, queue?: QueueInfo | null) {
  const w = describeWait(r, queue);
  return {
    id: r.id,
    name: r.name,
    userId: r.userId,
    userName: r.userName ?? null,
    image: r.image,
    status: r.status,
    attempt: r.attempt,
    queuedAt: r.queuedAt.toISOString(),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    deadlineAt: iso(r.deadlineAt),
    warnedAt: iso(r.warnedAt),
    terminateRequestedAt: iso(r.terminateRequestedAt),
    timeoutSeconds: r.timeoutS,
    timeoutSource: r.timeoutSource,
    timeoutSuspended: r.timeoutSuspended,
    extendedSeconds: r.extendedS,
    gracePeriodSeconds: r.gracePeriodS,
    exitCode: r.exitCode,
    reason: r.reason,
    waitReason: w.waitReason,
    waitCode: w.waitCode,
    queuePosition: w.queuePosition,
    labels: r.labels ?? {},
    node: r.node,
    class: r.className,
    idleDeadlineAt: iso(r.idleDeadlineAt),
  };
}
export type JobRow = ReturnType<typeof jobRowToJson>;

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function orderFor(sort: JobSort, dir: 'asc' | 'desc'): SQL[] {
  const d = dir === 'asc' ? asc : desc;
  switch (sort) {
    case 'deadline':
      return [d(jobs.deadlineAt), d(jobs.id)];
    case 'started':
      return [d(jobs.startedAt), d(jobs.id)];
    case 'queued':
      return [d(jobs.queuedAt), d(jobs.id)];
    case 'finished':
      return [d(jobs.finishedAt), d(jobs.id)];
    case 'name':
      return [d(jobs.name), d(jobs.id)];
  }
}

/** Live counts by status (exact; a group-by over the live statuses only) and capped history counts. */
export async function jobTabCounts(db: DbOrTx): Promise<Record<JobTab, { n: number; capped: boolean }>> {
  const rows = await db.execute<{ k: string; n: number }>(sql`
    select 'running' as k, count(*)::int as n from jobs where status in ${sql.raw(sqlList(TAB_STATUSES.running))}
    union all select 'queued', count(*)::int from jobs where status in ${sql.raw(sqlList(TAB_STATUSES.queued))}
    union all select 'timed_out', count(*)::int from (select 1 from jobs where status = 'timed_out' limit ${HISTORY_COUNT_CAP + 1}) x
    union all select 'lost', count(*)::int from (select 1 from jobs where status = 'lost' limit ${HISTORY_COUNT_CAP + 1}) x
    union all select 'finished', count(*)::int from (select 1 from jobs where status in ${sql.raw(sqlList(FINAL_STATUSES))} limit ${HISTORY_COUNT_CAP + 1}) x`);
  const out = {} as Record<JobTab, { n: number; capped: boolean }>;
  for (const t of JOB_TABS) out[t] = { n: 0, capped: false };
  for (const r of rows) {
    const k = r.k as JobTab;
    const n = Number(r.n);
    out[k] = k === 'running' || k === 'queued' ? { n, capped: false } : { n: Math.min(n, HISTORY_COUNT_CAP), capped: n > HISTORY_COUNT_CAP };
  }
  return out;
}

export interface JobListResult {
  tab: JobTab;
  sort: JobSort;
  dir: 'asc' | 'desc';
  page: number;
  limit: number;
  rows: JobRow[];
  hasMore: boolean;
  /** Exact total for live tabs; null for history tabs (see counts). */
  total: number | null;
  counts: Record<JobTab, { n: number; capped: boolean }>;
  generatedAt: string;
}

/** The WHERE and ORDER BY of a Jobs tab's query: the same for a page and for a CSV export. */
function tabQuery(q: JobListQuery): { where: SQL[]; order: SQL[]; sort: JobSort; dir: 'asc' | 'desc' } {
  const def = DEFAULT_SORT[q.tab];
  const sort = q.sort ?? def.sort;
  const dir = q.dir ?? (q.sort ? (sort === 'deadline' || sort === 'queued' ? 'asc' : 'desc') : def.dir);
  const statuses = q.tab === 'finished' && q.status ? [q.status] : TAB_STATUSES[q.tab];
  // Keep the predicate literally equal to the partial index's for the running tab.
  const where: SQL[] = [statuses.length === 1 ? eq(jobs.status, statuses[0]!) : inArray(jobs.status, statuses)];
  if (q.user) {
    where.push(isUuid(q.user) ? eq(jobs.userId, q.user) : sql`${jobs.userId} = (select id from users where name = ${q.user})`);
  }
  if (q.q) {
    const like = `%${escapeLike(q.q)}%`;
    const conds = [ilike(jobs.name, like), ilike(jobs.image, like)];
    if (isUuid(q.q)) conds.push(eq(jobs.id, q.q));
    else {
      // A short id as the dashboard shows it: a range on the primary key (index-friendly).
      const prefix = jobIdPrefixCondition(q.q);
      if (prefix) conds.push(prefix);
    }
    where.push(or(...conds)!);
  }
  if (q.warned && q.tab === 'running') where.push(sql`${jobs.warnedAt} is not null`);
  if (q.tab === 'timed_out' || q.tab === 'lost' || q.tab === 'finished') where.push(sql`${jobs.finishedAt} is not null`);
  return { where, order: orderFor(sort, dir), sort, dir };
}

/** A CSV export reads at most this many rows (the file says so in its last line when cut). */
export const CSV_MAX_ROWS = 10_000;
const CSV_BATCH = 500;

/**
 * The rows of a Jobs tab's current filter, in its order, a batch at a time (bounded memory: one
 * batch of CSV_BATCH rows is held at once), at most CSV_MAX_ROWS. Page and limit are ignored.
 */
export async function* jobTabBatches(db: DbOrTx, q: JobListQuery, max = CSV_MAX_ROWS): AsyncGenerator<JobRow[]> {
  const { where, order } = tabQuery(q);
  for (let offset = 0; offset < max; offset += CSV_BATCH) {
    const n = Math.min(CSV_BATCH, max - offset);
    const rows = await selectJobRows(db)
      .where(and(...where))
      .orderBy(...order)
      .limit(n)
      .offset(offset);
    if (rows.length) yield rows.map((r) => jobRowToJson(r));
    if (rows.length < n) return;
  }
}

/** One page of a Jobs tab, filtered and sorted on the server. */
export async function listJobsForTab(db: DbOrTx, q: JobListQuery, now: Date): Promise<JobListResult> {
  const { where, order, sort, dir } = tabQuery(q);
  const offset = (q.page - 1) * q.limit;
  const [rows, counts] = await Promise.all([
    selectJobRows(db)
      .where(and(...where))
      .orderBy(...order)
      .limit(q.limit + 1)
      .offset(offset),
    jobTabCounts(db),
  ]);
  const page = rows.slice(0, q.limit);
  const queue = await queueInfo(db, page.filter((r) => r.status === 'queued').map((r) => r.id));
  let total: number | null = null;
  if (q.tab === 'running' || q.tab === 'queued') {
    if (!q.q && !q.user && !q.warned) total = counts[q.tab].n;
    else {
      const [c] = await db.select({ n: sql<number>`count(*)::int` }).from(jobs).where(and(...where));
      total = Number(c?.n ?? 0);
    }
  }
  return {
    tab: q.tab,
    sort,
    dir,
    page: q.page,
    limit: q.limit,
    rows: page.map((r) => jobRowToJson(r, queue.get(r.id))),
    hasMore: rows.length > q.limit,
    total,
    counts,
    generatedAt: now.toISOString(),
  };
}
