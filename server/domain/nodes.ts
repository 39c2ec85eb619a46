import { createHash } from 'node:crypto';
import os from 'node:os';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { jobs, nodes, type NodeRow } from '../db/schema';
import type { ClusterNode, Runtime, RuntimeKind } from '../runtime/types';
import { type Actor, actorLabel, requireRole } from './actor';
import { audit } from './audit';
import { AppError, notFound, parseInput } from './errors';
import type { PlacementNode } from './placement';
import { ACTIVE_STATUSES, RUNNING_STATUSES, sqlList } from './status';

/**
 * Worker nodes and their heartbeats. A node is stale — its live jobs are declared lost by another
 * node, and the dashboard and /api/health say so — once its heartbeat is older than NODE_STALE_MS.
 * Heartbeats go out every HEARTBEAT_EVERY_MS; 60 s is 12 missed beats, which rides out a GC pause
 * or a slow database without declaring a healthy node dead.
 */
export const HEARTBEAT_EVERY_MS = 5_000;
export const NODE_STALE_MS = 60_000;

export function isStale(heartbeatAt: Date, now: Date): boolean {
  return now.getTime() - heartbeatAt.getTime() > NODE_STALE_MS;
}

/**
 * A node that would claim now: its heartbeat is at most this old. Tighter than NODE_STALE_MS so a
 * worker that died is no longer weighed as "the emptiest node" (placement.ts) after 3 missed beats,
 * long before its jobs are declared lost.
 */
export const NODE_TAKES_WORK_MS = 3 * HEARTBEAT_EVERY_MS;

/** What a worker records about its node: capacity (WARDEN_NODE_*), labels and a name for people. */
export interface NodeFacts {
  name: string;
  cpus: number | null;
  memoryMb: number | null;
  maxJobs: number | null;
  labels: Record<string, string>;
}

/**
 * This node's capacity from the settings and the engine (`docker info` NCPU, MemTotal): CPUs
 * default to the engine's count times WARDEN_NODE_CPU_OVERCOMMIT, memory to the engine's total
 * less 10% (for the engine, the OS and the worker itself); jobs unlimited unless set.
 */
export function nodeFacts(
  cfg: { WARDEN_NODE_MAX_JOBS?: number; WARDEN_NODE_CPUS?: number; WARDEN_NODE_CPU_OVERCOMMIT: number; WARDEN_NODE_MEMORY_MB?: number; WARDEN_NODE_LABELS: Record<string, string> },
  engine: { id: string; cpus: number; memoryBytes: number; name?: string | null },
  host = os.hostname(),
): NodeFacts {
  const cpus = (cfg.WARDEN_NODE_CPUS ?? engine.cpus) * cfg.WARDEN_NODE_CPU_OVERCOMMIT;
  const memoryMb = cfg.WARDEN_NODE_MEMORY_MB ?? Math.floor((engine.memoryBytes / 1024 / 1024) * 0.9);
  return {
    name: `${host} ${engine.id.replace(/[^A-Za-z0-9]/g, '').slice(0, 6).toLowerCase()}`,
    cpus: Math.round(cpus * 100) / 100,
    memoryMb,
    maxJobs: cfg.WARDEN_NODE_MAX_JOBS ?? null,
    labels: cfg.WARDEN_NODE_LABELS,
  };
}

/**
 * Records this node's heartbeat and its engine's state (and, when given, its capacity, labels and
 * name: the worker passes them at every beat, so a restart with new settings shows at once). The
 * drain state is never written here: an operator's drain survives worker restarts.
 */
export async function writeHeartbeat(db: DbOrTx, o: { node: string; at: Date; dockerOk: boolean; dockerError: string | null; facts?: NodeFacts }): Promise<void> {
  const facts = o.facts ? { name: o.facts.name, cpus: o.facts.cpus, memoryMb: o.facts.memoryMb, maxJobs: o.facts.maxJobs, labels: o.facts.labels } : {};
  await db
    .insert(nodes)
    .values({ id: o.node, heartbeatAt: o.at, startedAt: o.at, dockerOk: o.dockerOk, dockerError: o.dockerError, version: process.env.npm_package_version ?? null, ...facts })
    .onConflictDoUpdate({ target: nodes.id, set: { heartbeatAt: o.at, dockerOk: o.dockerOk, dockerError: o.dockerError, ...facts } });
}

const ACTIVE = sql.raw(sqlList(ACTIVE_STATUSES));
const RUNNING = sql.raw(sqlList(RUNNING_STATUSES));

export type NodeState = 'active' | 'draining' | 'drained' | 'down';

export interface NodeWithAllocation {
  row: NodeRow;
  allocated: { cpus: number; memoryMb: number; jobs: number };
  /** Jobs running (running or terminating) on it now. */
  running: number;
}

/** Node references for people: each id with its node's name (host name plus short engine id), null when no row has it. */
export async function nodeRefs(db: DbOrTx, ids: readonly (string | null)[]): Promise<(id: string | null) => { id: string; name: string | null } | null> {
  const want = [...new Set(ids.filter((i): i is string => !!i))];
  const rows = want.length ? await db.select({ id: nodes.id, name: nodes.name }).from(nodes).where(inArray(nodes.id, want)) : [];
  const names = new Map(rows.map((r) => [r.id, r.name]));
  return (id) => (id ? { id, name: names.get(id) ?? null } : null);
}

/** Every node row with the sum of its active jobs (one statement; a handful of nodes). */
export async function nodesWithAllocation(db: DbOrTx): Promise<NodeWithAllocation[]> {
  const rows = await db.select().from(nodes).orderBy(nodes.id);
  if (rows.length === 0) return [];
  const alloc = await db.execute<{ node: string; cpus: number | null; mem: number | null; jobs: number; running: number }>(sql`
    select j.node, sum(j.cpus)::float8 as cpus, sum(j.memory_mb)::float8 as mem, count(*)::int as jobs,
      count(*) filter (where j.status in ${RUNNING})::int as running
    from jobs j where j.status in ${ACTIVE} and j.node is not null group by j.node`);
  const by = new Map(alloc.map((a) => [a.node, a]));
  return rows.map((row) => {
    const a = by.get(row.id);
    return { row, allocated: { cpus: Number(a?.cpus ?? 0), memoryMb: Number(a?.mem ?? 0), jobs: Number(a?.jobs ?? 0) }, running: Number(a?.running ?? 0) };
  });
}

/** The state people see: draining turns drained once nothing is active on it; a stale heartbeat is down. */
export function nodeState(n: Pick<NodeRow, 'state' | 'heartbeatAt'>, activeJobs: number, now: Date): NodeState {
  if (isStale(n.heartbeatAt, now)) return 'down';
  if (n.state === 'draining') return activeJobs === 0 ? 'drained' : 'draining';
  return 'active';
}

/** A node row as placement.ts weighs it. */
export function toPlacementNode(n: NodeWithAllocation, now: Date): PlacementNode {
  const age = now.getTime() - n.row.heartbeatAt.getTime();
  return {
    id: n.row.id,
    name: n.row.name ?? n.row.id,
    capacity: { cpus: n.row.cpus, memoryMb: n.row.memoryMb, maxJobs: n.row.maxJobs },
    allocated: n.allocated,
    labels: n.row.labels ?? {},
    takesWork: n.row.state === 'active' && n.row.dockerOk && age <= NODE_TAKES_WORK_MS,
    live: !isStale(n.row.heartbeatAt, now),
  };
}

/** Nodes with capacity only (allocation zero): what the submit check weighs (one small read). */
export async function nodeCapacities(db: DbOrTx, now: Date): Promise<PlacementNode[]> {
  const rows = await db.select().from(nodes);
  return rows.map((row) => toPlacementNode({ row, allocated: { cpus: 0, memoryMb: 0, jobs: 0 }, running: 0 }, now));
}

/** Nodes for placement (waits, the claim). */
export async function placementNodes(db: DbOrTx, now: Date): Promise<PlacementNode[]> {
  return (await nodesWithAllocation(db)).map((n) => toPlacementNode(n, now));
}

export function nodeToJson(n: NodeWithAllocation, now: Date) {
  const r = n.row;
  return {
    id: r.id,
    name: r.name ?? r.id,
    state: nodeState(r, n.allocated.jobs, now),
    heartbeatAt: r.heartbeatAt.toISOString(),
    startedAt: r.startedAt.toISOString(),
    dockerOk: r.dockerOk,
    dockerError: r.dockerError,
    version: r.version,
    labels: r.labels ?? {},
    capacity: { cpus: r.cpus, memoryMb: r.memoryMb, maxJobs: r.maxJobs },
    allocated: n.allocated,
    running: n.running,
    drain:
      r.state === 'draining'
        ? { reason: r.drainReason ?? '', by: r.drainedBy ?? '', startedAt: r.drainStartedAt?.toISOString() ?? null, deadlineAt: r.drainDeadlineAt?.toISOString() ?? null }
        : null,
  };
}
export type NodeJson = ReturnType<typeof nodeToJson>;

/** GET /api/v1/nodes: every node, newest heartbeat first. Viewers and up. */
export async function listNodeDetails(ctx: Ctx, actor: Actor): Promise<NodeJson[]> {
  requireRole(actor, 'viewer');
  const now = ctx.clock.now();
  const all = await nodesWithAllocation(ctx.db);
  return all.sort((a, b) => b.row.heartbeatAt.getTime() - a.row.heartbeatAt.getTime() || a.row.id.localeCompare(b.row.id)).map((n) => nodeToJson(n, now));
}

/**
 * The cluster's own machines, when the runtime places work itself (Kubernetes: its scheduler),
 * read-only: name, ready, cordoned, allocatable cpus and memory, Warden's Pods on each. null on
 * Docker (each engine is a worker node, listed above). When the cluster does not answer, the
 * nodes are empty and `error` says why; nothing else changes.
 */
export interface ClusterJson {
  runtime: RuntimeKind;
  nodes: ClusterNode[];
  error: string | null;
}

export async function clusterNodes(ctx: Pick<Ctx, 'docker'>): Promise<ClusterJson | null> {
  const rt = ctx.docker;
  if (!rt?.clusterNodes) return null;
  try {
    const nodes = await rt.clusterNodes();
    return { runtime: rt.kind ?? 'kubernetes', nodes: nodes.sort((a, b) => a.name.localeCompare(b.name)), error: null };
  } catch (e) {
    return { runtime: rt.kind ?? 'kubernetes', nodes: [], error: (e instanceof Error ? e.message : String(e)).slice(0, 300) };
  }
}

/** GET /api/v1/nodes: Warden's worker nodes and, on Kubernetes, the cluster's. Viewers and up. */
export async function listNodesAndCluster(ctx: Ctx, actor: Actor): Promise<{ nodes: NodeJson[]; cluster: ClusterJson | null }> {
  const nodes = await listNodeDetails(ctx, actor);
  return { nodes, cluster: await clusterNodes(ctx) };
}

export const drainNodeSchema = z.strictObject({
  reason: z
    .string({ error: (i) => (i.input === undefined ? 'reason is required: say why the node is drained' : 'reason must be a string') })
    .trim()
    .min(1, 'reason is required: say why the node is drained')
    .max(500, 'reason must be at most 500 characters'),
  deadlineSeconds: z
    .number({ error: 'deadlineSeconds must be a whole number of seconds' })
    .int('deadlineSeconds must be a whole number of seconds')
    .min(0, 'deadlineSeconds must be 0 or more')
    .max(30 * 86400, 'deadlineSeconds must be at most 30 days')
    .optional(),
});
export const resumeNodeSchema = z.strictObject({
  reason: z.string({ error: 'reason must be a string' }).trim().max(500, 'reason must be at most 500 characters').optional(),
});

async function nodeDetail(ctx: Ctx, db: DbOrTx, id: string): Promise<NodeJson> {
  const n = (await nodesWithAllocation(db)).find((x) => x.row.id === id);
  if (!n) throw notFound('Node', id);
  return nodeToJson(n, ctx.clock.now());
}

/**
 * Drains a node: it takes no new work (its worker's claim checks the row under a lock, so no
 * claim commits after this does). Its running jobs run on to their own end; with a deadline, the
 * ones still running when it passes get the normal kill escalation (SIGTERM, grace, SIGKILL) from
 * the node's worker (enforceDrainDeadline). Draining a draining node replaces reason and
 * deadline. Operator role; audited with the reason.
 */
export async function drainNode(ctx: Ctx, actor: Actor, id: string, raw: unknown): Promise<NodeJson> {
  requireRole(actor, 'operator');
  const p = parseInput(drainNodeSchema, raw ?? {});
  const now = ctx.clock.now();
  const deadline = p.deadlineSeconds != null ? new Date(now.getTime() + p.deadlineSeconds * 1000) : null;
  return ctx.db.transaction(async (tx) => {
    const [cur] = await tx.select().from(nodes).where(eq(nodes.id, id)).for('update');
    if (!cur) throw notFound('Node', id);
    const who = actorLabel(actor);
    await tx
      .update(nodes)
      .set({ state: 'draining', drainReason: p.reason, drainedBy: who, drainStartedAt: cur.state === 'draining' ? cur.drainStartedAt : now, drainDeadlineAt: deadline })
      .where(eq(nodes.id, id));
    const [{ n } = { n: 0 }] = await tx.execute<{ n: number }>(sql`select count(*)::int as n from jobs where node = ${id} and status in ${ACTIVE}`);
    await audit(tx, { actor, action: 'node.drain', targetType: 'node', targetId: id, reason: p.reason, at: now, details: { deadlineSeconds: p.deadlineSeconds ?? null, activeJobs: Number(n), previousState: cur.state } });
    return nodeDetail(ctx, tx, id);
  });
}

/** Resumes a drained or draining node: it takes work again. Operator role; audited. */
export async function resumeNode(ctx: Ctx, actor: Actor, id: string, raw: unknown): Promise<NodeJson> {
  requireRole(actor, 'operator');
  const p = parseInput(resumeNodeSchema, raw ?? {});
  const now = ctx.clock.now();
  return ctx.db.transaction(async (tx) => {
    const [cur] = await tx.select().from(nodes).where(eq(nodes.id, id)).for('update');
    if (!cur) throw notFound('Node', id);
    if (cur.state !== 'draining') throw new AppError(409, 'not_draining', `Node ${cur.name ?? id} is not drained or draining: it takes work already`);
    await tx.update(nodes).set({ state: 'active', drainReason: null, drainedBy: null, drainStartedAt: null, drainDeadlineAt: null }).where(eq(nodes.id, id));
    await audit(tx, { actor, action: 'node.resume', targetType: 'node', targetId: id, reason: p.reason ?? null, at: now, details: { drainReason: cur.drainReason } });
    return nodeDetail(ctx, tx, id);
  });
}

/**
 * The drain deadline of this node: once it has passed, its jobs still starting or running get the
 * kill escalation (status terminating; the timeout sweeper sends SIGTERM, then SIGKILL after the
 * grace). Run by the node's own worker with its heartbeat (every 5 s). Returns the jobs killed.
 */
export async function enforceDrainDeadline(ctx: Ctx, kill: (ctx: Ctx, actor: Actor, id: string, body: { reason: string }) => Promise<unknown>): Promise<number> {
  const now = ctx.clock.now();
  const [n] = await ctx.db.select().from(nodes).where(eq(nodes.id, ctx.node));
  if (!n || n.state !== 'draining' || !n.drainDeadlineAt || n.drainDeadlineAt > now) return 0;
  const live = await ctx.db.select({ id: jobs.id }).from(jobs).where(and(eq(jobs.node, ctx.node), inArray(jobs.status, ['starting', 'running'])));
  let killed = 0;
  for (const j of live) {
    try {
      await kill(ctx, { kind: 'system', name: 'system' }, j.id, { reason: `node ${n.name ?? n.id} drained and its deadline passed (${n.drainReason ?? 'no reason given'})`.slice(0, 500) });
      killed++;
    } catch {
      /* ended meanwhile (409): nothing to do */
    }
  }
  return killed;
}
/** The most recently seen nodes with their staleness at `now` (a handful of rows). */
export async function listNodes(db: DbOrTx, now: Date, limit = 50) {
  const rows = await db.select().from(nodes).orderBy(desc(nodes.heartbeatAt)).limit(limit);
  return rows.map((n) => ({
    id: n.id,
    heartbeatAt: n.heartbeatAt.toISOString(),
    stale: isStale(n.heartbeatAt, now),
    dockerOk: n.dockerOk,
    dockerError: n.dockerError,
  }));
}

/**
 * This worker's node id: WARDEN_NODE_ID when set, else its Docker engine's own ID (`docker info`
 * → ID, kept by the engine across restarts). A node *is* its engine: a worker restarted, renamed
 * or moved to another host name but pointed at the same engine is the same node and finds its
 * containers; two engines never share an id. Waits (retrying every `retryMs`) while the engine
 * does not answer; `cancelled` stops the wait (returns null).
 */
export async function resolveNodeId(
  docker: Pick<Runtime, 'engineId'>,
  override: string | undefined,
  o: { retryMs?: number; cancelled?: () => boolean; onWait?: (err: string) => void } = {},
): Promise<string | null> {
  if (override) return override;
  for (let tries = 0; ; tries++) {
    if (o.cancelled?.()) return null;
    try {
      return nodeIdFromEngineId(await docker.engineId());
    } catch (e) {
      if (tries === 0) o.onWait?.(String((e as Error)?.message ?? e));
    }
    await new Promise((r) => setTimeout(r, o.retryMs ?? 2_000));
  }
}

/** An engine ID as a node id (Docker 20's "ABCD:EFGH:…" fits as is; anything else is made to). */
export function nodeIdFromEngineId(id: string): string {
  const s = id.trim().replace(/[^A-Za-z0-9_.:-]/g, '-');
  return s.length > 0 && s.length <= 63 ? s : `engine-${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
}
