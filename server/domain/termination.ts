import { and, eq, isNull, lte, or, sql, type SQL } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { jobs, plans, settings, users, type Job, type Plan } from '../db/schema';
import { describeIdentity, labelsMatchJob, mayActOn } from '../docker/labels';
import { timeboxed } from '../docker/timeboxed';
import type { ContainerInspect, Runtime } from '../runtime/types';
import { log } from '../log';
import { metrics } from '../metrics';
import { audit, auditCtes, type AuditInput } from './audit';
import { externalStop, loseInTx } from './external';
import { finishJob, lockJobWithPlan } from './lifecycle';
import { describeTimeoutSource } from './limits';
import { planForUser } from './plans';
import { saveResults } from './results';
import { dryRunKey } from './sweeper-settings';
import { clearSideEffectFailures, countAct, emptyTally, errMessage, noteSideEffectFailure, type Tally } from './side-effects';

/**
 * How a job ends — one home for it. Two-phase: a job first moves to `terminating` (a timeout, a
 * kill, its parent's end), then the escalation drives its container down
 *
 *   terminating ──▶ SIGTERM ──grace──▶ SIGKILL ──grace, still running──▶ log tail saved,
 *                                                                       container force-removed
 *
 * (terminate_force: straight to SIGKILL), and the final state is written only once Docker
 * confirms: completeJob() when the container stopped (from the events stream, reconcile or a
 * re-check here), finishWithoutContainer() when it is gone. A running job whose container exits
 * on its own ends through completeJob() too (succeeded | failed by exit code).
 *
 * All escalation state is in the jobs row, so a crashed worker's successor resumes where it
 * stopped. Each Docker step is claimed first with a conditional UPDATE (`sigterm_at is null`), so
 * two replicas, a retry and the kill fast path can never send the same signal twice; a failed
 * signal is un-claimed and retried with backoff. Before anything destructive the container is
 * re-inspected and must still carry this job's labels.
 *
 * The timeout sweeper decides *when* (its pure plan()); this module decides *how*.
 *
 * Longer than most files here (~560 lines) on purpose: claim, signal, re-check, settle and
 * completion are one protocol whose invariants (a step claimed once; final only once Docker
 * confirms) are easiest to check when read in one place.
 */

/** The escalation's view of a live job (the timeout sweeper's snapshot rows carry these columns). */
export interface TerminatingJob {
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
  planName: string;
  className: string | null;
  /** Set by beginTimeout when it claimed the SIGTERM in the same write: the signal goes out without another. */
  sigtermClaimedAt?: Date;
}

/** Columns of a TerminatingJob (select from jobs ⋈ users ⋈ plans). */
export const terminatingCols = {
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
  planName: plans.name,
  className: jobs.className,
};

export type EscalationStep = 'sigterm' | 'sigkill' | 'remove' | 'finish_no_container';

/**
 * A job killed while `starting` has no container until the dispatcher records it. If none ever
 * appears (the start failed, or the worker died mid-start) the job is finished without one after
 * this long; 120 s covers a slow image pull.
 */
export const NO_CONTAINER_WAIT_MS = 120_000;

// ---------------------------------------------------------------------------------------------
// Pure: reasons, outcomes and the next step
// ---------------------------------------------------------------------------------------------

/** "Timeout: exceeded 300s (plan free)". The seconds are what the job was allowed to run. */
export function timeoutReason(j: Pick<TerminatingJob, 'timeoutS' | 'timeoutSource' | 'startedAt' | 'deadlineAt' | 'planName' | 'className'>): string {
  const allowed = j.startedAt && j.deadlineAt ? Math.max(0, Math.round((j.deadlineAt.getTime() - j.startedAt.getTime()) / 1000)) : j.timeoutS;
  return `Timeout: exceeded ${allowed}s (${describeTimeoutSource(j.timeoutSource, j.planName, j.className)})`;
}

/** "Idle: no output for 60s": the idle timeout's reason (same escalation, final timed_out). */
export function idleReason(idleTimeoutS: number): string {
  return `Idle: no output for ${idleTimeoutS}s`;
}

/** Final state, exit code and reason of a job that ended while terminating. */
export function terminationOutcome(
  job: Pick<Job, 'terminateKind' | 'terminateReason' | 'timeoutS' | 'timeoutSource' | 'startedAt' | 'deadlineAt' | 'className'>,
  planName: string,
  exitCode: number | null,
) {
  if (job.terminateKind === 'timeout') {
    return {
      status: 'timed_out' as const,
      exitCode: -1,
      reason: job.terminateReason ?? timeoutReason({ ...job, planName }),
      containerExitCode: exitCode,
    };
  }
  return { status: 'killed' as const, exitCode, reason: job.terminateReason ?? 'Killed', containerExitCode: exitCode };
}

/** Is a failed side effect of this job still backing off at `t` (ms)? */
export function backingOff(j: Pick<TerminatingJob, 'nextAttemptAt'>, t: number): boolean {
  return j.nextAttemptAt != null && j.nextAttemptAt.getTime() > t;
}

/** The escalation step due now for a terminating job, or null when nothing is due yet. */
export function nextEscalationStep(j: TerminatingJob, now: Date): EscalationStep | null {
  const t = now.getTime();
  if (!j.containerId) {
    const since = (j.terminateRequestedAt ?? j.startedAt)?.getTime();
    return since !== undefined && t >= since + NO_CONTAINER_WAIT_MS ? 'finish_no_container' : null;
  }
  if (backingOff(j, t)) return null;
  const grace = j.gracePeriodS * 1000;
  if (j.sigkillAt) return t >= j.sigkillAt.getTime() + grace ? 'remove' : null;
  if (j.terminateForce) return 'sigkill';
  if (!j.sigtermAt) return 'sigterm';
  return t >= j.sigtermAt.getTime() + grace ? 'sigkill' : null;
}

// ---------------------------------------------------------------------------------------------
// Steps (side effects + audit)
// ---------------------------------------------------------------------------------------------

/** Who runs a step: the context, a live Docker runtime (null: database-only steps) and the actor. */
export interface EscalationDeps {
  ctx: Ctx;
  docker: Runtime | null;
  actor: string;
}

/**
 * running → terminating for a timeout, only if the deadline has really passed as stored now (an
 * extend that committed after the caller's read wins) and the timeout is not suspended. An idle
 * timeout (`cause: 'idle'`) is the same move, conditional on the stored idle deadline instead
 * (output seen meanwhile moved it). Returns the job as it now is, or null when it moved on.
 */
export async function beginTimeout(
  d: EscalationDeps,
  j: TerminatingJob,
  reason: string,
  cause: 'deadline' | 'idle' = 'deadline',
  o: {
    claimSigterm?: boolean;
    /** Only if the stored deadline is still j.deadlineAt (the caller read the row ahead of time). */
    sameDeadline?: boolean;
    /** Only while the timeout sweeper's dry-run setting is off (a caller outside a tick, which reads it). */
    unlessDryRun?: boolean;
  } = {},
): Promise<TerminatingJob | null> {
  const now = d.ctx.clock.now();
  const due = cause === 'idle' ? lte(jobs.idleDeadlineAt, now) : lte(jobs.deadlineAt, now);
  const same = o.sameDeadline && j.deadlineAt ? eq(jobs.deadlineAt, j.deadlineAt) : undefined;
  const live = o.unlessDryRun
    ? sql`not exists (select 1 from ${settings} where ${settings.key} = ${dryRunKey('timeout')} and ${settings.value} = 'true'::jsonb)`
    : undefined;
  // The SIGTERM step's claim (claim() below) in the same write, when the caller sends it next:
  // one commit fewer between the deadline and the signal.
  const sigtermAt = o.claimSigterm
    ? { sigtermAt: sql<Date>`case when ${jobs.containerId} is not null and ${signalClaimable('sigtermAt', now)} then ${now.toISOString()}::timestamptz else ${jobs.sigtermAt} end` }
    : {};
  const update = d.ctx.db
    .update(jobs)
    .set({
      ...sigtermAt,
      status: 'terminating',
      terminateRequestedAt: now,
      terminateKind: 'timeout',
      terminateReason: reason,
      terminateActor: d.actor,
      terminateForce: false,
      updatedAt: now,
    })
    .where(and(eq(jobs.id, j.id), eq(jobs.status, 'running'), due, eq(jobs.timeoutSuspended, false), same, live))
    .returning();
  const event: AuditInput = {
    actor: d.actor,
    action: cause === 'idle' ? 'job.idle_timeout' : 'job.timeout',
    targetType: 'job',
    targetId: j.id,
    reason,
    at: now,
    details: { from: 'running', to: 'terminating' },
  };
  // What the row says, in the audit row: read from the updated row itself (an extend may have
  // moved the deadline since the caller's read, and it is the stored one that passed).
  const nowTs = sql`${now.toISOString()}::timestamptz`;
  const details = sql`jsonb_build_object(
    'deadlineAt', ${isoSql(sql`j.deadline_at`)},
    'latenessSeconds', (extract(epoch from (${nowTs} - j.deadline_at)))::float8
    ${cause === 'idle' ? sql`, 'idleTimeoutSeconds', j.idle_timeout_s, 'lastOutputAt', ${isoSql(sql`j.last_output_at`)}` : sql``})`;
  // One statement — the move, its audit row and its webhook outbox rows — so one round trip and
  // an implicit transaction: between the deadline and the SIGTERM this is the only write.
  const rows = await d.ctx.db.execute<MovedRow>(sql`
    with u as ${update /* drizzle writes a builder in parentheses */}, ${auditCtes(sql`u`, event, details)}
    select u.container_id,
      ${msSql(sql`u.deadline_at`)} as deadline_ms,
      ${msSql(sql`u.sigterm_at`)} as sigterm_ms, ${msSql(sql`u.sigkill_at`)} as sigkill_ms,
      ${msSql(sql`u.next_attempt_at`)} as next_attempt_ms, u.side_effect_failures
    from u`);
  const row = rows[0];
  if (!row) return null;
  const sigtermMs = row.sigterm_ms;
  return {
    ...j,
    status: 'terminating',
    containerId: row.container_id,
    deadlineAt: dateOf(row.deadline_ms),
    terminateRequestedAt: now,
    terminateKind: 'timeout',
    terminateForce: false,
    sigtermAt: dateOf(sigtermMs),
    sigkillAt: dateOf(row.sigkill_ms),
    sideEffectFailures: row.side_effect_failures,
    nextAttemptAt: dateOf(row.next_attempt_ms),
    ...(o.claimSigterm && sigtermMs === now.getTime() ? { sigtermClaimedAt: now } : {}),
  };
}

/** The columns beginTimeout's statement returns (timestamps as epoch milliseconds). */
interface MovedRow extends Record<string, unknown> {
  container_id: string | null;
  deadline_ms: number | null;
  sigterm_ms: number | null;
  sigkill_ms: number | null;
  next_attempt_ms: number | null;
  side_effect_failures: number;
}

const msSql = (col: SQL) => sql`(extract(epoch from ${col}) * 1000)::float8`;
/** A timestamptz as JavaScript's toISOString() writes it (UTC, milliseconds, Z). */
const isoSql = (col: SQL) => sql`to_char(${col} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
const dateOf = (ms: number | null) => (ms == null ? null : new Date(ms));

/** Runs one escalation step; failures are audited and counted in the tally, never thrown for Docker errors. */
export async function runEscalationStep(d: EscalationDeps, step: EscalationStep, j: TerminatingJob, tally: Tally): Promise<void> {
  switch (step) {
    case 'sigterm':
      return sigterm(d, j, tally);
    case 'sigkill':
      return sigkill(d, j, tally);
    case 'remove':
      return forceRemove(d, j, tally);
    case 'finish_no_container':
      if (await finishWithoutContainer(d, j, 'no container was ever started')) countAct(tally, 'finish');
      return;
  }
}

function requireDocker(d: EscalationDeps): Runtime {
  if (!d.docker) throw new Error('Docker runtime not available in this process');
  return d.docker;
}

/** A signal step may be claimed: not claimed yet (no SIGTERM after a SIGKILL), not backing off. */
function signalClaimable(col: 'sigtermAt' | 'sigkillAt', now: Date) {
  return and(
    isNull(col === 'sigtermAt' ? jobs.sigtermAt : jobs.sigkillAt),
    col === 'sigtermAt' ? isNull(jobs.sigkillAt) : undefined,
    or(isNull(jobs.nextAttemptAt), lte(jobs.nextAttemptAt, now)),
  );
}

/** Claims a signal step: sets the column only if still null. Returns the claim time or null. */
async function claim(d: EscalationDeps, j: TerminatingJob, col: 'sigtermAt' | 'sigkillAt'): Promise<Date | null> {
  const now = d.ctx.clock.now();
  const [row] = await d.ctx.db
    .update(jobs)
    .set({ [col]: now, updatedAt: now })
    .where(and(eq(jobs.id, j.id), eq(jobs.status, 'terminating'), eq(jobs.containerId, j.containerId!), signalClaimable(col, now)))
    .returning({ id: jobs.id });
  return row ? now : null;
}

async function sigterm(d: EscalationDeps, j: TerminatingJob, tally: Tally): Promise<void> {
  const docker = requireDocker(d);
  const cid = j.containerId!;
  const claimedAt = j.sigtermClaimedAt ?? (await claim(d, j, 'sigtermAt'));
  if (!claimedAt) return;
  let sent: boolean;
  try {
    sent = await docker.kill(cid, 'SIGTERM');
  } catch (e) {
    tally.errors++;
    await d.ctx.db.transaction(async (tx) => {
      await noteSideEffectFailure(tx, j.id, claimedAt, { sigtermAt: null });
      await audit(tx, signalAudit(d, j, 'container.sigterm', claimedAt, { success: false, error: errMessage(e) }));
    });
    return;
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
  countAct(tally, 'sigterm');
  // Not running any more (exited on its own meanwhile, or gone): record the outcome now.
  if (!sent) await settle(d, j, tally, await docker.inspect(cid));
}

/**
 * Re-check before destroying: inspect the job's container and return it when the step should go
 * ahead. Gone or stopped means the outcome is known (settled here); a container whose labels do
 * not name this job and attempt is not ours (refused, audited); an engine error is retried.
 */
async function stillOurs(d: EscalationDeps, j: TerminatingJob, tally: Tally, step: string): Promise<ContainerInspect | null> {
  let ins: ContainerInspect | null;
  try {
    ins = await requireDocker(d).inspect(j.containerId!);
  } catch (e) {
    await dockerFailure(d, j, tally, 'container.inspect', e);
    return null;
  }
  if (!ins || !ins.running) {
    await settle(d, j, tally, ins);
    return null;
  }
  if (!labelsMatchJob(ins.labels, j) || !mayActOn(ins.labels, d.ctx.installation)) {
    tally.errors++;
    await dockerFailure(d, j, tally, step, `refused: container labels (${describeIdentity(ins.labels)}) do not match job ${j.id} attempt ${j.attempt}`, false);
    return null;
  }
  return ins;
}

async function sigkill(d: EscalationDeps, j: TerminatingJob, tally: Tally): Promise<void> {
  const docker = requireDocker(d);
  const cid = j.containerId!;
  if (!(await stillOurs(d, j, tally, 'container.sigkill'))) return;
  const claimedAt = await claim(d, j, 'sigkillAt');
  if (!claimedAt) return;
  try {
    const sent = await docker.kill(cid, 'SIGKILL');
    await d.ctx.db.transaction(async (tx) => {
      await clearSideEffectFailures(tx, j.id);
      await audit(tx, signalAudit(d, j, 'container.sigkill', d.ctx.clock.now(), { details: { sent, graceSeconds: j.gracePeriodS, force: j.terminateForce } }));
    });
    countAct(tally, 'sigkill');
  } catch (e) {
    tally.errors++;
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
async function forceRemove(d: EscalationDeps, j: TerminatingJob, tally: Tally): Promise<void> {
  const docker = requireDocker(d);
  const cid = j.containerId!;
  if (!(await stillOurs(d, j, tally, 'container.remove'))) return;
  // The log tail and the results first: after the removal there is nothing left to read.
  let logTail: string | null = null;
  try {
    logTail = await docker.logsTail(cid);
    await d.ctx.db.update(jobs).set({ logTail }).where(eq(jobs.id, j.id));
  } catch {
    /* a missing tail must not keep a runaway container alive */
  }
  const full = await jobWithPlan(d.ctx.db, j.id);
  if (full) await saveResults(d.ctx, docker, full.job, cid, full.plan, d.actor);
  const at = d.ctx.clock.now();
  try {
    await docker.remove(cid);
  } catch (e) {
    await dockerFailure(d, j, tally, 'container.remove', e);
    return;
  }
  await d.ctx.db.transaction(async (tx) => {
    await audit(tx, { ...signalAudit(d, j, 'container.remove', at, {}), reason: `still running ${j.gracePeriodS}s after SIGKILL` });
  });
  countAct(tally, 'remove');
  await finishWithoutContainer(d, j, 'container force-removed', logTail);
}

/** A job with its user's plan (no lock). */
async function jobWithPlan(db: DbOrTx, id: string): Promise<{ job: Job; plan: Plan } | null> {
  const [r] = await db
    .select({ job: jobs, plan: plans })
    .from(jobs)
    .innerJoin(users, eq(users.id, jobs.userId))
    .innerJoin(plans, eq(plans.id, users.planId))
    .where(eq(jobs.id, id));
  return r ?? null;
}

/** The container stopped (completeJob maps terminating → timed_out/killed) or is gone (finish directly). */
async function settle(d: EscalationDeps, j: TerminatingJob, tally: Tally, ins: ContainerInspect | null): Promise<void> {
  if (!ins) {
    if (await finishWithoutContainer(d, j, 'container gone')) countAct(tally, 'finish');
    return;
  }
  if (ins.running) return;
  const row = await completeJob(d.ctx, d.docker, j.id, j.containerId!, ins.exitCode, d.ctx.clock.now(), d.actor);
  if (row) countAct(tally, 'finish');
}

/**
 * Final state for a terminating job with no container left: timed_out / killed. Not marked
 * cleaned: the TTL sweeper still removes volumes labelled with the job (the container is gone,
 * which it treats as done) and marks it then.
 */
export async function finishWithoutContainer(d: Pick<EscalationDeps, 'ctx' | 'actor'>, j: Pick<TerminatingJob, 'id'>, why: string, logTail: string | null = null): Promise<Job | null> {
  const at = d.ctx.clock.now();
  return d.ctx.db.transaction(async (tx) => {
    const r = await lockJobWithPlan(tx, j.id);
    if (!r || r.job.status !== 'terminating') return null;
    return finishTerminating(tx, r.job, r.plan, { at, exitCode: null, logTail, actor: d.actor, details: { containerId: r.job.containerId, why } });
  });
}

/** terminating → timed_out | killed (terminationOutcome), in the caller's transaction. */
function finishTerminating(
  tx: DbOrTx,
  job: Job,
  plan: Plan,
  o: { at: Date; exitCode: number | null; logTail: string | null; actor: string; details: Record<string, unknown> },
): Promise<Job | null> {
  const out = terminationOutcome(job, plan.name, o.exitCode);
  return finishJob(tx, {
    job,
    plan,
    from: ['terminating'],
    status: out.status,
    at: o.at,
    exitCode: out.exitCode,
    reason: out.reason,
    logTail: o.logTail,
    actor: o.actor,
    action: `job.${out.status}`,
    details: o.details,
  });
}

/**
 * A failed Docker step: counted, audited, and the job backs off before the next try. `e` is the
 * engine's error, or a refusal message (the container is not the job's).
 */
async function dockerFailure(d: EscalationDeps, j: TerminatingJob, tally: Tally, action: string, e: unknown, count = true): Promise<void> {
  if (count) tally.errors++;
  const at = d.ctx.clock.now();
  await d.ctx.db.transaction(async (tx) => {
    await noteSideEffectFailure(tx, j.id, at);
    await audit(tx, signalAudit(d, j, action, at, { success: false, error: typeof e === 'string' ? e : errMessage(e) }));
  });
}

function signalAudit(d: EscalationDeps, j: TerminatingJob, action: string, at: Date, o: { success?: boolean; error?: string; details?: Record<string, unknown> }) {
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

// ---------------------------------------------------------------------------------------------
// Completion: the container exited
// ---------------------------------------------------------------------------------------------

/**
 * Records that the job's container has exited (`exitCode` from the event or inspect):
 *
 *   running     → succeeded (exit 0) | failed (exit code kept; an OOM kill says so) — unless
 *                 someone other than Warden stopped it (domain/external.ts): then `lost`, retried
 *   terminating → timed_out (exit −1) | killed — Docker's `die` is the confirmation that makes the
 *                 two-phase termination final; a job that exits 0 after SIGTERM is still timed_out.
 *
 * Idempotent: a second call finds the job already final and does nothing. Returns the final row
 * or null.
 */
export async function completeJob(
  ctx: Ctx,
  docker: Runtime | null,
  jobId: string,
  containerId: string,
  exitCode: number | null,
  at: Date,
  actor = 'dispatcher',
  opts: { unobserved?: boolean; failReason?: string } = {},
): Promise<Job | null> {
  const [job] = await ctx.db.select().from(jobs).where(eq(jobs.id, jobId));
  if (!job || job.containerId !== containerId) return null;
  if (job.status !== 'running' && job.status !== 'terminating') return null;
  const plan = await planForUser(ctx.db, job.userId);
  // Save the log tail and the results before anything can remove the container.
  let logTail: string | null = null;
  if (docker) {
    try {
      logTail = await docker.logsTail(containerId);
    } catch (e) {
      log.warn({ err: String(e), job: jobId }, 'log tail unavailable');
    }
    await saveResults(ctx, docker, job, containerId, plan, actor);
  }
  // A non-zero exit of a running job may be the kernel's OOM killer at the plan's memory cap.
  let oom = false;
  if (docker && job.status === 'running' && exitCode !== 0) {
    oom = (await docker.inspect(containerId).catch(() => null))?.oomKilled ?? false;
    // The engine records OOMKilled from containerd's oom event, which can land after `die`
    // (seen under load: a 137 exit inspected as not OOM-killed, twice 150 ms later too). A SIGKILL
    // exit gets four more looks, 0.15 s to 1.2 s apart (2.25 s in all; only 137 exits wait).
    for (let i = 0; !oom && exitCode === 137 && i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150 * 2 ** i));
      oom = (await docker.inspect(containerId).catch(() => null))?.oomKilled ?? false;
    }
  }
  // Stopped by someone else (docker kill/stop/rm -f, an engine shutdown): lost, not failed.
  const external = job.status === 'running' && !oom ? await externalStop(docker, job, containerId, exitCode, !!opts.unobserved) : null;
  // The engine cannot say who stopped it right now (restarting): decide on the next pass.
  if (external === 'unknown') return null;
  if (external) {
    return ctx.db.transaction(async (tx) => {
      const r = await lockJobWithPlan(tx, jobId);
      if (!r || r.job.status !== 'running' || r.job.containerId !== containerId) return null;
      // The output read above from the stopped container is kept: the orphan or TTL sweeper may
      // remove the container later, and `docker logs` with it.
      return (await loseInTx(tx, r.job, r.plan, at, external, actor, { containerExitCode: exitCode }, logTail))?.row ?? null;
    });
  }
  const failReason =
    opts.failReason ??
    (exitCode == null
      ? 'Container exited (exit code unknown)'
      : oom
        ? `Out of memory: killed at the memory cap${plan.memoryMb ? ` of ${plan.memoryMb} MB (plan ${plan.name})` : ''} (exit code ${exitCode})`
        : `Exited with code ${exitCode}`);
  return ctx.db.transaction(async (tx) => {
    const endTerminating = (row: Job) =>
      finishTerminating(tx, row, plan, { at, exitCode, logTail, actor, details: { containerId, containerExitCode: exitCode } });
    if (job.status === 'terminating') return endTerminating(job);
    const ok = exitCode === 0;
    const row = await finishJob(tx, {
      job,
      plan,
      from: ['running'],
      status: ok ? 'succeeded' : 'failed',
      at,
      exitCode,
      reason: ok ? null : failReason,
      logTail,
      actor,
      action: ok ? 'job.succeeded' : 'job.failed',
      details: { containerId, ...(oom ? { oomKilled: true } : {}) },
    });
    if (row) return row;
    // Raced with a kill/timeout that moved it to terminating: end it as that, on the fresh row.
    const [fresh] = await tx.select().from(jobs).where(eq(jobs.id, jobId));
    return fresh?.status === 'terminating' ? endTerminating(fresh) : null;
  });
}

// ---------------------------------------------------------------------------------------------
// Escalate now (the kill fast path)
// ---------------------------------------------------------------------------------------------

/**
 * Runs the due signal step for one job right now, with the same claims as the sweeper, so a step
 * is never done twice whoever gets there first. Used after a kill commits, when this process can
 * reach the job's Docker host, so the signal goes out at once instead of on the next tick. A
 * failure here is harmless: the next timeout tick retries.
 */
export async function escalateNow(ctx: Ctx, jobId: string, actor = 'sweeper:timeout'): Promise<Tally> {
  const tally = emptyTally();
  if (!ctx.docker) return tally;
  const [j] = await ctx.db
    .select(terminatingCols)
    .from(jobs)
    .innerJoin(users, eq(users.id, jobs.userId))
    .innerJoin(plans, eq(plans.id, users.planId))
    .where(and(eq(jobs.id, jobId), eq(jobs.status, 'terminating'), eq(jobs.node, ctx.node)));
  if (!j) return tally;
  const step = nextEscalationStep(j as TerminatingJob, ctx.clock.now());
  if (step !== 'sigterm' && step !== 'sigkill') return tally;
  const docker = timeboxed(ctx.docker, 10_000);
  await runEscalationStep({ ctx: { ...ctx, docker }, docker, actor }, step, j as TerminatingJob, tally);
  return tally;
}
