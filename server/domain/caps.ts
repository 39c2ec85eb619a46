import type { Plan } from '../db/schema';
import { invalid } from './errors';
import type { Limits } from './limits';
import type { SubmitJobInput } from './schemas';

/**
 * Every knob a job may set is capped by its plan, and a request above a cap is rejected with a
 * 422 naming the cap, never clamped (the rule timeouts already follow, in limits.ts). The
 * timeout and maxRetries caps stay beside the timeout logic in submitJob; the rest are here.
 */
export interface SubmitCaps {
  planName: string;
  /** A job may ask for a shorter grace than its plan's, never a longer one. */
  gracePeriodS: number;
  /** The plan's largest TTL over all final states. */
  maxTtlS: number;
  maxEnvVars: number;
  maxEnvBytes: number;
  maxCommandArgs: number;
  maxCommandBytes: number;
  maxLabels: number;
  maxLabelBytes: number;
}

export function submitCaps(plan: Plan): SubmitCaps {
  return {
    planName: plan.name,
    gracePeriodS: plan.gracePeriodS,
    maxTtlS: Math.max(plan.ttlSucceededS, plan.ttlFailedS, plan.ttlTimedOutS, plan.ttlKilledS, plan.ttlLostS),
    maxEnvVars: plan.maxEnvVars,
    maxEnvBytes: plan.maxEnvBytes,
    maxCommandArgs: plan.maxCommandArgs,
    maxCommandBytes: plan.maxCommandBytes,
    maxLabels: plan.maxLabels,
    maxLabelBytes: plan.maxLabelBytes,
  };
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

/** Bytes of a string map as the container sees it: every key and value in UTF-8 (env adds the `=`). */
export function mapBytes(m: Record<string, string> | undefined, sep = 0): number {
  let n = 0;
  for (const [k, v] of Object.entries(m ?? {})) n += utf8(k) + sep + utf8(v);
  return n;
}

export function commandBytes(c: string[] | undefined): number {
  let n = 0;
  for (const a of c ?? []) n += utf8(a);
  return n;
}

/** Throws the 422 of the first knob above its cap (field = the knob, code = `<knob>_exceeds_cap`). */
export function checkSubmitCaps(input: SubmitJobInput, caps: SubmitCaps): void {
  const plan = `plan ${caps.planName}`;
  if (input.gracePeriodSeconds !== undefined && input.gracePeriodSeconds > caps.gracePeriodS) {
    throw invalid(
      `gracePeriodSeconds ${input.gracePeriodSeconds} exceeds the maximum of ${caps.gracePeriodS}s allowed by ${plan} (a job may ask for a shorter grace, not a longer one)`,
      'gracePeriodSeconds',
      'grace_exceeds_cap',
    );
  }
  if (input.ttlSecondsAfterFinished !== undefined && input.ttlSecondsAfterFinished > caps.maxTtlS) {
    throw invalid(
      `ttlSecondsAfterFinished ${input.ttlSecondsAfterFinished} exceeds the maximum of ${caps.maxTtlS}s allowed by ${plan} (its longest TTL)`,
      'ttlSecondsAfterFinished',
      'ttl_exceeds_cap',
    );
  }
  const count = (field: string, code: string, what: string, n: number, cap: number) => {
    if (n > cap) throw invalid(`${field} has ${n} ${what}, above the maximum of ${cap} allowed by ${plan}`, field, code);
  };
  count('env', 'env_exceeds_cap', 'variables', Object.keys(input.env ?? {}).length, caps.maxEnvVars);
  count('env', 'env_exceeds_cap', 'bytes', mapBytes(input.env, 1), caps.maxEnvBytes);
  count('command', 'command_exceeds_cap', 'arguments', input.command?.length ?? 0, caps.maxCommandArgs);
  count('command', 'command_exceeds_cap', 'bytes', commandBytes(input.command), caps.maxCommandBytes);
  count('labels', 'labels_exceeds_cap', 'labels', Object.keys(input.labels ?? {}).length, caps.maxLabels);
  count('labels', 'labels_exceeds_cap', 'bytes', mapBytes(input.labels), caps.maxLabelBytes);
}

/**
 * An idle timeout is capped by the job's timeout cap (the class's, the user override's or the
 * plan's maxTimeoutSeconds, whichever sets it): a job that may run at most that long cannot ask
 * to sit idle for longer, and without a cap any 32-bit value was stored.
 */
export function checkIdleTimeoutCap(input: Pick<SubmitJobInput, 'idleTimeoutSeconds'>, limits: Pick<Limits, 'maxTimeoutS' | 'maxTimeoutFrom' | 'planName' | 'className'>): void {
  const v = input.idleTimeoutSeconds;
  if (v === undefined || v <= limits.maxTimeoutS) return;
  const owner = limits.maxTimeoutFrom === 'class' ? `class ${limits.className ?? '?'}` : limits.maxTimeoutFrom === 'user' ? 'your per-user limit' : `plan ${limits.planName}`;
  throw invalid(
    `idleTimeoutSeconds ${v} exceeds the maximum of ${limits.maxTimeoutS}s allowed by ${owner} (an idle timeout cannot be longer than the timeout cap)`,
    'idleTimeoutSeconds',
    'idle_timeout_exceeds_cap',
  );
}
