import type { Ctx } from '../context';
import { NODE_STALE_MS } from '../domain/nodes';
import type { Tally } from '../domain/side-effects';
import { DOCKER_CALL_TIMEOUT_MS } from '../docker/timeboxed';
import type { Runtime } from '../runtime/types';

/** Shared types and helpers of the three sweepers (timeout.ts, ttl.ts, orphans.ts). */

/** One line of a plan as reported in sweeper_runs.details and a tick's result. */
export interface PlannedAction {
  kind: string;
  jobId?: string;
  containerId?: string;
  detail?: string;
}

/** Settings a tick reads; defaults come from the environment (server/config.ts). */
export interface SweepSettings {
  /** Rows a timeout or TTL tick takes at most: bounds the tick (and its Docker calls). */
  batchSize: number;
  orphanGraceS: number;
  historyDays: number;
  /** A node whose heartbeat is older than this has its live jobs declared lost by another node. */
  nodeStaleMs: number;
  /** Parallel Docker side effects within one tick. */
  concurrency: number;
  /** Deadline of each Docker call a tick makes (see docker/timeboxed.ts). */
  dockerTimeoutMs: number;
}

export const DEFAULT_SETTINGS: SweepSettings = {
  batchSize: 200,
  orphanGraceS: 300,
  historyDays: 30,
  nodeStaleMs: NODE_STALE_MS,
  concurrency: 16,
  dockerTimeoutMs: DOCKER_CALL_TIMEOUT_MS,
};

/** What apply() gets: the context, a live Docker runtime (null: Docker-free parts only) and who acts. */
export interface ApplyDeps {
  ctx: Ctx;
  docker: Runtime | null;
  actor: string;
  settings: SweepSettings;
}

/** What apply() did: the domain's side-effect tally. */
export type ApplyResult = Tally;

/** Runs fn over items with at most `limit` in flight; never rejects (fn handles its own errors). */
export async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let i = 0;
  const workers = Array.from({ length: Math.min(Math.max(1, limit), items.length) }, async () => {
    while (i < items.length) {
      const item = items[i++]!;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/** Groups actions by a key, keeping the plan's order inside each group. */
export function groupBy<T>(items: T[], key: (t: T) => string): T[][] {
  const m = new Map<string, T[]>();
  for (const it of items) {
    const k = key(it);
    const g = m.get(k);
    if (g) g.push(it);
    else m.set(k, [it]);
  }
  return [...m.values()];
}
