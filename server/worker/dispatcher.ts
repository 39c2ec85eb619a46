import { inArray, sql, type SQL } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { Db, DbOrTx } from '../db/client';
import { jobs, users, type Job } from '../db/schema';
import { config } from '../config';
import type { DockerRuntime } from '../docker/types';
import { audit } from '../domain/audit';
import { monthKey } from '../domain/limits';
import { ACTIVE_STATUSES, sqlList } from '../domain/status';
import { waits } from '../domain/waits';
import { nodeCapacities, nodesWithAllocation, placementNodes, toPlacementNode } from '../domain/nodes';
import { capacityWait, placeForNode } from '../domain/placement';
import { notifyDispatch } from '../domain/dispatch-signal';
import { log } from '../log';
import { metrics } from '../metrics';
import { startJob, type StartOptions, type StartOutcome } from './start';

/**
 * The dispatcher: claims queued jobs fairly across users and starts their containers.
 *
 * Claim (one transaction): lock up to `maxUsers` candidate users, least-recently-served first,
 * with FOR UPDATE SKIP LOCKED, so two dispatchers never work on the same user at once; recount
 * each locked user's active jobs in a fresh statement (the lock makes the count exact); take the
 * oldest queued job(s) within the user's free slots; mark them `starting`; stamp last_served_at.
 * Each claim gets a fresh token (claim_id); the start (./start.ts, outside the transaction) pulls
 * the image in the background when needed, creates + starts the container labelled with that
 * token, and records `starting → running` only while the claim is still its own.
 */

/** Slot-holding statuses as SQL text, written exactly as the jobs_active_user_idx predicate. */
const ACTIVE = sql.raw(sqlList(ACTIVE_STATUSES));

export interface CandidateUser {
  userId: string;
  limit: number;
  active: number;
  quota: number | null;
  used: number;
}

export interface ClaimPlanEntry {
  userId: string;
  take: number;
}

/** Pure: how many jobs to take from each locked user this round. */
export function planClaims(cands: CandidateUser[], perUser: number): ClaimPlanEntry[] {
  const out: ClaimPlanEntry[] = [];
  for (const c of cands) {
    if (c.quota != null && c.used >= c.quota) continue;
    const free = c.limit - c.active;
    if (free <= 0) continue;
    out.push({ userId: c.userId, take: Math.min(free, perUser) });
  }
  return out;
}

export interface ClaimOptions {
  now: Date;
  node: string;
  /** The claiming process (worker/instance.ts), when it holds its instance lock. */
  owner?: string | null;
  /** Users served per round; each gets up to perUser jobs. */
  maxUsers?: number;
  perUser?: number;
}

/**
 * Step 1 of a claim: up to `maxUsers` users with queued work that look like they have room (a
 * hint only; claimJobs re-counts under the lock), least-recently-served first, locked with
 * FOR UPDATE SKIP LOCKED so two dispatchers never work on one user at once. Exported so
 * bench/dispatch.ts can EXPLAIN ANALYZE exactly this statement.
 *
 * - Users are sorted first and fenced (`offset 0`), so the per-user checks (queued work, active
 *   count, quota) run only until 3 × maxUsers users qualify, not for every user: with 1,000
 *   users this statement went from 6.8 ms to about 2 ms (EXPLAIN ANALYZE in bench/dispatch.ts).
 * - The order comes from the statement's snapshot, but a user another dispatcher served (and
 *   committed) after that snapshot is still lockable, and PostgreSQL re-checks only the WHERE
 *   clause against the new row version, not the ORDER BY. Without the `last_served_at is not
 *   distinct from` re-check, two dispatchers served such users twice in one cycle (19 vs 22
 *   claims per user in test/core.claims.test.ts); with it the row fails the re-check and is
 *   skipped like a locked one. The 3× slack keeps a round full next to another dispatcher (its
 *   current round is locked, its previous one re-stamped).
 */
export function candidateUsersSql(month: string, maxUsers: number): SQL {
  return sql`
    with c as materialized (
      select s.id, s.lsa
      from (
        select u.id, u.last_served_at as lsa,
               coalesce(u.max_concurrent_jobs, p.max_concurrent_jobs) as lim,
               coalesce(u.monthly_quota_s, p.monthly_quota_s) as quota
        from users u join plans p on p.id = u.plan_id
        order by u.last_served_at asc nulls first, u.id
        offset 0
      ) s
      where exists (select 1 from jobs q where q.user_id = s.id and q.status = 'queued')
        and (select count(*) from jobs a where a.user_id = s.id and a.status in ${ACTIVE}) < s.lim
        and (s.quota is null
             or coalesce((select us.seconds from usage us where us.user_id = s.id and us.month = ${month}), 0) < s.quota)
      limit ${maxUsers * 3}
    )
    select u.id
    from c join users u on u.id = c.id
    where u.last_served_at is not distinct from c.lsa
    order by c.lsa asc nulls first, c.id
    limit ${maxUsers}
    for update of u skip locked`;
}

/** Claims queued jobs (status → starting). Returns the claimed rows. */
export async function claimJobs(db: Db, o: ClaimOptions): Promise<Job[]> {
  const maxUsers = o.maxUsers ?? 50;
  const perUser = o.perUser ?? 1;
  const month = monthKey(o.now);
  // Raw sql`` parameters bypass Drizzle's column mapping, and its postgres.js driver leaves Date
  // unserialised (the bind fails with ERR_INVALID_ARG_TYPE): pass timestamps as ISO strings.
  const nowIso = o.now.toISOString();
  return db.transaction(async (tx) => {
    // 1. Candidates, locked (see candidateUsersSql).
    const locked = await tx.execute<{ id: string }>(candidateUsersSql(month, maxUsers));
    if (locked.length === 0) return [];
    const ids = locked.map((r) => r.id);
    // 2. Exact counts under the lock (a new statement sees every committed claim).
    const counts = await tx.execute<{ id: string; lim: number; active: number; quota: string | null; used: string }>(sql`
      select u.id,
        coalesce(u.max_concurrent_jobs, p.max_concurrent_jobs) as lim,
        (select count(*)::int from jobs a where a.user_id = u.id and a.status in ${ACTIVE}) as active,
        coalesce(u.monthly_quota_s, p.monthly_quota_s) as quota,
        coalesce((select us.seconds from usage us where us.user_id = u.id and us.month = ${month}), 0) as used
      from users u join plans p on p.id = u.plan_id
      where u.id in ${sql.raw(`(${ids.map((i) => `'${i}'`).join(',')})`)}`);
    const plan = planClaims(
      counts.map((c) => ({
        userId: c.id,
        limit: Number(c.lim),
        active: Number(c.active),
        quota: c.quota == null ? null : Number(c.quota),
        used: Number(c.used),
      })),
      perUser,
    );
    if (plan.length === 0) return [];
    // 3. Oldest queued jobs within each user's free slots, locked, with what each would hold
    //    (its plan's cpus and memory caps) and where it may go (its class's nodeSelector).
    const picked = (await tx.execute(sql`
      with want(user_id, n, ord) as (
        select * from unnest(${sql.raw(`array[${plan.map((p) => `'${p.userId}'`).join(',')}]::uuid[]`)},
                             ${sql.raw(`array[${plan.map((p) => p.take).join(',')}]::int[]`)},
                             ${sql.raw(`array[${plan.map((_, i) => i).join(',') || '0'}]::int[]`)})
      )
      select q.id, q.class_name, pl.cpus::float8 as cpus, pl.memory_mb as memory_mb, c.node_selector
      from want w
      cross join lateral (
        select j.id, j.class_name, j.queued_at from jobs j
        where j.user_id = w.user_id and j.status = 'queued'
        order by j.queued_at, j.id
        limit w.n
        for update skip locked
      ) q
      join users u on u.id = w.user_id
      join plans pl on pl.id = u.plan_id
      left join job_classes c on c.name = q.class_name
      order by w.ord, q.queued_at, q.id`)) as unknown as PickedJob[];
    if (picked.length === 0) return [];
    // 4. Placement: which of them this node takes now (room, labels, and no emptier node with room).
    const chosen = await placeOnThisNode(tx, o, picked);
    if (chosen.length === 0) return [];
    const claimed = (await tx.execute(sql`
      with chosen(id, cpus, memory_mb) as (
        select * from unnest(${sql.raw(`array[${chosen.map((c) => `'${c.id}'`).join(',')}]::uuid[]`)},
                             ${sql.raw(`array[${chosen.map((c) => Number(c.cpus)).join(',')}]::real[]`)},
                             ${sql.raw(`array[${chosen.map((c) => Math.round(Number(c.memory_mb))).join(',')}]::int[]`)})
      )
      update jobs set status = 'starting', claimed_at = ${nowIso}, claim_id = gen_random_uuid(), claim_seen_at = ${nowIso}, claim_owner = ${o.owner ?? null},
        node = ${o.node}, cpus = chosen.cpus, memory_mb = chosen.memory_mb, wait_reason = null, wait_code = null, updated_at = ${nowIso}
      from chosen where jobs.id = chosen.id and jobs.status = 'queued'
      returning jobs.id`)) as unknown as { id: string }[];
    if (claimed.length === 0) return [];
    const rows = await tx.select().from(jobs).where(inArray(jobs.id, claimed.map((c) => c.id)));
    const served = [...new Set(rows.map((r) => r.userId))];
    await tx.update(users).set({ lastServedAt: o.now }).where(inArray(users.id, served));
    await audit(
      tx,
      ...rows.map((r) => ({
        actor: 'dispatcher',
        action: 'job.claim',
        targetType: 'job' as const,
        targetId: r.id,
        at: o.now,
        details: { node: o.node, attempt: r.attempt, claimId: r.claimId },
      })),
    );
    return rows;
  });
}

interface PickedJob {
  id: string;
  class_name: string | null;
  cpus: number;
  memory_mb: number;
  node_selector: Record<string, string> | null;
}

/**
 * Step 4 of a claim: of the picked jobs (in fair order), the ones this node takes now
 * (domain/placement.ts placeForNode). This node's row is locked first (FOR UPDATE), so a drain
 * committed before it is seen and none commits during the claim, and this worker's own claims
 * never interleave; the other nodes' allocation is read as committed (a claim racing on another
 * node can tie with this one: the spread stays within a job per node). A draining node takes
 * nothing. With no row for this node (a bare test context, or before its first heartbeat) there
 * is nothing to weigh: it takes all. When it leaves jobs to an emptier node, it wakes the other
 * dispatchers (NOTIFY on commit) so they need not wait for their tick.
 */
async function placeOnThisNode(tx: DbOrTx, o: ClaimOptions, picked: PickedJob[]): Promise<PickedJob[]> {
  const [own] = await tx.execute<{ state: string }>(sql`select state from nodes where id = ${o.node} for update`);
  if (!own) return picked;
  if (own.state !== 'active') return [];
  const nodes = (await nodesWithAllocation(tx)).map((n) => toPlacementNode(n, o.now));
  const p = placeForNode(
    o.node,
    nodes,
    picked.map((j) => ({ cpus: Number(j.cpus), memoryMb: Number(j.memory_mb), selector: j.node_selector, className: j.class_name })),
  );
  if (p.deferred > 0 && p.take.length > 0) await notifyDispatch(tx);
  return p.take.map((i) => picked[i]!);
}

/** Marks queued jobs of users over their monthly quota with a reason the UI shows. */
export async function markQuotaWaits(db: Db, now: Date): Promise<number> {
  const month = monthKey(now);
  const r = await db.execute(sql`
    update jobs j set wait_code = 'quota', wait_reason = 'Waiting: monthly quota of ' || x.quota || 's used (' || x.used || 's this month)', updated_at = ${now.toISOString()}
    from (
      select u.id, coalesce(u.monthly_quota_s, p.monthly_quota_s) as quota,
             coalesce((select us.seconds from usage us where us.user_id = u.id and us.month = ${month}), 0) as used
      from users u join plans p on p.id = u.plan_id
      where coalesce(u.monthly_quota_s, p.monthly_quota_s) is not null
        and exists (select 1 from jobs q where q.user_id = u.id and q.status = 'queued')
    ) x
    where j.user_id = x.id and j.status = 'queued' and x.used >= x.quota
      and j.wait_reason is distinct from 'Waiting: monthly quota of ' || x.quota || 's used (' || x.used || 's this month)'`);
  return r.count ?? 0;
}

export const ENGINE_WAIT = waits.engineDown().waitReason;

/**
 * "Docker engine unreachable" is the fleet's state, not one worker's: a worker whose engine does
 * not answer marks the queued jobs only when no other node takes work (placement's takesWork:
 * active, its engine answering at its last heartbeat, heartbeat within NODE_TAKES_WORK_MS); a worker whose engine
 * answers clears the marks. Before, one worker's failed ping marked every queued job and the next
 * worker's good ping cleared them all: at 20 workers, up to 9,358 rows rewritten a flip.
 */
async function markEngineWait(db: Db, now: Date, down: boolean, node: string): Promise<void> {
  const nowIso = now.toISOString();
  if (down) {
    // The same "takes work" placement weighs (toPlacementNode), read from the node rows alone.
    if ((await nodeCapacities(db, now)).some((n) => n.id !== node && n.takesWork)) return;
    await db.execute(sql`update jobs set wait_reason = ${ENGINE_WAIT}, wait_code = 'engine_down', updated_at = ${nowIso}
      where status = 'queued' and wait_reason is null`);
  } else {
    await db.execute(sql`update jobs set wait_reason = null, wait_code = null, updated_at = ${nowIso}
      where status = 'queued' and wait_code = 'engine_down'`);
  }
}

const NODE_WAITS = sql.raw(`('no_capacity', 'no_matching_node')`);

/**
 * Marks queued jobs that no node can take now (placement.ts capacityWait): `no_capacity` naming
 * the smallest gap, `no_matching_node` naming the class's nodeSelector; clears those marks where a
 * node has room again. One pass per kind of job (plan caps × class), not per job. Other stored
 * waits (quota, engine, pulls) are left alone. With no live node known, nothing is marked.
 */
export async function markCapacityWaits(db: Db, now: Date): Promise<number> {
  const groups = await db.execute<{ cpus: number; memory_mb: number; class_name: string | null; node_selector: Record<string, string> | null; marked: boolean }>(sql`
    select pl.cpus::float8 as cpus, pl.memory_mb, j.class_name, c.node_selector, bool_or(j.wait_code in ${NODE_WAITS}) as marked
    from jobs j join users u on u.id = j.user_id join plans pl on pl.id = u.plan_id
    left join job_classes c on c.name = j.class_name
    where j.status = 'queued'
    group by pl.cpus, pl.memory_mb, j.class_name, c.node_selector`);
  if (groups.length === 0) return 0;
  const nodes = await placementNodes(db, now);
  let changed = 0;
  const nowIso = now.toISOString();
  for (const g of groups) {
    const w = capacityWait({ cpus: Number(g.cpus), memoryMb: Number(g.memory_mb), selector: g.node_selector, className: g.class_name }, nodes);
    if (!w && !g.marked) continue;
    const match = sql`j.status = 'queued' and j.user_id = u.id and pl.id = u.plan_id and pl.cpus = ${Number(g.cpus)}::real and pl.memory_mb = ${Number(g.memory_mb)}
      and j.class_name is not distinct from ${g.class_name}`;
    const r = w
      ? await db.execute(sql`update jobs j set wait_code = ${w.waitCode}, wait_reason = ${w.waitReason}, updated_at = ${nowIso}
          from users u, plans pl where ${match} and (j.wait_code is null or j.wait_code in ${NODE_WAITS}) and j.wait_reason is distinct from ${w.waitReason}`)
      : await db.execute(sql`update jobs j set wait_code = null, wait_reason = null, updated_at = ${nowIso}
          from users u, plans pl where ${match} and j.wait_code in ${NODE_WAITS}`);
    changed += r.count ?? 0;
  }
  return changed;
}

/**
 * The waits a dispatch pass keeps current: "engine unreachable" while no node can take work, quota
 * waits, and nodes without room. Each is a pass over every queued job, so the worker's loop runs
 * it behind waitMarksDue (once a second for the whole fleet); dispatchOnce runs it every time.
 */
export async function markDispatchWaits(db: Db, now: Date, engineDown: boolean, node: string): Promise<void> {
  await markEngineWait(db, now, engineDown, node);
  if (!engineDown) {
    await markQuotaWaits(db, now);
    await markCapacityWaits(db, now);
  }
}

/**
 * True for at most one caller per `everyMs` across every worker sharing the database: the caller
 * that moved wait_marks' one row forward, timed by the database's clock (so hosts with skewed
 * clocks agree). A worker that gets false leaves the refresh to the one that got true; with the
 * backstop tick (WARDEN_DISPATCH_TICK_S, 1 s) some worker refreshes the marks about once a second.
 */
export async function waitMarksDue(db: Db, everyMs = 1000): Promise<boolean> {
  // An UPDATE whose WHERE fails takes no row lock, so the many callers that lose cost an index
  // lookup each; ON CONFLICT DO UPDATE would lock the row for every one of them. The INSERT
  // covers a missing row (the migration adds none; a test may delete it).
  const r = await db.execute(sql`
    with moved as (
      update wait_marks set marked_at = clock_timestamp()
      where id = 1 and marked_at <= clock_timestamp() - ${everyMs} * interval '1 millisecond'
      returning id
    ), added as (
      insert into wait_marks (id, marked_at) select 1, clock_timestamp()
      where not exists (select 1 from wait_marks) on conflict (id) do nothing
      returning id
    )
    select id from moved union all select id from added`);
  return r.length > 0;
}

export interface DispatchResult {
  claimed: number;
  started: number;
  failed: number;
  requeued: number;
  /** Claimed jobs whose image is being pulled in the background (they start when it is done). */
  pulling: number;
  engineDown: boolean;
}

export interface DispatchOptions {
  /** This process's instance id, recorded on its claims (see worker/instance.ts). */
  owner?: string | null;
  maxUsers?: number;
  perUser?: number;
  /** Starts of one round run at most this many at a time. */
  startConcurrency?: number;
  /** Defaults from the settings: WARDEN_PULL_TIMEOUT_S. */
  start?: Partial<StartOptions>;
}

/** Start options from the settings (WARDEN_PULL_TIMEOUT_S), overridden by `given`. */
export function startOptions(given: Partial<StartOptions> = {}): StartOptions {
  const cfg = config();
  return { pullTimeoutMs: cfg.WARDEN_PULL_TIMEOUT_S * 1000, ...given };
}

/**
 * Starts one claimed job and counts its outcome (and a background start's when it ends, which
 * also goes to `onBackground`). Never throws: 'error' when the start did, and the job is left
 * `starting` for its lease to lapse and reconcile() to adopt its container or requeue it.
 */
export async function startCounted(ctx: Ctx, docker: DockerRuntime, job: Job, so: StartOptions, onBackground: (r: StartOutcome) => void = () => {}): Promise<StartOutcome | 'error'> {
  try {
    const r = await startJob(ctx, docker, job, so, (bg) => {
      void bg.then((x) => {
        metrics().dispatcherStarts.inc({ outcome: x });
        onBackground(x);
      });
    });
    metrics().dispatcherStarts.inc({ outcome: r });
    return r;
  } catch (e) {
    log.error({ err: String(e), job: job.id }, 'start failed');
    return 'error';
  }
}

/**
 * One dispatcher round: claim, then start the claimed jobs (bounded concurrency). A start whose
 * image must be pulled returns at once (`pulling`) and continues in the background, so a slow or
 * hung registry never holds up this tick or anyone else's start. Split as claim round + starts so
 * a caller can run several rounds per wake-up.
 */
export async function dispatchOnce(ctx: Ctx, opts: DispatchOptions = {}): Promise<DispatchResult> {
  const res: DispatchResult = { claimed: 0, started: 0, failed: 0, requeued: 0, pulling: 0, engineDown: false };
  const now = ctx.clock.now();
  const docker = ctx.docker;
  res.engineDown = !docker || !(await docker.ping());
  await markDispatchWaits(ctx.db, now, res.engineDown, ctx.node);
  if (!docker || res.engineDown) return res;
  const claimed = await claimJobs(ctx.db, { now, node: ctx.node, owner: opts.owner, maxUsers: opts.maxUsers, perUser: opts.perUser });
  res.claimed = claimed.length;
  if (claimed.length) metrics().dispatcherClaims.inc(claimed.length);
  await startClaimed(ctx, docker, claimed, res, opts);
  return res;
}

/** Starts claimed jobs, at most `startConcurrency` at once; tallies outcomes into res. */
export async function startClaimed(ctx: Ctx, docker: DockerRuntime, claimed: Job[], res: DispatchResult, opts: DispatchOptions = {}): Promise<void> {
  const so = startOptions(opts.start);
  const limit = opts.startConcurrency ?? 8;
  let i = 0;
  const workers = Array.from({ length: Math.min(limit, claimed.length) }, async () => {
    while (i < claimed.length) {
      const r = await startCounted(ctx, docker, claimed[i++]!, so);
      if (r === 'running') res.started++;
      else if (r === 'failed') res.failed++;
      else if (r === 'requeued') res.requeued++;
      else if (r === 'pulling') res.pulling++;
    }
  });
  await Promise.all(workers);
}
