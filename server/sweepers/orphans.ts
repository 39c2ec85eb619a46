import { and, eq, gte, inArray, sql } from 'drizzle-orm';
import { config } from '../config';
import type { Ctx } from '../context';
import { jobs, nodes } from '../db/schema';
import { isOurs, LABEL, labelsMatchJob, MANAGED } from '../docker/labels';
import type { ContainerSummary } from '../runtime/types';
import { type Actor, requireRole } from '../domain/actor';
import { audit } from '../domain/audit';
import { lockJobWithPlan, loseJob, stopChildren } from '../domain/lifecycle';
import { containerVerdict, lostClaim, recheckOrphan, type JobRef } from '../domain/orphans';
import { isUuid } from '../domain/schemas';
import { backoffMs, countAct, emptyTally, errMessage } from '../domain/side-effects';
import { ACTIVE_STATUSES, FINAL_STATUSES, isFinal, RUNNING_STATUSES, sqlList } from '../domain/status';
import { finishWithoutContainer } from '../domain/termination';
import { DEFAULT_SETTINGS, mapLimit, type ApplyDeps, type ApplyResult, type PlannedAction } from './common';

/**
 * Orphan sweeper, three lists:
 * (a) this installation's containers on this node's engine whose job is missing, final and
 *     cleaned, of another attempt, or running elsewhere — removed once older than the grace;
 *     made for a lost claim — removed at once. Containers are only ever listed by label
 *     (warden.managed + warden.installation), so nothing without Warden's labels, and nothing of
 *     another installation sharing the engine, is ever seen. A container labelled with another
 *     node whose heartbeat is stale is on this engine all the same: its live job is adopted
 *     (this node now enforces its deadline), an orphan is reaped; a live node's is left alone.
 * (b) running/terminating jobs of this node whose container is gone (re-inspected first):
 *     `lost` with the retry policy; and live jobs of other nodes whose heartbeat is stale.
 *     A terminating job that loses its container ends as what it was being terminated for
 *     (timed_out/killed): retrying something an operator killed would be wrong.
 * (c) live children of ended (or purged) parents: terminated (kind parent) / cancelled.
 *
 * ~440 lines: plan, snapshot, the four apply steps and the read-only report share the snapshot's
 * shapes; the report is kept beside the plan it mirrors.
 */

export interface OrphanContainer {
  id: string;
  name: string;
  labels: Record<string, string>;
  state: string;
  createdAt: Date;
}

export interface LiveJob {
  id: string;
  userId: string;
  name: string | null;
  status: 'starting' | 'running' | 'terminating';
  attempt: number;
  maxRetries: number;
  containerId: string | null;
  node: string | null;
  /** Other nodes only: that node's last heartbeat (null: never seen). */
  heartbeatAt?: Date | null;
}

export interface ChildRef {
  id: string;
  status: string;
  parentId: string;
  /** null: the parent row no longer exists. */
  parentStatus: string | null;
}

export interface OrphanSnapshot {
  node: string;
  installation: string;
  /** Nodes other than this one with containers on this engine and a stale (or no) heartbeat. */
  staleNodesHere: string[];
  graceS: number;
  /** false: Docker unreachable (or none in this process); (a) and the container half of (b) wait. */
  dockerOk: boolean;
  containers: OrphanContainer[];
  /**
   * The jobs of the listed containers that need judging. A container its job records (same
   * attempt, job not ended and cleaned) is in `recorded` instead and is never looked up here:
   * the sweep stays a few rows per tick however many jobs run.
   */
  jobsById: Record<string, JobRef>;
  /** Containers that their job records as its current attempt's: owned, never orphans. */
  recorded?: ReadonlySet<string>;
  /**
   * running/terminating jobs of this node with a container, read before the container list —
   * only those whose container the list lacks (none when the engine was not reached).
   */
  liveJobs: LiveJob[];
  /** How many live jobs of this node were checked against the list. */
  liveChecked?: number;
  /** starting/running/terminating jobs of other nodes whose heartbeat is stale. */
  staleJobs: LiveJob[];
  children: ChildRef[];
}

export type OrphanAction =
  | { kind: 'remove_container'; container: OrphanContainer; reason: string }
  | { kind: 'adopt'; job: LiveJob; container: OrphanContainer; reason: string }
  | { kind: 'lost'; job: LiveJob; reason: string; confirm: boolean }
  | { kind: 'stop_children'; parentId: string; parentStatus: string | null; childIds: string[] };

/** Pure: what the orphan sweeper does at `now`. */
export function plan(s: OrphanSnapshot, now: Date): OrphanAction[] {
  const out: OrphanAction[] = [];
  const t = now.getTime();
  const adopted = new Set<string>();
  if (s.dockerOk) {
    const staleHere = new Set(s.staleNodesHere);
    const staleByContainer = new Map(s.staleJobs.filter((j) => j.containerId).map((j) => [j.containerId!, j]));
    for (const c of s.containers) {
      if (c.state === 'removing') continue;
      const node = c.labels[LABEL.node] ?? '';
      if (!isOurs(c.labels, { node: s.node, installation: s.installation })) {
        if (node === s.node || !staleHere.has(node) || !isOurs(c.labels, { node, installation: s.installation })) continue;
        const j = staleByContainer.get(c.id);
        if (j && (j.status === 'running' || j.status === 'terminating') && j.node === node) {
          adopted.add(j.id);
          out.push({ kind: 'adopt', job: j, container: c, reason: `node ${node} went stale; its container ${c.id.slice(0, 12)} is on this node's engine` });
          continue;
        }
      }
      // Recorded by its job as its attempt's container: owned (a stale node's was adopted above).
      if (s.recorded?.has(c.id)) continue;
      const reason = containerVerdict(c, s.jobsById);
      if (!reason) continue;
      const job = s.jobsById[(c.labels[LABEL.job] ?? '').toLowerCase()];
      const now = !!job && lostClaim(c, job);
      if (now || c.createdAt.getTime() + s.graceS * 1000 <= t) out.push({ kind: 'remove_container', container: c, reason });
    }
    const present = new Set(s.containers.map((c) => c.id));
    for (const j of s.liveJobs) {
      if (j.node !== s.node || !j.containerId || present.has(j.containerId)) continue;
      if (j.status !== 'running' && j.status !== 'terminating') continue;
      out.push({ kind: 'lost', job: j, reason: `container ${j.containerId.slice(0, 12)} was removed by someone other than Warden`, confirm: true });
    }
  }
  for (const j of s.staleJobs) {
    if (j.node === s.node || adopted.has(j.id)) continue;
    const last = j.heartbeatAt ? `last heartbeat ${j.heartbeatAt.toISOString()}` : 'no heartbeat on record';
    out.push({ kind: 'lost', job: j, reason: `node ${j.node} is unreachable (${last})`, confirm: false });
  }
  const byParent = new Map<string, { status: string | null; ids: string[] }>();
  for (const c of s.children) {
    if (c.parentStatus !== null && !isFinal(c.parentStatus)) continue;
    const g = byParent.get(c.parentId) ?? { status: c.parentStatus, ids: [] };
    g.ids.push(c.id);
    byParent.set(c.parentId, g);
  }
  for (const [parentId, g] of byParent) out.push({ kind: 'stop_children', parentId, parentStatus: g.status, childIds: g.ids });
  return out;
}

export function describe(a: OrphanAction): PlannedAction {
  switch (a.kind) {
    case 'remove_container':
      return { kind: a.kind, containerId: a.container.id, jobId: a.container.labels[LABEL.job], detail: a.reason };
    case 'adopt':
      return { kind: a.kind, containerId: a.container.id, jobId: a.job.id, detail: a.reason };
    case 'lost':
      return { kind: a.kind, jobId: a.job.id, containerId: a.job.containerId ?? undefined, detail: a.reason };
    case 'stop_children':
      return { kind: a.kind, jobId: a.parentId, detail: `${a.childIds.length} live child job(s) of ${a.parentStatus ?? 'a purged'} parent` };
  }
}

const liveCols = {
  id: jobs.id,
  userId: jobs.userId,
  name: jobs.name,
  status: jobs.status,
  attempt: jobs.attempt,
  maxRetries: jobs.maxRetries,
  containerId: jobs.containerId,
  node: jobs.node,
};

export async function snapshot(ctx: Ctx, o: { now: Date; graceS: number; nodeStaleMs: number; limit?: number }): Promise<OrphanSnapshot> {
  const limit = o.limit ?? 1000;
  // Live jobs first, containers second: a job that starts in between has a container the list
  // already shows, so it can never look lost.
  // Ids only: the full row is read below for the few whose container the list lacks.
  const live = await ctx.db
    .select({ id: jobs.id, containerId: jobs.containerId })
    .from(jobs)
    .where(and(inArray(jobs.status, [...RUNNING_STATUSES]), eq(jobs.node, ctx.node), sql`${jobs.containerId} is not null`));
  let dockerOk = false;
  let containers: OrphanContainer[] = [];
  if (ctx.docker) {
    try {
      const list: ContainerSummary[] = await ctx.docker.list({ ...MANAGED, [LABEL.installation]: ctx.installation });
      containers = list.map((c) => ({ id: c.id, name: c.name, labels: c.labels, state: c.state, createdAt: c.createdAt }));
      dockerOk = true;
    } catch {
      dockerOk = false;
    }
  }
  const { jobsById, recorded } = await judgeable(ctx, containers);
  // Engine not reached: nothing can be judged lost this tick, so nothing more is read.
  const present = new Set(containers.map((c) => c.id));
  const missing = dockerOk ? live.filter((j) => !present.has(j.containerId!)).map((j) => j.id) : [];
  const liveChecked = live.length;
  live.length = 0;
  const liveJobs: LiveJob[] = [];
  for (let i = 0; i < missing.length; i += 1000) {
    const rows = await ctx.db
      .select(liveCols)
      .from(jobs)
      .where(and(inArray(jobs.id, missing.slice(i, i + 1000)), inArray(jobs.status, [...RUNNING_STATUSES]), eq(jobs.node, ctx.node), sql`${jobs.containerId} is not null`));
    liveJobs.push(...(rows as LiveJob[]));
  }
  const staleBefore = new Date(o.now.getTime() - o.nodeStaleMs);
  const stale = await ctx.db.execute<{
    id: string;
    user_id: string;
    name: string | null;
    status: LiveJob['status'];
    attempt: number;
    max_retries: number;
    container_id: string | null;
    node: string;
    heartbeat_at: string | Date | null;
  }>(sql`
    select j.id, j.user_id, j.name, j.status, j.attempt, j.max_retries, j.container_id, j.node, n.heartbeat_at
    from jobs j left join nodes n on n.id = j.node
    where j.status in ${sql.raw(sqlList(ACTIVE_STATUSES))}
      and j.node is not null and j.node <> ${ctx.node}
      and (n.heartbeat_at is null or n.heartbeat_at < ${staleBefore.toISOString()}::timestamptz)
    limit ${limit}`);
  // Other nodes with containers on this engine whose heartbeat is stale (or was never seen).
  const otherNodes = [...new Set(containers.map((c) => c.labels[LABEL.node] ?? '').filter((n) => n && n !== ctx.node))];
  let staleNodesHere: string[] = [];
  if (otherNodes.length > 0) {
    const fresh = await ctx.db
      .select({ id: nodes.id })
      .from(nodes)
      .where(and(inArray(nodes.id, otherNodes), gte(nodes.heartbeatAt, staleBefore)));
    const live = new Set(fresh.map((n) => n.id));
    staleNodesHere = otherNodes.filter((n) => !live.has(n));
  }
  const children = await ctx.db.execute<{ id: string; status: string; parent_id: string; parent_status: string | null }>(sql`
    select c.id, c.status, c.parent_id, p.status as parent_status
    from jobs c left join jobs p on p.id = c.parent_id
    where c.parent_id is not null
      and c.status in ('queued', 'starting', 'running')
      and (p.id is null or p.status in ${sql.raw(sqlList(FINAL_STATUSES))})
    limit ${limit}`);
  return {
    node: ctx.node,
    installation: ctx.installation,
    staleNodesHere,
    graceS: o.graceS,
    dockerOk,
    containers,
    jobsById,
    recorded,
    liveJobs,
    liveChecked,
    staleJobs: stale.map((r) => ({
      id: r.id,
      userId: r.user_id,
      name: r.name,
      status: r.status,
      attempt: Number(r.attempt),
      maxRetries: Number(r.max_retries),
      containerId: r.container_id,
      node: r.node,
      heartbeatAt: r.heartbeat_at ? new Date(r.heartbeat_at) : null,
    })),
    children: children.map((c) => ({ id: c.id, status: c.status, parentId: c.parent_id, parentStatus: c.parent_status })),
  };
}

/**
 * One query for the whole list: which containers their job records as its current attempt's
 * (owned; the verdict would be null), and the job rows of the rest, which the verdict judges.
 */
async function judgeable(ctx: Ctx, containers: OrphanContainer[]): Promise<{ jobsById: Record<string, JobRef>; recorded: Set<string> }> {
  const cids: string[] = [];
  const jids: string[] = [];
  const atts: string[] = [];
  for (const c of containers) {
    const j = c.labels[LABEL.job] ?? '';
    if (!isUuid(j)) continue;
    cids.push(c.id);
    jids.push(j.toLowerCase());
    atts.push(c.labels[LABEL.attempt] ?? '');
  }
  const jobsById: Record<string, JobRef> = {};
  const recorded = new Set<string>();
  if (cids.length === 0) return { jobsById, recorded };
  // Rows come back only for containers that need a verdict (their job missing, ended and
  // cleaned, on another attempt, or recording another container or none), with the job's row.
  const rows = await ctx.db.execute<{ cid: string; id: string | null; status: string; attempt: number; cleaned_at: string | Date | null; container_id: string | null; claim_id: string | null }>(sql`
    select c.cid, j.id, j.status, j.attempt, j.cleaned_at, j.container_id, j.claim_id
    from unnest(${toPgArray(cids)}::text[], ${toPgArray(jids)}::uuid[], ${toPgArray(atts)}::text[]) as c(cid, jid, att)
    left join jobs j on j.id = c.jid
    where j.id is null or j.container_id is distinct from c.cid or j.attempt::text <> c.att
       or (j.status in ${sql.raw(sqlList(FINAL_STATUSES))} and j.cleaned_at is not null)`);
  const judge = new Set<string>();
  for (const r of rows) {
    judge.add(r.cid);
    if (r.id) jobsById[r.id] = { id: r.id, status: r.status, attempt: Number(r.attempt), cleanedAt: r.cleaned_at ? new Date(r.cleaned_at) : null, containerId: r.container_id, claimId: r.claim_id };
  }
  for (const cid of cids) if (!judge.has(cid)) recorded.add(cid);
  return { jobsById, recorded };
}

/** A text[] literal for postgres.js (one parameter however long the list). */
function toPgArray(xs: string[]): string {
  return `{${xs.map((x) => `"${x.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

/** Containers whose removal failed: in-memory backoff (no row to keep it on), per process. */
const g = globalThis as unknown as { __wardenOrphanBackoff?: Map<string, { failures: number; until: number }> };
const containerBackoff = (g.__wardenOrphanBackoff ??= new Map());

export async function apply(actions: OrphanAction[], deps: ApplyDeps): Promise<ApplyResult> {
  const res = emptyTally();
  // Nodes whose containers this tick may reap: the stale ones the plan adopted or judged.
  const staleNodes = new Set(actions.flatMap((a) => (a.kind === 'remove_container' || a.kind === 'adopt' ? [a.container.labels[LABEL.node] ?? ''] : [])).filter((n) => n !== deps.ctx.node));
  await mapLimit(actions, deps.settings.concurrency, async (a) => {
    try {
      if (a.kind === 'remove_container') await removeContainer(deps, a, res, staleNodes);
      else if (a.kind === 'adopt') await adopt(deps, a, res);
      else if (a.kind === 'lost') await lost(deps, a, res);
      else await orphanedChildren(deps, a, res);
    } catch (e) {
      res.errors++;
      const d = describe(a);
      await audit(deps.ctx.db, {
        actor: deps.actor,
        action: `sweeper.${a.kind}`,
        targetType: a.kind === 'remove_container' ? 'container' : 'job',
        targetId: a.kind === 'remove_container' ? a.container.id : (d.jobId ?? null),
        success: false,
        error: errMessage(e),
        at: deps.ctx.clock.now(),
      }).catch(() => {});
    }
  });
  return res;
}

async function removeContainer(d: ApplyDeps, a: Extract<OrphanAction, { kind: 'remove_container' }>, res: ApplyResult, staleNodes: ReadonlySet<string>): Promise<void> {
  const docker = d.docker;
  if (!docker) return;
  const c = a.container;
  const b = containerBackoff.get(c.id);
  if (b && b.until > d.ctx.clock.now().getTime()) return;
  // Re-check right before destroying: the container still carries the same owner labels, and
  // its job (re-read now) still makes it an orphan.
  const r = await recheckOrphan(d.ctx, docker, c.id, c.labels, await stillStale(d, staleNodes));
  if (r.kind !== 'orphan') return;
  const { ins, reason } = r;
  const jobId = ins.labels[LABEL.job];
  const at = d.ctx.clock.now();
  try {
    await docker.remove(c.id);
    // Volumes of a job that no longer exists have nobody else to clean them up.
    if (jobId && !r.jobExists && isUuid(jobId)) await docker.removeVolumesByLabel(LABEL.job, jobId);
  } catch (e) {
    res.errors++;
    const failures = (b?.failures ?? 0) + 1;
    containerBackoff.set(c.id, { failures, until: at.getTime() + backoffMs(failures) });
    await audit(d.ctx.db, { actor: d.actor, action: 'container.remove', targetType: 'container', targetId: c.id, reason, at, success: false, error: errMessage(e), details: { jobId, attempt: ins.labels[LABEL.attempt], name: c.name } });
    return;
  }
  containerBackoff.delete(c.id);
  await audit(d.ctx.db, {
    actor: d.actor,
    action: 'container.remove',
    targetType: 'container',
    targetId: c.id,
    reason: `orphan: ${reason}`,
    at,
    details: { jobId: jobId ?? null, attempt: ins.labels[LABEL.attempt] ?? null, name: c.name, ageSeconds: Math.round((at.getTime() - c.createdAt.getTime()) / 1000), running: ins.running },
  });
  countAct(res, 'remove_container');
}

/** Of the given nodes, those still stale now (re-checked before destroying anything of theirs). */
async function stillStale(d: ApplyDeps, candidates: ReadonlySet<string>): Promise<Set<string>> {
  if (candidates.size === 0) return new Set();
  const staleBefore = new Date(d.ctx.clock.now().getTime() - d.settings.nodeStaleMs);
  const fresh = await d.ctx.db.select({ id: nodes.id }).from(nodes).where(and(inArray(nodes.id, [...candidates]), gte(nodes.heartbeatAt, staleBefore)));
  const live = new Set(fresh.map((n) => n.id));
  return new Set([...candidates].filter((n) => !live.has(n)));
}

/**
 * A stale node's live job whose container is on this engine: this node takes it over (the
 * container keeps its old warden.node label; the job row's node is what counts), so its deadline
 * is enforced and its exit seen. Re-checked: the node still stale, the container still there
 * with this job's labels, the row unchanged.
 */
async function adopt(d: ApplyDeps, a: Extract<OrphanAction, { kind: 'adopt' }>, res: ApplyResult): Promise<void> {
  const docker = d.docker;
  const j = a.job;
  if (!docker || !j.containerId || !j.node) return;
  if (!(await stillStale(d, new Set([j.node]))).has(j.node)) return;
  const ins = await docker.inspect(j.containerId);
  if (!ins || !labelsMatchJob(ins.labels, j) || !isOurs(ins.labels, { node: j.node, installation: d.ctx.installation })) return;
  const at = d.ctx.clock.now();
  const done = await d.ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .update(jobs)
      .set({ node: d.ctx.node, updatedAt: at })
      .where(and(eq(jobs.id, j.id), eq(jobs.node, j.node!), eq(jobs.containerId, j.containerId!), inArray(jobs.status, ['running', 'terminating'])))
      .returning({ id: jobs.id });
    if (!row) return false;
    await audit(tx, { actor: d.actor, action: 'job.adopt', targetType: 'job', targetId: j.id, at, reason: a.reason, details: { containerId: j.containerId, fromNode: j.node, toNode: d.ctx.node, running: ins.running } });
    return true;
  });
  if (done) countAct(res, 'adopt');
}

async function lost(d: ApplyDeps, a: Extract<OrphanAction, { kind: 'lost' }>, res: ApplyResult): Promise<void> {
  const j = a.job;
  if (a.confirm) {
    if (!d.docker || !j.containerId) return;
    // Re-check: gone from the list is not enough; the engine must say "no such container".
    if (await d.docker.inspect(j.containerId)) return;
  }
  if (j.status === 'terminating') {
    if (await finishWithoutContainer(d, j, a.reason)) countAct(res, 'finish');
    return;
  }
  const at = d.ctx.clock.now();
  const out = await d.ctx.db.transaction(async (tx) => {
    const r = await lockJobWithPlan(tx, j.id);
    // Moved on since the snapshot (completed, killed, restarted elsewhere): not lost.
    if (!r || r.job.status !== j.status || r.job.containerId !== j.containerId || r.job.node !== j.node) return null;
    return loseJob(tx, { job: r.job, plan: r.plan, at, why: a.reason, actor: d.actor, details: { confirmedByInspect: a.confirm } });
  });
  if (out) countAct(res, out.outcome === 'requeued' ? 'lost_retry' : 'lost');
}

async function orphanedChildren(d: ApplyDeps, a: Extract<OrphanAction, { kind: 'stop_children' }>, res: ApplyResult): Promise<void> {
  const at = d.ctx.clock.now();
  const n = await d.ctx.db.transaction(async (tx) => {
    if (a.parentStatus === null) {
      // Re-check the parent is still missing (not a concurrent insert we did not see).
      const [p] = await tx.select({ id: jobs.id }).from(jobs).where(eq(jobs.id, a.parentId));
      if (p) return 0;
      return stopChildren(tx, { id: a.parentId, status: 'lost' }, at, `Parent job ${a.parentId} no longer exists`);
    }
    const [p] = await tx.select({ id: jobs.id, status: jobs.status }).from(jobs).where(eq(jobs.id, a.parentId));
    if (!p || !isFinal(p.status)) return 0;
    return stopChildren(tx, p, at);
  });
  if (n > 0) countAct(res, 'stop_children', n);
}

// ---------------------------------------------------------------------------------------------
// Report for the dashboard / GET /api/v1/orphans
// ---------------------------------------------------------------------------------------------

export interface OrphanReportData {
  dockerOk: boolean;
  containers: { id: string; name: string; jobId: string | null; attempt: string | null; node: string | null; reason: string; createdAt: string; ageSeconds: number; removableAt: string }[];
  lostJobs: { jobId: string; userId: string; name: string | null; status: string; containerId: string | null; node: string | null; reason: string }[];
  orphanedChildren: { jobId: string; parentId: string; parentStatus: string }[];
}

/** What the sweeper sees now, including containers still inside their grace. Read-only. */
export async function report(ctx: Ctx, o: { now: Date; graceS: number; nodeStaleMs: number }): Promise<OrphanReportData> {
  const s = await snapshot(ctx, { ...o, limit: 500 });
  const now = o.now.getTime();
  const containers: OrphanReportData['containers'] = [];
  for (const c of s.containers) {
    if (s.recorded?.has(c.id)) continue;
    const reason = containerVerdict(c, s.jobsById);
    if (!reason) continue;
    const removable = c.createdAt.getTime() + s.graceS * 1000;
    containers.push({
      id: c.id,
      name: c.name,
      jobId: c.labels[LABEL.job] ?? null,
      attempt: c.labels[LABEL.attempt] ?? null,
      node: c.labels[LABEL.node] ?? null,
      reason,
      createdAt: c.createdAt.toISOString(),
      ageSeconds: Math.max(0, Math.round((now - c.createdAt.getTime()) / 1000)),
      removableAt: new Date(removable).toISOString(),
    });
  }
  const lostJobs: OrphanReportData['lostJobs'] = [];
  for (const a of plan({ ...s, containers: s.containers, graceS: Number.MAX_SAFE_INTEGER }, o.now)) {
    if (a.kind !== 'lost') continue;
    if (a.confirm && ctx.docker && a.job.containerId) {
      try {
        if (await ctx.docker.inspect(a.job.containerId)) continue;
      } catch {
        continue;
      }
    }
    lostJobs.push({ jobId: a.job.id, userId: a.job.userId, name: a.job.name, status: a.job.status, containerId: a.job.containerId, node: a.job.node, reason: a.reason });
  }
  return {
    dockerOk: s.dockerOk,
    containers,
    lostJobs,
    orphanedChildren: s.children
      .filter((c) => c.parentStatus === null || isFinal(c.parentStatus))
      .map((c) => ({ jobId: c.id, parentId: c.parentId, parentStatus: c.parentStatus ?? 'missing' })),
  };
}

/** What the orphan sweeper sees now (viewer or above): GET /api/v1/orphans and the Orphans page. */
export async function listOrphans(ctx: Ctx, actor: Actor): Promise<OrphanReportData> {
  requireRole(actor, 'viewer');
  return report(ctx, { now: ctx.clock.now(), graceS: config().WARDEN_ORPHAN_GRACE_S, nodeStaleMs: DEFAULT_SETTINGS.nodeStaleMs });
}
