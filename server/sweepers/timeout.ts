import { and, asc, eq, gt, isNull, lte, or, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import { jobs, plans, users, type Job } from '../db/schema';
import type { ContainerInspect, DockerRuntime } from '../docker/types';
import { audit } from '../domain/audit';
import { finishJob, lockJobWithPlan } from '../domain/lifecycle';
import { describeTimeoutSource } from '../domain/limits';
import { metrics } from '../metrics';
import { completeJob, terminationOutcome } from '../worker/completion';
import {
  clearSideEffectFailures,
  countAct,
  DEFAULT_SETTINGS,
  emptyResult,
  errMessage,
  groupBy,
  mapLimit,
  noteSideEffectFailure,
  timeboxed,
  type ApplyDeps,
  type ApplyResult,
  type PlannedAction,
} from './common';

/**
 * Timeout sweeper: drives every live job on this node through the escalation
 *
 *   running ──deadline − warn_before──▶ warn (audit job.warn, warned_at)
 *   running ──deadline──▶ terminating (kind timeout) + SIGTERM
 *   terminating ──sigterm_at + grace──▶ SIGKILL
 *   terminating ──sigkill_at + grace (≈ deadline + 2×grace), still running──▶ log tail saved,
 *                                                 container force-removed, job final
 *
 * and the same from SIGTERM on for `terminating` jobs that a kill or a parent's end put there
 * (terminate_force: straight to SIGKILL). The final state (timed_out | killed) is written by
 * completeJob once Docker says the container stopped, or directly when it is gone.
 *
 * All escalation state is in the jobs row, so a crashed worker's successor resumes where it
 * stopped. Each Docker step is claimed first with a conditional UPDATE (`sigterm_at is null`),
 * so two replicas, a retry and the kill fast path can never send the same signal twice; a failed
 * signal is un-claimed and retried with backoff.
 */

export interface TimeoutJob {
  id: string;
  status: 'running' | 'terminating';
  attempt: number;
  containerId: string | null;
  node: string | null;
  startedAt: Date | null;
  deadlineAt: Date | null;
  timeoutS: number;
  timeoutSource: string;
  timeoutSuspended: boolean;
  gracePeriodS: number;
  warnedAt: Date | null;
  terminateRequestedAt: Date | null;
  terminateKind: string | null;
  terminateForce: boolean;
  sigtermAt: Date | null;
  sigkillAt: Date | null;
  sideEffectFailures: number;
  nextAttemptAt: Date | null;
  warnBeforeS: number;
  planName: string;
}

export interface TimeoutSnapshot {
  jobs: TimeoutJob[];
}

export type TimeoutAction =
  | { kind: 'warn'; job: TimeoutJob }
  | { kind: 'timeout'; job: TimeoutJob; reason: string }
  | { kind: 'sigterm'; job: TimeoutJob }
  | { kind: 'sigkill'; job: TimeoutJob }
  | { kind: 'remove'; job: TimeoutJob }
  | { kind: 'finish_no_container'; job: TimeoutJob };

/**
 * A job killed while `starting` has no container until the dispatcher records it. If none ever
 * appears (the start failed, or the worker died mid-start) the job is finished without one after
 * this long; 120 s covers a slow image pull.
 */
export const NO_CONTAINER_WAIT_MS = 120_000;

/** "Timeout: exceeded 300s (plan free)". The seconds are what the job was allowed to run. */
export function timeoutReason(j: Pick<TimeoutJob, 'timeoutS' | 'timeoutSource' | 'startedAt' | 'deadlineAt' | 'planName'>): string {
  const allowed =
    j.startedAt && j.deadlineAt ? Math.max(0, Math.round((j.deadlineAt.getTime() - j.startedAt.getTime()) / 1000)) : j.timeoutS;
  return `Timeout: exceeded ${allowed}s (${describeTimeoutSource(j.timeoutSource, j.planName)})`;
}

/** Pure: what is due for each job at `now`. Actions for one job come out in execution order. */
export function plan(s: TimeoutSnapshot, now: Date): TimeoutAction[] {
  const out: TimeoutAction[] = [];
  const t = now.getTime();
  for (const j of s.jobs) {
    const backingOff = j.nextAttemptAt != null && j.nextAttemptAt.getTime() > t;
    if (j.status === 'running') {
      if (j.timeoutSuspended || !j.deadlineAt) continue;
      const d = j.deadlineAt.getTime();
      if (t >= d) {
        // The DB move is never held back by Docker trouble: a job is not left `running` past
        // its deadline. The signal waits out the backoff.
        out.push({ kind: 'timeout', job: j, reason: timeoutReason(j) });
        if (j.containerId && !backingOff) out.push({ kind: 'sigterm', job: j });
      } else if (!j.warnedAt && j.warnBeforeS > 0 && t >= d - j.warnBeforeS * 1000) {
        out.push({ kind: 'warn', job: j });
      }
      continue;
    }
    if (!j.containerId) {
      const since = (j.terminateRequestedAt ?? j.startedAt)?.getTime();
      if (since !== undefined && t >= since + NO_CONTAINER_WAIT_MS) out.push({ kind: 'finish_no_container', job: j });
      continue;
    }
    if (backingOff) continue;
    const grace = j.gracePeriodS * 1000;
    if (j.sigkillAt) {
      if (t >= j.sigkillAt.getTime() + grace) out.push({ kind: 'remove', job: j });
    } else if (j.terminateForce) {
      out.push({ kind: 'sigkill', job: j });
    } else if (!j.sigtermAt) {
      out.push({ kind: 'sigterm', job: j });
    } else if (t >= j.sigtermAt.getTime() + grace) {
      out.push({ kind: 'sigkill', job: j });
    }
  }
  return out;
}

export function describe(a: TimeoutAction): PlannedAction {
  const base = { kind: a.kind, jobId: a.job.id, containerId: a.job.containerId ?? undefined };
  if (a.kind === 'timeout') return { ...base, detail: a.reason };
  if (a.kind === 'warn') return { ...base, detail: `deadline ${a.job.deadlineAt?.toISOString()}` };
  if (a.kind === 'sigterm' || a.kind === 'sigkill') return { ...base, detail: a.job.terminateKind ?? 'timeout' };
  return base;
}

// ---------------------------------------------------------------------------------------------
// Snapshot
// ---------------------------------------------------------------------------------------------

const cols = {
  id: jobs.id,
  status: jobs.status,
  attempt: jobs.attempt,
  containerId: jobs.containerId,
  node: jobs.node,
  startedAt: jobs.startedAt,
  deadlineAt: jobs.deadlineAt,
  timeoutS: jobs.timeoutS,
  timeoutSource: jobs.timeoutSource,
  timeoutSuspended: jobs.timeoutSuspended,
  gracePeriodS: jobs.gracePeriodS,
  warnedAt: jobs.warnedAt,
  terminateRequestedAt: jobs.terminateRequestedAt,
  terminateKind: jobs.terminateKind,
  terminateForce: jobs.terminateForce,
  sigtermAt: jobs.sigtermAt,
  sigkillAt: jobs.sigkillAt,
  sideEffectFailures: jobs.sideEffectFailures,
  nextAttemptAt: jobs.nextAttemptAt,
  warnBeforeS: plans.warnBeforeS,
  planName: plans.name,
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
  const [r, t] = await Promise.all([q.running, q.terminating]);
  return { jobs: [...(r as TimeoutJob[]).filter((j) => j.status === 'running'), ...(t as TimeoutJob[])] };
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
        sql`${jobs.status} in ('running', 'terminating')`,
        isNull(jobs.terminateRequestedAt),
        eq(jobs.node, ctx.node),
        eq(jobs.timeoutSuspended, false),
        sql`${jobs.deadlineAt} <= ${nowIso}::timestamptz + (select coalesce(max(p2.warn_before_s), 0) from plans p2) * interval '1 second'`,
        or(isNull(jobs.warnedAt), lte(jobs.deadlineAt, now)),
        only,
      ),
    )
    .orderBy(asc(jobs.deadlineAt))
    .limit(o.batchSize)
    .as('due');
  const running = ctx.db
    .select(cols)
    .from(jobs)
    .innerJoin(due, eq(due.id, jobs.id))
    .innerJoin(users, eq(users.id, jobs.userId))
    .innerJoin(plans, eq(plans.id, users.planId))
    .orderBy(asc(jobs.deadlineAt));
  const terminating = ctx.db
    .select(cols)
    .from(jobs)
    .innerJoin(users, eq(users.id, jobs.userId))
    .innerJoin(plans, eq(plans.id, users.planId))
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
  return { running, terminating };
}

/**
 * The next deadline of a running job on this node after `now` (null: none within `horizonMs`).
 * The scheduler arms a timer for it, so SIGTERM goes out at the deadline rather than at the
 * next whole-second cron tick (which alone gives up to 1 s of lateness).
 */
export async function nextDeadline(ctx: Ctx, now: Date, horizonMs: number): Promise<Date | null> {
  const [row] = await ctx.db
    .select({ d: jobs.deadlineAt })
    .from(jobs)
    .where(
      and(
        eq(jobs.status, 'running'),
        eq(jobs.node, ctx.node),
        eq(jobs.timeoutSuspended, false),
        gt(jobs.deadlineAt, now),
        lte(jobs.deadlineAt, new Date(now.getTime() + horizonMs)),
      ),
    )
    .orderBy(asc(jobs.deadlineAt))
    .limit(1);
  return row?.d ?? null;
}

// ---------------------------------------------------------------------------------------------
// Apply
// ---------------------------------------------------------------------------------------------

/** Runs the plan: the actions of one job in order (stopping when a step finds the job moved on), jobs in parallel. */
export async function apply(actions: TimeoutAction[], deps: ApplyDeps): Promise<ApplyResult> {
  const res = emptyResult();
  const groups = groupBy(actions, (a) => a.job.id);
  await mapLimit(groups, deps.settings.concurrency, async (group) => {
    let job = group[0]!.job;
    for (const a of group) {
      try {
        const next = await step(a, job, deps, res);
        if (!next) return;
        job = next;
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

/** One step; returns the job as it now is when later steps may follow, null to stop. */
async function step(a: TimeoutAction, job: TimeoutJob, d: ApplyDeps, res: ApplyResult): Promise<TimeoutJob | null> {
  switch (a.kind) {
    case 'warn':
      if (await warn(d, job)) countAct(res, 'warn');
      return null;
    case 'timeout': {
      const moved = await timeout(d, job, a.reason);
      if (!moved) return null;
      countAct(res, 'timeout');
      return moved;
    }
    case 'sigterm':
      await sigterm(d, job, res);
      return null;
    case 'sigkill':
      await sigkill(d, job, res);
      return null;
    case 'remove':
      await forceRemove(d, job, res);
      return null;
    case 'finish_no_container':
      if (await finishWithoutContainer(d, job, 'no container was ever started')) countAct(res, 'finish');
      return null;
  }
}

async function warn(d: ApplyDeps, j: TimeoutJob): Promise<boolean> {
  const now = d.ctx.clock.now();
  return d.ctx.db.transaction(async (tx) => {
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
 * running → terminating, only if the deadline has really passed as stored now (an extend that
 * committed after our snapshot wins) and the timeout is not suspended.
 */
async function timeout(d: ApplyDeps, j: TimeoutJob, reason: string): Promise<TimeoutJob | null> {
  const now = d.ctx.clock.now();
  return d.ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .update(jobs)
      .set({
        status: 'terminating',
        terminateRequestedAt: now,
        terminateKind: 'timeout',
        terminateReason: reason,
        terminateActor: d.actor,
        terminateForce: false,
        updatedAt: now,
      })
      .where(and(eq(jobs.id, j.id), eq(jobs.status, 'running'), lte(jobs.deadlineAt, now), eq(jobs.timeoutSuspended, false)))
      .returning();
    if (!row) return null;
    await audit(tx, {
      actor: d.actor,
      action: 'job.timeout',
      targetType: 'job',
      targetId: j.id,
      reason,
      at: now,
      details: {
        from: 'running',
        to: 'terminating',
        deadlineAt: row.deadlineAt?.toISOString() ?? null,
        latenessSeconds: row.deadlineAt ? (now.getTime() - row.deadlineAt.getTime()) / 1000 : null,
      },
    });
    return { ...j, ...pickTimeoutFields(row) };
  });
}

function pickTimeoutFields(r: Job): Partial<TimeoutJob> {
  return {
    status: r.status as TimeoutJob['status'],
    containerId: r.containerId,
    deadlineAt: r.deadlineAt,
    terminateRequestedAt: r.terminateRequestedAt,
    terminateKind: r.terminateKind,
    terminateForce: r.terminateForce,
    sigtermAt: r.sigtermAt,
    sigkillAt: r.sigkillAt,
    sideEffectFailures: r.sideEffectFailures,
    nextAttemptAt: r.nextAttemptAt,
  };
}

function requireDocker(d: ApplyDeps): DockerRuntime {
  if (!d.docker) throw new Error('Docker runtime not available in this process');
  return d.docker;
}

/** Claims a signal step: sets the column only if still null. Returns the claim time or null. */
async function claim(d: ApplyDeps, j: TimeoutJob, col: 'sigtermAt' | 'sigkillAt'): Promise<Date | null> {
  const now = d.ctx.clock.now();
  const column = col === 'sigtermAt' ? jobs.sigtermAt : jobs.sigkillAt;
  const [row] = await d.ctx.db
    .update(jobs)
    .set({ [col]: now, updatedAt: now })
    .where(
      and(
        eq(jobs.id, j.id),
        eq(jobs.status, 'terminating'),
        eq(jobs.containerId, j.containerId!),
        isNull(column),
        col === 'sigtermAt' ? isNull(jobs.sigkillAt) : undefined,
        or(isNull(jobs.nextAttemptAt), lte(jobs.nextAttemptAt, now)),
      ),
    )
    .returning({ id: jobs.id });
  return row ? now : null;
}

async function sigterm(d: ApplyDeps, j: TimeoutJob, res: ApplyResult): Promise<boolean> {
  const docker = requireDocker(d);
  const cid = j.containerId!;
  const claimedAt = await claim(d, j, 'sigtermAt');
  if (!claimedAt) return false;
  let sent: boolean;
  try {
    sent = await docker.kill(cid, 'SIGTERM');
  } catch (e) {
    res.errors++;
    await d.ctx.db.transaction(async (tx) => {
      await noteSideEffectFailure(tx, j.id, claimedAt, { sigtermAt: null });
      await audit(tx, signalAudit(d, j, 'container.sigterm', claimedAt, { success: false, error: errMessage(e) }));
    });
    return false;
  }
  const at = d.ctx.clock.now();
  const kind = j.terminateKind ?? 'timeout';
  const from = kind === 'timeout' ? j.deadlineAt : j.terminateRequestedAt;
  const lateness = from ? (at.getTime() - from.getTime()) / 1000 : null;
  if (sent && lateness !== null) metrics().killLateness.observe({ kind }, Math.max(0, lateness));
  await d.ctx.db.transaction(async (tx) => {
    await clearSideEffectFailures(tx, j.id);
    await audit(tx, signalAudit(d, j, 'container.sigterm', at, { details: { sent, latenessSeconds: lateness } }));
  });
  countAct(res, 'sigterm');
  // Not running any more (exited on its own meanwhile, or gone): record the outcome now.
  if (!sent) await settle(d, j, res, await docker.inspect(cid));
  return true;
}

/**
 * Re-check before destroying: inspect the job's container and return it when the step should go
 * ahead. Gone or stopped means the outcome is known (settled here); a container whose labels do
 * not name this job and attempt is not ours (refused, audited); an engine error is retried.
 */
async function stillOurs(d: ApplyDeps, j: TimeoutJob, res: ApplyResult, step: string): Promise<ContainerInspect | null> {
  let ins: ContainerInspect | null;
  try {
    ins = await requireDocker(d).inspect(j.containerId!);
  } catch (e) {
    await dockerFailure(d, j, res, 'container.inspect', e);
    return null;
  }
  if (!ins || !ins.running) {
    await settle(d, j, res, ins);
    return null;
  }
  if (!labelsMatch(ins, j)) {
    await refuse(d, j, res, step, ins);
    return null;
  }
  return ins;
}

async function sigkill(d: ApplyDeps, j: TimeoutJob, res: ApplyResult): Promise<void> {
  const docker = requireDocker(d);
  const cid = j.containerId!;
  if (!(await stillOurs(d, j, res, 'container.sigkill'))) return;
  const claimedAt = await claim(d, j, 'sigkillAt');
  if (!claimedAt) return;
  try {
    const sent = await docker.kill(cid, 'SIGKILL');
    await d.ctx.db.transaction(async (tx) => {
      await clearSideEffectFailures(tx, j.id);
      await audit(tx, signalAudit(d, j, 'container.sigkill', d.ctx.clock.now(), { details: { sent, graceSeconds: j.gracePeriodS, force: j.terminateForce } }));
    });
    countAct(res, 'sigkill');
  } catch (e) {
    res.errors++;
    await d.ctx.db.transaction(async (tx) => {
      await noteSideEffectFailure(tx, j.id, claimedAt, { sigkillAt: null });
      await audit(tx, signalAudit(d, j, 'container.sigkill', claimedAt, { success: false, error: errMessage(e) }));
    });
  }
}

/**
 * Still running a grace period after SIGKILL (a process stuck in the kernel, a wedged engine):
 * save the log tail, force-remove the container, and make the job final.
 */
async function forceRemove(d: ApplyDeps, j: TimeoutJob, res: ApplyResult): Promise<void> {
  const docker = requireDocker(d);
  const cid = j.containerId!;
  if (!(await stillOurs(d, j, res, 'container.remove'))) return;
  // The log tail first: after the removal there is nothing left to read.
  let logTail: string | null = null;
  try {
    logTail = await docker.logsTail(cid);
    await d.ctx.db.update(jobs).set({ logTail }).where(eq(jobs.id, j.id));
  } catch {
    /* a missing tail must not keep a runaway container alive */
  }
  const at = d.ctx.clock.now();
  try {
    await docker.remove(cid);
  } catch (e) {
    res.errors++;
    await d.ctx.db.transaction(async (tx) => {
      await noteSideEffectFailure(tx, j.id, at);
      await audit(tx, signalAudit(d, j, 'container.remove', at, { success: false, error: errMessage(e) }));
    });
    return;
  }
  await d.ctx.db.transaction(async (tx) => {
    await audit(tx, {
      ...signalAudit(d, j, 'container.remove', at, {}),
      reason: `still running ${j.gracePeriodS}s after SIGKILL`,
    });
  });
  countAct(res, 'remove');
  await finishWithoutContainer(d, j, 'container force-removed', logTail);
}

/** The container stopped (completeJob maps terminating → timed_out/killed) or is gone (finish directly). */
async function settle(d: ApplyDeps, j: TimeoutJob, res: ApplyResult, ins: ContainerInspect | null): Promise<void> {
  if (!ins) {
    if (await finishWithoutContainer(d, j, 'container gone')) countAct(res, 'finish');
    return;
  }
  if (ins.running) return;
  const row = await completeJob(d.ctx, d.docker, j.id, j.containerId!, ins.exitCode, d.ctx.clock.now(), d.actor);
  if (row) countAct(res, 'finish');
}

/**
 * Final state for a terminating job with no container left: timed_out / killed. Not marked
 * cleaned: the TTL sweeper still removes volumes labelled with the job (the container is gone,
 * which it treats as done) and marks it then.
 */
export async function finishWithoutContainer(d: Pick<ApplyDeps, 'ctx' | 'actor'>, j: Pick<TimeoutJob, 'id'>, why: string, logTail: string | null = null): Promise<Job | null> {
  const at = d.ctx.clock.now();
  return d.ctx.db.transaction(async (tx) => {
    const r = await lockJobWithPlan(tx, j.id);
    if (!r || r.job.status !== 'terminating') return null;
    const o = terminationOutcome(r.job, r.plan.name, null);
    return finishJob(tx, {
      job: r.job,
      plan: r.plan,
      from: ['terminating'],
      status: o.status,
      at,
      exitCode: o.exitCode,
      reason: o.reason,
      logTail,
      actor: d.actor,
      action: `job.${o.status}`,
      details: { containerId: r.job.containerId, why },
    });
  });
}

function labelsMatch(ins: ContainerInspect, j: Pick<TimeoutJob, 'id' | 'attempt'>): boolean {
  return ins.labels['warden.job'] === j.id && ins.labels['warden.attempt'] === String(j.attempt);
}

async function refuse(d: ApplyDeps, j: TimeoutJob, res: ApplyResult, action: string, ins: ContainerInspect): Promise<void> {
  res.errors++;
  const at = d.ctx.clock.now();
  await d.ctx.db.transaction(async (tx) => {
    await noteSideEffectFailure(tx, j.id, at);
    await audit(tx, {
      ...signalAudit(d, j, action, at, {
        success: false,
        error: `refused: container labels (warden.job=${ins.labels['warden.job'] ?? '-'}, warden.attempt=${ins.labels['warden.attempt'] ?? '-'}) do not match job ${j.id} attempt ${j.attempt}`,
      }),
    });
  });
}

async function dockerFailure(d: ApplyDeps, j: TimeoutJob, res: ApplyResult, action: string, e: unknown): Promise<void> {
  res.errors++;
  const at = d.ctx.clock.now();
  await d.ctx.db.transaction(async (tx) => {
    await noteSideEffectFailure(tx, j.id, at);
    await audit(tx, signalAudit(d, j, action, at, { success: false, error: errMessage(e) }));
  });
}

function signalAudit(
  d: ApplyDeps,
  j: TimeoutJob,
  action: string,
  at: Date,
  o: { success?: boolean; error?: string; details?: Record<string, unknown> },
) {
  return {
    actor: d.actor,
    action,
    targetType: 'job' as const,
    targetId: j.id,
    at,
    success: o.success ?? true,
    error: o.error ?? null,
    details: { containerId: j.containerId, kind: j.terminateKind ?? 'timeout', attempt: j.attempt, ...o.details },
  };
}

/**
 * Runs the due escalation steps for one job right now (the kill fast path), with the same claims
 * as the sweeper, so a step is never done twice whoever gets there first. A failure here is
 * harmless: the next timeout tick retries.
 */
export async function escalateNow(ctx: Ctx, jobId: string, actor = 'sweeper:timeout'): Promise<ApplyResult> {
  const now = ctx.clock.now();
  const snap = await snapshot(ctx, { batchSize: 1, now, jobId });
  const actions = plan(snap, now).filter((a) => a.kind === 'sigterm' || a.kind === 'sigkill');
  if (actions.length === 0 || !ctx.docker) return emptyResult();
  const docker = timeboxed(ctx.docker, 10_000);
  return apply(actions, { ctx: { ...ctx, docker }, docker, actor, settings: DEFAULT_SETTINGS });
}
