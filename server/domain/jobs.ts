/**
 * The job operations the API and the dashboard share: submit, read, list, kill, cancel, extend,
 * suspend, logs and results. (~440 lines: they share one loader and one set of checks, and each
 * is short; how a job *ends* is termination.ts, its state changes lifecycle.ts.)
 */
import { and, desc, eq, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import { nodeCapacities } from './nodes';
import { neverFits } from './placement';
import { dispatchSignal, notifyDispatch } from './dispatch-signal';
import { config } from '../config';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { jobClasses, jobs, plans, users, type Job, type JobStatus } from '../db/schema';
import { type Actor, actorLabel, hasRole, requireRole } from './actor';
import { audit } from './audit';
import { AppError, conflict, invalid, notFound, parseInput } from './errors';
import { checkIdleTimeoutCap, checkSubmitCaps, submitCaps } from './caps';
import { effectiveLimits, effectiveTimeout, type Limits } from './limits';
import { finishJob, lockJobWithPlan, transition } from './lifecycle';
import { followSlots, type FollowSlots } from './log-follows';
import { escalateNow } from './termination';
import { getClassByName } from './classes';
import { describeWait, queueInfo, type QueueInfo } from './queue';
import { checkImageRegistry } from './registry-policy';
import { noResultsMessage, readResultsMeta, resultsBody } from './results';
import { extendJobSchema, isUuid, killJobSchema, listJobsQuerySchema, submitJobSchema, suspendJobSchema } from './schemas';
import { isFinal } from './status';

/**
 * A job as the API shows it. `queue` (from queueInfo) adds a queued job's place and the wait
 * that follows from it; without it a queued job shows only a stored wait and no position.
 */
export function jobToJson(j: Job, queue?: QueueInfo | null) {
  const w = describeWait(j, queue);
  return {
    id: j.id,
    userId: j.userId,
    name: j.name,
    image: j.image,
    command: j.command,
    status: j.status,
    exitCode: j.exitCode,
    reason: j.reason,
    waitReason: w.waitReason,
    waitCode: w.waitCode,
    queuePosition: w.queuePosition,
    attempt: j.attempt,
    maxRetries: j.maxRetries,
    queuedAt: j.queuedAt.toISOString(),
    startedAt: j.startedAt?.toISOString() ?? null,
    finishedAt: j.finishedAt?.toISOString() ?? null,
    deadlineAt: j.deadlineAt?.toISOString() ?? null,
    warnedAt: j.warnedAt?.toISOString() ?? null,
    terminateRequestedAt: j.terminateRequestedAt?.toISOString() ?? null,
    cleanedAt: j.cleanedAt?.toISOString() ?? null,
    timeoutSeconds: j.timeoutS,
    timeoutSource: j.timeoutSource,
    timeoutSuspended: j.timeoutSuspended,
    gracePeriodSeconds: j.gracePeriodS,
    ttlSecondsAfterFinished: j.ttlS,
    extendedSeconds: j.extendedS,
    containerId: j.containerId,
    node: j.node,
    parentId: j.parentId,
    labels: j.labels,
    class: j.className,
    idleTimeoutSeconds: j.idleTimeoutS,
    lastOutputAt: j.lastOutputAt?.toISOString() ?? null,
    idleDeadlineAt: j.idleDeadlineAt?.toISOString() ?? null,
    resultsPath: j.resultsPath,
    resultsBytes: j.resultsBytes,
    resultsTruncated: j.resultsTruncated,
    resultsNote: j.resultsNote,
  };
}
export type JobJson = ReturnType<typeof jobToJson>;

/** Jobs as the API shows them, queued ones with their place and wait (one query for all). */
export async function jobsToJson(db: DbOrTx, rows: readonly Job[]): Promise<JobJson[]> {
  const queued = rows.filter((j) => j.status === 'queued').map((j) => j.id);
  const info = await queueInfo(db, queued);
  return rows.map((j) => jobToJson(j, info.get(j.id)));
}

/** A user's limits for a job of `className` (a deleted class counts as none). */
async function loadUserLimits(db: DbOrTx, userId: string, className: string | null): Promise<{ limits: Limits; planName: string }> {
  const [r] = await db.select({ user: users, plan: plans }).from(users).innerJoin(plans, eq(plans.id, users.planId)).where(eq(users.id, userId));
  if (!r) throw notFound('User', userId);
  const cls = className ? await getClassByName(db, className) : null;
  return { limits: effectiveLimits(r.plan, r.user, cls), planName: r.plan.name };
}

/**
 * POST /api/v1/jobs. A user key submits for itself. Validation, caps and queue limits are checked
 * before anything is written; the job row and its audit row are written in one transaction.
 */
export async function submitJob(ctx: Ctx, actor: Actor, raw: unknown, opts: { userId?: string } = {}): Promise<Job> {
  const input = parseInput(submitJobSchema, raw);
  let userId: string;
  if (actor.kind === 'user') userId = actor.id;
  else {
    requireRole(actor, 'operator');
    if (!opts.userId) throw invalid('Operators submit on behalf of a user: pass ?user=<user id>', 'user');
    if (!isUuid(opts.userId)) throw invalid('user must be a user id (UUID)', 'user');
    userId = opts.userId;
  }
  // Before the transaction: it may wait for DNS (bounded), and must not hold the user's lock meanwhile.
  await checkImageRegistry(input.image, { rules: config().WARDEN_REGISTRIES });
  const now = ctx.clock.now();
  const job = await ctx.db.transaction(async (tx) => {
    // Lock the user row: serialises submits per user so max_queued_jobs holds under concurrency.
    const [u] = await tx.select({ user: users, plan: plans }).from(users).innerJoin(plans, eq(plans.id, users.planId)).where(eq(users.id, userId)).for('update', { of: users });
    if (!u) throw notFound('User', userId);
    // FOR SHARE: a concurrent DELETE of the class waits until this job is in.
    const [cls] = input.class ? await tx.select().from(jobClasses).where(eq(jobClasses.name, input.class)).for('share') : [];
    if (input.class && !cls) throw invalid(`Class ${input.class} does not exist (GET /api/v1/classes lists them)`, 'class', 'unknown_class');
    const limits = effectiveLimits(u.plan, u.user, cls ?? null);
    const t = effectiveTimeout({
      requested: input.timeoutSeconds,
      classDefault: cls?.defaultTimeoutS,
      classMax: cls?.maxTimeoutS,
      className: cls?.name,
      userDefault: u.user.defaultTimeoutS,
      planDefault: u.plan.defaultTimeoutS,
      userMax: u.user.maxTimeoutS,
      planMax: u.plan.maxTimeoutS,
      planName: u.plan.name,
    });
    if (!t.ok) throw invalid(t.message, t.field, t.field === 'class' ? 'class_exceeds_cap' : 'timeout_exceeds_cap');
    checkSubmitCaps(input, submitCaps(u.plan));
    checkIdleTimeoutCap(input, limits);
    if (input.maxRetries !== undefined && input.maxRetries > limits.maxRetries) {
      throw invalid(`maxRetries ${input.maxRetries} exceeds the maximum of ${limits.maxRetries} allowed by plan ${u.plan.name}`, 'maxRetries');
    }
    if (input.parentId) {
      const [parent] = await tx.select({ id: jobs.id, userId: jobs.userId, status: jobs.status }).from(jobs).where(eq(jobs.id, input.parentId));
      // A child belongs to its parent's user, whoever submits it (an operator cannot hang one
      // user's job under another's: the parent's end would kill it).
      if (!parent || parent.userId !== userId) {
        throw invalid(`Parent job ${input.parentId} not found`, 'parentId', 'unknown_parent');
      }
      if (isFinal(parent.status)) {
        throw conflict(`Parent job ${input.parentId} has already ended (${parent.status})`, 'parent_ended');
      }
    }
    // A job bigger than every live node could never start: refused now, not queued for ever.
    const never = neverFits({ cpus: u.plan.cpus, memoryMb: u.plan.memoryMb, selector: cls?.nodeSelector ?? null }, await nodeCapacities(tx, now));
    if (never) throw invalid(`Job cannot run on any node: ${never}`, cls?.nodeSelector ? 'class' : undefined, 'no_node_fits');
    const [q] = await tx
      .select({ n: sql<number>`count(*)::int` })
      .from(jobs)
      .where(and(eq(jobs.userId, userId), eq(jobs.status, 'queued')));
    if ((q?.n ?? 0) >= limits.maxQueuedJobs) {
      throw new AppError(429, 'queue_full', `Queue full: ${q?.n ?? 0} jobs already queued (limit ${limits.maxQueuedJobs} for plan ${u.plan.name})`);
    }
    const [job] = await tx
      .insert(jobs)
      .values({
        userId,
        name: input.name ?? null,
        image: input.image,
        command: input.command ?? null,
        env: input.env ?? {},
        labels: input.labels ?? {},
        parentId: input.parentId ?? null,
        status: 'queued',
        maxRetries: input.maxRetries ?? limits.maxRetries,
        requestedTimeoutS: input.timeoutSeconds ?? null,
        timeoutS: t.seconds,
        timeoutSource: t.source,
        gracePeriodS: input.gracePeriodSeconds ?? limits.gracePeriodS,
        ttlS: input.ttlSecondsAfterFinished ?? null,
        className: cls?.name ?? null,
        idleTimeoutS: input.idleTimeoutSeconds ?? limits.idleTimeoutS,
        resultsPath: input.resultsPath ?? limits.resultsPath,
        queuedAt: now,
        updatedAt: now,
      })
      .returning();
    await audit(tx, {
      actor,
      action: 'job.submit',
      targetType: 'job',
      targetId: job!.id,
      at: now,
      details: { image: input.image, timeoutSeconds: t.seconds, timeoutSource: t.source, plan: u.plan.name, ...(cls ? { class: cls.name } : {}) },
    });
    // Delivered to every replica's dispatcher on commit (domain/dispatch-signal.ts).
    await notifyDispatch(tx);
    return job!;
  });
  dispatchSignal.wake();
  return job;
}

/** A job the actor may see: users see only their own (others are 404, not 403: no probing). */
export async function getJob(ctx: Ctx, actor: Actor, id: string): Promise<Job> {
  if (!isUuid(id)) throw notFound('Job', id);
  const [j] = await ctx.db.select().from(jobs).where(eq(jobs.id, id));
  if (!j) throw notFound('Job', id);
  if (actor.kind === 'user' && j.userId !== actor.id) throw notFound('Job', id);
  if (actor.kind === 'operator') requireRole(actor, 'viewer');
  return j;
}

function encodeCursor(j: Pick<Job, 'queuedAt' | 'id'>): string {
  return Buffer.from(`${j.queuedAt.toISOString()}|${j.id}`).toString('base64url');
}
function decodeCursor(c: string): { at: Date; id: string } {
  const [at, id] = Buffer.from(c, 'base64url').toString().split('|');
  const d = new Date(at ?? '');
  if (!id || Number.isNaN(d.getTime()) || !isUuid(id)) throw invalid('cursor is not valid', 'cursor');
  return { at: d, id };
}

/** GET /api/v1/jobs — newest first, keyset pagination. A user key lists its own jobs only. */
export async function listJobs(ctx: Ctx, actor: Actor, rawQuery: Record<string, string | undefined>) {
  if (actor.kind !== 'user') requireRole(actor, 'viewer');
  const q = parseInput(listJobsQuerySchema, rawQuery);
  const limit = q.limit ?? 50;
  const where: SQL[] = [];
  if (q.status?.length) where.push(inArray(jobs.status, q.status as JobStatus[]));
  // Asserted before the predicate is built: an own-jobs filter must never be dropped.
  if (actor.kind === 'user') {
    if (!isUuid(actor.id)) throw notFound('User', actor.id);
    where.push(eq(jobs.userId, actor.id));
  } else if (q.user) {
    if (isUuid(q.user)) where.push(eq(jobs.userId, q.user));
    else where.push(sql`${jobs.userId} = (select id from users where name = ${q.user})`);
  }
  if (q.cursor) {
    const c = decodeCursor(q.cursor);
    where.push(or(lt(jobs.queuedAt, c.at), and(eq(jobs.queuedAt, c.at), lt(jobs.id, c.id)))!);
  }
  const rows = await ctx.db
    .select()
    .from(jobs)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(jobs.queuedAt), desc(jobs.id))
    .limit(limit + 1);
  const page = rows.slice(0, limit);
  return { jobs: page, nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!) : null };
}

/**
 * Kill (operator, or owner via cancel): a queued job is cancelled; a starting/running job goes to
 * `terminating` and the timeout sweeper's escalation (SIGTERM, grace, SIGKILL) ends it as `killed`.
 * `force` skips the grace. A terminating job may be upgraded to force.
 *
 * A `starting` job with no container yet (its image is being pulled, or its start is backing off
 * between tries) has nothing to signal: it ends at once — `cancelled` for a cancel, `killed` for a
 * kill — whatever its start is doing. That start finds its claim gone before it creates anything
 * (worker/start.ts), and a container it made meanwhile is never recorded and is removed.
 * The row is locked first, so a job moving between queued and starting never makes the kill
 * miss both (it used to answer 409 "already ended (queued)").
 */
export async function killJob(ctx: Ctx, actor: Actor, id: string, raw: unknown = {}, o: { cancel?: boolean } = {}): Promise<Job> {
  if (actor.kind !== 'user') requireRole(actor, 'operator');
  const p = parseInput(killJobSchema, raw ?? {});
  await getJob(ctx, actor, id);
  const now = ctx.clock.now();
  const who = actorLabel(actor);
  const reason = `Killed by ${who}${p.reason ? `: ${p.reason}` : ''}`;
  const row = await ctx.db.transaction(async (tx) => {
    const locked = await lockJobWithPlan(tx, id);
    if (!locked) throw notFound('Job', id);
    const { job, plan } = locked;
    const noContainer = job.status === 'starting' && !job.containerId;
    if (job.status === 'queued' || (noContainer && o.cancel)) {
      const done = await finishJob(tx, {
        job,
        plan,
        from: [job.status],
        status: 'cancelled',
        at: now,
        reason: `Cancelled by ${who}${p.reason && p.reason !== 'cancelled' ? `: ${p.reason}` : ''}`,
        actor,
        action: 'job.cancel',
        cleaned: true,
        details: { from: job.status },
      });
      if (done) return done;
    }
    if (noContainer) {
      const done = await finishJob(tx, { job, plan, from: ['starting'], status: 'killed', at: now, reason, actor, action: 'job.killed', cleaned: true, details: { from: 'starting', force: p.force ?? false } });
      if (done) return done;
    }
    if (job.status === 'starting' || job.status === 'running') {
      const row = await transition(
        tx,
        id,
        ['starting', 'running'],
        {
          status: 'terminating',
          terminateRequestedAt: now,
          terminateKind: 'kill',
          terminateReason: reason,
          terminateActor: who,
          terminateForce: p.force ?? false,
        },
        now,
      );
      if (row) {
        await audit(tx, { actor, action: 'job.kill', targetType: 'job', targetId: id, reason: p.reason ?? null, at: now, details: { force: p.force ?? false } });
        return row;
      }
    }
    if (job.status === 'terminating') {
      if (p.force && !job.terminateForce) {
        const row = await transition(tx, id, ['terminating'], { terminateForce: true }, now);
        if (row) {
          await audit(tx, { actor, action: 'job.kill', targetType: 'job', targetId: id, reason: p.reason ?? null, at: now, details: { force: true, upgrade: true } });
          return row;
        }
      }
      throw conflict(`Job ${id} is already terminating`, 'already_terminating');
    }
    throw conflict(`Job ${id} has already ended (${job.status})`, 'already_final');
  });
  return kickTermination(ctx, row);
}

/**
 * Fast path after a kill commits: when this process can reach the job's Docker host, send the
 * due signal now instead of waiting for the next timeout tick (≤ 1 s). It goes through the same
 * claim as the sweeper (sigterm_at is null → now), so the signal is still sent once; if anything
 * fails here the sweeper simply does it on its next tick.
 */
async function kickTermination(ctx: Ctx, row: Job): Promise<Job> {
  if (row.status !== 'terminating' || !ctx.docker || row.node !== ctx.node || !row.containerId) return row;
  try {
    const r = await escalateNow(ctx, row.id);
    if (r.acted === 0) return row;
    const [fresh] = await ctx.db.select().from(jobs).where(eq(jobs.id, row.id));
    return fresh ?? row;
  } catch {
    return row;
  }
}

/** POST /api/v1/jobs/:id/cancel — queued: cancelled; running: killed by its owner. */
export async function cancelJob(ctx: Ctx, actor: Actor, id: string): Promise<Job> {
  const job = await getJob(ctx, actor, id);
  if (isFinal(job.status)) throw conflict(`Job ${id} has already ended (${job.status})`, 'already_final');
  return killJob(ctx, actor, id, { reason: 'cancelled' }, { cancel: true });
}

/**
 * Extend a running job's deadline by N seconds. Refused when not running, N ≤ 0, or the new total
 * passes the cap (admins may override with a reason). A child may never outlive its parent.
 * Operators extend any job; a user key extends its own jobs only (others are 404), within the cap
 * and never past it, audited as the user — so a receiver of `job.warning` can answer with an extend.
 */
export async function extendJob(ctx: Ctx, actor: Actor, id: string, raw: unknown): Promise<Job> {
  if (actor.kind !== 'user') requireRole(actor, 'operator');
  const { seconds, reason, overrideCap } = parseInput(extendJobSchema, raw);
  if (overrideCap && actor.kind === 'user') throw new AppError(403, 'forbidden', 'A user key extends its jobs within the cap only; overrideCap is for admins');
  if (overrideCap && !hasRole(actor, 'admin')) throw new AppError(403, 'forbidden', 'Only admins may extend past the cap');
  if (overrideCap && !reason) throw invalid('A reason is required to extend past the cap', 'reason');
  if (!isUuid(id)) throw notFound('Job', id);
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const [job] = await tx.select().from(jobs).where(eq(jobs.id, id)).for('update');
    if (!job || (actor.kind === 'user' && job.userId !== actor.id)) throw notFound('Job', id);
    if (job.status !== 'running' || !job.deadlineAt) {
      throw conflict(`Job ${id} is ${job.status}; only running jobs can be extended`, 'not_running');
    }
    const { limits, planName } = await loadUserLimits(tx, job.userId, job.className);
    const total = job.timeoutS + seconds;
    const overCap = total > limits.maxTimeoutS;
    if (overCap && !overrideCap) {
      const who = limits.maxTimeoutFrom === 'user' ? 'the per-user limit' : limits.maxTimeoutFrom === 'class' ? `class ${limits.className}` : `plan ${planName}`;
      throw invalid(
        `Extending by ${seconds}s would make the timeout ${total}s, above the maximum of ${limits.maxTimeoutS}s allowed by ${who}`,
        'seconds',
        'timeout_exceeds_cap',
      );
    }
    const newDeadline = new Date(job.deadlineAt.getTime() + seconds * 1000);
    if (job.parentId) {
      const [parent] = await tx.select({ deadlineAt: jobs.deadlineAt }).from(jobs).where(eq(jobs.id, job.parentId));
      if (parent?.deadlineAt && newDeadline > parent.deadlineAt) {
        throw invalid(`A child job cannot outlive its parent: the parent's deadline is ${parent.deadlineAt.toISOString()}`, 'seconds', 'exceeds_parent');
      }
    }
    const row = await transition(
      tx,
      id,
      ['running'],
      { deadlineAt: newDeadline, timeoutS: total, extendedS: job.extendedS + seconds, warnedAt: null },
      now,
    );
    if (!row) throw conflict(`Job ${id} is no longer running`, 'not_running');
    await audit(tx, {
      actor,
      action: 'job.extend',
      targetType: 'job',
      targetId: id,
      reason: reason ?? null,
      at: now,
      details: { seconds, from: job.deadlineAt.toISOString(), to: newDeadline.toISOString(), timeoutSeconds: total, overCap, cap: limits.maxTimeoutS },
    });
    return row;
  });
}

/** Admin: suspend (or resume) a running job's timeout, e.g. while debugging it. Audited. */
export async function suspendJobTimeout(ctx: Ctx, actor: Actor, id: string, suspended: boolean, reason?: string): Promise<Job> {
  requireRole(actor, 'admin');
  const p = parseInput(suspendJobSchema, { suspended, reason });
  if (!isUuid(id)) throw notFound('Job', id);
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const row = await transition(tx, id, ['queued', 'starting', 'running'], { timeoutSuspended: suspended, warnedAt: null }, now);
    if (!row) {
      const [cur] = await tx.select({ status: jobs.status }).from(jobs).where(eq(jobs.id, id));
      if (!cur) throw notFound('Job', id);
      throw conflict(`Job ${id} is ${cur.status}; its timeout can no longer be changed`, 'not_running');
    }
    // Resuming: a job whose deadline passed while suspended gets the time it had left at suspension? No:
    // the deadline stands; the sweeper acts on the next tick. Operators extend first if they want more.
    await audit(tx, {
      actor,
      action: suspended ? 'job.timeout_suspend' : 'job.timeout_resume',
      targetType: 'job',
      targetId: id,
      reason: p.reason ?? null,
      at: now,
      details: { deadlineAt: row.deadlineAt?.toISOString() ?? null, status: row.status },
    });
    return row;
  });
}

/**
 * Following a job's output: a live stream while its container runs and this process can reach
 * its engine (it ends when the container stops), else the saved or live tail as text. A live
 * stream takes one of the actor's and the server's follow slots (log-follows.ts; 429 with
 * Retry-After when none is free), given back when the stream closes.
 */
export async function followJobLogs(
  ctx: Ctx,
  actor: Actor,
  id: string,
  slots: FollowSlots = followSlots(config().WARDEN_MAX_LOG_FOLLOWS),
): Promise<{ stream: NodeJS.ReadableStream } | { text: string }> {
  const job = await getJob(ctx, actor, id);
  if (job.containerId && (job.status === 'running' || job.status === 'terminating') && ctx.docker) {
    const release = slots.acquire(actor);
    try {
      const stream = await ctx.docker.followLogs(job.containerId, 2000);
      if (stream) {
        stream.once('close', release);
        stream.once('end', release);
        stream.once('error', release);
        return { stream };
      }
    } catch {
      /* engine not reachable from here: the tail below */
    }
    release();
  }
  return { text: await getJobLogs(ctx, actor, id) };
}

/** Saved log tail, or the live tail while the container runs. */
export async function getJobLogs(ctx: Ctx, actor: Actor, id: string): Promise<string> {
  const job = await getJob(ctx, actor, id);
  if (job.containerId && (job.status === 'running' || job.status === 'terminating') && ctx.docker) {
    try {
      return await ctx.docker.logsTail(job.containerId);
    } catch {
      return job.logTail ?? '';
    }
  }
  return job.logTail ?? '';
}


/** GET /api/v1/jobs/:id/results — the job's saved tar, for whoever may read the job; 404 in the error shape when there is none. */
export async function getJobResults(ctx: Ctx, actor: Actor, id: string) {
  const job = await getJob(ctx, actor, id);
  const results = await readResultsMeta(ctx.db, job.id);
  if (!results) throw new AppError(404, 'no_results', noResultsMessage(job));
  return { job, results, body: resultsBody(ctx.db, job.id, results.attempt, results.bytes) };
}
