import { and, asc, eq, gt, isNull, lte, sql } from 'drizzle-orm';
import type { Config } from '../config';
import type { Ctx } from '../context';
import { jobs } from '../db/schema';
import { timeboxed } from '../docker/timeboxed';
import { errMessage } from '../domain/side-effects';
import { SWEEPER_ACTOR } from '../domain/sweeper-settings';
import { log } from '../log';
import { metrics } from '../metrics';
import type { SweepSettings } from './common';
import { settingsFrom } from './runner';
import { apply, plan, selectTimeoutJobs, type TimeoutJob } from './timeout';

/**
 * The deadline fast path. Ahead of time (after each tick and at each cron beat) the scheduler
 * reads the running jobs of this node whose deadline comes within the next period and arms a
 * timer per job; at the deadline the timer hands that job straight to the timeout sweeper's own
 * plan() and apply(): one conditional write moves it to `terminating` with its SIGTERM claimed,
 * and the signal goes out. Nothing is read at the deadline, and nothing waits for a tick.
 *
 * What it leaves out of a tick, and why that is safe:
 * - the advisory lock: every write is conditional — running → terminating only while the job is
 *   still running, its timeout not suspended, its stored deadline the one the timer was armed for
 *   (an extend or a cap since then makes it a no-op; the tick handles the new one) and passed;
 *   the SIGTERM claimed only while unclaimed — so a tick or another replica racing it ends in one
 *   transition and one signal per job, as two ticks on different nodes do on shared rows;
 * - dry-run: the same write also requires the timeout sweeper's dry-run setting to be off (and
 *   with WARDEN_DRY_RUN no timer is armed), so switching dry-run on stops it at once;
 * - waiting for a tick in flight: at 500 running jobs a deadline comes every 60 ms, and a tick
 *   whose Docker calls wait on a loaded engine used to hold every deadline behind it;
 * - a sweeper_runs row: the audit log has each move and signal (actor sweeper:timeout) and the
 *   metrics count them; the 1 s tick still records its runs and is the backstop for anything
 *   this misses (a timer not armed in time, a crash between the write and the signal).
 */

export interface FireResult {
  /** Jobs moved to terminating. */
  timedOut: number;
  /** SIGTERMs sent. */
  signalled: number;
  errors: number;
}

/**
 * The running jobs of this node whose deadline is in (since, until], soonest first: what the
 * scheduler arms timers for. The range scan of jobs_live_deadline_idx the tick's snapshot uses.
 */
export async function upcomingDeadlines(ctx: Pick<Ctx, 'db' | 'node'>, since: Date, until: Date, limit: number): Promise<TimeoutJob[]> {
  const rows = await selectTimeoutJobs(ctx)
    .where(
      and(
        sql`${jobs.status} = 'running'`,
        isNull(jobs.terminateRequestedAt),
        eq(jobs.node, ctx.node),
        eq(jobs.timeoutSuspended, false),
        gt(jobs.deadlineAt, since),
        lte(jobs.deadlineAt, until),
      ),
    )
    .orderBy(asc(jobs.deadlineAt))
    .limit(limit);
  return rows as TimeoutJob[];
}

/**
 * At its deadline: times out and signals each job (see the header). `busy` holds the jobs a fire
 * in flight in this process is handling; they are left out, and this fire's own are added while
 * it runs. Never throws: errors are logged and counted.
 */
export async function fireDeadlines(
  ctx: Ctx,
  cfg: Pick<Config, 'WARDEN_DRY_RUN' | 'WARDEN_ORPHAN_GRACE_S' | 'WARDEN_HISTORY_DAYS'>,
  due: TimeoutJob[],
  o: { settings?: Partial<SweepSettings>; busy?: Set<string> } = {},
): Promise<FireResult> {
  const out: FireResult = { timedOut: 0, signalled: 0, errors: 0 };
  if (cfg.WARDEN_DRY_RUN) return out;
  const s = settingsFrom(cfg, o.settings);
  const busy = o.busy ?? new Set<string>();
  const mine = due.filter((j) => !busy.has(j.id));
  if (mine.length === 0) return out;
  for (const j of mine) busy.add(j.id);
  try {
    const now = ctx.clock.now();
    const docker = ctx.docker ? timeboxed(ctx.docker, s.dockerTimeoutMs) : null;
    const r = await apply(plan({ jobs: mine }, now), { ctx: { ...ctx, docker }, docker, actor: SWEEPER_ACTOR.timeout, settings: s }, { fastPath: true });
    out.timedOut = r.byKind.timeout ?? 0;
    out.signalled = r.byKind.sigterm ?? 0;
    out.errors = r.errors;
    const m = metrics();
    for (const [kind, n] of Object.entries(r.byKind)) m.sweeperActions.inc({ sweeper: 'timeout', kind }, n);
    if (r.errors > 0) m.sweeperErrors.inc({ sweeper: 'timeout' }, r.errors);
    // One fire per job: at debug (the audit log and the metrics have every move); failures at warn.
    const line = { sweeper: 'timeout', path: 'deadline', jobId: mine[0]!.id, timedOut: out.timedOut, signalled: out.signalled, errors: out.errors };
    if (r.errors > 0) log.warn(line, 'deadline fast path had errors (audited; the tick retries)');
    else log.debug(line, 'deadline');
  } catch (e) {
    out.errors++;
    log.error({ err: errMessage(e), sweeper: 'timeout', path: 'deadline' }, 'deadline fast path failed (the next tick retries)');
  } finally {
    for (const j of mine) busy.delete(j.id);
  }
  return out;
}
