/**
 * Operators' words, said once: how the dashboard names wait codes, audit actions (the job page's
 * timeline is the same rows), actors and plan fields. The codes stay what they are in the API, the
 * database and webhooks; the dashboard shows these words and keeps the code in a tooltip.
 * No server-only imports: client components import this module.
 */

/** `waitCode` → what the Jobs list and the job page say. */
export const WAIT_WORDS: Record<string, string> = {
  user_limit: 'Waiting: plan limit reached',
  quota: 'Waiting: monthly quota used up',
  engine_down: 'Waiting: Docker engine unreachable',
  engine_error: 'Waiting: the engine failed to start it',
  pulling_image: 'Pulling the image',
  queued_behind: 'Waiting for its turn',
  no_capacity: 'Waiting: no node has room',
  no_matching_node: 'Waiting: no node matches',
};

/** Audit actions (and so timeline entries). */
export const ACTION_WORDS: Record<string, string> = {
  'job.submit': 'Submitted',
  'job.claim': 'Claimed by the dispatcher',
  'job.started': 'Started',
  'job.start_failed': 'Start failed',
  'job.adopt': 'Adopted by this node',
  'job.warn': 'Deadline warning',
  'job.warning': 'Deadline warning',
  'job.extend': 'Deadline extended',
  'job.timeout': 'Timed out',
  'job.idle_timeout': 'Idle timeout',
  'job.timeout_suspend': 'Timeout suspended',
  'job.timeout_resume': 'Timeout resumed',
  'job.terminate_requested': 'Termination requested',
  'job.terminating': 'Terminating',
  'job.kill': 'Kill requested',
  'job.killed': 'Killed',
  'job.timed_out': 'Ended: timed out',
  'job.succeeded': 'Succeeded',
  'job.failed': 'Failed',
  'job.lost': 'Lost (container gone)',
  'job.retry': 'Retried',
  'job.retried': 'Retried',
  'job.requeue': 'Requeued',
  'job.cancel': 'Cancelled',
  'job.cancelled': 'Cancelled',
  'job.cleanup': 'Cleanup',
  'job.cleaned': 'Cleaned up',
  'job.purge': 'Purged from history',
  'job.results': 'Results saved',
  'container.start': 'Container started',
  'container.sigterm': 'SIGTERM sent',
  'container.sigkill': 'SIGKILL sent',
  'container.remove': 'Container removed',
  'container.inspect': 'Container inspected',
  'container.log_probe': 'Logs read',
  'container.external_kill': 'Container killed outside Warden',
  'volume.remove': 'Volume removed',
  'sweeper.run': 'Sweeper run requested',
  'sweeper.dry_run': 'Dry-run mode changed',
  'plan.create': 'Plan created',
  'plan.update': 'Plan edited',
  'class.create': 'Class created',
  'class.update': 'Class edited',
  'class.delete': 'Class deleted',
  'user.create': 'User created',
  'user.update': 'User edited',
  'user.key.create': 'User API key created',
  'user.key.revoke': 'User API key revoked',
  'operator.key.create': 'Operator API key created',
  'operator.key.revoke': 'Operator API key revoked',
  'operator.create': 'Operator created',
  'operator.update': 'Operator edited',
  'operator.bootstrap': 'First admin created',
  'session.login': 'Logged in',
  'session.logout': 'Logged out',
  'webhook.create': 'Webhook created',
  'webhook.delete': 'Webhook deleted',
  'webhook.redeliver': 'Webhook redelivery',
  'webhook.test': 'Webhook test ping',
  'node.drain': 'Node drain',
  'node.resume': 'Node resumed',
};

const sentence = (s: string) => (s ? s[0]!.toUpperCase() + s.slice(1) : s);

/** An audit action in words; an unknown one spelt out ("job.foo_bar" → "Job foo bar"). */
export function actionInWords(code: string): string {
  return ACTION_WORDS[code] ?? sentence(code.replace(/[._]+/g, ' '));
}

/** A wait code in words. */
export function waitInWords(code: string): string {
  return WAIT_WORDS[code] ?? sentence(code.replace(/_+/g, ' '));
}

const SYSTEM_ACTORS: Record<string, string> = {
  'sweeper:timeout': 'Timeout sweeper',
  'sweeper:ttl': 'TTL sweeper',
  'sweeper:orphan': 'Orphan sweeper',
  dispatcher: 'Dispatcher',
  cli: 'Command line',
  system: 'Warden',
};

/** An audit actor in words: "Orphan sweeper", "Operator ann@example.com", "User alice (API)". */
export function actorInWords(actor: string): string {
  if (SYSTEM_ACTORS[actor]) return SYSTEM_ACTORS[actor];
  if (actor.startsWith('operator:')) return `Operator ${actor.slice('operator:'.length)}`;
  if (actor.startsWith('api:')) return `User ${actor.slice('api:'.length)} (API)`;
  if (actor.startsWith('webhook:')) return `Webhook ${actor.slice('webhook:'.length)}`;
  return actor;
}

/**
 * Plan (and class and user-override) fields: the form's label and unit. The form shows
 * `label (unit)`; messages say `label (value unit)`.
 */
export const PLAN_FIELD_WORDS: Record<string, { label: string; unit?: 's' | 'MB' }> = {
  defaultTimeoutSeconds: { label: 'Default timeout', unit: 's' },
  maxTimeoutSeconds: { label: 'Maximum timeout', unit: 's' },
  gracePeriodSeconds: { label: 'Grace period', unit: 's' },
  warnBeforeSeconds: { label: 'Warn before deadline', unit: 's' },
  maxConcurrentJobs: { label: 'Max concurrent jobs' },
  maxQueuedJobs: { label: 'Max queued jobs' },
  maxRetries: { label: 'Max retries' },
  monthlyQuotaSeconds: { label: 'Monthly quota', unit: 's' },
  ttlSucceededSeconds: { label: 'TTL succeeded', unit: 's' },
  ttlFailedSeconds: { label: 'TTL failed', unit: 's' },
  ttlTimedOutSeconds: { label: 'TTL timed out', unit: 's' },
  ttlKilledSeconds: { label: 'TTL killed', unit: 's' },
  ttlLostSeconds: { label: 'TTL lost', unit: 's' },
  cpus: { label: 'CPUs' },
  memoryMb: { label: 'Memory', unit: 'MB' },
  pidsLimit: { label: 'Max processes (pids)' },
  network: { label: 'Network' },
  runtime: { label: 'OCI runtime' },
  maxEnvVars: { label: 'Env variables' },
  maxEnvBytes: { label: 'Env bytes' },
  maxCommandArgs: { label: 'Command arguments' },
  maxCommandBytes: { label: 'Command bytes' },
  maxLabels: { label: 'Labels' },
  maxLabelBytes: { label: 'Label bytes' },
  idleTimeoutSeconds: { label: 'Idle timeout', unit: 's' },
  maxResultsMb: { label: 'Max results', unit: 'MB' },
  resultsPath: { label: 'Default results path' },
  // The database column names some audit details and older messages use.
  defaultTimeoutS: { label: 'Default timeout', unit: 's' },
  maxTimeoutS: { label: 'Maximum timeout', unit: 's' },
  gracePeriodS: { label: 'Grace period', unit: 's' },
  warnBeforeS: { label: 'Warn before deadline', unit: 's' },
  monthlyQuotaS: { label: 'Monthly quota', unit: 's' },
  ttlSucceededS: { label: 'TTL succeeded', unit: 's' },
  ttlFailedS: { label: 'TTL failed', unit: 's' },
  ttlTimedOutS: { label: 'TTL timed out', unit: 's' },
  ttlKilledS: { label: 'TTL killed', unit: 's' },
  ttlLostS: { label: 'TTL lost', unit: 's' },
  idleTimeoutS: { label: 'Idle timeout', unit: 's' },
};

/** A field's form label: "Default timeout (s)". */
export function fieldLabel(key: string): string {
  const w = PLAN_FIELD_WORDS[key];
  if (!w) return key;
  return w.unit ? `${w.label} (${w.unit})` : w.label;
}

/** A field's name in a sentence: "Default timeout". */
export function fieldName(key: string): string {
  return PLAN_FIELD_WORDS[key]?.label ?? key;
}

// camelCase names anywhere; plain words ("network", "cpus") only as a message's first word, so
// "the name of an existing Docker network" stays as it is.
const CAMEL_KEYS = Object.keys(PLAN_FIELD_WORDS).filter((k) => /[A-Z]/.test(k));
const PLAIN_KEYS = Object.keys(PLAN_FIELD_WORDS).filter((k) => !/[A-Z]/.test(k));
const FIELD_RE = new RegExp(`\\b(${CAMEL_KEYS.join('|')})\\b(?: \\((-?[\\d.]+)\\))?`, 'g');
const LEADING_RE = new RegExp(`^(${PLAIN_KEYS.join('|')})\\b(?: \\((-?[\\d.]+)\\))?`);

/**
 * A message that names fields by their API names, in the form's words:
 * "defaultTimeoutSeconds (500) must not exceed maxTimeoutSeconds (120)" →
 * "Default timeout (500 s) must not exceed Maximum timeout (120 s)".
 */
export function fieldsInWords(message: string): string {
  const words = (_m: string, key: string, value: string | undefined) => {
    const w = PLAN_FIELD_WORDS[key]!;
    return value === undefined ? w.label : `${w.label} (${value}${w.unit ? ` ${w.unit}` : ''})`;
  };
  return message.replace(FIELD_RE, words).replace(LEADING_RE, words);
}
