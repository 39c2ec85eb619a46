import type { Plan, User } from '../db/schema';

/** Global default when neither the job, the user nor the plan says anything. */
export const GLOBAL_DEFAULT_TIMEOUT_S = 300;

export type TimeoutSource = 'job' | 'user' | 'plan' | 'global' | 'parent';

export interface Limits {
  planName: string;
  defaultTimeoutS: number | null;
  defaultTimeoutFrom: 'user' | 'plan';
  maxTimeoutS: number;
  maxTimeoutFrom: 'user' | 'plan';
  maxConcurrentJobs: number;
  maxQueuedJobs: number;
  monthlyQuotaS: number | null;
  gracePeriodS: number;
  warnBeforeS: number;
  maxRetries: number;
}

/** A user's limits: each override, when set, replaces the plan's value. */
export function effectiveLimits(plan: Plan, user: Pick<User, 'defaultTimeoutS' | 'maxTimeoutS' | 'maxConcurrentJobs' | 'maxQueuedJobs' | 'monthlyQuotaS'>): Limits {
  return {
    planName: plan.name,
    defaultTimeoutS: user.defaultTimeoutS ?? plan.defaultTimeoutS,
    defaultTimeoutFrom: user.defaultTimeoutS != null ? 'user' : 'plan',
    maxTimeoutS: user.maxTimeoutS ?? plan.maxTimeoutS,
    maxTimeoutFrom: user.maxTimeoutS != null ? 'user' : 'plan',
    maxConcurrentJobs: user.maxConcurrentJobs ?? plan.maxConcurrentJobs,
    maxQueuedJobs: user.maxQueuedJobs ?? plan.maxQueuedJobs,
    monthlyQuotaS: user.monthlyQuotaS ?? plan.monthlyQuotaS,
    gracePeriodS: plan.gracePeriodS,
    warnBeforeS: plan.warnBeforeS,
    maxRetries: plan.maxRetries,
  };
}

export interface TimeoutInput {
  requested?: number | null;
  userDefault?: number | null;
  planDefault?: number | null;
  userMax?: number | null;
  planMax?: number | null;
  planName: string;
}

export type TimeoutDecision =
  | { ok: true; seconds: number; source: TimeoutSource; cap: number | null }
  | { ok: false; cap: number; capSource: 'user' | 'plan'; message: string };

/**
 * Effective timeout: most specific wins (job request → user override default → plan default →
 * global 300 s), then the cap (user override max, else plan max) applies. A *request* above the
 * cap is rejected with a message naming the cap, never clamped; an inherited default above the
 * cap (a misconfigured plan) is held to the cap.
 */
export function effectiveTimeout(i: TimeoutInput): TimeoutDecision {
  const cap = i.userMax ?? i.planMax ?? null;
  const capSource: 'user' | 'plan' = i.userMax != null ? 'user' : 'plan';
  if (i.requested != null) {
    if (cap != null && i.requested > cap) {
      const who = capSource === 'user' ? 'your per-user limit' : `plan ${i.planName}`;
      return {
        ok: false,
        cap,
        capSource,
        message: `timeoutSeconds ${i.requested} exceeds the maximum of ${cap}s allowed by ${who}`,
      };
    }
    return { ok: true, seconds: i.requested, source: 'job', cap };
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
export function describeTimeoutSource(source: string, planName: string): string {
  switch (source) {
    case 'job':
      return 'job request';
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

/** TTL after a job ends: the job's own request, else the plan's value for that final state. */
export function ttlFor(plan: Plan, status: string, jobTtl: number | null): number {
  if (jobTtl != null) return jobTtl;
  switch (status) {
    case 'succeeded':
      return plan.ttlSucceededS;
    case 'failed':
      return plan.ttlFailedS;
    case 'timed_out':
      return plan.ttlTimedOutS;
    case 'killed':
      return plan.ttlKilledS;
    case 'lost':
      return plan.ttlLostS;
    default:
      return plan.ttlFailedS;
  }
}

/** 'YYYY-MM' in UTC: the usage bucket. */
export function monthKey(d: Date): string {
  return d.toISOString().slice(0, 7);
}
