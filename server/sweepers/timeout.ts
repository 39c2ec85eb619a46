import { and, asc, eq, gt, isNull, lte, or, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import { jobClasses, jobs, plans, users } from '../db/schema';
import { audit } from '../domain/audit';
import { countAct, emptyTally, errMessage, noteSideEffectFailure } from '../domain/side-effects';
import { RUNNING_STATUSES, sqlList } from '../domain/status';
import {
  backingOff,
  beginTimeout,
  idleReason,
  nextEscalationStep,
  runEscalationStep,
  terminatingCols,
  timeoutReason,
  type EscalationStep,
  type TerminatingJob,
} from '../domain/termination';
import { groupBy, mapLimit, type ApplyDeps, type ApplyResult, type PlannedAction } from './common';

/**
 * Timeout sweeper: decides what is due for every live job on this node,
 *
 *   running ──deadline − warn_before──▶ warn (audit job.warn, warned_at)
 *   running ──deadline──▶ terminating (kind timeout) + SIGTERM
 *   running ──idle deadline──▶ probe the output; none since: terminating (kind timeout,
 *                               "Idle: no output for 60s") + SIGTERM; some: next idle deadline
 *   terminating ──▶ the next escalation step (SIGTERM, SIGKILL after the grace, force-remove)
 *
 * and hands each step to the domain's escalation (domain/termination.ts), which claims it, sends
 * the signal, re-checks before destroying and writes the final state once Docker confirms.
 *
 * Idle timeouts cost one engine call per job per idle period, not per tick: a job's idle
 * deadline is (last output seen, or its start) + idleTimeoutSeconds, stored and indexed
 * (jobs_idle_deadline_idx); only when it passes does the sweeper ask the engine for the newest
 * log line's timestamp (`docker logs --tail 1 --timestamps`: the engine reads one line). Output
 * since then moves the deadline to (that output + idle timeout); none means idle. 500 running
 * jobs with a 60 s idle timeout are ~8 probes a second, however often the sweeper ticks.
 */

export interface TimeoutJob extends TerminatingJob {
  warnBeforeS: number;
  idleTimeoutS: number | null;
  idleDeadlineAt: Date | null;
  lastOutputAt: Date | null;
}

export type IdleVerdict = { idle: true } | { idle: false; lastOutputAt: Date; idleDeadlineAt: Date };

/**
 * Pure: what an idle probe's answer means at `now`. The newest of the probed output, the output
 * seen before and the start counts; idle when that plus the idle timeout is not in the future.
 */
export function idleVerdict(j: Pick<TimeoutJob, 'idleTimeoutS' | 'startedAt' | 'lastOutputAt'>, probed: Date | null, now: Date): IdleVerdict {
  const last = Math.max(probed?.getTime() ?? 0, j.lastOutputAt?.getTime() ?? 0, j.startedAt?.getTime() ?? 0);
  const deadline = last + (j.idleTimeoutS ?? 0) * 1000;
  if (!j.idleTimeoutS || deadline > now.getTime()) return { idle: false, lastOutputAt: new Date(last), idleDeadlineAt: new Date(deadline) };
  return { idle: true };
}

export interface TimeoutSnapshot {
  jobs: TimeoutJob[];
}

export type TimeoutAction =
  | { kind: 'warn'; job: TimeoutJob }
  | { kind: 'idle_check'; job: TimeoutJob }
  | { kind: 'timeout'; job: TimeoutJob; reason: string }
  | { kind: EscalationStep; job: TimeoutJob };

/** Pure: what is due for each job at `now`. Actions for one job come out in execution order. */
export function plan(s: TimeoutSnapshot, now: Date): TimeoutAction[] {
  const out: TimeoutAction[] = [];
  const t = now.getTime();
  for (const j of s.jobs) {
    if (j.status === 'running') {
      if (j.timeoutSuspended || !j.deadlineAt) continue;
      const d = j.deadlineAt.getTime();
      if (t >= d) {
        // The DB move is never held back by Docker trouble: a job is not left `running` past
        // its deadline. The signal waits out the backoff.
        out.push({ kind: 'timeout', job: j, reason: timeoutReason(j) });
        if (j.containerId && !backingOff(j, t)) out.push({ kind: 'sigterm', job: j });
        continue;
      }
      // The idle deadline passed: the probe decides (output since, or idle).
      if (j.idleTimeoutS && j.idleDeadlineAt && t >= j.idleDeadlineAt.getTime() && j.containerId && !backingOff(j, t)) {
        out.push({ kind: 'idle_check', job: j });
      }
      if (!j.warnedAt && j.warnBeforeS > 0 && t >= d - j.warnBeforeS * 1000) out.push({ kind: 'warn', job: j });
      continue;
    }
    const step = nextEscalationStep(j, now);
    if (step) out.push({ kind: step, job: j });
  }
  return out;
}

export function describe(a: TimeoutAction): PlannedAction {
  const base = { kind: a.kind, jobId: a.job.id, containerId: a.job.containerId ?? undefined };
  if (a.kind === 'timeout') return { ...base, detail: a.reason };
  if (a.kind === 'warn') return { ...base, detail: `deadline ${a.job.deadlineAt?.toISOString()}` };
  if (a.kind === 'idle_check') return { ...base, detail: `no output seen since ${(a.job.lastOutputAt ?? a.job.startedAt)?.toISOString()} (idle ${a.job.idleTimeoutS}s)` };
  if (a.kind === 'sigterm' || a.kind === 'sigkill') return { ...base, detail: a.job.terminateKind ?? 'timeout' };
  return base;
}

// ---------------------------------------------------------------------------------------------
// Snapshot
// ---------------------------------------------------------------------------------------------

/** Columns of a TimeoutJob: the snapshot's rows and the deadline fast path's (./deadlines). */
export const timeoutCols = {
  ...terminatingCols,
  // The job's class's warning (as the class is now), else its plan's.
  warnBeforeS: sql<number>`coalesce(${jobClasses.warnBeforeS}, ${plans.warnBeforeS})`.mapWith(Number),
  idleTimeoutS: jobs.idleTimeoutS,
  idleDeadlineAt: jobs.idleDeadlineAt,
  lastOutputAt: jobs.lastOutputAt,
};

/**
 * The jobs with something due, never the whole live set:
 * - running: deadline within the largest warn_before of any plan (an index range scan on the
 *   partial jobs_live_deadline_idx, ordered by deadline), minus jobs already warned and not due;
 * - terminating: only those whose next step is due (few rows; (status, queued_at) index).
 * Both are capped at batchSize, so a tick's cost does not grow with history or backlog.
 */
export async function snapshot(ctx: Ctx, o: { batchSize: number; now: Date; jobId?: string }): Promise<TimeoutSnapshot> {
  const q = snapshotQueries(ctx, o);
  const [r, i, t] = await Promise.all([q.running, q.idle, q.terminating]);
  const running = (r as TimeoutJob[]).filter((j) => j.status === 'running');
  const seen = new Set(running.map((j) => j.id));
  const idle = (i as TimeoutJob[]).filter((j) => j.status === 'running' && !seen.has(j.id));
  return { jobs: [...running, ...idle, ...(t as TimeoutJob[])] };
}

/** TimeoutJob rows: jobs with their user's plan and their class (where to filter is the caller's). */
export function selectTimeoutJobs(ctx: Pick<Ctx, 'db'>) {
  return ctx.db
    .select(timeoutCols)
    .from(jobs)
    .innerJoin(users, eq(users.id, jobs.userId))
    .innerJoin(plans, eq(plans.id, users.planId))
    .leftJoin(jobClasses, eq(jobClasses.name, jobs.className));
}

/** The two snapshot queries, as builders (bench/sweep-cost.ts EXPLAINs them via toSQL()). */
export function snapshotQueries(ctx: Pick<Ctx, 'db' | 'node'>, o: { batchSize: number; now: Date; jobId?: string }) {
  const now = o.now;
  const nowIso = now.toISOString();
  const only = o.jobId ? eq(jobs.id, o.jobId) : undefined;
  // Shaped for the planner (measured in bench/sweep-cost.ts): ids first, in a LIMIT subquery,
  // and the status condition written exactly as jobs_live_deadline_idx's predicate, so the plan
  // is an ordered scan of that index that stops after batchSize rows. With `status = 'running'`
  // the planner costed the partial index as if only 5% of its rows matched and instead
  // bitmap-scanned and sorted the whole warn window (13k rows at 1M jobs). Running rows are the
  // ones not asked to terminate (terminate_requested_at is set on every move to terminating).
  const due = ctx.db
    .select({ id: jobs.id })
    .from(jobs)
    .where(
      and(
        sql`${jobs.status} in ${sql.raw(sqlList(RUNNING_STATUSES))}`,
        isNull(jobs.terminateRequestedAt),
        eq(jobs.node, ctx.node),
        eq(jobs.timeoutSuspended, false),
        sql`${jobs.deadlineAt} <= ${nowIso}::timestamptz + greatest((select coalesce(max(p2.warn_before_s), 0) from plans p2), (select coalesce(max(c2.warn_before_s), 0) from job_classes c2)) * interval '1 second'`,
        or(isNull(jobs.warnedAt), lte(jobs.deadlineAt, now)),
        only,
      ),
    )
    .orderBy(asc(jobs.deadlineAt))
    .limit(o.batchSize)
    .as('due');
  const running = ctx.db
    .select(timeoutCols)
    .from(jobs)
    .innerJoin(due, eq(due.id, jobs.id))
    .innerJoin(users, eq(users.id, jobs.userId))
    .innerJoin(plans, eq(plans.id, users.planId))
    .leftJoin(jobClasses, eq(jobClasses.name, jobs.className))
    .orderBy(asc(jobs.deadlineAt));
  // Running jobs whose idle probe is due: an ordered scan of the partial jobs_idle_deadline_idx.
  const idle = selectTimeoutJobs(ctx)
    .where(
      and(
        sql`${jobs.status} = 'running' and ${jobs.idleDeadlineAt} is not null`,
        lte(jobs.idleDeadlineAt, now),
        eq(jobs.node, ctx.node),
        eq(jobs.timeoutSuspended, false),
        isNull(jobs.terminateRequestedAt),
        or(isNull(jobs.nextAttemptAt), lte(jobs.nextAttemptAt, now)),
        only,
      ),
    )
    .orderBy(asc(jobs.idleDeadlineAt))
    .limit(o.batchSize);
  const terminating = selectTimeoutJobs(ctx)
    .where(
      and(
        eq(jobs.status, 'terminating'),
        eq(jobs.node, ctx.node),
        sql`(${jobs.containerId} is null
          or ((${jobs.nextAttemptAt} is null or ${jobs.nextAttemptAt} <= ${nowIso}::timestamptz)
              and (${jobs.sigtermAt} is null
                   or ${jobs.terminateForce} and ${jobs.sigkillAt} is null
                   or coalesce(${jobs.sigkillAt}, ${jobs.sigtermAt}) + ${jobs.gracePeriodS} * interval '1 second' <= ${nowIso}::timestamptz)))`,
        only,
      ),
    )
    .orderBy(asc(jobs.terminateRequestedAt))
    .limit(o.batchSize);
  return { running, idle, terminating };
}

/**
 * The next moment something is due on this node after `since` (default `now`; null: nothing
 * within `horizonMs` of `now`) — with `since` the start of the tick just run, also what came due
 * during that tick, which it could not see: a running job's deadline, or a terminating job's next
 * step. The scheduler arms timers for these (deadlines: ./deadlines ahead of time; steps:
 * nextStep after each tick), so SIGTERM goes out at the deadline and SIGKILL at the end of the
 * grace, rather than at the next whole-second cron tick (which alone adds up to 1 s to each).
 */
export async function nextDeadline(ctx: Ctx, now: Date, horizonMs: number, since: Date = now): Promise<Date | null> {
  const until = new Date(now.getTime() + horizonMs);
  const running = ctx.db
    .select({ d: jobs.deadlineAt })
    .from(jobs)
    .where(
      and(
        eq(jobs.status, 'running'),
        eq(jobs.node, ctx.node),
        eq(jobs.timeoutSuspended, false),
        gt(jobs.deadlineAt, since),
        lte(jobs.deadlineAt, until),
      ),
    )
    .orderBy(asc(jobs.deadlineAt))
    .limit(1);
  const [[row], step] = await Promise.all([running, nextStep(ctx, now, horizonMs, since)]);
  const times = [row?.d ?? null, step].filter((d): d is Date => d instanceof Date);
  return times.length ? new Date(Math.min(...times.map((d) => d.getTime()))) : null;
}

/** A terminating job's next escalation step after `since` and within `horizonMs` of `now` (SIGKILL a grace after SIGTERM, force-removal a grace after SIGKILL). */
export async function nextStep(ctx: Ctx, now: Date, horizonMs: number, since: Date = now): Promise<Date | null> {
  const until = new Date(now.getTime() + horizonMs);
  const step = sql<Date | string | null>`coalesce(${jobs.sigkillAt}, ${jobs.sigtermAt}) + ${jobs.gracePeriodS} * interval '1 second'`;
  const [t] = await ctx.db
    .select({ d: sql<Date | string | null>`min(${step})` })
    .from(jobs)
    .where(
      and(
        eq(jobs.status, 'terminating'),
        eq(jobs.node, ctx.node),
        sql`${jobs.sigtermAt} is not null or ${jobs.sigkillAt} is not null`,
        sql`${step} > ${since.toISOString()}::timestamptz and ${step} <= ${until.toISOString()}::timestamptz`,
      ),
    );
  return t?.d ? new Date(t.d) : null;
}

// ---------------------------------------------------------------------------------------------
// Apply
// ---------------------------------------------------------------------------------------------

/**
 * Runs the plan: the actions of one job in order (stopping when a step finds the job moved on),
 * jobs in parallel. `fastPath` (the deadline timer, ./deadlines: no advisory lock, rows read
 * ahead): each timeout's write also requires the stored deadline to be the one read and the
 * sweeper's dry-run to be off.
 */
export async function apply(actions: TimeoutAction[], deps: ApplyDeps, o: { fastPath?: boolean } = {}): Promise<ApplyResult> {
  const res = emptyTally();
  await mapLimit(groupBy(actions, (a) => a.job.id), deps.settings.concurrency, async (group) => {
    let job: TimeoutJob = group[0]!.job;
    for (const a of group) {
      try {
        if (a.kind === 'warn') {
          if (await warn(deps, job)) countAct(res, 'warn');
          return;
        }
        if (a.kind === 'idle_check') {
          const moved = await idleCheck(deps, job, res);
          if (moved) return;
          continue;
        }
        if (a.kind === 'timeout') {
          const moved = await beginTimeout(deps, job, a.reason, 'deadline', {
            claimSigterm: group.some((g) => g.kind === 'sigterm'),
            ...(o.fastPath ? { sameDeadline: true, unlessDryRun: true } : {}),
          });
          if (!moved) return;
          countAct(res, 'timeout');
          job = { ...job, ...moved };
          continue;
        }
        await runEscalationStep(deps, a.kind, job, res);
        return;
      } catch (e) {
        // A database error (a Docker error is handled inside the step): count it, move on.
        res.errors++;
        await audit(deps.ctx.db, {
          actor: deps.actor,
          action: `sweeper.${a.kind}`,
          targetType: 'job',
          targetId: job.id,
          success: false,
          error: errMessage(e),
          at: deps.ctx.clock.now(),
        }).catch(() => {});
        return;
      }
    }
  });
  return res;
}

async function warn(d: ApplyDeps, j: TimeoutJob): Promise<boolean> {
  const now = d.ctx.clock.now();
  return d.ctx.db.transaction(async (tx) => {
    // Asynchronous commit: a warning is at-least-once by construction (a crash that loses this
    // commit loses warned_at with its audit and webhook rows, and the next tick warns again), so
    // it need not wait for an fsync — which held up the deadline checks queued behind it.
    await tx.execute(sql`select set_config('synchronous_commit', 'off', true)`);
    const [row] = await tx
      .update(jobs)
      .set({ warnedAt: now, updatedAt: now })
      .where(and(eq(jobs.id, j.id), eq(jobs.status, 'running'), isNull(jobs.warnedAt), eq(jobs.timeoutSuspended, false)))
      .returning({ deadlineAt: jobs.deadlineAt });
    if (!row?.deadlineAt) return false;
    const left = Math.max(0, Math.round((row.deadlineAt.getTime() - now.getTime()) / 1000));
    await audit(tx, {
      actor: d.actor,
      action: 'job.warn',
      targetType: 'job',
      targetId: j.id,
      reason: `Deadline in ${left}s`,
      at: now,
      details: { deadlineAt: row.deadlineAt.toISOString(), warnBeforeSeconds: j.warnBeforeS },
    });
    return true;
  });
}

/**
 * The idle deadline passed: ask the engine for the newest output. Some since → record it and move
 * the idle deadline (no audit row: bookkeeping, once per idle period). None → the timeout
 * escalation with reason "Idle: no output for 60s" (SIGTERM at once). Returns true when the job
 * was handled here (the caller's next planned action, e.g. a warning, is then stale).
 */
async function idleCheck(d: ApplyDeps, j: TimeoutJob, res: ApplyResult): Promise<boolean> {
  const docker = d.docker;
  if (!docker) throw new Error('Docker runtime not available in this process');
  let probe: { at: Date | null } | null;
  try {
    probe = await docker.lastOutputAt(j.containerId!);
  } catch (e) {
    res.errors++;
    const at = d.ctx.clock.now();
    await d.ctx.db.transaction(async (tx) => {
      await noteSideEffectFailure(tx, j.id, at);
      await audit(tx, { actor: d.actor, action: 'container.log_probe', targetType: 'job', targetId: j.id, at, success: false, error: errMessage(e), details: { containerId: j.containerId } });
    });
    return true;
  }
  // Gone: the orphan sweeper makes the job lost (it was not idle, it vanished).
  if (!probe) return true;
  const now = d.ctx.clock.now();
  const v = idleVerdict(j, probe.at, now);
  if (!v.idle) {
    await d.ctx.db
      .update(jobs)
      .set({ lastOutputAt: v.lastOutputAt, idleDeadlineAt: v.idleDeadlineAt })
      .where(and(eq(jobs.id, j.id), eq(jobs.status, 'running')));
    countAct(res, 'idle_probe');
    return false;
  }
  const moved = await beginTimeout(d, j, idleReason(j.idleTimeoutS!), 'idle', { claimSigterm: true });
  if (!moved) return true;
  countAct(res, 'idle_timeout');
  await runEscalationStep(d, 'sigterm', { ...j, ...moved }, res);
  return true;
}
