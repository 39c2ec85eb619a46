import { eq, sql } from 'drizzle-orm';
import type { DbOrTx } from '../db/client';
import { jobs, type Job } from '../db/schema';

/**
 * Bookkeeping for Docker side effects (signals, removals) and the one backoff curve they retry
 * on: 1 s, 2 s, 4 s … capped at 60 s, so an engine that is down for an hour costs one attempt a
 * minute per job instead of one a second.
 */
export const BACKOFF_BASE_MS = 1_000;
export const BACKOFF_MAX_MS = 60_000;

/** An exponential curve: base × 2^(failures − 1), capped, optionally jittered by ±jitter. */
export interface BackoffCurve {
  baseMs: number;
  maxMs: number;
  /** Fraction of the delay to spread randomly either way (0.2: ±20 %). */
  jitter?: number;
}

/** Docker side effects (above). */
export const SIDE_EFFECT_BACKOFF: BackoffCurve = { baseMs: BACKOFF_BASE_MS, maxMs: BACKOFF_MAX_MS };

/**
 * Webhook deliveries: 5 s, 10 s, 20 s … capped at 1 h, ±20 % jitter so that the retries of many
 * deliveries to a receiver that was down do not all land on it in the same second when it
 * returns. About 30 attempts in the 24 h retry window (domain/outbox.ts WEBHOOK_RETRY_WINDOW_MS).
 */
export const WEBHOOK_BACKOFF: BackoffCurve = { baseMs: 5_000, maxMs: 3_600_000, jitter: 0.2 };

/**
 * Image pulls that may pass (the registry refused the connection, its name did not resolve, it
 * answered an HTTP error or nothing): PULL_TRIES tries, 10 s then 20 s apart (±20 %), so a job
 * whose registry stays away fails within about a minute (two waits of at most 36 s in all, plus
 * the tries), and the job holds its claim meanwhile — one audit row per try, never a requeue loop.
 */
export const PULL_BACKOFF: BackoffCurve = { baseMs: 10_000, maxMs: 20_000, jitter: 0.2 };
export const PULL_TRIES = 3;

/** Delay before the next attempt after `failures` consecutive failures (≥ 1) on `curve`; `random` in [0, 1). */
export function backoffFor(curve: BackoffCurve, failures: number, random: () => number = Math.random): number {
  const d = Math.min(curve.maxMs, curve.baseMs * 2 ** Math.max(0, failures - 1));
  if (!curve.jitter) return d;
  return Math.round(d * (1 - curve.jitter + 2 * curve.jitter * random()));
}

/** Delay before the next Docker side-effect attempt after `failures` consecutive failures (≥ 1). */
export function backoffMs(failures: number): number {
  return backoffFor(SIDE_EFFECT_BACKOFF, failures);
}

/**
 * Records a failed side effect on the job (inside the caller's transaction): bumps the failure
 * count and pushes next_attempt_at out by backoffMs(failures + 1), computed from the row so
 * concurrent failures stay consistent; `undo` un-claims the step so a later tick retries it.
 */
export async function noteSideEffectFailure(tx: DbOrTx, jobId: string, at: Date, undo: Partial<Job> = {}): Promise<void> {
  await tx
    .update(jobs)
    .set({
      ...undo,
      sideEffectFailures: sql`${jobs.sideEffectFailures} + 1`,
      nextAttemptAt: sql`${at.toISOString()}::timestamptz + least(${BACKOFF_MAX_MS}, ${BACKOFF_BASE_MS} * power(2, ${jobs.sideEffectFailures}))::int * interval '1 millisecond'`,
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

/** What a batch of side effects did: counts by kind (sweeper runs and metrics report these). */
export interface Tally {
  acted: number;
  errors: number;
  byKind: Record<string, number>;
}

export function emptyTally(): Tally {
  return { acted: 0, errors: 0, byKind: {} };
}

export function countAct(t: Tally, kind: string, n = 1): void {
  t.acted += n;
  t.byKind[kind] = (t.byKind[kind] ?? 0) + n;
}

/** An error as one bounded line for audit rows and run records. */
export function errMessage(e: unknown): string {
  return String((e as Error)?.message ?? e).slice(0, 1000);
}
