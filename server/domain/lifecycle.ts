import { and, eq, inArray, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { jobs, plans, usage, users, type Job, type JobStatus, type Plan } from '../db/schema';
import type { Actor } from './actor';
import { audit } from './audit';
import { getClassByName } from './classes';
import { monthKey, ttlFor } from './limits';
import { metrics } from '../metrics';
import type { FinalStatus } from './status';
import { NO_WAIT } from './waits';

/**
 * Every job state change goes through here: one conditional UPDATE … WHERE status IN (expected)
 * plus its audit row, inside the caller's transaction. Two actors racing on one job: exactly one
 * UPDATE matches; the other gets null and must treat the job as handled by someone else.
 */
export async function transition(
  tx: DbOrTx,
  id: string,
  from: readonly JobStatus[],
  patch: Partial<Job>,
  at: Date,
): Promise<Job | null> {
  const [row] = await tx
    .update(jobs)
    .set({ ...patch, updatedAt: at })
    .where(and(eq(jobs.id, id), inArray(jobs.status, [...from])))
    .returning();
  return row ?? null;
}

/** Reads a job with its user's plan, locking the job row until the transaction ends. */
export async function lockJobWithPlan(tx: DbOrTx, id: string): Promise<{ job: Job; plan: Plan } | null> {
  const [r] = await tx
    .select({ job: jobs, plan: plans })
    .from(jobs)
    .innerJoin(users, eq(users.id, jobs.userId))
    .innerJoin(plans, eq(plans.id, users.planId))
    .where(eq(jobs.id, id))
    .for('update', { of: jobs });
  return r ?? null;
}

export interface FinishInput {
  job: Job;
  plan: Plan;
  from: readonly JobStatus[];
  status: FinalStatus;
  at: Date;
  exitCode?: number | null;
  reason?: string | null;
  logTail?: string | null;
  actor: Actor | string;
  action: string;
  details?: Record<string, unknown>;
  /** Set when the container is already removed (nothing left for the TTL sweeper). */
  cleaned?: boolean;
}

/**
 * Moves a job to a final state: TTL expiry computed from the plan (or the job's own TTL), usage
 * seconds added (timed-out and killed jobs count too), children of the job told to stop.
 * Returns null when the job was no longer in one of `from` (someone else finished it).
 */
export async function finishJob(tx: DbOrTx, f: FinishInput): Promise<Job | null> {
  // A class's TTLs as the class is now (a deleted class: the plan's).
  const cls = f.job.className ? await getClassByName(tx, f.job.className) : null;
  const ttl = ttlFor(f.plan, f.status, f.job.ttlS, cls);
  const row = await transition(
    tx,
    f.job.id,
    f.from,
    {
      status: f.status,
      finishedAt: f.at,
      exitCode: f.exitCode ?? null,
      reason: f.reason ?? null,
      ...(f.logTail != null ? { logTail: f.logTail } : {}),
      ttlExpiresAt: new Date(f.at.getTime() + ttl * 1000),
      ...NO_WAIT,
      ...(f.cleaned ? { cleanedAt: f.at } : {}),
    },
    f.at,
  );
  if (!row) return null;
  // Counted when the UPDATE matched; a rolled-back transaction over-counts, which is rare and harmless.
  metrics().jobsFinished.inc({ status: f.status });
  const ranS = row.startedAt ? Math.max(0, (f.at.getTime() - row.startedAt.getTime()) / 1000) : 0;
  if (row.startedAt) await addUsage(tx, row.userId, f.at, ranS);
  await audit(tx, {
    actor: f.actor,
    action: f.action,
    targetType: 'job',
    targetId: row.id,
    reason: f.reason ?? null,
    at: f.at,
    details: { from: f.job.status, to: f.status, exitCode: f.exitCode ?? null, ranSeconds: Math.round(ranS * 1000) / 1000, ...f.details },
  });
  await stopChildren(tx, row, f.at);
  return row;
}

export async function addUsage(tx: DbOrTx, userId: string, at: Date, seconds: number): Promise<void> {
  await tx
    .insert(usage)
    // Whole seconds, rounded up: a job that ran at all uses at least one second of quota.
    .values({ userId, month: monthKey(at), seconds: Math.ceil(seconds), jobs: 1 })
    .onConflictDoUpdate({
      target: [usage.userId, usage.month],
      set: { seconds: sql`${usage.seconds} + ${Math.ceil(seconds)}`, jobs: sql`${usage.jobs} + 1` },
    });
}

/**
 * A parent ended: its running children go to `terminating` (the timeout sweeper escalates them),
 * queued ones are cancelled. Reasons name the parent.
 */
export async function stopChildren(tx: DbOrTx, parent: Pick<Job, 'id' | 'status'>, at: Date, why?: string): Promise<number> {
  const reason = why ?? `Parent job ${parent.id} ended (${parent.status})`;
  const killed = await tx
    .update(jobs)
    .set({
      status: 'terminating',
      terminateRequestedAt: at,
      terminateKind: 'parent',
      terminateReason: reason,
      terminateActor: 'system',
      updatedAt: at,
    })
    .where(and(eq(jobs.parentId, parent.id), inArray(jobs.status, ['starting', 'running'])))
    .returning({ id: jobs.id });
  const cancelled = await tx
    .update(jobs)
    .set({ status: 'cancelled', finishedAt: at, reason, ttlExpiresAt: at, updatedAt: at })
    .where(and(eq(jobs.parentId, parent.id), eq(jobs.status, 'queued')))
    .returning({ id: jobs.id });
  await audit(
    tx,
    ...killed.map((c) => ({
      actor: 'system',
      action: 'job.terminate_requested',
      targetType: 'job' as const,
      targetId: c.id,
      reason,
      at,
      details: { kind: 'parent', parentId: parent.id },
    })),
    ...cancelled.map((c) => ({
      actor: 'system',
      action: 'job.cancel',
      targetType: 'job' as const,
      targetId: c.id,
      reason,
      at,
      details: { parentId: parent.id },
    })),
  );
  return killed.length + cancelled.length;
}

export interface LoseInput {
  /** The row as locked by the caller (FOR UPDATE), status running or starting. */
  job: Job;
  plan: Plan;
  at: Date;
  /** What happened, e.g. "container abc123 is gone". */
  why: string;
  actor: Actor | string;
  details?: Record<string, unknown>;
  /** The lost attempt's output, read from the stopped container before anyone removes it. */
  logTail?: string | null;
}

/**
 * A live job lost its container (or its node): `lost`, then back to `queued` as attempt+1 while
 * retries remain (attempt ≤ max_retries), else final `lost`. The run time of the lost attempt is
 * added to usage either way. Returns null when the job was no longer in its expected state.
 */
export async function loseJob(tx: DbOrTx, l: LoseInput): Promise<{ outcome: 'requeued' | 'lost'; row: Job } | null> {
  const j = l.job;
  const tries = `attempt ${j.attempt} of ${j.maxRetries + 1}`;
  if (j.attempt <= j.maxRetries) {
    const row = await transition(
      tx,
      j.id,
      [j.status],
      {
        status: 'queued',
        attempt: j.attempt + 1,
        containerId: null,
        node: null,
        claimedAt: null,
        claimId: null,
        claimSeenAt: null,
        claimOwner: null,
        externalSignal: null,
        externalSignalAt: null,
        startedAt: null,
        deadlineAt: null,
        warnedAt: null,
        terminateRequestedAt: null,
        terminateKind: null,
        terminateReason: null,
        terminateActor: null,
        terminateForce: false,
        sigtermAt: null,
        sigkillAt: null,
        sideEffectFailures: 0,
        nextAttemptAt: null,
        lastOutputAt: null,
        idleDeadlineAt: null,
        exitCode: null,
        // The lost attempt's output stays readable until the next attempt saves its own.
        ...(l.logTail != null ? { logTail: l.logTail } : {}),
        ...NO_WAIT,
        reason: `Lost (${tries}): ${l.why}; retrying`,
      },
      l.at,
    );
    if (!row) return null;
    if (j.startedAt) await addUsage(tx, j.userId, l.at, Math.max(0, (l.at.getTime() - j.startedAt.getTime()) / 1000));
    await audit(
      tx,
      {
        actor: l.actor,
        action: 'job.lost',
        targetType: 'job',
        targetId: j.id,
        reason: l.why,
        at: l.at,
        details: { from: j.status, attempt: j.attempt, containerId: j.containerId, node: j.node, retry: true, ...l.details },
      },
      {
        actor: l.actor,
        action: 'job.retry',
        targetType: 'job',
        targetId: j.id,
        reason: `Lost on attempt ${j.attempt}`,
        at: l.at,
        details: { attempt: j.attempt + 1, maxRetries: j.maxRetries },
      },
    );
    return { outcome: 'requeued', row };
  }
  const row = await finishJob(tx, {
    job: j,
    plan: l.plan,
    from: [j.status],
    status: 'lost',
    at: l.at,
    exitCode: null,
    logTail: l.logTail ?? null,
    reason: `Lost: ${l.why} (${tries}, no retries left)`,
    actor: l.actor,
    action: 'job.lost',
    // Not marked cleaned: at its TTL the TTL sweeper removes the job's labelled volumes, and the
    // container too should it turn up again (an engine restored from a snapshot, a node back).
    details: { attempt: j.attempt, containerId: j.containerId, node: j.node, retry: false, ...l.details },
  });
  return row ? { outcome: 'lost', row } : null;
}
