import 'server-only';
import { and, asc, desc, eq, gte, inArray, sql } from 'drizzle-orm';
import type { DbOrTx } from '../client';
import { jobs, nodes } from '../schema';
import { jobRowToJson, selectJobRows } from './jobs';

/**
 * Reads behind the Overview. Budget: a handful of index scans, none over finished history
 * except the last 24 h window of jobs_finished_at_idx.
 */

const LIVE = ['queued', 'starting', 'running', 'terminating'] as const;
const FINAL = ['succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled'] as const;
export const WINDOW_MS = 24 * 3600 * 1000;
export const BUCKET_MS = 3600 * 1000;

/** Exact counts of live states; finished states counted over the last 24 h only. */
export async function stateCounts(db: DbOrTx, now: Date) {
  const since = new Date(now.getTime() - WINDOW_MS);
  const [live, recent, est] = await Promise.all([
    db.execute<{ status: string; n: number }>(sql`
      select status::text, count(*)::int as n from jobs
      where status in ('queued', 'starting', 'running', 'terminating') group by status`),
    db.execute<{ status: string; n: number }>(sql`
      select status::text, count(*)::int as n from jobs
      where finished_at >= ${since.toISOString()}::timestamptz group by status`),
    // Planner statistics, not a scan: "about N jobs in history".
    db.execute<{ n: number }>(sql`select greatest(reltuples, 0)::bigint as n from pg_class where oid = 'jobs'::regclass`),
  ]);
  const liveCounts = Object.fromEntries(LIVE.map((s) => [s, 0])) as Record<(typeof LIVE)[number], number>;
  for (const r of live) liveCounts[r.status as (typeof LIVE)[number]] = Number(r.n);
  const last24h = Object.fromEntries(FINAL.map((s) => [s, 0])) as Record<(typeof FINAL)[number], number>;
  for (const r of recent) if (r.status in last24h) last24h[r.status as (typeof FINAL)[number]] = Number(r.n);
  return { live: liveCounts, last24h, totalEstimate: Number(est[0]?.n ?? 0) };
}

/** Running jobs closest to their deadline (partial index on deadline). */
export async function nearingDeadline(db: DbOrTx, limit = 8) {
  const rows = await selectJobRows(db)
    .where(and(eq(jobs.status, 'running'), eq(jobs.timeoutSuspended, false)))
    .orderBy(asc(jobs.deadlineAt))
    .limit(limit);
  return rows.map(jobRowToJson);
}

/** Latest timeouts and kills of the last 24 h (finished_at index, newest first). */
export async function recentTimeoutsAndKills(db: DbOrTx, now: Date, limit = 8) {
  const rows = await selectJobRows(db)
    .where(and(inArray(jobs.status, ['timed_out', 'killed']), gte(jobs.finishedAt, new Date(now.getTime() - WINDOW_MS))))
    .orderBy(desc(jobs.finishedAt))
    .limit(limit);
  return rows.map(jobRowToJson);
}

export interface SeriesPoint {
  t: string;
  running: number;
  timedOut: number;
  killed: number;
  finished: number;
}

/**
 * Hourly series of the last 24 h: jobs running at the end of each hour, and timeouts/kills/ends
 * per hour. Only jobs that ended in the window or are running now can have run in it, so the
 * scan is the 24 h slice of jobs_finished_at_idx plus the live partial index — never history.
 * Running counts are a +1/−1 event sweep (O(rows)), not a rows × buckets join.
 */
export async function hourlySeries(db: DbOrTx, now: Date): Promise<SeriesPoint[]> {
  const end = new Date(Math.ceil(now.getTime() / BUCKET_MS) * BUCKET_MS);
  const start = new Date(end.getTime() - WINDOW_MS);
  // Raw SQL parameters are text: drizzle's postgres.js driver does not serialise Date objects.
  const ws = start.toISOString();
  const rows = await db.execute<{ b: number; starts: number; ends: number; timed_out: number; killed: number }>(sql`
    with w as (
      select started_at, finished_at, status from jobs where finished_at >= ${ws}::timestamptz
      union all
      select started_at, null, status from jobs where status in ('running', 'terminating')
    ),
    ev as (
      select greatest(started_at, ${ws}::timestamptz) as at, 1 as d, null::job_status as st from w where started_at is not null
      union all
      select finished_at, -1, status from w where finished_at is not null and started_at is not null
      union all
      select finished_at, 0, status from w where finished_at is not null and started_at is null
    )
    select floor(extract(epoch from (at - ${ws}::timestamptz)) / ${BUCKET_MS / 1000})::int as b,
           sum(case when d = 1 then 1 else 0 end)::int as starts,
           sum(case when d = -1 then 1 else 0 end)::int as ends,
           count(*) filter (where d <= 0 and st = 'timed_out')::int as timed_out,
           count(*) filter (where d <= 0 and st = 'killed')::int as killed
    from ev group by 1 order by 1`);
  const n = Math.round(WINDOW_MS / BUCKET_MS);
  const byBucket = new Map(rows.map((r) => [Number(r.b), r]));
  const out: SeriesPoint[] = [];
  let running = 0;
  for (let i = 0; i < n; i++) {
    const r = byBucket.get(i);
    running += (r?.starts ?? 0) - (r?.ends ?? 0);
    out.push({
      t: new Date(start.getTime() + (i + 1) * BUCKET_MS).toISOString(),
      running: Math.max(0, running),
      timedOut: r?.timed_out ?? 0,
      killed: r?.killed ?? 0,
      finished: r?.ends ?? 0,
    });
  }
  return out;
}

const g = globalThis as unknown as { __wardenSeries?: { at: number; value: Promise<SeriesPoint[]> } };
/** Hourly buckets change slowly: one computation per SERIES_TTL_MS per process serves every viewer. */
export const SERIES_TTL_MS = 15_000;

export function cachedHourlySeries(db: DbOrTx, now: Date): Promise<SeriesPoint[]> {
  const c = g.__wardenSeries;
  if (c && now.getTime() - c.at < SERIES_TTL_MS && now.getTime() >= c.at) return c.value;
  const value = hourlySeries(db, now);
  g.__wardenSeries = { at: now.getTime(), value };
  value.catch(() => {
    if (g.__wardenSeries?.value === value) g.__wardenSeries = undefined;
  });
  return value;
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

/** Worker nodes and their heartbeats (a handful of rows). */
export async function workerNodes(db: DbOrTx, now: Date) {
  const rows = await db.select().from(nodes).orderBy(desc(nodes.heartbeatAt)).limit(20);
  return rows.map((n) => ({
    id: n.id,
    heartbeatAt: n.heartbeatAt.toISOString(),
    stale: now.getTime() - n.heartbeatAt.getTime() > 30_000,
    dockerOk: n.dockerOk,
    dockerError: n.dockerError,
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
