import { createHash } from 'node:crypto';
import { desc } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { nodes } from '../db/schema';
import type { Runtime } from '../runtime/types';

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

/** Records this node's heartbeat and its engine's state. */
export async function writeHeartbeat(db: DbOrTx, o: { node: string; at: Date; dockerOk: boolean; dockerError: string | null }): Promise<void> {
  await db
    .insert(nodes)
    .values({ id: o.node, heartbeatAt: o.at, startedAt: o.at, dockerOk: o.dockerOk, dockerError: o.dockerError, version: process.env.npm_package_version ?? null })
    .onConflictDoUpdate({ target: nodes.id, set: { heartbeatAt: o.at, dockerOk: o.dockerOk, dockerError: o.dockerError } });
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
