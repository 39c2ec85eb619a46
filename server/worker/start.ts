import { and, eq, inArray, sql } from 'drizzle-orm';
import { config } from '../config';
import type { Ctx } from '../context';
import { auditEvents, jobs, plans, users, type Job, type Plan } from '../db/schema';
import { retryThroughOutage } from '../db/client';
import { containerName, LABEL, labelsMatchJob, mayActOn } from '../docker/labels';
import { DeadlineError, withDeadline } from '../docker/timeboxed';
import {
  ContainerNameInUseError,
  ContainerNotStartedError,
  DockerUnavailableError,
  ImageNotPresentError,
  ImageUnavailableError,
  type ContainerSpec,
  type DockerRuntime,
  type PullFailure,
} from '../docker/types';
import { audit } from '../domain/audit';
import { containerSpec } from '../domain/container-spec';
import { finishJob, lockJobWithPlan, transition } from '../domain/lifecycle';
import { registryRefusal } from '../domain/registry-policy';
import { backoffFor, errMessage, PULL_BACKOFF, PULL_TRIES, type BackoffCurve } from '../domain/side-effects';
import { finishWithoutContainer } from '../domain/termination';
import { NO_WAIT, waits } from '../domain/waits';
import { log } from '../log';

/**
 * Starting one claimed job: its image (pulled in the background, with a deadline), its container
 * (created and started under the claim's name and labels) and the `starting → running` record,
 * which only the claim that made the container may write.
 *
 *   claimed ──image present──▶ create + start ──▶ running (where node = this and claim_id = ours)
 *      │                                           └─ claim lost meanwhile: container removed, not recorded
 *      └─image absent──▶ wait `pulling_image` ──registry policy, pull (background, ≤ WARDEN_PULL_TIMEOUT_S)──▶ create + start …
 *                                                 ├─ refused/unresolvable/HTTP error: tried again, PULL_TRIES tries with backoff
 *                                                 └─ policy refusal, not found, deadline, tries spent: failed, naming the image
 *
 * "The engine is unreachable" (the job is requeued, waiting `engine_down`) is decided only from the
 * engine's own socket (DockerUnavailableError: a refused, reset or missing connection to DOCKER_HOST,
 * as docker/runtime.ts classifies it by error code) — never from the text of an engine error: a
 * registry refusing the engine's connection says "connect: connection refused" too, and reading it
 * as the engine being down requeued such a job forever (1,598 audit rows in 90 s).
 * A cancel or kill of a job still without a container ends it at once (domain/jobs.ts killJob); the
 * start notices before it creates anything (stillOurs), and never records a container it made.
 *
 * A pull never holds the dispatcher tick or anyone else's start: the tick only launches it.
 * Every start of this process is listed in `inflightStarts`, so reconcile never requeues one and
 * the heartbeat renews its lease (`claim_seen_at`); another replica sharing the node requeues a
 * start only once that lease lapses (its process died).
 */

export type StartOutcome = 'running' | 'failed' | 'requeued' | 'gone' | 'pulling' | 'stalled';

export interface StartOptions {
  /** Deadline of one image pull (WARDEN_PULL_TIMEOUT_S). */
  pullTimeoutMs: number;
  /** Deadline of create + start; past it the claim is left to lapse and reconcile settles the job. */
  runTimeoutMs?: number;
  /** Tries of a pull that may pass, and the waits between them (default PULL_TRIES on PULL_BACKOFF). */
  pullRetry?: { tries: number; curve: BackoffCurve };
}

/** Pull failures worth another try: the registry may be back in a moment. */
const RETRYABLE_PULLS: ReadonlySet<PullFailure> = new Set(['refused', 'unresolvable', 'http_error', 'no_answer']);

/**
 * Pure: after failed try `tryNo` (1-based) of a pull, how long to wait before the next, or null
 * when the job fails now (a failure that will not pass, the last try, or not a pull failure).
 */
export function pullRetryDelay(e: unknown, tryNo: number, retry: { tries: number; curve: BackoffCurve }, random: () => number = Math.random): number | null {
  if (!(e instanceof ImageUnavailableError) || !RETRYABLE_PULLS.has(e.failure) || tryNo >= retry.tries) return null;
  return backoffFor(retry.curve, tryNo, random);
}

/** Create + start normally take well under a second; a minute means the engine is wedged. */
export const RUN_TIMEOUT_MS = 60_000;
const IMAGE_CHECK_TIMEOUT_MS = 30_000;

/** This process's starts in flight: job id → the claim it holds. */
export class InflightStarts {
  private readonly m = new Map<string, { claimId: string; p: Promise<unknown> }>();

  add(jobId: string, claimId: string, p: Promise<unknown>): void {
    this.m.set(jobId, { claimId, p });
    p.finally(() => {
      if (this.m.get(jobId)?.p === p) this.m.delete(jobId);
    }).catch(() => {});
  }

  /** Lists a claimed job whose start has not begun yet (it waits for a start slot). */
  hold(jobId: string, claimId: string): void {
    this.m.set(jobId, { claimId, p: Promise.resolve() });
  }

  /** Drops a held job that will not be started here after all. */
  release(jobId: string): void {
    this.m.delete(jobId);
  }

  /** Is a start of this job (with this claim, when given) in flight here? */
  has(jobId: string, claimId?: string | null): boolean {
    const e = this.m.get(jobId);
    return !!e && (claimId == null || e.claimId === claimId);
  }

  claimIds(): string[] {
    return [...this.m.values()].map((e) => e.claimId);
  }

  /** Waits for every start in flight (worker shutdown; tests). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.m.values()].map((e) => e.p));
  }
}

const g = globalThis as unknown as { __wardenStarts?: InflightStarts };
export const inflightStarts: InflightStarts = (g.__wardenStarts ??= new InflightStarts());

/**
 * Starts one claimed job. Returns at once with 'pulling' when the image must be pulled first
 * (the pull and the rest of the start continue in the background, listed in inflightStarts; their
 * outcome goes to `onBackground`).
 */
export async function startJob(
  ctx: Ctx,
  docker: DockerRuntime,
  job: Job,
  o: StartOptions,
  onBackground: (outcome: Promise<StartOutcome>) => void = () => {},
): Promise<StartOutcome> {
  if (!job.claimId) throw new Error(`job ${job.id} has no claim`);
  let done!: () => void;
  // Listed while the awaited part runs too: a reconcile of this process never requeues it.
  inflightStarts.add(job.id, job.claimId, new Promise<void>((r) => (done = r)));
  try {
    let present: boolean;
    try {
      present = await withDeadline(docker.hasImage(job.image), IMAGE_CHECK_TIMEOUT_MS, 'image check');
    } catch (e) {
      return await startFailed(ctx, job, e);
    }
    if (!present) return await pullInBackground(ctx, docker, job, o, onBackground);
    return await createAndRecord(ctx, docker, job, o, false, onBackground);
  } finally {
    done();
  }
}

async function pullInBackground(ctx: Ctx, docker: DockerRuntime, job: Job, o: StartOptions, onBackground: (p: Promise<StartOutcome>) => void): Promise<StartOutcome> {
  const now = ctx.clock.now();
  const w = waits.pullingImage(job.image);
  await ctx.db
    .update(jobs)
    .set({ ...w, updatedAt: now })
    .where(and(eq(jobs.id, job.id), eq(jobs.claimId, job.claimId!), inArray(jobs.status, ['starting', 'terminating'])));
  const retry = o.pullRetry ?? { tries: PULL_TRIES, curve: PULL_BACKOFF };
  const p = (async (): Promise<StartOutcome> => {
    for (let tryNo = 1; ; tryNo++) {
      // Just before the pull, again: the name may resolve elsewhere than at submit.
      const refused = await registryRefusal(job.image, { rules: config().WARDEN_REGISTRIES });
      if (refused) return startFailed(ctx, job, new ImageUnavailableError(job.image, refused, 'policy'));
      try {
        await docker.pullImage(job.image, o.pullTimeoutMs);
        break;
      } catch (e) {
        const delay = pullRetryDelay(e, tryNo, retry);
        if (delay === null) return startFailed(ctx, job, e);
        if (!(await notePullRetry(ctx, job, e as ImageUnavailableError, tryNo, retry.tries, delay))) {
          await stoppedMeanwhile(ctx, job);
          return 'gone';
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    const still = await stoppedMeanwhile(ctx, job);
    if (still !== 'starting') return still;
    return createAndRecord(ctx, docker, job, o, true, onBackground);
  })().catch((e: unknown): StartOutcome => {
    // Left `starting` with a lapsing lease: reconcile settles it.
    log.error({ err: errMessage(e), job: job.id }, 'background start failed');
    return 'stalled';
  });
  inflightStarts.add(job.id, job.claimId!, p);
  onBackground(p);
  return 'pulling';
}

/**
 * One failed try of a pull that may pass: the job says so (its wait) and one audit row records
 * the try. Only while the claim stands and the job is still `starting`; false when it is not
 * (cancelled or killed meanwhile).
 */
async function notePullRetry(ctx: Ctx, job: Job, e: ImageUnavailableError, tryNo: number, tries: number, delayMs: number): Promise<boolean> {
  const now = ctx.clock.now();
  const secs = Math.max(1, Math.round(delayMs / 1000));
  return ctx.db.transaction(async (tx) => {
    const [r] = await tx
      .update(jobs)
      .set({ waitCode: 'pulling_image', waitReason: `Pulling image ${job.image}: try ${tryNo} of ${tries} failed (${e.why}); trying again in ${secs} s`.slice(0, 500), updatedAt: now })
      .where(and(eq(jobs.id, job.id), eq(jobs.claimId, job.claimId!), eq(jobs.status, 'starting')))
      .returning({ id: jobs.id });
    if (!r) return false;
    await audit(tx, {
      actor: 'dispatcher',
      action: 'job.pull_retry',
      targetType: 'job',
      targetId: job.id,
      at: now,
      success: false,
      error: e.message,
      reason: `pull try ${tryNo} of ${tries} failed; next in ${secs} s`,
      details: { image: job.image, failure: e.failure, try: tryNo, tries, delayMs, claimId: job.claimId },
    });
    return true;
  });
}

/**
 * Is the start still wanted, before it makes anything? `starting` under our claim: yes. Killed
 * while starting with no container (`terminating`): it ends now, without one. Anything else
 * (cancelled, killed, requeued, claimed elsewhere): 'gone'.
 */
async function stoppedMeanwhile(ctx: Ctx, job: Job): Promise<'starting' | 'gone'> {
  const [cur] = await ctx.db.select({ status: jobs.status, claimId: jobs.claimId, containerId: jobs.containerId }).from(jobs).where(eq(jobs.id, job.id));
  if (!cur || cur.claimId !== job.claimId) return 'gone';
  if (cur.status === 'starting') return 'starting';
  if (cur.status === 'terminating' && !cur.containerId) await finishWithoutContainer({ ctx, actor: 'dispatcher' }, job, 'stopped while its image was being pulled');
  return 'gone';
}

interface StartContext {
  plan: Plan;
  parentDeadline: Date | null;
}

async function loadStartContext(ctx: Ctx, jobId: string): Promise<StartContext | null> {
  const [r] = await ctx.db
    .select({ plan: plans, parentDeadline: sql<Date | string | null>`(select p.deadline_at from jobs p where p.id = ${jobs.parentId})` })
    .from(jobs)
    .innerJoin(users, eq(users.id, jobs.userId))
    .innerJoin(plans, eq(plans.id, users.planId))
    .where(eq(jobs.id, jobId));
  return r ? { plan: r.plan, parentDeadline: r.parentDeadline ? new Date(r.parentDeadline) : null } : null;
}

async function createAndRecord(
  ctx: Ctx,
  docker: DockerRuntime,
  job: Job,
  o: StartOptions,
  pulled: boolean,
  onBackground: (p: Promise<StartOutcome>) => void,
): Promise<StartOutcome> {
  const sc = await loadStartContext(ctx, job.id);
  if (!sc) return 'gone';
  const cfg = config();
  const spec: ContainerSpec = containerSpec(job, sc.plan, {
    owner: { node: ctx.node, installation: ctx.installation },
    logMaxSize: cfg.WARDEN_CONTAINER_LOG_MAX_SIZE,
    logMaxFiles: cfg.WARDEN_CONTAINER_LOG_MAX_FILES,
  });
  const run = () => withDeadline(docker.run(spec), o.runTimeoutMs ?? RUN_TIMEOUT_MS, 'container create + start');
  let containerId: string;
  try {
    try {
      containerId = await run();
    } catch (e) {
      if (!(e instanceof ContainerNameInUseError)) throw e;
      const taken = await takeOverName(ctx, docker, job);
      if (taken.kind === 'adopt') containerId = taken.id;
      else if (taken.kind === 'removed') containerId = await run();
      else return await startFailed(ctx, job, new Error(taken.why));
    }
  } catch (e) {
    if (e instanceof ImageNotPresentError && !pulled) return pullInBackground(ctx, docker, job, o, onBackground);
    if (e instanceof DeadlineError) {
      // The engine may still create it; our lease lapses and reconcile adopts or requeues.
      log.warn({ job: job.id, err: e.message }, 'start stalled; reconcile will settle it');
      return 'stalled';
    }
    if (e instanceof ContainerNotStartedError) return notStarted(ctx, docker, job, e);
    return startFailed(ctx, job, e);
  }
  return recordRunning(ctx, docker, job, containerId, sc);
}

/**
 * The engine made the container but failed its start (5xx, or went away). Requeued, the container
 * stays for the next claim of this attempt to start (takeOverName); a failed job's goes.
 */
async function notStarted(ctx: Ctx, docker: DockerRuntime, job: Job, e: ContainerNotStartedError): Promise<StartOutcome> {
  const out = await startFailed(ctx, job, e.cause);
  // Claim lost meanwhile: the next claim's takeOverName, or the orphan sweeper, settles it.
  if (out !== 'failed') return out;
  await docker.remove(e.containerId).catch((rmErr: unknown) =>
    // The orphan sweeper removes it (no live claim records it).
    log.warn({ err: errMessage(rmErr), containerId: e.containerId }, 'could not remove a container whose start failed'),
  );
  return out;
}

/**
 * 409: a container of this job and attempt exists already. Made by our own claim (an earlier try
 * of this very start): adopt it, starting it if it never started. Made by an earlier claim of the
 * same attempt, since lost (its process died or stalled): remove it and create ours, because its
 * maker, should it wake, would remove it again (a container is only ever recorded by its claim).
 */
async function takeOverName(ctx: Ctx, docker: DockerRuntime, job: Job): Promise<{ kind: 'adopt'; id: string } | { kind: 'removed' } | { kind: 'refuse'; why: string }> {
  const name = containerName(job);
  const ins = await docker.inspect(name);
  if (!ins) return { kind: 'removed' };
  if (!labelsMatchJob(ins.labels, job) || !mayActOn(ins.labels, ctx.installation)) {
    return { kind: 'refuse', why: `a container named ${name} exists that is not this job's (${ins.id.slice(0, 12)})` };
  }
  const at = ctx.clock.now();
  // A leftover that never started and will not start now (after an engine restart containerd can
  // keep a half-made task of its id: "task …: already exists", every time) is replaced by a new
  // container. It never ran, so the attempt still runs once.
  const startLeftover = async (): Promise<boolean> => {
    try {
      await docker.start(ins.id);
      return true;
    } catch (e) {
      if (e instanceof DockerUnavailableError) throw e;
      await docker.remove(ins.id);
      await audit(ctx.db, { actor: 'dispatcher', action: 'container.remove', targetType: 'job', targetId: job.id, at, reason: 'a never-started container of this attempt would not start; replaced', details: { startError: errMessage(e).slice(0, 500), containerId: ins.id, claim: ins.labels[LABEL.claim] ?? null, attempt: job.attempt } });
      return false;
    }
  };
  if (ins.labels[LABEL.claim] === job.claimId) {
    if (ins.status === 'created' && !(await startLeftover())) return { kind: 'removed' };
    await audit(ctx.db, { actor: 'dispatcher', action: 'job.adopt', targetType: 'job', targetId: job.id, at, reason: 'container of this claim already existed (name in use)', details: { containerId: ins.id, state: ins.status } });
    return { kind: 'adopt', id: ins.id };
  }
  // Only while our claim stands may the other go: if ours was lost, the other may be the one
  // the job now records.
  const [cur] = await ctx.db.select({ claimId: jobs.claimId, status: jobs.status, containerId: jobs.containerId }).from(jobs).where(eq(jobs.id, job.id));
  if (!cur || cur.claimId !== job.claimId || cur.containerId === ins.id || (cur.status !== 'starting' && cur.status !== 'terminating')) {
    return { kind: 'refuse', why: 'claim lost' };
  }
  // Never started, and made by a start that gave its claim back itself (it requeued the job: the
  // engine failed it mid-start, so from its side the container was never made): nobody will act on
  // it again, so it is started and recorded under this claim — one container per attempt.
  const other = ins.labels[LABEL.claim];
  if (ins.status === 'created' && other && (await claimReleased(ctx, job.id, other))) {
    if (!(await startLeftover())) return { kind: 'removed' };
    await audit(ctx.db, { actor: 'dispatcher', action: 'job.adopt', targetType: 'job', targetId: job.id, at, reason: 'never-started container of an earlier claim of this attempt, which its start gave back (name in use)', details: { containerId: ins.id, state: ins.status, claim: other } });
    return { kind: 'adopt', id: ins.id };
  }
  await docker.remove(ins.id);
  await audit(ctx.db, {
    actor: 'dispatcher',
    action: 'container.remove',
    targetType: 'job',
    targetId: job.id,
    at,
    reason: 'left by an earlier, lost claim of the same attempt (name in use)',
    details: { containerId: ins.id, state: ins.status, claim: ins.labels[LABEL.claim] ?? null, attempt: job.attempt },
  });
  return { kind: 'removed' };
}

/** Did the start of this claim give it back itself (requeueStart)? Then that start is over. */
async function claimReleased(ctx: Ctx, jobId: string, claimId: string): Promise<boolean> {
  const [r] = await ctx.db
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(and(eq(auditEvents.targetType, 'job'), eq(auditEvents.targetId, jobId), eq(auditEvents.action, 'job.requeue'), sql`${auditEvents.details}->>'claimId' = ${claimId}`))
    .limit(1);
  return !!r;
}

/** `starting → running`, only for the claim that made the container; otherwise the container goes. */
async function recordRunning(ctx: Ctx, docker: DockerRuntime, job: Job, containerId: string, sc: StartContext): Promise<StartOutcome> {
  const startedAt = ctx.clock.now();
  let deadline = new Date(startedAt.getTime() + job.timeoutS * 1000);
  let timeoutSource = job.timeoutSource;
  if (sc.parentDeadline && sc.parentDeadline < deadline) {
    deadline = sc.parentDeadline;
    timeoutSource = 'parent';
  }
  // The container runs: if the database is restarting, wait for it rather than leave the start
  // unrecorded (reconcile would adopt it later, but its deadline would pass unenforced meanwhile).
  const row = await retryThroughOutage(() => ctx.db.transaction(async (tx) => {
    // Still `starting`: now running. Killed meanwhile (`terminating`): keep that, but record the
    // container so the escalation can signal it. Either way only this node's, this claim's.
    const [r] = await tx
      .update(jobs)
      .set({
        status: sql`case when ${jobs.status} = 'starting' then 'running'::job_status else ${jobs.status} end`,
        containerId,
        startedAt,
        deadlineAt: deadline,
        timeoutSource,
        idleDeadlineAt: job.idleTimeoutS ? new Date(startedAt.getTime() + job.idleTimeoutS * 1000) : null,
        ...NO_WAIT,
        sideEffectFailures: 0,
        nextAttemptAt: null,
        updatedAt: startedAt,
      })
      .where(and(eq(jobs.id, job.id), inArray(jobs.status, ['starting', 'terminating']), eq(jobs.node, ctx.node), eq(jobs.claimId, job.claimId!)))
      .returning();
    await audit(tx, {
      actor: 'dispatcher',
      action: 'container.start',
      targetType: 'job',
      targetId: job.id,
      at: startedAt,
      success: !!r,
      ...(r ? {} : { error: 'claim lost before the start was recorded' }),
      details: { containerId, node: ctx.node, claimId: job.claimId, attempt: job.attempt, deadlineAt: deadline.toISOString(), timeoutSeconds: job.timeoutS, timeoutSource, status: r?.status ?? 'claim_lost' },
    });
    return r ?? null;
  }));
  if (row) return 'running';
  // The claim was lost (requeued, re-claimed elsewhere, purged): nobody may record this container.
  try {
    const ins = await docker.inspect(containerId);
    if (ins && ins.labels[LABEL.claim] === job.claimId) await docker.remove(containerId);
    await audit(ctx.db, { actor: 'dispatcher', action: 'container.remove', targetType: 'job', targetId: job.id, at: ctx.clock.now(), reason: 'its claim was lost before the start was recorded', details: { containerId, claimId: job.claimId } });
  } catch (e) {
    // The orphan sweeper removes it (a container of a lost claim is an orphan at once).
    log.warn({ err: errMessage(e), containerId }, 'could not remove the container of a lost claim');
  }
  return 'gone';
}

/**
 * An engine that answers 5xx while starting a container (seen right after an engine restart:
 * "failed to update store for object type *libnetwork.endpoint") is in trouble, not the job:
 * the job goes back to the queue, this many times in a row at most, then fails with its words.
 * A 4xx (the engine refusing this container's settings) fails it at once.
 */
export const ENGINE_ERROR_RETRIES = 3;

function engineStatus(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown })?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** What a failed start means for the job: requeued (engine away or in trouble), failed (image, refusal), or nothing (claim lost). */
async function startFailed(ctx: Ctx, job: Job, e: unknown): Promise<StartOutcome> {
  // The engine's own socket failed (docker/runtime.ts decides that from the error code of our
  // connection to DOCKER_HOST), or the engine did not answer an image check in time.
  if (e instanceof DockerUnavailableError || e instanceof DeadlineError) {
    const r = await requeueStart(ctx, job, errMessage(e));
    return r === 'exhausted' ? 'requeued' : r;
  }
  if ((engineStatus(e) ?? 0) >= 500) {
    const r = await requeueStart(ctx, job, errMessage(e), { engineError: true });
    if (r !== 'exhausted') return r;
  }
  // A pull failure's reason is Warden's own short sentence (≤ 300 characters, no registry body).
  const reason = e instanceof ImageUnavailableError ? e.message : `Container failed to start: ${errMessage(e).slice(0, 500)}`;
  const details = e instanceof ImageUnavailableError ? { image: job.image, failure: e.failure } : {};
  const now = ctx.clock.now();
  const out = await ctx.db.transaction(async (tx) => {
    const r = await lockJobWithPlan(tx, job.id);
    if (!r || r.job.claimId !== job.claimId) return 'gone' as const;
    if (r.job.status === 'terminating') return 'terminating' as const;
    if (r.job.status !== 'starting') return 'gone' as const;
    const done = await finishJob(tx, { job: r.job, plan: r.plan, from: ['starting'], status: 'failed', at: now, exitCode: null, reason, actor: 'dispatcher', action: 'job.start_failed', cleaned: true, details });
    return done ? ('failed' as const) : ('gone' as const);
  });
  if (out === 'terminating') {
    // Killed while starting and now it never will: end it as what it was being killed for.
    await finishWithoutContainer({ ctx, actor: 'dispatcher' }, job, `the start failed: ${reason}`);
    return 'failed';
  }
  return out;
}

async function requeueStart(ctx: Ctx, job: Job, msg: string, o: { engineError?: boolean } = {}): Promise<StartOutcome | 'exhausted'> {
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const r = await lockJobWithPlan(tx, job.id);
    if (!r || r.job.claimId !== job.claimId || r.job.status !== 'starting') return 'gone';
    const tries = r.job.sideEffectFailures + 1;
    if (o.engineError && tries > ENGINE_ERROR_RETRIES) return 'exhausted';
    const wait = o.engineError ? { ...waits.engineError(msg, tries), sideEffectFailures: tries } : waits.engineDown();
    const row = await transition(tx, job.id, ['starting'], { status: 'queued', claimedAt: null, claimId: null, claimSeenAt: null, claimOwner: null, node: null, ...wait }, now);
    if (!row) return 'gone';
    await audit(tx, { actor: 'dispatcher', action: 'job.requeue', targetType: 'job', targetId: job.id, at: now, success: false, error: msg, reason: o.engineError ? `Docker engine error while starting (try ${tries} of ${ENGINE_ERROR_RETRIES})` : 'Docker engine unreachable', details: { claimId: job.claimId } });
    return 'requeued';
  });
}

/** Renews the leases of this process's in-flight starts (called with the heartbeat). */
export async function renewStartLeases(ctx: Ctx): Promise<number> {
  const ids = inflightStarts.claimIds();
  if (ids.length === 0) return 0;
  const now = ctx.clock.now();
  const r = await ctx.db
    .update(jobs)
    .set({ claimSeenAt: now })
    .where(and(inArray(jobs.claimId, ids), inArray(jobs.status, ['starting', 'terminating'])))
    .returning({ id: jobs.id });
  return r.length;
}
