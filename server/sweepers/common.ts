import { eq, sql } from 'drizzle-orm';
import type { Ctx } from '../context';
import type { DbOrTx } from '../db/client';
import { jobs, type Job } from '../db/schema';
import type { DockerRuntime } from '../docker/types';

/** Shared types and helpers of the three sweepers (timeout.ts, ttl.ts, orphans.ts). */

export type SweeperName = 'timeout' | 'ttl' | 'orphans';
export const SWEEPER_NAMES: SweeperName[] = ['timeout', 'ttl', 'orphans'];

export const SWEEPER_ACTOR = {
  timeout: 'sweeper:timeout',
  ttl: 'sweeper:ttl',
  orphans: 'sweeper:orphan',
} as const satisfies Record<SweeperName, string>;

/** One line of a plan as reported in sweeper_runs.details and SweepResult.planned. */
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
  /** Deadline of each Docker call a tick makes (see timeboxed()). */
  dockerTimeoutMs: number;
}

export const DEFAULT_SETTINGS: SweepSettings = {
  batchSize: 200,
  orphanGraceS: 300,
  historyDays: 30,
  // Heartbeats are every 5 s; 60 s (12 missed beats) rides out a GC pause or a slow database.
  nodeStaleMs: 60_000,
  concurrency: 16,
  dockerTimeoutMs: 30_000,
};

/** What apply() gets: the context, a live Docker runtime (null: Docker-free parts only) and who acts. */
export interface ApplyDeps {
  ctx: Ctx;
  docker: DockerRuntime | null;
  actor: string;
  settings: SweepSettings;
}

export interface ApplyResult {
  acted: number;
  errors: number;
  /** Acted, by action kind (metrics). */
  byKind: Record<string, number>;
}

export function emptyResult(): ApplyResult {
  return { acted: 0, errors: 0, byKind: {} };
}

export function countAct(r: ApplyResult, kind: string, n = 1): void {
  r.acted += n;
  r.byKind[kind] = (r.byKind[kind] ?? 0) + n;
}

/**
 * Backoff for a failed Docker side effect: 1 s, 2 s, 4 s … capped at 60 s, so an engine that is
 * down for an hour costs one attempt a minute per job instead of one a second.
 */
export function backoffMs(failures: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, failures - 1));
}

/**
 * Records a failed side effect on the job (inside the caller's transaction): bumps the failure
 * count and pushes next_attempt_at out; `undo` un-claims the step so the next tick retries it.
 */
export async function noteSideEffectFailure(tx: DbOrTx, jobId: string, at: Date, undo: Partial<Job> = {}): Promise<void> {
  await tx
    .update(jobs)
    .set({
      ...undo,
      sideEffectFailures: sql`${jobs.sideEffectFailures} + 1`,
      // Same curve as backoffMs(), computed from the row so concurrent failures stay consistent.
      nextAttemptAt: sql`${at.toISOString()}::timestamptz + least(60, power(2, ${jobs.sideEffectFailures}))::int * interval '1 second'`,
      updatedAt: at,
    })
    .where(eq(jobs.id, jobId));
}

export async function clearSideEffectFailures(tx: DbOrTx, jobId: string): Promise<void> {
  await tx
    .update(jobs)
    .set({ sideEffectFailures: 0, nextAttemptAt: null })
    .where(sql`${jobs.id} = ${jobId} and ${jobs.sideEffectFailures} > 0`);
}

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

export function errMessage(e: unknown): string {
  return String((e as Error)?.message ?? e).slice(0, 1000);
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const FINAL = ['succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled'] as const;
export const isFinal = (s: string) => (FINAL as readonly string[]).includes(s);

/**
 * Docker calls made by sweepers get a deadline: dockerode has none, and a wedged engine would
 * otherwise hang a tick (and the advisory lock it holds) for good. A call that times out counts
 * as a failed side effect (audited, retried with backoff); the request itself may still finish
 * in the background, which every call here tolerates (kill/remove are idempotent).
 */
export const DOCKER_CALL_TIMEOUT_MS = 30_000;

export function timeboxed(docker: DockerRuntime, ms = DOCKER_CALL_TIMEOUT_MS): DockerRuntime {
  const box =
    <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>) =>
    (...a: A): Promise<R> =>
      new Promise<R>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`Docker ${name} did not answer within ${ms / 1000} s`)), ms);
        t.unref?.();
        fn(...a).then(
          (v) => {
            clearTimeout(t);
            resolve(v);
          },
          (e: unknown) => {
            clearTimeout(t);
            reject(e);
          },
        );
      });
  return {
    ping: () => docker.ping(),
    lastError: () => docker.lastError(),
    ensureImage: box('image check', (i: string) => docker.ensureImage(i)),
    run: (spec) => docker.run(spec),
    inspect: box('inspect', (id: string) => docker.inspect(id)),
    kill: box('kill', (id: string, sig: 'SIGTERM' | 'SIGKILL') => docker.kill(id, sig)),
    remove: box('remove', (id: string) => docker.remove(id)),
    removeVolumesByLabel: box('volume removal', (l: string, v: string) => docker.removeVolumesByLabel(l, v)),
    list: box('list', (labels: Record<string, string>) => docker.list(labels)),
    logsTail: box('logs', (id: string, max?: number) => docker.logsTail(id, max)),
    events: (onEvent, onReconnect) => docker.events(onEvent, onReconnect),
  };
}
