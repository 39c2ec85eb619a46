import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { sql } from 'drizzle-orm';
import type { DbOrTx } from './db/client';
import { LIVE_STATUSES, sqlList } from './domain/status';

/**
 * Prometheus metrics for GET /api/metrics. One registry per process, cached on globalThis: under
 * `npm start` the worker (started from instrumentation.ts) and the route handlers are separate
 * Next bundles, so module-level singletons would give each its own registry and the route would
 * never see the sweepers' counters.
 */
export interface WardenMetrics {
  registry: Registry;
  sweeperRuns: Counter<'sweeper' | 'outcome'>;
  sweeperDuration: Histogram<'sweeper'>;
  sweeperActions: Counter<'sweeper' | 'kind'>;
  sweeperErrors: Counter<'sweeper'>;
  sweeperLastRun: Gauge<'sweeper'>;
  killLateness: Histogram<'kind'>;
  jobs: Gauge<'status'>;
  jobsRowsEstimate: Gauge;
  dispatcherClaims: Counter;
  dispatcherStarts: Counter<'outcome'>;
  jobsFinished: Counter<'status'>;
}

const g = globalThis as unknown as { __wardenMetrics?: WardenMetrics };

export function metrics(): WardenMetrics {
  if (g.__wardenMetrics) return g.__wardenMetrics;
  const registry = new Registry();
  if (!process.env.VITEST) collectDefaultMetrics({ register: registry, prefix: 'warden_process_' });
  const m: WardenMetrics = {
    registry,
    sweeperRuns: new Counter({
      name: 'warden_sweeper_runs_total',
      help: 'Sweeper ticks by outcome (ok, error, skipped = another replica held the lock)',
      labelNames: ['sweeper', 'outcome'],
      registers: [registry],
    }),
    sweeperDuration: new Histogram({
      name: 'warden_sweeper_duration_seconds',
      help: 'Wall time of one sweeper tick (lock held), seconds',
      labelNames: ['sweeper'],
      // A healthy timeout tick is a few ms; Docker side effects push it to 10-500 ms.
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    sweeperActions: new Counter({
      name: 'warden_sweeper_actions_total',
      help: 'Actions performed by sweepers, by kind (dry-run actions are not counted)',
      labelNames: ['sweeper', 'kind'],
      registers: [registry],
    }),
    sweeperErrors: new Counter({
      name: 'warden_sweeper_errors_total',
      help: 'Failed sweeper actions and failed ticks',
      labelNames: ['sweeper'],
      registers: [registry],
    }),
    sweeperLastRun: new Gauge({
      name: 'warden_sweeper_last_run_timestamp_seconds',
      help: 'Unix time this process last finished a tick of the sweeper',
      labelNames: ['sweeper'],
      registers: [registry],
    }),
    killLateness: new Histogram({
      name: 'warden_kill_lateness_seconds',
      help: 'Seconds from a job deadline (timeout) or kill request to the SIGTERM being sent',
      labelNames: ['kind'],
      buckets: [0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    jobs: new Gauge({
      name: 'warden_jobs',
      help: 'Live jobs by status (exact, counted on scrape)',
      labelNames: ['status'],
      registers: [registry],
    }),
    jobsRowsEstimate: new Gauge({
      name: 'warden_jobs_rows_estimate',
      help: "Rows in the jobs table (planner estimate: finished history is not counted exactly)",
      registers: [registry],
    }),
    dispatcherClaims: new Counter({
      name: 'warden_dispatcher_claims_total',
      help: 'Queued jobs claimed by this process\'s dispatcher',
      registers: [registry],
    }),
    dispatcherStarts: new Counter({
      name: 'warden_dispatcher_starts_total',
      help: 'Container starts by outcome (running, failed, requeued = engine unreachable, gone)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    jobsFinished: new Counter({
      name: 'warden_jobs_finished_total',
      help: 'Jobs this process moved to a final state, by status',
      labelNames: ['status'],
      registers: [registry],
    }),
  };
  g.__wardenMetrics = m;
  return m;
}


/**
 * Refreshes the job gauges from the database. Live states are counted exactly through the
 * (status, queued_at) index; finished history only by the planner's row estimate, so a scrape
 * stays cheap with millions of rows (an exact count(*) over 1M rows costs ~100 ms).
 */
export async function refreshJobGauges(db: DbOrTx): Promise<void> {
  const m = metrics();
  const rows = await db.execute<{ status: string; n: number }>(sql`
    select status::text as status, count(*)::int as n from jobs
    where status in ${sql.raw(sqlList(LIVE_STATUSES))} group by status`);
  const seen = new Map(rows.map((r) => [r.status, Number(r.n)]));
  for (const s of LIVE_STATUSES) m.jobs.set({ status: s }, seen.get(s) ?? 0);
  const [est] = await db.execute<{ n: number }>(sql`select greatest(reltuples, 0)::bigint as n from pg_class where oid = 'jobs'::regclass`);
  m.jobsRowsEstimate.set(Number(est?.n ?? 0));
}
