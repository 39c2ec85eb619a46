import type { JobStatus } from '../db/schema';
import { echoInput } from './echo';

/**
 * The job-status vocabulary, said once. The full list is the database enum (db/schema.ts
 * JOB_STATUSES); every subset that code branches on is named here, and everything else imports
 * these names. No runtime imports: client components use this module too.
 *
 * Partial-index predicates in db/schema.ts spell RUNNING and ACTIVE out literally (the migration
 * is their truth, and the planner matches a query's predicate to an index's by text); queries that
 * must use those indexes build the same text with sqlList().
 */

/** A job in one of these will not change state again. */
export const FINAL_STATUSES = ['succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled'] as const satisfies readonly JobStatus[];
export type FinalStatus = (typeof FINAL_STATUSES)[number];

/** Not final: queued or holding a slot. */
export const LIVE_STATUSES = ['queued', 'starting', 'running', 'terminating'] as const satisfies readonly JobStatus[];
export type LiveStatus = (typeof LIVE_STATUSES)[number];

/** Hold one of the user's concurrency slots (the design: running + starting + terminating). */
export const ACTIVE_STATUSES = ['starting', 'running', 'terminating'] as const satisfies readonly JobStatus[];
export type ActiveStatus = (typeof ACTIVE_STATUSES)[number];

/** A container runs (or should) and Warden enforces its deadline: the timeout sweeper's set. */
export const RUNNING_STATUSES = ['running', 'terminating'] as const satisfies readonly JobStatus[];
export type RunningStatus = (typeof RUNNING_STATUSES)[number];

/** Every status, in lifecycle order (the database enum's order; checked in test/status.test.ts). */
export const ALL_STATUSES = [...LIVE_STATUSES, ...FINAL_STATUSES] as const;

/** What a user is told for a status name that does not exist (echoed short), and the valid ones, in order. */
export const unknownStatusMessage = (s: string): string => `unknown status ${echoInput(s)}: use ${ALL_STATUSES.join(', ')}`;

export const isFinal = (s: string): s is FinalStatus => (FINAL_STATUSES as readonly string[]).includes(s);
export const isLive = (s: string): s is LiveStatus => (LIVE_STATUSES as readonly string[]).includes(s);
export const isActive = (s: string): s is ActiveStatus => (ACTIVE_STATUSES as readonly string[]).includes(s);

/**
 * A status list as SQL text, `('a', 'b')`, for `status in …` in raw statements
 * (use with drizzle's sql.raw; the values are this module's constants, never input).
 */
export function sqlList(statuses: readonly JobStatus[]): string {
  return `(${statuses.map((s) => `'${s}'`).join(', ')})`;
}
