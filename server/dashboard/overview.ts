import { and, asc, desc, eq, gte, inArray, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { jobs } from '../db/schema';
import { FINAL_STATUSES, LIVE_STATUSES, RUNNING_STATUSES, sqlList, type FinalStatus, type LiveStatus } from '../domain/status';
import { jobRowToJson, selectJobRows } from './job-lists';

/**
 * Reads behind the Overview. Per request: a handful of index scans over live rows only. The 24 h
 * summary (series and finished counts) is the one read of recent history, refreshed in the
 * background (cachedDaySummary).
 */

export const WINDOW_MS = 24 * 3600 * 1000;
export const BUCKET_MS = 3600 * 1000;

/** Exact counts of live states (index-only scan of the live slice) and "about N" jobs in history. */
export async function stateCounts(db: DbOrTx) {
  const [live, est] = await Promise.all([
    db.execute<{ status: string; n: number }>(sql`
      select status::text, count(*)::int as n from jobs
      where status in ${sql.raw(sqlList(LIVE_STATUSES))} group by status`),
    // Planner statistics, not a scan.
    db.execute<{ n: number }>(sql`select greatest(reltuples, 0)::bigint as n from pg_class where oid = 'jobs'::regclass`),
  ]);
  const liveCounts = Object.fromEntries(LIVE_STATUSES.map((s) => [s, 0])) as Record<LiveStatus, number>;
  for (const r of live) liveCounts[r.status as LiveStatus] = Number(r.n);
  let total = Number(est[0]?.n ?? 0);
  // Small or never-analysed tables: reltuples is 0 or -1, so count exactly (cheap below the cap).
  if (total < 10_000) {
    const [c] = await db.execute<{ n: number }>(sql`select count(*)::int as n from (select 1 from jobs limit 10000) x`);
    total = Number(c?.n ?? 0);
  }
  return { live: liveCounts, totalEstimate: total };
}

/** Running jobs closest to their deadline (partial index on deadline). */
export async function nearingDeadline(db: DbOrTx, limit = 8) {
  const rows = await selectJobRows(db)
    .where(and(eq(jobs.status, 'running'), eq(jobs.timeoutSuspended, false)))
    .orderBy(asc(jobs.deadlineAt))
    .limit(limit);
  return rows.map((r) => jobRowToJson(r));
}

/** Latest timeouts and kills of the last 24 h (finished_at index, newest first). */
export async function recentTimeoutsAndKills(db: DbOrTx, now: Date, limit = 8) {
  const rows = await selectJobRows(db)
    .where(and(inArray(jobs.status, ['timed_out', 'killed']), gte(jobs.finishedAt, new Date(now.getTime() - WINDOW_MS))))
    .orderBy(desc(jobs.finishedAt))
    .limit(limit);
  return rows.map((r) => jobRowToJson(r));
}

export interface SeriesPoint {
  /** End of the hour this point covers. */
  t: string;
  /** Jobs running (or terminating) at t. */
  running: number;
  timedOut: number;
  killed: number;
  /** Jobs that reached any final state in the hour. */
  finished: number;
}

export type FinalCounts = Record<FinalStatus, number>;

export interface DaySummary {
  computedAt: string;
  series: SeriesPoint[];
  /** Jobs that reached each final state in the 24 h before computedAt. */
  last24h: FinalCounts;
}

/**
 * The last 24 h in hourly buckets ending now: jobs running at the end of each hour, and how many
 * ended (by final state) in each hour. Only jobs that ended in the window or are live now can
 * have run in it, so the scan is the 24 h slice of jobs_finished_at_idx plus the live partial
 * index — never older history. Running counts are a +1/−1 event sweep (O(rows)), not a
 * rows × buckets join.
 */
export async function daySummary(db: DbOrTx, now: Date): Promise<DaySummary> {
  const start = new Date(now.getTime() - WINDOW_MS);
  // Raw SQL parameters are text: drizzle's postgres.js driver does not serialise Date objects.
  const ws = start.toISOString();
  const rows = await db.execute<{ b: number; st: string | null; starts: number; ends: number; finals: number }>(sql`
    with w as (
      select started_at, finished_at, status from jobs where finished_at >= ${ws}::timestamptz
      union all
      select started_at, null, status from jobs where status in ${sql.raw(sqlList(RUNNING_STATUSES))}
    ),
    ev as (
      select greatest(started_at, ${ws}::timestamptz) as at, 1 as d, null::text as st from w where started_at is not null
      union all
      select finished_at, case when started_at is null then 0 else -1 end, status::text from w where finished_at is not null
    )
    select least(greatest(floor(extract(epoch from (at - ${ws}::timestamptz)) / ${BUCKET_MS / 1000}), 0), ${WINDOW_MS / BUCKET_MS - 1})::int as b, st,
           count(*) filter (where d = 1)::int as starts,
           count(*) filter (where d = -1)::int as ends,
           count(*) filter (where d <= 0)::int as finals
    from ev group by 1, 2`);
  const n = Math.round(WINDOW_MS / BUCKET_MS);
  const buckets = Array.from({ length: n }, () => ({ starts: 0, ends: 0, finals: 0, timedOut: 0, killed: 0 }));
  const last24h = Object.fromEntries(FINAL_STATUSES.map((s) => [s, 0])) as FinalCounts;
  for (const r of rows) {
    const k = buckets[Number(r.b)]!;
    k.starts += Number(r.starts);
    k.ends += Number(r.ends);
    k.finals += Number(r.finals);
    if (r.st === 'timed_out') k.timedOut += Number(r.finals);
    if (r.st === 'killed') k.killed += Number(r.finals);
    if (r.st && r.st in last24h) last24h[r.st as keyof FinalCounts] += Number(r.finals);
  }
  let running = 0;
  const series = buckets.map((k, i) => {
    running += k.starts - k.ends;
    return { t: new Date(start.getTime() + (i + 1) * BUCKET_MS).toISOString(), running: Math.max(0, running), timedOut: k.timedOut, killed: k.killed, finished: k.finals };
  });
  return { computedAt: now.toISOString(), series, last24h };
}

interface Cached<T> {
  at: number;
  value: T | null;
  pending: Promise<T> | null;
}
const cache = ((globalThis as unknown as { __wardenCached?: Map<string, Cached<unknown>> }).__wardenCached ??= new Map());

/**
 * Stale-while-revalidate, per process and per key: requests get the last computed value at once,
 * and at most one background refresh runs per `everyMs`; only the very first request waits. A
 * failed refresh is retried on the next request.
 */
export function staleWhileRevalidate<T>(key: string, everyMs: number, now: Date, compute: () => Promise<T>): Promise<T> {
  let c = cache.get(key) as Cached<T> | undefined;
  if (!c) cache.set(key, (c = { at: 0, value: null, pending: null }));
  const entry = c;
  const stale = now.getTime() - entry.at >= everyMs || now.getTime() < entry.at;
  if (stale && !entry.pending) {
    entry.at = now.getTime();
    const p = compute();
    entry.pending = p;
    p.then(
      (v) => {
        entry.value = v;
        entry.pending = null;
      },
      () => {
        entry.at = 0;
        entry.pending = null;
      },
    );
  }
  if (entry.value) return Promise.resolve(entry.value);
  return entry.pending ?? compute();
}

/** Recompute the 24 h summary at most this often per process. */
export const DAY_REFRESH_MS = 10_000;

/**
 * The 24 h summary reads every job that ended in the last day (~30k rows at 1M jobs; see
 * docs/BENCHMARKS.md), too slow for every 5-s poll of every open Overview: cached (above).
 */
export function cachedDaySummary(db: DbOrTx, now: Date): Promise<DaySummary> {
  return staleWhileRevalidate('day-summary', DAY_REFRESH_MS, now, () => daySummary(db, now));
}

/** Each sweeper's latest run and its error count over the last hour (one index probe each). */
export async function sweeperHealth(db: DbOrTx, names: readonly string[], now: Date) {
  const hourAgo = new Date(now.getTime() - 3600_000);
  const rows = await db.execute<{
    name: string;
    started_at: string | null;
    finished_at: string | null;
    examined: number | null;
    acted: number | null;
    errors: number | null;
    dry_run: boolean | null;
    error: string | null;
    runs_1h: number;
    errors_1h: number;
  }>(sql`
    select s.name, r.started_at, r.finished_at, r.examined, r.acted, r.errors, r.dry_run, r.error,
      (select count(*)::int from sweeper_runs x where x.sweeper = s.name and x.started_at >= ${hourAgo.toISOString()}::timestamptz) as runs_1h,
      (select coalesce(sum(x.errors), 0)::int from sweeper_runs x where x.sweeper = s.name and x.started_at >= ${hourAgo.toISOString()}::timestamptz) as errors_1h
    from unnest(array[${sql.join(names.length ? names.map((n) => sql`${n}`) : [sql`''`], sql`, `)}]::text[]) as s(name)
    left join lateral (
      select * from sweeper_runs r where r.sweeper = s.name order by r.started_at desc limit 1
    ) r on true`);
  return rows.map((r) => ({
    name: r.name,
    lastRun: r.started_at
      ? {
          startedAt: new Date(r.started_at).toISOString(),
          finishedAt: r.finished_at ? new Date(r.finished_at).toISOString() : null,
          examined: Number(r.examined ?? 0),
          acted: Number(r.acted ?? 0),
          errors: Number(r.errors ?? 0),
          dryRun: !!r.dry_run,
          error: r.error,
        }
      : null,
    runsLastHour: Number(r.runs_1h),
    errorsLastHour: Number(r.errors_1h),
  }));
}

const gp = globalThis as unknown as { __wardenPing?: { at: number; value: Promise<{ ok: boolean; error: string | null }> } };
/** Docker reachability, shared by concurrent viewers for 2 s (a ping per poll per tab adds up). */
export function cachedDockerPing(docker: { ping(): Promise<boolean>; lastError(): string | null } | null): Promise<{ ok: boolean; error: string | null }> {
  if (!docker) return Promise.resolve({ ok: false, error: 'This process has no Docker runtime' });
  const now = Date.now();
  const c = gp.__wardenPing;
  if (c && now - c.at < 2000) return c.value;
  const value = docker.ping().then((ok) => ({ ok, error: ok ? null : docker.lastError() ?? 'no answer' }));
  gp.__wardenPing = { at: now, value };
  return value;
}
