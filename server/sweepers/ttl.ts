import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import { jobs } from '../db/schema';
import { describeIdentity, LABEL, labelsMatchJob } from '../docker/labels';
import { audit } from '../domain/audit';
import { deleteResults } from '../domain/results';
import { countAct, emptyTally, errMessage, noteSideEffectFailure } from '../domain/side-effects';
import { FINAL_STATUSES, LIVE_STATUSES, sqlList } from '../domain/status';
import { SWEEPER_NAMES } from '../domain/sweeper-settings';
import { mapLimit, type ApplyDeps, type ApplyResult, type PlannedAction } from './common';

/**
 * TTL sweeper: finished jobs past ttl_expires_at get their container, labelled volumes and saved
 * results removed and are marked cleaned (the row stays readable, log tail included). Rows finished longer ago
 * than the history retention are purged in batches; usage totals live in their own table and stay.
 */

export interface TtlJob {
  id: string;
  status: string;
  attempt: number;
  containerId: string | null;
  node: string | null;
  ttlExpiresAt: Date | null;
  /** The job's node is another one whose heartbeat is stale: its Docker is not reachable from here. */
  nodeStale: boolean;
}

export interface TtlSnapshot {
  node: string;
  expired: TtlJob[];
  /** finished_at older than this is purged. */
  historyCutoff: Date;
  /** Purgeable rows seen (counted up to purgeLimit, so this stays cheap). */
  purgeable: number;
  /** Idle sweeper_runs rows past their retention (counted up to a bound). */
  oldRuns: number;
}

export type TtlAction =
  | { kind: 'cleanup'; job: TtlJob }
  | { kind: 'mark_cleaned'; job: TtlJob; why: string }
  | { kind: 'purge'; before: Date; rows: number }
  | { kind: 'prune_runs'; rows: number };

/** Rows per purge statement, statements per tick: ≤ 10k rows a tick, each statement ~10-50 ms. */
export const PURGE_BATCH = 1000;
export const PURGE_MAX_BATCHES = 10;
/**
 * sweeper_runs: the timeout sweeper alone writes 86 400 rows a day per node. Ticks that did
 * nothing are kept for a day (the Sweepers page shows the recent ones); ticks that acted or
 * failed are kept as long as job history.
 */
export const IDLE_RUN_RETENTION_MS = 24 * 3600_000;
const SWEEPER_LIST = sql.join(SWEEPER_NAMES.map((n) => sql`${n}`), sql`, `);

/** Pure: what the TTL sweeper does at `now` with this snapshot. */
export function plan(s: TtlSnapshot, now: Date): TtlAction[] {
  const out: TtlAction[] = [];
  const t = now.getTime();
  for (const j of s.expired) {
    if (!j.ttlExpiresAt || j.ttlExpiresAt.getTime() > t) continue;
    if (!j.containerId) out.push({ kind: 'mark_cleaned', job: j, why: 'no container' });
    else if (j.node && j.node !== s.node) {
      // Only a stale node's jobs reach us (the snapshot filters the rest). If that node comes
      // back, its orphan sweeper removes containers of final-and-cleaned jobs.
      if (j.nodeStale) out.push({ kind: 'mark_cleaned', job: j, why: `node ${j.node} is unreachable (stale heartbeat); its orphan sweeper removes the container if it returns` });
    } else out.push({ kind: 'cleanup', job: j });
  }
  if (s.purgeable > 0) out.push({ kind: 'purge', before: s.historyCutoff, rows: s.purgeable });
  if (s.oldRuns > 0) out.push({ kind: 'prune_runs', rows: s.oldRuns });
  return out;
}

export function describe(a: TtlAction): PlannedAction {
  switch (a.kind) {
    case 'cleanup':
      return { kind: a.kind, jobId: a.job.id, containerId: a.job.containerId ?? undefined, detail: `${a.job.status}, ttl expired ${a.job.ttlExpiresAt?.toISOString()}` };
    case 'mark_cleaned':
      return { kind: a.kind, jobId: a.job.id, detail: a.why };
    case 'purge':
      return { kind: a.kind, detail: `${a.rows}${a.rows >= PURGE_BATCH * PURGE_MAX_BATCHES ? '+' : ''} job rows finished before ${a.before.toISOString()}` };
    case 'prune_runs':
      return { kind: a.kind, detail: `${a.rows} old sweeper_runs rows` };
  }
}

/**
 * Expired, uncleaned jobs by expiry through the partial jobs_ttl_idx (cleaned history is not in
 * it), capped at batchSize; those in backoff after a failed removal wait.
 */
export async function snapshot(
  ctx: Ctx,
  o: { now: Date; batchSize: number; historyDays: number; nodeStaleMs: number },
): Promise<TtlSnapshot> {
  const q = snapshotQueries(ctx, o);
  const expired = await ctx.db.execute<{
    id: string;
    status: string;
    attempt: number;
    container_id: string | null;
    node: string | null;
    ttl_expires_at: string | Date | null;
    node_stale: boolean;
  }>(q.expired);
  const [p] = await ctx.db.execute<{ n: number }>(q.purgeable);
  const [r] = await ctx.db.execute<{ n: number }>(q.oldRuns);
  return {
    node: ctx.node,
    expired: expired.map((e) => ({
      id: e.id,
      status: e.status,
      attempt: Number(e.attempt),
      containerId: e.container_id,
      node: e.node,
      ttlExpiresAt: e.ttl_expires_at ? new Date(e.ttl_expires_at) : null,
      nodeStale: !!e.node_stale,
    })),
    historyCutoff: q.historyCutoff,
    purgeable: Number(p?.n ?? 0),
    oldRuns: Number(r?.n ?? 0),
  };
}

/** The snapshot's three statements (bench/sweep-cost.ts EXPLAINs them). */
export function snapshotQueries(ctx: Pick<Ctx, 'node'>, o: { now: Date; batchSize: number; historyDays: number; nodeStaleMs: number }) {
  const now = o.now.toISOString();
  const staleBefore = new Date(o.now.getTime() - o.nodeStaleMs).toISOString();
  const historyCutoff = new Date(o.now.getTime() - o.historyDays * 86400_000);
  const expired = sql`
    select j.id, j.status, j.attempt, j.container_id, j.node, j.ttl_expires_at, x.stale as node_stale
    from jobs j
    cross join lateral (
      select j.node is not null and j.node <> ${ctx.node}
         and not exists (select 1 from nodes n where n.id = j.node and n.heartbeat_at >= ${staleBefore}::timestamptz) as stale
    ) x
    where j.cleaned_at is null and j.ttl_expires_at is not null
      and j.ttl_expires_at <= ${now}::timestamptz
      and j.status in ${sql.raw(sqlList(FINAL_STATUSES))}
      and (j.next_attempt_at is null or j.next_attempt_at <= ${now}::timestamptz)
      and (j.node is null or j.node = ${ctx.node} or j.container_id is null or x.stale)
    order by j.ttl_expires_at
    limit ${o.batchSize}`;
  const purgeable = sql`
    select count(*)::int as n from (
      select 1 from jobs j
      where j.finished_at < ${historyCutoff.toISOString()}::timestamptz and j.cleaned_at is not null
      limit ${PURGE_BATCH * PURGE_MAX_BATCHES}) s`;
  const oldRuns = sql`
    select count(*)::int as n from (
      select 1 from sweeper_runs
      where sweeper in (${SWEEPER_LIST}) and started_at < ${new Date(o.now.getTime() - IDLE_RUN_RETENTION_MS).toISOString()}::timestamptz
        and (acted = 0 and errors = 0 or started_at < ${historyCutoff.toISOString()}::timestamptz)
      limit 5000) s`;
  return { expired, purgeable, oldRuns, historyCutoff };
}

export async function apply(actions: TtlAction[], deps: ApplyDeps): Promise<ApplyResult> {
  const res = emptyTally();
  const perJob = actions.filter((a): a is Extract<TtlAction, { job: TtlJob }> => 'job' in a);
  await mapLimit(perJob, deps.settings.concurrency, async (a) => {
    try {
      if (a.kind === 'cleanup') await cleanup(deps, a.job, res);
      else if (await markCleaned(deps, a.job, { why: a.why })) countAct(res, 'mark_cleaned');
    } catch (e) {
      res.errors++;
      await audit(deps.ctx.db, { actor: deps.actor, action: 'job.cleanup', targetType: 'job', targetId: a.job.id, success: false, error: errMessage(e), at: deps.ctx.clock.now() }).catch(() => {});
    }
  });
  for (const a of actions) {
    try {
      if (a.kind === 'purge') {
        const n = await purge(deps, a.before);
        if (n > 0) countAct(res, 'purge', n);
      } else if (a.kind === 'prune_runs') {
        const n = await pruneRuns(deps);
        if (n > 0) countAct(res, 'prune_runs', n);
      }
    } catch (e) {
      res.errors++;
      await audit(deps.ctx.db, { actor: deps.actor, action: `sweeper.${a.kind}`, targetType: 'sweeper', targetId: 'ttl', success: false, error: errMessage(e), at: deps.ctx.clock.now() }).catch(() => {});
    }
  }
  return res;
}

/**
 * Re-inspect, require the labels to name this job and attempt (a container id recorded on the
 * row is not enough to destroy something), remove it and its labelled volumes, mark cleaned.
 * "Not found" is success.
 */
async function cleanup(d: ApplyDeps, j: TtlJob, res: ApplyResult): Promise<void> {
  const docker = d.docker;
  if (!docker) throw new Error('Docker runtime not available in this process');
  const cid = j.containerId!;
  const at = d.ctx.clock.now();
  let removed: 'removed' | 'gone' | 'refused' = 'gone';
  let volumes = 0;
  try {
    const ins = await docker.inspect(cid);
    if (ins) {
      if (!labelsMatchJob(ins.labels, j)) {
        removed = 'refused';
        await audit(d.ctx.db, {
          actor: d.actor,
          action: 'container.remove',
          targetType: 'job',
          targetId: j.id,
          at,
          success: false,
          error: `refused: container ${cid} is labelled ${describeIdentity(ins.labels)}`,
          details: { containerId: cid },
        });
      } else {
        await docker.remove(cid);
        removed = 'removed';
        await audit(d.ctx.db, {
          actor: d.actor,
          action: 'container.remove',
          targetType: 'job',
          targetId: j.id,
          at: d.ctx.clock.now(),
          reason: `TTL expired (${j.status})`,
          details: { containerId: cid, attempt: j.attempt },
        });
        countAct(res, 'container_remove');
      }
    }
    volumes = await docker.removeVolumesByLabel(LABEL.job, j.id);
    if (volumes > 0) {
      await audit(d.ctx.db, { actor: d.actor, action: 'volume.remove', targetType: 'job', targetId: j.id, at: d.ctx.clock.now(), reason: 'TTL expired', details: { count: volumes } });
    }
  } catch (e) {
    res.errors++;
    await d.ctx.db.transaction(async (tx) => {
      await noteSideEffectFailure(tx, j.id, at);
      await audit(tx, { actor: d.actor, action: removed === 'removed' ? 'volume.remove' : 'container.remove', targetType: 'job', targetId: j.id, at, success: false, error: errMessage(e), details: { containerId: cid } });
    });
    return;
  }
  if (await markCleaned(d, j, { container: removed, volumes })) countAct(res, 'cleaned');
}

async function markCleaned(d: ApplyDeps, j: TtlJob, details: Record<string, unknown>): Promise<boolean> {
  const at = d.ctx.clock.now();
  return d.ctx.db.transaction(async (tx) => {
    const [row] = await tx
      .update(jobs)
      .set({ cleanedAt: at, sideEffectFailures: 0, nextAttemptAt: null, updatedAt: at })
      .where(and(eq(jobs.id, j.id), isNull(jobs.cleanedAt)))
      .returning({ id: jobs.id });
    if (!row) return false;
    // Results go with the container, in the same transaction.
    const results = await deleteResults(tx, j.id);
    await audit(tx, { actor: d.actor, action: 'job.cleaned', targetType: 'job', targetId: j.id, at, details: { containerId: j.containerId, ...details, ...(results ? { results: 'deleted' } : {}) } });
    return true;
  });
}

/**
 * Deletes job rows finished before `before`, oldest first, PURGE_BATCH per statement. Never a
 * row whose container was not cleaned, nor a parent with a live child. SKIP LOCKED: replicas
 * purging at once take different rows. One audit row per tick (the count).
 */
async function purge(d: ApplyDeps, before: Date): Promise<number> {
  let total = 0;
  for (let i = 0; i < PURGE_MAX_BATCHES; i++) {
    const r = await d.ctx.db.execute(sql`
      with victims as (
        select j.id from jobs j
        where j.finished_at < ${before.toISOString()}::timestamptz
          and j.cleaned_at is not null
          and j.status in ${sql.raw(sqlList(FINAL_STATUSES))}
          and not exists (
            select 1 from jobs c
            where c.parent_id = j.id and c.status in ${sql.raw(sqlList(LIVE_STATUSES))})
        order by j.finished_at
        limit ${PURGE_BATCH}
        for update of j skip locked)
      delete from jobs where id in (select id from victims)`);
    const n = r.count ?? 0;
    total += n;
    if (n < PURGE_BATCH) break;
  }
  if (total > 0) {
    await audit(d.ctx.db, {
      actor: d.actor,
      action: 'job.purge',
      targetType: 'sweeper',
      targetId: 'ttl',
      at: d.ctx.clock.now(),
      reason: `history older than ${before.toISOString()}`,
      details: { count: total, finishedBefore: before.toISOString() },
    });
  }
  return total;
}

async function pruneRuns(d: ApplyDeps): Promise<number> {
  const now = d.ctx.clock.now().getTime();
  const idleBefore = new Date(now - IDLE_RUN_RETENTION_MS).toISOString();
  const allBefore = new Date(now - d.settings.historyDays * 86400_000).toISOString();
  const r = await d.ctx.db.execute(sql`
    delete from sweeper_runs where id in (
      select id from sweeper_runs
      where sweeper in (${SWEEPER_LIST}) and started_at < ${idleBefore}::timestamptz
        and (acted = 0 and errors = 0 or started_at < ${allBefore}::timestamptz)
      limit 5000)`);
  return r.count ?? 0;
}
