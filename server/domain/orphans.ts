import { inArray } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { jobs } from '../db/schema';
import { isOurs, LABEL, ownership, sameIdentity } from '../docker/labels';
import type { ContainerInspect, Runtime } from '../runtime/types';
import { type Actor, requireRole } from './actor';
import { audit } from './audit';
import { AppError, conflict, invalid, notFound } from './errors';
import { isUuid } from './schemas';
import { errMessage } from './side-effects';
import { isFinal } from './status';

/**
 * Orphaned containers: managed containers that no live job owns. The verdict and the re-check
 * before removal live here, so the orphan sweeper and an operator's "Remove" on the Orphans page
 * apply the same rule.
 */

/** What the verdict needs of the job a container's labels name. */
export interface JobRef {
  id: string;
  status: string;
  attempt: number;
  cleanedAt: Date | null;
  containerId: string | null;
  /** The job's current claim (jobs.claim_id); a container labelled with another claim can never be recorded. */
  claimId?: string | null;
}

/** Why a managed container is an orphan, or null when it belongs to a live (or not yet cleaned) job. */
export function containerVerdict(c: { id: string; labels: Record<string, string>; state?: string }, jobsById: Record<string, JobRef>): string | null {
  const jobId = c.labels[LABEL.job];
  if (!jobId || !isUuid(jobId)) return `no valid ${LABEL.job} label (${jobId ?? 'missing'})`;
  const job = jobsById[jobId.toLowerCase()];
  if (!job) return `job ${jobId} does not exist`;
  const attempt = c.labels[LABEL.attempt];
  if (attempt !== String(job.attempt)) return `attempt ${attempt ?? '?'} of job ${jobId}, which is on attempt ${job.attempt}`;
  if (isFinal(job.status) && job.cleanedAt) return `job ${jobId} ended (${job.status}) and was cleaned up`;
  if (job.containerId && job.containerId !== c.id) return `job ${jobId} runs in another container (${job.containerId.slice(0, 12)})`;
  // Never started, of the attempt the job waits to start: its next start takes it over (starts it,
  // or removes it and makes its own), so one attempt keeps one container through engine trouble.
  if (c.state === 'created' && !job.containerId && (job.status === 'queued' || job.status === 'starting')) return null;
  if (lostClaim(c, job)) return `made for claim ${c.labels[LABEL.claim]} of job ${jobId}, which was lost (never recorded)`;
  return null;
}

/**
 * Made for a claim the job no longer holds, and not the container the job records: the start
 * that made it can never be recorded (that takes its claim), so no grace is needed.
 */
export function lostClaim(c: { id: string; labels: Record<string, string> }, job: JobRef): boolean {
  const claim = c.labels[LABEL.claim];
  return !!claim && job.containerId !== c.id && job.claimId !== undefined && (job.claimId ?? null) !== claim;
}

/** The jobs the given ids name (ids that are not UUIDs are skipped), keyed by id. */
export async function jobRefs(db: DbOrTx, ids: readonly string[]): Promise<Record<string, JobRef>> {
  const valid = [...new Set(ids.filter((x) => isUuid(x)).map((x) => x.toLowerCase()))];
  const out: Record<string, JobRef> = {};
  for (let i = 0; i < valid.length; i += 1000) {
    const rows = await db
      .select({ id: jobs.id, status: jobs.status, attempt: jobs.attempt, cleanedAt: jobs.cleanedAt, containerId: jobs.containerId, claimId: jobs.claimId })
      .from(jobs)
      .where(inArray(jobs.id, valid.slice(i, i + 1000)));
    for (const r of rows) out[r.id] = r;
  }
  return out;
}

export type Recheck =
  | { kind: 'gone' }
  /** Not a container of this installation and node (or, with `expected`, its labels changed since the listing). */
  | { kind: 'not_ours'; ins: ContainerInspect }
  | { kind: 'owned'; ins: ContainerInspect; job: JobRef | undefined }
  | { kind: 'orphan'; ins: ContainerInspect; reason: string; jobExists: boolean };

/**
 * Re-check right before destroying: inspect the container now, require it to be ours — this
 * installation's, and this node's or a stale node's on this engine (`adoptedNodes`) — (and, when
 * `expected` labels are given, to carry the same identity as when it was judged), re-read its job
 * and judge again.
 */
export async function recheckOrphan(
  ctx: Ctx,
  docker: Runtime,
  containerId: string,
  expected?: Record<string, string>,
  adoptedNodes: ReadonlySet<string> = new Set(),
): Promise<Recheck> {
  const ins = await docker.inspect(containerId);
  if (!ins) return { kind: 'gone' };
  const node = ins.labels[LABEL.node] ?? '';
  const ours = isOurs(ins.labels, { node: ctx.node, installation: ctx.installation }) || (adoptedNodes.has(node) && isOurs(ins.labels, { node, installation: ctx.installation }));
  if (!ours || (expected && !sameIdentity(ins.labels, expected))) return { kind: 'not_ours', ins };
  const jobId = ins.labels[LABEL.job] ?? '';
  const byId = await jobRefs(ctx.db, [jobId]);
  const reason = containerVerdict({ id: ins.id, labels: ins.labels, state: ins.status }, byId);
  const job = byId[jobId.toLowerCase()];
  return reason ? { kind: 'orphan', ins, reason, jobExists: !!job } : { kind: 'owned', ins, job };
}

/**
 * Operator or above: remove one orphaned managed container now. Refused, naming why, for a
 * container Warden does not manage, one of another node, and one whose job still owns it.
 */
/** A Docker container id (12-64 hex) or, on Kubernetes, a Pod name (DNS label). */
export const CONTAINER_ID_RE = /^(?:[0-9a-f]{12,64}|[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)$/i;

export async function removeOrphanContainer(ctx: Ctx, actor: Actor, containerId: string): Promise<void> {
  requireRole(actor, 'operator');
  if (!CONTAINER_ID_RE.test(containerId)) throw invalid('containerId must be a Docker container id (12-64 hex characters) or a Kubernetes Pod name', 'containerId');
  const docker = ctx.docker;
  if (!docker || !(await docker.ping())) throw new AppError(503, 'docker_unavailable', 'The Docker engine is not reachable from this node');
  const r = await recheckOrphan(ctx, docker, containerId);
  if (r.kind === 'gone') throw notFound('Container', containerId);
  if (r.kind === 'not_ours') {
    const o = ownership(r.ins.labels, ctx.installation);
    if (o === 'unmanaged') {
      throw invalid(`Container ${containerId} is not managed by Warden (no ${LABEL.managed}=true label); Warden never removes it`, 'containerId', 'not_managed');
    }
    if (o === 'foreign' || o === 'legacy') {
      throw conflict(
        `Container ${containerId} belongs to ${o === 'foreign' ? `another Warden installation (${r.ins.labels[LABEL.installation]})` : 'no known installation (no warden.installation label)'}; this installation never removes it`,
        'other_installation',
      );
    }
    throw conflict(`Container ${containerId} belongs to node ${r.ins.labels[LABEL.node] ?? '(none)'}; this is node ${ctx.node}`, 'other_node');
  }
  const jobId = r.ins.labels[LABEL.job];
  if (r.kind === 'owned') {
    throw conflict(
      `Container ${containerId} belongs to job ${jobId} (${r.job?.status ?? 'unknown'}), which is not orphaned: kill the job instead, or wait for its TTL`,
      'not_orphaned',
    );
  }
  const now = ctx.clock.now();
  try {
    await docker.remove(r.ins.id);
  } catch (e) {
    await audit(ctx.db, { actor, action: 'container.remove', targetType: 'container', targetId: r.ins.id, reason: `orphan: ${r.reason}`, at: now, success: false, error: errMessage(e) });
    throw e;
  }
  await audit(ctx.db, {
    actor,
    action: 'container.remove',
    targetType: 'container',
    targetId: r.ins.id,
    reason: `orphan: ${r.reason}`,
    at: now,
    details: { jobId: jobId ?? null, attempt: r.ins.labels[LABEL.attempt] ?? null, manual: true, running: r.ins.running },
  });
}
