import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import { jobs, type Job } from '../db/schema';
import { LABEL, mayActOn } from '../docker/labels';
import type { ContainerEvent, Runtime } from '../runtime/types';
import { audit } from '../domain/audit';
import { isUuid } from '../domain/schemas';
import { RUNNING_STATUSES } from '../domain/status';
import { loseInTx, signalName } from '../domain/external';
import { lockJobWithPlan, transition } from '../domain/lifecycle';
import { completeJob, finishWithoutContainer } from '../domain/termination';
import { NO_WAIT } from '../domain/waits';
import { deadInstances, PROCESS_INSTANCE } from './instance';
import { inflightStarts } from './start';

/**
 * Seeing containers end: at once from Docker's events stream, with reconcile() as the backstop
 * for events missed while the worker or the engine was down. What an exit means for the job is
 * the domain's completeJob() (domain/termination.ts).
 *
 * Who stopped it matters: Warden only ever signals `terminating` jobs, so a `kill` event for the
 * container of a `running` job is someone else's (docker kill / stop / rm -f, an engine shutting
 * down). It is written on the job row at once (external_signal), and the `die` that follows makes
 * the job `lost` (retried) instead of `failed` with exit 137/143. Events of one container are
 * handled one at a time, in order, so the kill is always on the row before its die is judged.
 */

/** How long a `die` waits for the dispatcher to record the start (very short jobs exit first). */
const RECORD_WAIT_MS = 10_000;

const g = globalThis as unknown as { __wardenEventChains?: Map<string, Promise<void>> };
const chains: Map<string, Promise<void>> = (g.__wardenEventChains ??= new Map());

/** Handles one Docker event for a managed container (kill, die, destroy); others are ignored. */
export function onContainerEvent(ctx: Ctx, docker: Runtime, e: ContainerEvent): Promise<void> {
  if (e.action !== 'die' && e.action !== 'kill' && e.action !== 'destroy') return Promise.resolve();
  const jobId = e.labels[LABEL.job];
  if (!jobId || !isUuid(jobId) || !mayActOn(e.labels, ctx.installation)) return Promise.resolve();
  const prev = chains.get(e.id) ?? Promise.resolve();
  const next = prev.then(() => handle(ctx, docker, e));
  const tail = next.catch(() => {});
  chains.set(e.id, tail);
  void tail.finally(() => {
    if (chains.get(e.id) === tail) chains.delete(e.id);
  });
  return next;
}

type Row = Pick<Job, 'id' | 'status' | 'containerId' | 'node' | 'claimId'>;

/** The job row once its start is recorded (or it moved on), null when it is not this node's container. */
async function recordedRow(ctx: Ctx, jobId: string, e: ContainerEvent): Promise<Row | null> {
  const until = Date.now() + RECORD_WAIT_MS;
  for (;;) {
    const [j] = await ctx.db
      .select({ id: jobs.id, status: jobs.status, containerId: jobs.containerId, node: jobs.node, claimId: jobs.claimId })
      .from(jobs)
      .where(eq(jobs.id, jobId));
    if (!j) return null;
    const ourStartPending =
      j.node === ctx.node && !j.containerId && (j.status === 'starting' || j.status === 'terminating') && (e.labels[LABEL.claim] ?? null) === (j.claimId ?? null);
    if (!ourStartPending || Date.now() > until) return j.node === ctx.node && j.containerId === e.id ? j : null;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function handle(ctx: Ctx, docker: Runtime, e: ContainerEvent): Promise<void> {
  const jobId = e.labels[LABEL.job]!;
  const row = await recordedRow(ctx, jobId, e);
  if (!row) return;
  if (e.action === 'kill') {
    if (row.status !== 'running') return; // terminating: Warden's own signal
    const at = ctx.clock.now();
    const signal = signalName(e.signal);
    await ctx.db.transaction(async (tx) => {
      const [u] = await tx
        .update(jobs)
        .set({ externalSignal: signal, externalSignalAt: at })
        .where(and(eq(jobs.id, jobId), eq(jobs.containerId, e.id), eq(jobs.status, 'running'), isNull(jobs.externalSignal)))
        .returning({ id: jobs.id });
      if (u) await audit(tx, { actor: 'dispatcher', action: 'container.external_kill', targetType: 'job', targetId: jobId, at, reason: `${signal} sent by someone other than Warden`, details: { containerId: e.id, signal, engineAt: e.at.toISOString() } });
    });
    return;
  }
  if (e.action === 'die') {
    await completeJob(ctx, docker, jobId, e.id, e.exitCode, e.at, 'dispatcher', { failReason: e.reason ?? undefined });
    return;
  }
  // destroy: normally its die already ended the job; if it is still live, its container was
  // removed from under it.
  if (row.status === 'running' || row.status === 'terminating') {
    await loseRemoved(ctx, jobId, e.id, e.reason ?? `container ${e.id.slice(0, 12)} was removed by someone other than Warden`);
  }
}

/** running → lost (retried); terminating → ends as what it was being terminated for. */
async function loseRemoved(ctx: Ctx, jobId: string, containerId: string, why: string): Promise<void> {
  const at = ctx.clock.now();
  const out = await ctx.db.transaction(async (tx) => {
    const r = await lockJobWithPlan(tx, jobId);
    if (!r || r.job.containerId !== containerId || r.job.node !== ctx.node) return null;
    if (r.job.status === 'terminating') return 'terminating' as const;
    if (r.job.status !== 'running') return null;
    return loseInTx(tx, r.job, r.plan, at, why, 'dispatcher');
  });
  if (out === 'terminating') await finishWithoutContainer({ ctx, actor: 'dispatcher' }, { id: jobId }, why);
}

/** A start lease older than this (4 missed heartbeats: its process stopped renewing it) is settled by reconcile. */
export const START_LEASE_MS = 20_000;

/**
 * Backstop for missed events and interrupted starts:
 * 1. starts nobody is making any more (`starting`, or killed while starting, with no container
 *    recorded; not in flight in this process; lease lapsed, or the claiming process gone — its
 *    instance lock is free, see ./instance.ts): the container of that claim is
 *    adopted (started first if it was only created), containers of earlier lost claims are
 *    removed, and without a container the job goes back to the queue;
 * 2. live jobs on this node whose container has exited are completed, the engine's event log
 *    consulted for who stopped it.
 * Jobs whose container is gone entirely are the orphan sweeper's (they become `lost`).
 */
export async function reconcile(
  ctx: Ctx,
  docker: Runtime,
  opts: { startingStaleMs?: number } = {},
): Promise<{ completed: number; requeued: number; adopted: number; removed: number }> {
  const out = { completed: 0, requeued: 0, adopted: 0, removed: 0 };
  if (!(await docker.ping())) return out;
  const now = ctx.clock.now();
  const staleBefore = new Date(now.getTime() - (opts.startingStaleMs ?? START_LEASE_MS));
  // Starts nobody is making any more: not in flight here, and their lease lapsed or their
  // claiming process is gone (its instance lock is free).
  const pending = await ctx.db
    .select()
    .from(jobs)
    .where(and(inArray(jobs.status, ['starting', 'terminating']), isNull(jobs.containerId), eq(jobs.node, ctx.node)));
  const candidates = pending.filter((j) => !inflightStarts.has(j.id));
  const owners = candidates.map((j) => j.claimOwner).filter((o): o is string => !!o && o !== PROCESS_INSTANCE);
  const dead = owners.length > 0 ? await deadInstances(ctx.db, owners) : new Set<string>();
  for (const j of candidates) {
    const seen = (j.claimSeenAt ?? j.claimedAt)?.getTime() ?? 0;
    // Ours and no longer in flight: this process gave up on it (its record failed): settle now.
    const abandoned = j.claimOwner === PROCESS_INSTANCE || (!!j.claimOwner && dead.has(j.claimOwner));
    if (seen > staleBefore.getTime() && !abandoned) continue;
    await settleStart(ctx, docker, j, out);
  }

  const live = await ctx.db
    .select({ id: jobs.id, containerId: jobs.containerId })
    .from(jobs)
    .where(and(inArray(jobs.status, [...RUNNING_STATUSES]), eq(jobs.node, ctx.node), sql`${jobs.containerId} is not null`));
  if (live.length === 0) return out;
  // One listing rather than an inspect per job (10,000 running jobs were 10,000 engine calls):
  // only containers the listing does not show running are inspected.
  const running = new Set((await docker.list({ [LABEL.managed]: 'true' })).filter((c) => c.state === 'running').map((c) => c.id));
  for (const j of live) {
    if (running.has(j.containerId!)) continue;
    const c = await docker.inspect(j.containerId!);
    if (c && !c.running && c.status !== 'created') {
      const done = await completeJob(ctx, docker, j.id, j.containerId!, c.exitCode, c.finishedAt ?? ctx.clock.now(), 'dispatcher', { unobserved: true });
      if (done) out.completed++;
    }
  }
  return out;
}

async function settleStart(ctx: Ctx, docker: Runtime, j: Job, out: { requeued: number; adopted: number; removed: number }): Promise<void> {
  const found = (await docker.list({ [LABEL.job]: j.id, [LABEL.attempt]: String(j.attempt) })).filter((c) => mayActOn(c.labels, ctx.installation));
  let mine: string | null = null;
  for (const c of found) {
    if ((c.labels[LABEL.claim] ?? null) === (j.claimId ?? null) && !mine) {
      mine = c.id;
      continue;
    }
    // Made for an earlier claim of this attempt, since lost: never recorded, so removed.
    await docker.remove(c.id);
    out.removed++;
    await audit(ctx.db, { actor: 'dispatcher', action: 'container.remove', targetType: 'job', targetId: j.id, at: ctx.clock.now(), reason: 'left by a lost claim of the same attempt', details: { containerId: c.id, claim: c.labels[LABEL.claim] ?? null } });
  }
  const now = ctx.clock.now();
  let ins = mine ? await docker.inspect(mine) : null;
  if (ins && ins.status === 'created') {
    // Created but never started (the worker died in between): start it now, or give up on it.
    const id = ins.id;
    try {
      await docker.start(id);
      ins = await docker.inspect(id);
    } catch {
      await docker.remove(id).catch(() => {});
      await audit(ctx.db, { actor: 'dispatcher', action: 'container.remove', targetType: 'job', targetId: j.id, at: now, reason: 'created but never started, and would not start', details: { containerId: id } });
      ins = null;
    }
  }
  const claimIs = sql`${jobs.claimId} is not distinct from ${j.claimId}`;
  await ctx.db.transaction(async (tx) => {
    if (ins) {
      const startedAt = ins.startedAt ?? now;
      const deadlineAt = new Date(startedAt.getTime() + j.timeoutS * 1000);
      const [row] = await tx
        .update(jobs)
        .set({
          status: sql`case when ${jobs.status} = 'starting' then 'running'::job_status else ${jobs.status} end`,
          containerId: ins.id,
          startedAt,
          deadlineAt,
          idleDeadlineAt: j.idleTimeoutS ? new Date(startedAt.getTime() + j.idleTimeoutS * 1000) : null,
          ...NO_WAIT,
          updatedAt: now,
        })
        .where(and(eq(jobs.id, j.id), inArray(jobs.status, ['starting', 'terminating']), isNull(jobs.containerId), eq(jobs.node, ctx.node), claimIs))
        .returning({ id: jobs.id });
      if (row) {
        out.adopted++;
        await audit(tx, { actor: 'dispatcher', action: 'job.adopt', targetType: 'job', targetId: j.id, at: now, reason: 'start interrupted; its container was found', details: { containerId: ins.id, state: ins.status, deadlineAt: deadlineAt.toISOString() } });
      }
      return;
    }
    if (j.status !== 'starting') return; // killed while starting: the escalation finishes it
    const [cur] = await tx.select({ claimId: jobs.claimId }).from(jobs).where(eq(jobs.id, j.id)).for('update');
    if (!cur || (cur.claimId ?? null) !== (j.claimId ?? null)) return;
    const row = await transition(tx, j.id, ['starting'], { status: 'queued', claimedAt: null, claimId: null, claimSeenAt: null, claimOwner: null, node: null }, now);
    if (row) {
      out.requeued++;
      await audit(tx, { actor: 'dispatcher', action: 'job.requeue', targetType: 'job', targetId: j.id, at: now, reason: 'start interrupted (worker restarted)', details: { claimId: j.claimId } });
    }
  });
}
