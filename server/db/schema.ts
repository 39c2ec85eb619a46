import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  real,
  serial,
  smallint,
  text,
  timestamp,
  uuid,
} from 'drizzle-orm/pg-core';

/** Every table Warden keeps. Migrations in drizzle/ are generated from this file. */

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const JOB_STATUSES = [
  'queued',
  'starting',
  'running',
  'terminating',
  'succeeded',
  'failed',
  'timed_out',
  'killed',
  'lost',
  'cancelled',
] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
// The named subsets (final, live, active, running) are in domain/status.ts.

export const jobStatus = pgEnum('job_status', JOB_STATUSES);
export const operatorRole = pgEnum('operator_role', ['viewer', 'operator', 'admin']);

export const plans = pgTable('plans', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  defaultTimeoutS: integer('default_timeout_s').notNull().default(300),
  maxTimeoutS: integer('max_timeout_s').notNull().default(3600),
  maxConcurrentJobs: integer('max_concurrent_jobs').notNull().default(2),
  maxQueuedJobs: integer('max_queued_jobs').notNull().default(100),
  gracePeriodS: integer('grace_period_s').notNull().default(30),
  warnBeforeS: integer('warn_before_s').notNull().default(60),
  ttlSucceededS: integer('ttl_succeeded_s').notNull().default(3600),
  ttlFailedS: integer('ttl_failed_s').notNull().default(86400),
  ttlTimedOutS: integer('ttl_timed_out_s').notNull().default(86400),
  ttlKilledS: integer('ttl_killed_s').notNull().default(86400),
  ttlLostS: integer('ttl_lost_s').notNull().default(86400),
  maxRetries: integer('max_retries').notNull().default(3),
  monthlyQuotaS: bigint('monthly_quota_s', { mode: 'number' }),
  // Container fence (server/domain/container-spec.ts): every job gets cpu, memory and pids caps.
  // Defaults mirror FENCE_DEFAULTS in server/docker/host-config.ts.
  cpus: real('cpus').notNull().default(1),
  memoryMb: integer('memory_mb').notNull().default(512),
  pidsLimit: integer('pids_limit').notNull().default(512),
  /** 'none' | 'warden' (the Warden-managed bridge, inter-container traffic off) | an existing network's name. */
  network: text('network').notNull().default('warden'),
  /** OCI runtime (e.g. runsc); NULL = the engine's default. Must be listed by `docker info`. */
  runtime: text('runtime'),
  // Caps on what a job may ask for (server/domain/caps.ts); bytes count keys and values.
  maxEnvVars: integer('max_env_vars').notNull().default(64),
  maxEnvBytes: integer('max_env_bytes').notNull().default(32768),
  maxCommandArgs: integer('max_command_args').notNull().default(256),
  maxCommandBytes: integer('max_command_bytes').notNull().default(65536),
  maxLabels: integer('max_labels').notNull().default(32),
  maxLabelBytes: integer('max_label_bytes').notNull().default(8192),
  /** No new output for this long ends a job like a timeout; NULL: no idle timeout. */
  idleTimeoutS: integer('idle_timeout_s'),
  /** Default resultsPath of the plan's jobs (absolute path in the container); NULL: none. */
  resultsPath: text('results_path'),
  /** Cap on a job's saved results archive, MiB. */
  maxResultsMb: integer('max_results_mb').notNull().default(50),
  /** Cap on all of a user's saved results together, MiB: a job that would go past it keeps none. */
  maxResultsTotalMb: integer('max_results_total_mb').notNull().default(500),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

/**
 * Job classes ("job types"): a named set of defaults between the job's own request and the
 * user/plan in the precedence (domain/limits.ts). NULL fields fall through to the plan. A class
 * may lower the plan's timeout cap, never raise it.
 */
export const jobClasses = pgTable('job_classes', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
  description: text('description'),
  defaultTimeoutS: integer('default_timeout_s').notNull(),
  maxTimeoutS: integer('max_timeout_s'),
  gracePeriodS: integer('grace_period_s'),
  warnBeforeS: integer('warn_before_s'),
  idleTimeoutS: integer('idle_timeout_s'),
  ttlSucceededS: integer('ttl_succeeded_s'),
  ttlFailedS: integer('ttl_failed_s'),
  ttlTimedOutS: integer('ttl_timed_out_s'),
  ttlKilledS: integer('ttl_killed_s'),
  ttlLostS: integer('ttl_lost_s'),
  resultsPath: text('results_path'),
  /** Node labels its jobs require (every key=value must match the node's WARDEN_NODE_LABELS); NULL: any node. */
  nodeSelector: jsonb('node_selector').$type<Record<string, string> | null>(),
  createdAt: ts('created_at').notNull().defaultNow(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

export const users = pgTable('users', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  planId: integer('plan_id')
    .notNull()
    .references(() => plans.id),
  // Per-user overrides of the plan's limits; NULL means "use the plan's".
  defaultTimeoutS: integer('default_timeout_s'),
  maxTimeoutS: integer('max_timeout_s'),
  maxConcurrentJobs: integer('max_concurrent_jobs'),
  maxQueuedJobs: integer('max_queued_jobs'),
  monthlyQuotaS: bigint('monthly_quota_s', { mode: 'number' }),
  /** When the dispatcher last started a job for this user: least-recently-served goes first. */
  lastServedAt: ts('last_served_at'),
  createdAt: ts('created_at').notNull().defaultNow(),
}, (t) => [
  // Dispatcher: least-recently-served users first, scanned in index order.
  index('users_last_served_idx').on(t.lastServedAt.asc().nullsFirst(), t.id),
]);

export const operators = pgTable('operators', {
  id: uuid('id').primaryKey().defaultRandom(),
  email: text('email').notNull().unique(),
  passwordHash: text('password_hash'),
  role: operatorRole('role').notNull().default('viewer'),
  disabled: boolean('disabled').notNull().default(false),
  createdAt: ts('created_at').notNull().defaultNow(),
});

/** API keys for users and operators; only a SHA-256 of the key is stored. */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    keyHash: text('key_hash').notNull().unique(),
    prefix: text('prefix').notNull(),
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    operatorId: uuid('operator_id').references(() => operators.id, { onDelete: 'cascade' }),
    createdAt: ts('created_at').notNull().defaultNow(),
    /** Touched at most once a minute per key (server/domain/auth.ts), so auth stays one read. */
    lastUsedAt: ts('last_used_at'),
    revokedAt: ts('revoked_at'),
    /** NULL = never expires. An expired or revoked key is refused at once. */
    expiresAt: ts('expires_at'),
  },
  (t) => [index('api_keys_user_idx').on(t.userId), index('api_keys_operator_idx').on(t.operatorId)],
);

export const sessions = pgTable(
  'sessions',
  {
    /** SHA-256 of the cookie token. */
    id: text('id').primaryKey(),
    operatorId: uuid('operator_id')
      .notNull()
      .references(() => operators.id, { onDelete: 'cascade' }),
    createdAt: ts('created_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [index('sessions_operator_idx').on(t.operatorId)],
);

export const loginAttempts = pgTable(
  'login_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    email: text('email').notNull(),
    /** Client address: the socket's peer, or X-Forwarded-For's from a trusted proxy; NULL when unknown. */
    ip: text('ip'),
    at: ts('at').notNull().defaultNow(),
    success: boolean('success').notNull(),
  },
  (t) => [
    index('login_attempts_email_at_idx').on(t.email, t.at),
    index('login_attempts_ip_at_idx')
      .on(t.ip, t.at)
      .where(sql`ip is not null`),
  ],
);

export const jobs = pgTable(
  'jobs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    name: text('name'),
    image: text('image').notNull(),
    command: jsonb('command').$type<string[] | null>(),
    env: jsonb('env').$type<Record<string, string>>().notNull().default({}),
    labels: jsonb('labels').$type<Record<string, string>>().notNull().default({}),
    parentId: uuid('parent_id'),
    status: jobStatus('status').notNull().default('queued'),
    attempt: integer('attempt').notNull().default(1),
    maxRetries: integer('max_retries').notNull(),
    /** What the submitter asked for (NULL: no request). */
    requestedTimeoutS: integer('requested_timeout_s'),
    /** Effective timeout, including extensions. */
    timeoutS: integer('timeout_s').notNull(),
    /** The job class it was submitted with (by name: history keeps it when the class is deleted). */
    className: text('class_name'),
    /** Which rule set the effective timeout: job | class | user | plan | global | parent. */
    timeoutSource: text('timeout_source').notNull(),
    timeoutSuspended: boolean('timeout_suspended').notNull().default(false),
    deadlineAt: ts('deadline_at'),
    gracePeriodS: integer('grace_period_s').notNull(),
    /** The job's own TTL request; NULL means the plan's TTL for the final state. */
    ttlS: integer('ttl_s'),
    /** finished_at + TTL, set when the job ends: the TTL sweeper's index. */
    ttlExpiresAt: ts('ttl_expires_at'),
    extendedS: integer('extended_s').notNull().default(0),
    queuedAt: ts('queued_at').notNull(),
    claimedAt: ts('claimed_at'),
    /**
     * The claim that owns a `starting` job (a fresh uuid per claim). Only the process holding it
     * may record the start (`starting → running … where claim_id = <its token>`); a container
     * carries it as the label warden.claim, so one made for a lost claim is known as such.
     */
    claimId: uuid('claim_id'),
    /** Lease of an in-flight start: renewed by its claimer; reconcile requeues only when it lapses. */
    claimSeenAt: ts('claim_seen_at'),
    /**
     * The worker process that holds the claim (its instance id, held as a PostgreSQL session
     * advisory lock for the life of the process): when the lock is free, the process is gone and
     * its start is settled at once instead of after the lease. NULL: no such process (tests, CLI).
     */
    claimOwner: text('claim_owner'),
    startedAt: ts('started_at'),
    finishedAt: ts('finished_at'),
    warnedAt: ts('warned_at'),
    terminateRequestedAt: ts('terminate_requested_at'),
    /** Why the job is terminating: timeout | kill | parent. */
    terminateKind: text('terminate_kind'),
    terminateReason: text('terminate_reason'),
    terminateActor: text('terminate_actor'),
    terminateForce: boolean('terminate_force').notNull().default(false),
    sigtermAt: ts('sigterm_at'),
    sigkillAt: ts('sigkill_at'),
    /**
     * A signal someone other than Warden sent the job's container while it was `running`
     * (docker kill / stop / rm -f, an engine shutdown), from the engine's `kill` event. Warden
     * itself only signals `terminating` jobs, so this is how completion tells the two apart.
     */
    externalSignal: text('external_signal'),
    externalSignalAt: ts('external_signal_at'),
    cleanedAt: ts('cleaned_at'),
    containerId: text('container_id'),
    node: text('node'),
    /**
     * What the job holds on its node while active (starting, running, terminating): its plan's
     * cpus and memory caps, stamped by the claim. Node allocation is the sum over its active jobs
     * (jobs_node_active_idx), so it can never drift from the jobs themselves.
     */
    cpus: real('cpus'),
    memoryMb: integer('memory_mb'),
    exitCode: integer('exit_code'),
    reason: text('reason'),
    /** Why a queued job is not starting (quota, engine down); NULL when nothing holds it. */
    waitReason: text('wait_reason'),
    /** domain/waits.ts WAIT_CODES; NULL when nothing holds the job. */
    waitCode: text('wait_code'),
    logTail: text('log_tail'),
    /** Effective idle timeout (job → class → plan); NULL: none. */
    idleTimeoutS: integer('idle_timeout_s'),
    /** Newest output seen by the idle probe (NULL: none seen yet; the start counts as output). */
    lastOutputAt: ts('last_output_at'),
    /** When the idle probe looks next: last output (or start) + idle timeout. */
    idleDeadlineAt: ts('idle_deadline_at'),
    /** Absolute path in the container copied out when the job ends; NULL: none. */
    resultsPath: text('results_path'),
    /** Size of the saved results tar (NULL: nothing saved, or removed at TTL). */
    resultsBytes: integer('results_bytes'),
    resultsTruncated: boolean('results_truncated').notNull().default(false),
    /** What happened to the results, in words (not found, truncated at the cap, removed at TTL). */
    resultsNote: text('results_note'),
    /** Number of consecutive failed Docker side effects; drives backoff. */
    sideEffectFailures: integer('side_effect_failures').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at'),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    // Partial-index predicates spell out domain/status.ts's RUNNING and ACTIVE lists.
    // Timeout sweeper: live jobs by deadline. Partial, so it never grows with history.
    index('jobs_live_deadline_idx')
      .on(t.deadlineAt)
      .where(sql`status in ('running', 'terminating')`),
    // TTL sweeper: finished, not yet cleaned, by expiry.
    index('jobs_ttl_idx')
      .on(t.ttlExpiresAt)
      .where(sql`cleaned_at is null and ttl_expires_at is not null`),
    // Dispatcher: queued jobs by user and age.
    index('jobs_queued_idx')
      .on(t.userId, t.queuedAt)
      .where(sql`status = 'queued'`),
    // Concurrency counts: active jobs per user.
    index('jobs_active_user_idx')
      .on(t.userId)
      .where(sql`status in ('starting', 'running', 'terminating')`),
    index('jobs_status_queued_at_idx').on(t.status, t.queuedAt),
    index('jobs_user_queued_at_idx').on(t.userId, t.queuedAt),
    index('jobs_parent_idx')
      .on(t.parentId)
      .where(sql`parent_id is not null`),
    index('jobs_finished_at_idx').on(t.finishedAt),
    index('jobs_container_idx')
      .on(t.containerId)
      .where(sql`container_id is not null`),
    // Placement: active jobs per node (allocation = their sum).
    index('jobs_node_active_idx')
      .on(t.node)
      .where(sql`status in ('starting', 'running', 'terminating')`),
    // Timeout sweeper: running jobs whose idle probe is due.
    index('jobs_idle_deadline_idx')
      .on(t.idleDeadlineAt)
      .where(sql`status = 'running' and idle_deadline_at is not null`),
  ],
);

const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => 'bytea' });

/**
 * Files a job left under its resultsPath, as the tar Docker's archive API gave (capped by the
 * plan's maxResultsMb). Its own table so reads of jobs never carry the bytes; deleted by the TTL
 * sweeper with the container, and with the job row (cascade).
 */
export const jobResults = pgTable('job_results', {
  jobId: uuid('job_id')
    .primaryKey()
    .references(() => jobs.id, { onDelete: 'cascade' }),
  attempt: integer('attempt').notNull(),
  path: text('path').notNull(),
  tar: bytea('tar').notNull(),
  bytes: integer('bytes').notNull(),
  files: integer('files').notNull(),
  truncated: boolean('truncated').notNull(),
  savedAt: ts('saved_at').notNull(),
});

export const usage = pgTable(
  'usage',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** First day of the month, 'YYYY-MM'. */
    month: text('month').notNull(),
    seconds: bigint('seconds', { mode: 'number' }).notNull().default(0),
    jobs: integer('jobs').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.userId, t.month] })],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    at: ts('at').notNull().defaultNow(),
    actor: text('actor').notNull(),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id'),
    reason: text('reason'),
    success: boolean('success').notNull().default(true),
    error: text('error'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    index('audit_at_idx').on(t.at),
    index('audit_target_idx').on(t.targetType, t.targetId, t.at),
    index('audit_actor_idx').on(t.actor, t.at),
    index('audit_action_idx').on(t.action, t.at),
  ],
);

export const sweeperRuns = pgTable(
  'sweeper_runs',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    sweeper: text('sweeper').notNull(),
    node: text('node').notNull(),
    startedAt: ts('started_at').notNull(),
    finishedAt: ts('finished_at'),
    examined: integer('examined').notNull().default(0),
    acted: integer('acted').notNull().default(0),
    errors: integer('errors').notNull().default(0),
    dryRun: boolean('dry_run').notNull().default(false),
    error: text('error'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [index('sweeper_runs_sweeper_started_idx').on(t.sweeper, t.startedAt)],
);

/** Worker heartbeats: a node whose heartbeat is stale has its live jobs declared lost. */
export const nodes = pgTable('nodes', {
  id: text('id').primaryKey(),
  heartbeatAt: ts('heartbeat_at').notNull(),
  startedAt: ts('started_at').notNull(),
  dockerOk: boolean('docker_ok').notNull().default(false),
  dockerError: text('docker_error'),
  version: text('version'),
  /** Host name plus short engine id, for people (the id is the engine's full ID). */
  name: text('name'),
  /**
   * Capacity the worker recorded at start (WARDEN_NODE_*): CPUs already multiplied by the
   * overcommit; NULL max_jobs = unlimited. NULL cpus/memory: never recorded (a worker of an older
   * version, or a test's bare heartbeat) = unlimited.
   */
  cpus: real('cpus'),
  memoryMb: integer('memory_mb'),
  maxJobs: integer('max_jobs'),
  labels: jsonb('labels').$type<Record<string, string>>().notNull().default({}),
  /** active | draining (set by an operator; kept across worker restarts). `drained`/`down` are read-time. */
  state: text('state').notNull().default('active'),
  drainReason: text('drain_reason'),
  drainedBy: text('drained_by'),
  drainStartedAt: ts('drain_started_at'),
  /** With a drain deadline: when the node's still-running jobs get the kill escalation. */
  drainDeadlineAt: ts('drain_deadline_at'),
});

/**
 * One row (id 1): when a dispatcher last refreshed the queued jobs' wait marks (quota, capacity,
 * engine), by the database's clock. It makes that refresh fleet-wide at most once a second
 * (worker/dispatcher.ts waitMarksDue) instead of once per wake-up of every worker.
 */
export const waitMarks = pgTable('wait_marks', {
  id: smallint('id').primaryKey(),
  markedAt: ts('marked_at').notNull(),
});

/** Runtime settings changed from the dashboard (e.g. per-sweeper dry-run). */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').$type<unknown>().notNull(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
  updatedBy: text('updated_by'),
});


/**
 * Webhook subscriptions. A user key's subscription covers that user's jobs (user_id = owner); an
 * operator's covers every job (user_id NULL) or one user's. The secret signs deliveries (HMAC),
 * so it is kept as is and shown only once, at creation.
 */
export const webhooks = pgTable(
  'webhooks',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    url: text('url').notNull(),
    secret: text('secret').notNull(),
    /** Event types delivered (domain/webhook-events.ts WEBHOOK_EVENTS). */
    events: text('events').array().notNull(),
    /** Whose jobs: one user's, or NULL for every job (operator subscriptions only). */
    userId: uuid('user_id').references(() => users.id, { onDelete: 'cascade' }),
    /** The owner: the user whose key created it, or the operator who did. */
    ownerUserId: uuid('owner_user_id').references(() => users.id, { onDelete: 'cascade' }),
    ownerOperatorId: uuid('owner_operator_id').references(() => operators.id, { onDelete: 'cascade' }),
    createdBy: text('created_by').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [index('webhooks_user_idx').on(t.userId), index('webhooks_owner_user_idx').on(t.ownerUserId)],
);

/**
 * The outbox: one row per job event that at least one subscription wants, written in the
 * transaction of the state change it reports (domain/outbox.ts). `job` is the jobs row as it
 * was then (to_jsonb, without env and log tail), so a late retry still says what happened then.
 */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    id: uuid('id').notNull().unique().defaultRandom(),
    type: text('type').notNull(),
    /** NULL for an event about no job (a `webhook.test` ping). */
    jobId: uuid('job_id'),
    at: ts('at').notNull(),
    job: jsonb('job').$type<Record<string, unknown>>().notNull(),
    /** Event-specific fields sent beside `job` (deadlineAt, secondsLeft, …). */
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    /**
     * 1, 2, 3, … per job, in the order its events happened: sent in the body so a receiver can
     * order one job's events itself (deliveries are not held back behind an earlier one's
     * retries). NULL on events written before this column.
     */
    sequence: integer('sequence'),
  },
  (t) => [index('webhook_events_at_idx').on(t.at), index('webhook_events_job_seq_idx').on(t.jobId, t.sequence)],
);

/** One event to one subscription: retried with backoff until delivered or given up (failed). */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    /** Order of creation: deliveries of one job to one subscription go out in this order. */
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    /** Sent as Warden-Delivery; the same on every retry, so receivers can dedupe on it. */
    id: uuid('id').notNull().unique().defaultRandom(),
    webhookId: uuid('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    eventSeq: bigint('event_seq', { mode: 'number' })
      .notNull()
      .references(() => webhookEvents.seq, { onDelete: 'cascade' }),
    /** NULL for a ping (`webhook.test`). */
    jobId: uuid('job_id'),
    /** pending | delivered | failed */
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /** HTTP status of the last answer (NULL: none, e.g. a timeout). */
    lastStatus: integer('last_status'),
    nextAttemptAt: ts('next_attempt_at').notNull(),
    /** A worker is sending it until then; after that another may (it died mid-send). */
    leaseUntil: ts('lease_until'),
    /** Retries stop after this (24 h after the event, or after a redeliver). */
    giveUpAt: ts('give_up_at').notNull(),
    deliveredAt: ts('delivered_at'),
    createdAt: ts('created_at').notNull(),
    updatedAt: ts('updated_at').notNull(),
  },
  (t) => [
    // The delivery loop: pending deliveries by due time. Partial: never grows with history.
    index('webhook_deliveries_due_idx')
      .on(t.nextAttemptAt)
      .where(sql`status = 'pending'`),
    index('webhook_deliveries_webhook_idx').on(t.webhookId, t.seq),
    index('webhook_deliveries_event_idx').on(t.eventSeq),
    index('webhook_deliveries_created_idx').on(t.createdAt),
  ],
);

/**
 * Every send of a delivery, kept so a 500 that a retry made good still shows (the dashboard's
 * attempts list, GET /api/v1/webhooks/:id/attempts). Bounded twice: rows go with their delivery
 * (purged after WARDEN_HISTORY_DAYS), and the history purge keeps at most
 * WEBHOOK_ATTEMPTS_KEPT (domain/webhooks.ts) per subscription. The response body is cut at 4 KB.
 */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    webhookId: uuid('webhook_id')
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    deliverySeq: bigint('delivery_seq', { mode: 'number' })
      .notNull()
      .references(() => webhookDeliveries.seq, { onDelete: 'cascade' }),
    deliveryId: uuid('delivery_id').notNull(),
    eventId: uuid('event_id').notNull(),
    eventType: text('event_type').notNull(),
    /** 1 for the first send of the delivery, 2 for its first retry, … */
    attempt: integer('attempt').notNull(),
    at: ts('at').notNull(),
    requestBody: text('request_body').notNull(),
    /** HTTP status of the answer; NULL when there was none (then `error` says why). */
    responseStatus: integer('response_status'),
    /** The first 4 KB of the answer's body. */
    responseBody: text('response_body'),
    error: text('error'),
    durationMs: integer('duration_ms').notNull(),
  },
  (t) => [index('webhook_attempts_webhook_idx').on(t.webhookId, t.seq), index('webhook_attempts_delivery_idx').on(t.deliverySeq)],
);

export type Plan = typeof plans.$inferSelect;
export type JobClass = typeof jobClasses.$inferSelect;
export type NewJobClass = typeof jobClasses.$inferInsert;
export type NewPlan = typeof plans.$inferInsert;
export type User = typeof users.$inferSelect;
export type Operator = typeof operators.$inferSelect;
export type ApiKey = typeof apiKeys.$inferSelect;
export type Job = typeof jobs.$inferSelect;
export type NewJob = typeof jobs.$inferInsert;
export type AuditEvent = typeof auditEvents.$inferSelect;
export type SweeperRun = typeof sweeperRuns.$inferSelect;
export type NodeRow = typeof nodes.$inferSelect;
export type Role = Operator['role'];
export type Webhook = typeof webhooks.$inferSelect;
export type WebhookEvent = typeof webhookEvents.$inferSelect;
export type WebhookDelivery = typeof webhookDeliveries.$inferSelect;
export type WebhookAttempt = typeof webhookAttempts.$inferSelect;
