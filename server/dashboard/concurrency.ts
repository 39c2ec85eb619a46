import { sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { RUNNING_STATUSES, sqlList } from '../domain/status';
import { BUCKET_MS, staleWhileRevalidate, WINDOW_MS } from './overview';

/**
 * The Overview's activity charts, computed in PostgreSQL over the last 24 h in hourly buckets
 * ending now: per bucket the PEAK number of jobs running at once, jobs started, and jobs finished
 * by outcome; over the whole window p50/p95 of time-to-start and of kill lateness.
 *
 * Cost: only jobs that finished in the window or are running now can have run in it, so the one
 * read of `jobs` is the 24 h slice of jobs_finished_at_idx plus the running rows (the partial
 * index jobs_live_deadline_idx), materialized once and reused by every part below. Older history
 * is never read, whatever the table's size (EXPLAIN in test/dashboard.concurrency.test.ts).
 *
 * Peak concurrency: a sweep over +1 (start, or the window's start for a job that started
 * before it) and −1 (finish) events, with a 0-marker at each bucket's start so every bucket has
 * the level it opens with. Events at one instant are summed first and ordered −1, marker, +1:
 * a job counts as running over [started_at, finished_at), so one that ends at the instant
 * another starts does not overlap it. A bucket's peak is the highest level reached in it.
 */

/** The outcomes a finished run is counted by (the contract's final statuses; cancelled never ran). */
export const RUN_OUTCOMES = ['succeeded', 'failed', 'timed_out', 'killed', 'lost'] as const;
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

export interface ActivityBucket {
  /** Start and end of the hour (ISO). */
  from: string;
  to: string;
  /** Most jobs running at once in the bucket. */
  peak: number;
  started: number;
  /** Finished per outcome; `cancelled` (never started) is counted apart. */
  succeeded: number;
  failed: number;
  timed_out: number;
  killed: number;
  lost: number;
  cancelled: number;
}

/** p50/p95 in milliseconds over the window, and how many jobs they were taken over; null when none. */
export interface Percentiles {
  p50Ms: number | null;
  p95Ms: number | null;
  n: number;
}

export interface Activity {
  computedAt: string;
  buckets: ActivityBucket[];
  /** queued_at → started_at of the jobs that started in the window. */
  timeToStart: Percentiles;
  /** Timeouts: deadline_at → the first signal (SIGTERM, or SIGKILL when none was sent), signals sent in the window. */
  timeoutLateness: Percentiles;
  /** Kills: kill requested → the first signal, signals sent in the window. */
  killLateness: Percentiles;
}

type Row = { kind: 'peak' | 'started' | 'finished' | 'tts' | 'late_timeout' | 'late_kill'; b: number | null; status: string | null; n: number; p50: number | null; p95: number | null };

const NB = Math.round(WINDOW_MS / BUCKET_MS);

/** The one statement behind activitySummary (exported for the EXPLAIN test). */
export function activityQuery(now: Date) {
  const start = new Date(now.getTime() - WINDOW_MS);
  const nb = NB;
  // Raw SQL parameters are text: drizzle's postgres.js driver does not serialise Date objects.
  const ws = sql`${start.toISOString()}::timestamptz`;
  const bucketOf = (col: string) => sql`least(greatest(floor(extract(epoch from (${sql.raw(col)} - ${ws})) / ${sql.raw(String(BUCKET_MS / 1000))}), 0), ${sql.raw(String(nb - 1))})::int`;
  return sql`
    with w as materialized (
      select status::text as status, queued_at, started_at, finished_at, deadline_at,
             terminate_kind, terminate_requested_at, coalesce(sigterm_at, sigkill_at) as signal_at
      from jobs where finished_at >= ${ws}
      union all
      select status::text, queued_at, started_at, null, deadline_at,
             terminate_kind, terminate_requested_at, coalesce(sigterm_at, sigkill_at)
      from jobs where status in ${sql.raw(sqlList(RUNNING_STATUSES))}
    ),
    ev as (
      select greatest(started_at, ${ws}) as at, 1 as d from w where started_at is not null
      union all
      select finished_at, -1 from w where started_at is not null and finished_at is not null
      union all
      select ${ws} + make_interval(secs => i * ${BUCKET_MS / 1000}), 0 from generate_series(0, ${nb - 1}) as i
    ),
    grouped as (select at, d, sum(d) as delta from ev group by at, d),
    levels as (select at, sum(delta) over (order by at, d rows between unbounded preceding and current row) as level from grouped)
    select 'peak' as kind, ${bucketOf('at')} as b, null as status, max(level)::int as n, null::float8 as p50, null::float8 as p95
      from levels group by 2
    union all
    select 'started', ${bucketOf('started_at')}, null, count(*)::int, null, null
      from w where started_at >= ${ws} group by 2
    union all
    select 'finished', ${bucketOf('finished_at')}, status, count(*)::int, null, null
      from w where finished_at is not null group by 2, 3
    union all
    select 'tts', null, null, count(*)::int,
           percentile_cont(0.5) within group (order by extract(epoch from started_at - queued_at)) * 1000,
           percentile_cont(0.95) within group (order by extract(epoch from started_at - queued_at)) * 1000
      from w where started_at >= ${ws}
    union all
    select 'late_timeout', null, null, count(*)::int,
           percentile_cont(0.5) within group (order by extract(epoch from signal_at - deadline_at)) * 1000,
           percentile_cont(0.95) within group (order by extract(epoch from signal_at - deadline_at)) * 1000
      from w where terminate_kind = 'timeout' and signal_at >= ${ws} and deadline_at is not null
    union all
    select 'late_kill', null, null, count(*)::int,
           percentile_cont(0.5) within group (order by extract(epoch from signal_at - terminate_requested_at)) * 1000,
           percentile_cont(0.95) within group (order by extract(epoch from signal_at - terminate_requested_at)) * 1000
      from w where terminate_kind is distinct from 'timeout' and signal_at >= ${ws} and terminate_requested_at is not null`;
}

export async function activitySummary(db: DbOrTx, now: Date): Promise<Activity> {
  const start = new Date(now.getTime() - WINDOW_MS);
  const nb = NB;
  const rows = await db.execute<Row>(activityQuery(now));

  const buckets: ActivityBucket[] = Array.from({ length: nb }, (_, i) => ({
    from: new Date(start.getTime() + i * BUCKET_MS).toISOString(),
    to: new Date(start.getTime() + (i + 1) * BUCKET_MS).toISOString(),
    peak: 0,
    started: 0,
    succeeded: 0,
    failed: 0,
    timed_out: 0,
    killed: 0,
    lost: 0,
    cancelled: 0,
  }));
  const pct = (r: Row | undefined): Percentiles => ({
    p50Ms: r?.p50 == null ? null : Math.round(Number(r.p50)),
    p95Ms: r?.p95 == null ? null : Math.round(Number(r.p95)),
    n: Number(r?.n ?? 0),
  });
  const one: Partial<Record<Row['kind'], Row>> = {};
  for (const r of rows) {
    const k = r.b == null ? undefined : buckets[Number(r.b)];
    if (r.kind === 'peak' && k) k.peak = Math.max(0, Number(r.n));
    else if (r.kind === 'started' && k) k.started = Number(r.n);
    else if (r.kind === 'finished' && k && r.status && r.status in k) (k as unknown as Record<string, number>)[r.status] = Number(r.n);
    else one[r.kind] = r;
  }
  return { computedAt: now.toISOString(), buckets, timeToStart: pct(one.tts), timeoutLateness: pct(one.late_timeout), killLateness: pct(one.late_kill) };
}

/** Recompute at most this often per process (the Overview polls; see cachedDaySummary). */
export const ACTIVITY_REFRESH_MS = 10_000;

export function cachedActivity(db: DbOrTx, now: Date): Promise<Activity> {
  return staleWhileRevalidate('activity', ACTIVITY_REFRESH_MS, now, () => activitySummary(db, now));
}
