import type { JobClass, Plan, User } from '../db/schema';

/** Global default when neither the job, its class, the user nor the plan says anything. */
export const GLOBAL_DEFAULT_TIMEOUT_S = 300;

export type TimeoutSource = 'job' | 'class' | 'user' | 'plan' | 'global' | 'parent';
export type CapSource = 'class' | 'user' | 'plan';

/** The class fields that take part in a job's limits (NULL: fall through to the plan). */
export type ClassLimits = Pick<
  JobClass,
  'name' | 'defaultTimeoutS' | 'maxTimeoutS' | 'gracePeriodS' | 'warnBeforeS' | 'idleTimeoutS' | 'resultsPath' | 'ttlSucceededS' | 'ttlFailedS' | 'ttlTimedOutS' | 'ttlKilledS' | 'ttlLostS'
>;

export interface Limits {
  planName: string;
  className: string | null;
  defaultTimeoutS: number | null;
  defaultTimeoutFrom: 'class' | 'user' | 'plan';
  maxTimeoutS: number;
  maxTimeoutFrom: CapSource;
  maxConcurrentJobs: number;
  maxQueuedJobs: number;
  monthlyQuotaS: number | null;
  gracePeriodS: number;
  warnBeforeS: number;
  maxRetries: number;
  idleTimeoutS: number | null;
  resultsPath: string | null;
  maxResultsMb: number;
}

/** The timeout cap: the user override max, else the plan max, lowered (never raised) by the class's. */
export function timeoutCap(i: { classMax?: number | null; userMax?: number | null; planMax?: number | null }): { cap: number | null; from: CapSource } {
  const base = i.userMax ?? i.planMax ?? null;
  const baseFrom: CapSource = i.userMax != null ? 'user' : 'plan';
  if (i.classMax != null && (base == null || i.classMax < base)) return { cap: i.classMax, from: 'class' };
  return { cap: base, from: baseFrom };
}

/**
 * A user's limits for a job of class `cls` (or none): each user override, when set, replaces the
 * plan's value; a class's default timeout, grace, warning, idle timeout and results path replace
 * both, and its max timeout can only lower the cap.
 */
export function effectiveLimits(
  plan: Plan,
  user: Pick<User, 'defaultTimeoutS' | 'maxTimeoutS' | 'maxConcurrentJobs' | 'maxQueuedJobs' | 'monthlyQuotaS'>,
  cls: ClassLimits | null = null,
): Limits {
  const cap = timeoutCap({ classMax: cls?.maxTimeoutS, userMax: user.maxTimeoutS, planMax: plan.maxTimeoutS });
  return {
    planName: plan.name,
    className: cls?.name ?? null,
    defaultTimeoutS: cls?.defaultTimeoutS ?? user.defaultTimeoutS ?? plan.defaultTimeoutS,
    defaultTimeoutFrom: cls ? 'class' : user.defaultTimeoutS != null ? 'user' : 'plan',
    maxTimeoutS: cap.cap ?? plan.maxTimeoutS,
    maxTimeoutFrom: cap.from,
    maxConcurrentJobs: user.maxConcurrentJobs ?? plan.maxConcurrentJobs,
    maxQueuedJobs: user.maxQueuedJobs ?? plan.maxQueuedJobs,
    monthlyQuotaS: user.monthlyQuotaS ?? plan.monthlyQuotaS,
    gracePeriodS: cls?.gracePeriodS ?? plan.gracePeriodS,
    warnBeforeS: cls?.warnBeforeS ?? plan.warnBeforeS,
    maxRetries: plan.maxRetries,
    idleTimeoutS: cls?.idleTimeoutS ?? plan.idleTimeoutS ?? null,
    resultsPath: cls?.resultsPath ?? plan.resultsPath ?? null,
    maxResultsMb: plan.maxResultsMb,
  };
}

export interface TimeoutInput {
  requested?: number | null;
  /** The job class's default and cap (a class always has a default). */
  classDefault?: number | null;
  classMax?: number | null;
  className?: string | null;
  userDefault?: number | null;
  planDefault?: number | null;
  userMax?: number | null;
  planMax?: number | null;
  planName: string;
}

export type TimeoutDecision =
  | { ok: true; seconds: number; source: TimeoutSource; cap: number | null }
  | { ok: false; cap: number; capSource: CapSource; field: 'timeoutSeconds' | 'class'; message: string };

function capOwner(from: CapSource, i: Pick<TimeoutInput, 'planName' | 'className'>, you = true): string {
  if (from === 'class') return `class ${i.className ?? '?'}`;
  if (from === 'user') return you ? 'your per-user limit' : 'the per-user limit';
  return `plan ${i.planName}`;
}

/**
 * Effective timeout: most specific wins (job request → class default → user override default →
 * plan default → global 300 s), then the cap (user override max, else plan max, lowered by the
 * class's max) applies. A *request* above the cap is rejected with a message naming the cap,
 * never clamped; so is a class default above it (a class never lifts the plan's cap: the message
 * names both). An inherited user/plan default above the cap (a misconfigured plan) is held to it.
 */
export function effectiveTimeout(i: TimeoutInput): TimeoutDecision {
  const { cap, from: capSource } = timeoutCap(i);
  if (i.requested != null) {
    if (cap != null && i.requested > cap) {
      return {
        ok: false,
        cap,
        capSource,
        field: 'timeoutSeconds',
        message: `timeoutSeconds ${i.requested} exceeds the maximum of ${cap}s allowed by ${capOwner(capSource, i)}`,
      };
    }
    return { ok: true, seconds: i.requested, source: 'job', cap };
  }
  if (i.classDefault != null) {
    if (cap != null && i.classDefault > cap) {
      return {
        ok: false,
        cap,
        capSource,
        field: 'class',
        message: `class ${i.className ?? '?'} has a default timeout of ${i.classDefault}s, above the maximum of ${cap}s allowed by ${capOwner(capSource, i)}; pass a timeoutSeconds of at most ${cap}`,
      };
    }
    return { ok: true, seconds: i.classDefault, source: 'class', cap };
  }
  let seconds: number;
  let source: TimeoutSource;
  if (i.userDefault != null) {
    seconds = i.userDefault;
    source = 'user';
  } else if (i.planDefault != null) {
    seconds = i.planDefault;
    source = 'plan';
  } else {
    seconds = GLOBAL_DEFAULT_TIMEOUT_S;
    source = 'global';
  }
  if (cap != null && seconds > cap) seconds = cap;
  return { ok: true, seconds, source, cap };
}

/** Human description of where a timeout came from, for reasons like "Timeout: exceeded 300s (plan free)". */
export function describeTimeoutSource(source: string, planName: string, className?: string | null): string {
  switch (source) {
    case 'job':
      return 'job request';
    case 'class':
      return `class ${className ?? '?'}`;
    case 'user':
      return 'user override';
    case 'plan':
      return `plan ${planName}`;
    case 'parent':
      return 'parent deadline';
    default:
      return 'global default';
  }
}

type TtlFields = Pick<Plan, 'ttlSucceededS' | 'ttlFailedS' | 'ttlTimedOutS' | 'ttlKilledS' | 'ttlLostS'>;

function ttlOf(t: { [K in keyof TtlFields]: number | null }, status: string): number | null {
  switch (status) {
    case 'succeeded':
      return t.ttlSucceededS;
    case 'timed_out':
      return t.ttlTimedOutS;
    case 'killed':
      return t.ttlKilledS;
    case 'lost':
      return t.ttlLostS;
    default:
      return t.ttlFailedS;
  }
}

/**
 * TTL after a job ends: the job's own request, else its class's value for that final state, else
 * the plan's.
 */
export function ttlFor(plan: Plan, status: string, jobTtl: number | null, cls: Pick<ClassLimits, keyof TtlFields> | null = null): number {
  if (jobTtl != null) return jobTtl;
  return (cls ? ttlOf(cls, status) : null) ?? ttlOf(plan, status)!;
}

/** 'YYYY-MM' in UTC: the usage bucket. */
export function monthKey(d: Date): string {
  return d.toISOString().slice(0, 7);
}
