import { desc } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { nodes } from '../db/schema';

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
