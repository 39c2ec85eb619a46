import { and, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import { jobs } from '../db/schema';
import { isOurs, LABEL } from '../docker/labels';
import type { ContainerEvent, DockerRuntime } from '../docker/types';
import { audit } from '../domain/audit';
import { transition } from '../domain/lifecycle';
import { RUNNING_STATUSES } from '../domain/status';
import { completeJob } from '../domain/termination';

/**
 * Seeing containers exit: at once from Docker's events stream, with reconcile() as the backstop
 * for events missed while the worker or the engine was down. What an exit means for the job is
 * the domain's completeJob() (domain/termination.ts).
 */

/** Handles one Docker event for a managed container. */
export async function onContainerEvent(ctx: Ctx, docker: DockerRuntime, e: ContainerEvent): Promise<void> {
  if (e.action !== 'die') return;
  const jobId = e.labels[LABEL.job];
  if (!jobId) return;
  if (!isOurs(e.labels, { node: ctx.node })) return;
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
    .where(and(inArray(jobs.status, [...RUNNING_STATUSES]), eq(jobs.node, ctx.node), sql`${jobs.containerId} is not null`));
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
    const found = (await docker.list({ [LABEL.job]: j.id, [LABEL.attempt]: String(j.attempt) }))[0];
    await ctx.db.transaction(async (tx) => {
      if (found) {
        const ins = await docker.inspect(found.id);
        const startedAt = ins?.startedAt ?? now;
        const row = await transition(tx, j.id, ['starting'], { status: 'running', containerId: found.id, startedAt, deadlineAt: new Date(startedAt.getTime() + j.timeoutS * 1000), idleDeadlineAt: j.idleTimeoutS ? new Date(startedAt.getTime() + j.idleTimeoutS * 1000) : null }, now);
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
