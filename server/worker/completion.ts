import { and, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import { jobs, type Job } from '../db/schema';
import type { ContainerEvent, DockerRuntime } from '../docker/types';
import { audit } from '../domain/audit';
import { describeTimeoutSource } from '../domain/limits';
import { finishJob, transition } from '../domain/lifecycle';
import { planForUser } from '../domain/plans';
import { log } from '../log';

/**
 * Completion: a container exited. Seen at once from Docker's events stream; reconcile() is the
 * backstop for events missed while the worker or the engine was down.
 *
 * running     → succeeded (exit 0) | failed (exit code kept)
 * terminating → timed_out (exit −1) | killed — Docker's `die` is the confirmation that makes the
 *               two-phase termination final; a job that exits 0 after SIGTERM is still timed_out.
 */


/** Final reason for a job that ended while terminating. */
export function terminationOutcome(job: Pick<Job, 'terminateKind' | 'terminateReason' | 'timeoutS' | 'timeoutSource'>, planName: string, exitCode: number | null) {
  if (job.terminateKind === 'timeout') {
    return {
      status: 'timed_out' as const,
      exitCode: -1,
      reason: job.terminateReason ?? `Timeout: exceeded ${job.timeoutS}s (${describeTimeoutSource(job.timeoutSource, planName)})`,
      containerExitCode: exitCode,
    };
  }
  return { status: 'killed' as const, exitCode, reason: job.terminateReason ?? 'Killed', containerExitCode: exitCode };
}

/**
 * Records that the job's container has exited. `exitCode` from the event or inspect. Idempotent:
 * a second call finds the job already final and does nothing. Returns the final row or null.
 */
export async function completeJob(
  ctx: Ctx,
  docker: DockerRuntime | null,
  jobId: string,
  containerId: string,
  exitCode: number | null,
  at: Date,
  actor = 'dispatcher',
): Promise<Job | null> {
  const [job] = await ctx.db.select().from(jobs).where(eq(jobs.id, jobId));
  if (!job || job.containerId !== containerId) return null;
  if (job.status !== 'running' && job.status !== 'terminating') return null;
  const plan = await planForUser(ctx.db, job.userId);
  // Save the log tail before anything can remove the container.
  let logTail: string | null = null;
  if (docker) {
    try {
      logTail = await docker.logsTail(containerId);
    } catch (e) {
      log.warn({ err: String(e), job: jobId }, 'log tail unavailable');
    }
  }
  // A non-zero exit of a running job may be the kernel's OOM killer at the plan's memory cap.
  let oom = false;
  if (docker && job.status === 'running' && exitCode !== 0) {
    oom = (await docker.inspect(containerId).catch(() => null))?.oomKilled ?? false;
  }
  const failReason =
    exitCode == null
      ? 'Container exited (exit code unknown)'
      : oom
        ? `Out of memory: killed at the memory cap${plan.memoryMb ? ` of ${plan.memoryMb} MB (plan ${plan.name})` : ''} (exit code ${exitCode})`
        : `Exited with code ${exitCode}`;
  return ctx.db.transaction(async (tx) => {
    if (job.status === 'running') {
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
      // Raced with a kill/timeout that moved it to terminating: fall through on the fresh row.
      const [fresh] = await tx.select().from(jobs).where(eq(jobs.id, jobId));
      if (!fresh || fresh.status !== 'terminating') return null;
      const o = terminationOutcome(fresh, plan.name, exitCode);
      return finishJob(tx, { job: fresh, plan, from: ['terminating'], status: o.status, at, exitCode: o.exitCode, reason: o.reason, logTail, actor, action: `job.${o.status}`, details: { containerId, containerExitCode: exitCode } });
    }
    const o = terminationOutcome(job, plan.name, exitCode);
    return finishJob(tx, {
      job,
      plan,
      from: ['terminating'],
      status: o.status,
      at,
      exitCode: o.exitCode,
      reason: o.reason,
      logTail,
      actor,
      action: `job.${o.status}`,
      details: { containerId, containerExitCode: exitCode },
    });
  });
}

/** Handles one Docker event for a managed container. */
export async function onContainerEvent(ctx: Ctx, docker: DockerRuntime, e: ContainerEvent): Promise<void> {
  if (e.action !== 'die') return;
  const jobId = e.labels['warden.job'];
  if (!jobId) return;
  if (e.labels['warden.node'] && e.labels['warden.node'] !== ctx.node) return;
  // A container can exit before the dispatcher recorded `running` (very short jobs): wait for it.
  for (let i = 0; i < 40; i++) {
    const [j] = await ctx.db.select({ status: jobs.status, containerId: jobs.containerId }).from(jobs).where(eq(jobs.id, jobId));
    if (!j) return;
    if (j.status === 'starting' || (j.status === 'terminating' && !j.containerId)) {
      await new Promise((r) => setTimeout(r, 250));
      continue;
    }
    break;
  }
  await completeJob(ctx, docker, jobId, e.id, e.exitCode, e.at);
}

/**
 * Backstop for missed events: live jobs on this node whose container has exited are completed;
 * jobs stuck in `starting` (the worker died mid-start) adopt their container or go back to the
 * queue. Jobs whose container is gone entirely are the orphan sweeper's (they become `lost`).
 */
export async function reconcile(ctx: Ctx, docker: DockerRuntime, opts: { startingStaleMs?: number } = {}): Promise<{ completed: number; requeued: number; adopted: number }> {
  const out = { completed: 0, requeued: 0, adopted: 0 };
  if (!(await docker.ping())) return out;
  const live = await ctx.db
    .select()
    .from(jobs)
    .where(and(inArray(jobs.status, ['running', 'terminating']), eq(jobs.node, ctx.node), sql`${jobs.containerId} is not null`));
  for (const j of live) {
    const c = await docker.inspect(j.containerId!);
    if (c && !c.running && c.status !== 'created') {
      const done = await completeJob(ctx, docker, j.id, j.containerId!, c.exitCode, c.finishedAt ?? ctx.clock.now(), 'dispatcher');
      if (done) out.completed++;
    }
  }
  const now = ctx.clock.now();
  const staleBefore = new Date(now.getTime() - (opts.startingStaleMs ?? 60_000));
  const stuck = await ctx.db
    .select()
    .from(jobs)
    .where(and(eq(jobs.status, 'starting'), eq(jobs.node, ctx.node), lt(jobs.claimedAt, staleBefore)));
  for (const j of stuck) {
    const found = (await docker.list({ 'warden.job': j.id, 'warden.attempt': String(j.attempt) }))[0];
    await ctx.db.transaction(async (tx) => {
      if (found) {
        const ins = await docker.inspect(found.id);
        const startedAt = ins?.startedAt ?? now;
        const row = await transition(tx, j.id, ['starting'], { status: 'running', containerId: found.id, startedAt, deadlineAt: new Date(startedAt.getTime() + j.timeoutS * 1000) }, now);
        if (row) {
          out.adopted++;
          await audit(tx, { actor: 'dispatcher', action: 'job.adopt', targetType: 'job', targetId: j.id, at: now, details: { containerId: found.id } });
        }
      } else {
        const row = await transition(tx, j.id, ['starting'], { status: 'queued', claimedAt: null, node: null }, now);
        if (row) {
          out.requeued++;
          await audit(tx, { actor: 'dispatcher', action: 'job.requeue', targetType: 'job', targetId: j.id, at: now, reason: 'start interrupted (worker restarted)' });
        }
      }
    });
  }
  return out;
}
