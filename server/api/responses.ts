import { clusterNodes, nodeToJson } from '../domain/nodes';
import { z } from 'zod';
import type { AuditEvent, Job, JobClass, Plan, User } from '../db/schema';
import type { auditToJson } from '../domain/audit-queries';
import type { classToJson } from '../domain/classes';
import type { jobToJson } from '../domain/jobs';
import type { planToJson } from '../domain/plans';
import { DELIVERY_STATUSES, JOB_STATUS_VALUES } from '../domain/schemas';
import { WAIT_CODES } from '../domain/waits';
import type { keyToJson } from '../domain/keys';
import type { getMe } from '../domain/me';
import type { operatorToJson } from '../domain/operators';
import type { userToJson } from '../domain/users';
import { DELIVERY_EVENTS, WEBHOOK_EVENTS } from '../domain/webhook-events';
import type { attemptToJson, deliveryToJson, webhookToJson } from '../domain/webhooks';

/**
 * Response bodies of /api/v1 as zod schemas, for the OpenAPI document (server/api/routes.ts).
 * They cannot drift from what the routes send: each is checked at compile time to have exactly
 * the type of the domain's *ToJson function (see the Same<> assertions at the bottom), so adding
 * a field to jobToJson without adding it here fails `npm run typecheck`.
 */

const at = () => z.iso.datetime({ offset: true });

// The vocabularies, as named enums in the document (each says its values once, here from the
// module that owns it).
export const jobStatusSchema = z.enum(JOB_STATUS_VALUES).meta({
  id: 'JobStatus',
  description: 'queued → starting → running → terminating → one of the final states: succeeded, failed, timed_out, killed, lost, cancelled',
});
export const waitCodeSchema = z.enum(WAIT_CODES).meta({ id: 'WaitCode', description: 'Why a queued job is not running yet (waitReason says it as a sentence)' });
export const webhookEventSchema = z.enum(WEBHOOK_EVENTS).meta({ id: 'WebhookEvent', description: 'A job event a webhook subscription may ask for' });
export const deliveryEventSchema = z.enum(DELIVERY_EVENTS).meta({ id: 'DeliveryEvent', description: 'A job event, or webhook.test (a test ping)' });
export const deliveryStatusSchema = z.enum(DELIVERY_STATUSES).meta({ id: 'DeliveryStatus', description: 'pending (being tried), delivered (a 2xx), failed (gave up after 24 h)' });
const seconds = () => z.number().int();

export const errorSchema = z
  .object({
    error: z.strictObject({
      code: z.string().meta({ description: 'Machine-readable, e.g. validation_failed, timeout_exceeds_cap, not_found, forbidden' }),
      message: z.string().meta({ description: 'What went wrong, naming the limit or field' }),
      field: z.string().optional().meta({ description: 'The input field at fault' }),
    }),
  })
  .meta({ id: 'Error', description: 'Every 4xx/5xx: this shape, never a stack trace' });

export const jobSchema = z
  .object({
    id: z.uuid(),
    userId: z.uuid(),
    name: z.string().nullable(),
    image: z.string(),
    command: z.array(z.string()).nullable(),
    status: jobStatusSchema,
    exitCode: z.number().int().nullable().meta({ description: '-1 for timed_out' }),
    reason: z.string().nullable(),
    waitReason: z.string().nullable().meta({ description: 'Why a queued job is not running yet, as a sentence' }),
    waitCode: waitCodeSchema.nullable(),
    queuePosition: z.number().int().nullable().meta({ description: "1 = the next of this user's queued jobs to start" }),
    attempt: z.number().int(),
    maxRetries: z.number().int(),
    queuedAt: at(),
    startedAt: at().nullable(),
    finishedAt: at().nullable(),
    deadlineAt: at().nullable(),
    warnedAt: at().nullable(),
    terminateRequestedAt: at().nullable(),
    cleanedAt: at().nullable(),
    timeoutSeconds: seconds(),
    timeoutSource: z.string().meta({ description: 'Which rule set the timeout: job | class | user | plan | global | parent' }),
    timeoutSuspended: z.boolean(),
    gracePeriodSeconds: seconds(),
    ttlSecondsAfterFinished: seconds().nullable(),
    extendedSeconds: seconds(),
    containerId: z.string().nullable(),
    node: z.string().nullable(),
    parentId: z.uuid().nullable(),
    labels: z.record(z.string(), z.string()),
    class: z.string().nullable().meta({ description: 'The job class it was submitted with' }),
    idleTimeoutSeconds: seconds().nullable(),
    lastOutputAt: at().nullable().meta({ description: 'Newest output the idle probe saw' }),
    idleDeadlineAt: at().nullable().meta({ description: 'Stopped as idle at this time unless it prints something' }),
    resultsPath: z.string().nullable(),
    resultsBytes: z.number().int().nullable().meta({ description: 'Size of the saved results tar; null: none (yet, or removed at TTL)' }),
    resultsTruncated: z.boolean(),
    resultsNote: z.string().nullable(),
  })
  .meta({ id: 'Job' });

export const jobListSchema = z.strictObject({ jobs: z.array(jobSchema), nextCursor: z.string().nullable() }).meta({ id: 'JobList' });

export const planSchema = z
  .object({
    name: z.string(),
    defaultTimeoutSeconds: seconds(),
    maxTimeoutSeconds: seconds(),
    maxConcurrentJobs: z.number().int(),
    maxQueuedJobs: z.number().int(),
    gracePeriodSeconds: seconds(),
    warnBeforeSeconds: seconds(),
    ttlSucceededSeconds: seconds(),
    ttlFailedSeconds: seconds(),
    ttlTimedOutSeconds: seconds(),
    ttlKilledSeconds: seconds(),
    ttlLostSeconds: seconds(),
    maxRetries: z.number().int(),
    monthlyQuotaSeconds: z.number().int().nullable(),
    cpus: z.number(),
    memoryMb: z.number().int(),
    pidsLimit: z.number().int(),
    network: z.string().meta({ description: '"warden" (the Warden-managed bridge, inter-container traffic off), "none", or an existing network' }),
    runtime: z.string().nullable().meta({ description: 'OCI runtime (e.g. runsc); null: the engine default' }),
    maxEnvVars: z.number().int(),
    maxEnvBytes: z.number().int(),
    maxCommandArgs: z.number().int(),
    maxCommandBytes: z.number().int(),
    maxLabels: z.number().int(),
    maxLabelBytes: z.number().int(),
    idleTimeoutSeconds: seconds().nullable(),
    resultsPath: z.string().nullable(),
    maxResultsMb: z.number().int(),
    maxResultsTotalMb: z.number().int().meta({ description: "Cap on all of a user's saved results together (MiB); a job that would go past it keeps none and says so in resultsNote" }),
    createdAt: at(),
    updatedAt: at(),
  })
  .meta({ id: 'Plan' });

export const classSchema = z
  .object({
    name: z.string(),
    description: z.string().nullable(),
    defaultTimeoutSeconds: seconds(),
    maxTimeoutSeconds: seconds().nullable(),
    gracePeriodSeconds: seconds().nullable(),
    warnBeforeSeconds: seconds().nullable(),
    idleTimeoutSeconds: seconds().nullable(),
    ttlSucceededSeconds: seconds().nullable(),
    ttlFailedSeconds: seconds().nullable(),
    ttlTimedOutSeconds: seconds().nullable(),
    ttlKilledSeconds: seconds().nullable(),
    ttlLostSeconds: seconds().nullable(),
    resultsPath: z.string().nullable(),
    nodeSelector: z.record(z.string(), z.string()).nullable().describe('labels a node must carry for these jobs (WARDEN_NODE_LABELS)'),
    createdAt: at(),
    updatedAt: at(),
  })
  .meta({ id: 'JobClass', description: 'null fields fall through to the plan' });

const userLimits = z.strictObject({
  defaultTimeoutSeconds: seconds().nullable(),
  maxTimeoutSeconds: seconds().nullable(),
  maxConcurrentJobs: z.number().int().nullable(),
  maxQueuedJobs: z.number().int().nullable(),
  monthlyQuotaSeconds: z.number().int().nullable(),
});
export const userSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    plan: z.string(),
    overrides: userLimits.meta({ description: 'Per-user overrides (null: the plan’s)' }),
    limits: userLimits.extend({ maxTimeoutSeconds: seconds(), maxConcurrentJobs: z.number().int(), maxQueuedJobs: z.number().int() }).meta({ description: 'What applies' }),
    createdAt: at(),
  })
  .meta({ id: 'User' });
export const userListSchema = z
  .object({ users: z.array(userSchema.extend({ running: z.number().int(), queued: z.number().int(), usageSecondsThisMonth: z.number() })) })
  .meta({ id: 'UserList' });
export const userWithKeySchema = userSchema.extend({ apiKey: z.string().meta({ description: 'Shown once' }) }).meta({ id: 'UserWithKey' });
export const keySchema = z
  .object({
    id: z.uuid(),
    prefix: z.string().meta({ description: 'The first characters of the key, to tell keys apart; never the secret' }),
    createdAt: at(),
    lastUsedAt: at().nullable().meta({ description: 'Updated at most once a minute' }),
    revokedAt: at().nullable(),
    expiresAt: at().nullable(),
  })
  .meta({ id: 'ApiKey' });
export const keyListSchema = z.strictObject({ keys: z.array(keySchema) }).meta({ id: 'ApiKeyList' });
export const newKeySchema = keySchema.extend({ apiKey: z.string().meta({ description: 'The key itself: shown once' }) }).meta({ id: 'NewApiKey' });

export const operatorSchema = z
  .object({ id: z.uuid(), email: z.string(), role: z.enum(['viewer', 'operator', 'admin']), disabled: z.boolean(), createdAt: at() })
  .meta({ id: 'Operator' });

export const auditEventSchema = z
  .object({
    id: z.number().int(),
    at: at(),
    actor: z.string(),
    action: z.string(),
    targetType: z.string(),
    targetId: z.string().nullable(),
    reason: z.string().nullable(),
    success: z.boolean(),
    error: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'AuditEvent' });
export const auditListSchema = z.strictObject({ events: z.array(auditEventSchema), nextCursor: z.string().nullable() }).meta({ id: 'AuditList' });

export const webhookSchema = z
  .object({
    id: z.uuid(),
    url: z.string(),
    events: z.array(webhookEventSchema),
    userId: z.uuid().nullable().meta({ description: "The user whose jobs it covers; null: every user's (operator subscriptions)" }),
    createdBy: z.string(),
    createdAt: at(),
  })
  .meta({ id: 'Webhook' });
export const webhookCreatedSchema = webhookSchema.extend({ secret: z.string().meta({ description: 'Signs every delivery; shown once' }) }).meta({ id: 'WebhookCreated' });
export const webhookListSchema = z.strictObject({ webhooks: z.array(webhookSchema) }).meta({ id: 'WebhookList' });

export const deliverySchema = z
  .object({
    id: z.uuid().meta({ description: 'The Warden-Delivery header: the same on every retry' }),
    event: deliveryEventSchema,
    eventId: z.string(),
    eventAt: at(),
    jobId: z.uuid().nullable().meta({ description: 'null for a test ping' }),
    status: deliveryStatusSchema,
    attempts: z.number().int(),
    lastError: z.string().nullable(),
    lastStatus: z.number().int().nullable(),
    nextAttemptAt: at().nullable(),
    deliveredAt: at().nullable(),
    createdAt: at(),
  })
  .meta({ id: 'WebhookDelivery' });
export const deliveryListSchema = z.strictObject({ deliveries: z.array(deliverySchema), nextCursor: z.string().nullable() }).meta({ id: 'WebhookDeliveryList' });

export const attemptSchema = z
  .object({
    id: z.string().meta({ description: 'Attempt id (also the paging cursor)' }),
    deliveryId: z.uuid().meta({ description: 'The delivery (Warden-Delivery header) this was a send of' }),
    eventId: z.string(),
    event: deliveryEventSchema,
    attempt: z.number().int().meta({ description: '1 for the first send of the delivery, 2 for its first retry, …' }),
    at: at().meta({ description: 'When the request went out' }),
    ok: z.boolean().meta({ description: 'The answer was a 2xx' }),
    requestBody: z.string().meta({ description: 'The body sent (signed)' }),
    responseStatus: z.number().int().nullable().meta({ description: 'HTTP status; null when there was no answer (see error)' }),
    responseBody: z.string().nullable().meta({ description: 'The first 4 KB of the answer' }),
    error: z.string().nullable().meta({ description: 'Why it failed, in words (status and start of the body, or the network error)' }),
    durationMs: z.number().int(),
  })
  .meta({ id: 'WebhookAttempt' });
export const attemptListSchema = z.strictObject({ attempts: z.array(attemptSchema), nextCursor: z.string().nullable() }).meta({ id: 'WebhookAttemptList' });
export const pingSchema = z.strictObject({ deliveryId: z.uuid(), eventId: z.uuid() }).meta({ id: 'WebhookPing' });

/**
 * The body of a webhook delivery (POST to the subscriber's URL): the event, the job as it was when
 * the event happened, and the event's own fields. Documented under the OpenAPI `webhooks`.
 */
export const webhookPayloadSchema = z
  .looseObject({
    id: z.string().meta({ description: 'The event id: the same on every retry and for every subscription' }),
    type: webhookEventSchema,
    at: at().meta({ description: 'When it happened' }),
    job: jobSchema,
    sequence: z.number().int().optional().meta({ description: 'Per-job order of events, for receivers that must apply them in order' }),
    deadlineAt: at().optional().meta({ description: 'job.warning: the deadline' }),
    secondsLeft: z.number().int().optional().meta({ description: 'job.warning: seconds until the deadline' }),
    kind: z.string().optional().meta({ description: 'job.terminating: timeout | kill | other' }),
    force: z.boolean().optional().meta({ description: 'job.terminating (kill): the grace period was skipped' }),
    reason: z.string().nullable().optional().meta({ description: 'Final and terminating events: why' }),
    retry: z.boolean().optional().meta({ description: 'job.lost: whether it will be retried' }),
    attempt: z.number().int().nullable().optional().meta({ description: 'job.lost, job.retried: the attempt number' }),
  })
  .meta({ id: 'WebhookPayload', unusedIO: 'output', description: 'A delivery body. Fields not listed here may be added; receivers should ignore them.' });

const limit = <T extends z.ZodType>(v: T) => z.strictObject({ value: v, source: z.enum(['user', 'plan']) });
export const meSchema = z
  .union([
    z.strictObject({
      user: z.strictObject({ id: z.uuid(), name: z.string(), createdAt: at() }),
      plan: z.string(),
      limits: z.strictObject({
        defaultTimeoutSeconds: limit(seconds().nullable()),
        maxTimeoutSeconds: limit(seconds()),
        maxConcurrentJobs: limit(z.number().int()),
        maxQueuedJobs: limit(z.number().int()),
        monthlyQuotaSeconds: limit(seconds().nullable()),
        gracePeriodSeconds: limit(seconds()),
        warnBeforeSeconds: limit(seconds()),
        maxRetries: limit(z.number().int()),
        cpus: limit(z.number()),
        memoryMb: limit(z.number().int()),
      }),
      running: z.number().int(),
      queued: z.number().int(),
      usage: z.strictObject({
        month: z.string(),
        seconds: z.number(),
        jobs: z.number().int(),
        quotaSeconds: seconds().nullable(),
        remainingSeconds: z.number().nullable(),
        overQuota: z.boolean(),
        resetsAt: at(),
        secondsUntilReset: seconds(),
      }),
    }),
    z.strictObject({ operator: z.strictObject({ id: z.uuid(), email: z.string(), role: z.enum(['viewer', 'operator', 'admin']) }) }),
  ])
  .meta({ id: 'Me', description: 'A user key: its plan, effective limits (and which rule set each), counts and usage vs quota. An operator key: who it is.' });

export const nodeSchema = z
  .object({
    id: z.string().describe("the node id (its engine's ID, or WARDEN_NODE_ID)"),
    name: z.string().describe('host name plus short engine id'),
    state: z.enum(['active', 'draining', 'drained', 'down']).describe('drained: draining with nothing left on it; down: heartbeat older than 60 s'),
    heartbeatAt: at(),
    startedAt: at(),
    dockerOk: z.boolean(),
    dockerError: z.string().nullable(),
    version: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    capacity: z.object({ cpus: z.number().nullable(), memoryMb: z.number().int().nullable(), maxJobs: z.number().int().nullable() }).describe('null: unlimited (or not recorded)'),
    allocated: z.object({ cpus: z.number(), memoryMb: z.number(), jobs: z.number().int() }).describe('held by its starting, running and terminating jobs'),
    running: z.number().int().describe('jobs running or terminating on it'),
    drain: z.object({ reason: z.string(), by: z.string(), startedAt: at().nullable(), deadlineAt: at().nullable() }).nullable(),
  })
  .meta({ id: 'Node', description: 'A worker node (one Docker engine): capacity, allocation and state' });

export const clusterSchema = z
  .object({
    runtime: z.enum(['docker', 'kubernetes']).describe('the runtime that places work itself'),
    nodes: z.array(
      z.object({
        name: z.string(),
        ready: z.boolean(),
        unschedulable: z.boolean().describe('cordoned: the scheduler places nothing new on it'),
        allocatableCpus: z.number().nullable(),
        allocatableMemoryMb: z.number().nullable(),
        wardenPods: z.number().int().describe("Warden's Pods (its namespace) on the node, not yet ended"),
      }),
    ),
    error: z.string().nullable().describe('why the cluster did not answer (nodes is then empty)'),
  })
  .meta({ id: 'Cluster', description: "The cluster's own nodes, read-only, when the runtime places work itself (Kubernetes); Warden never drains or labels them" });

export const orphansSchema = z
  .looseObject({})
  .meta({ id: 'OrphanReport', description: 'What the orphan sweeper sees now: orphaned containers, lost jobs, orphaned children (see the dashboard’s Orphans view)' });

// ---------------------------------------------------------------------------------------------
// Compile-time: each schema's output type is exactly what the domain serialises.
// ---------------------------------------------------------------------------------------------

type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Each assignable to the other: for getMe, whose two object-literal branches TS widens with `?: undefined` props. */
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Json<F extends (...a: never[]) => unknown> = ReturnType<F>;

export const sameShapes: [
  Same<z.output<typeof jobSchema>, Json<typeof jobToJson>>,
  Same<z.output<typeof planSchema>, Json<typeof planToJson>>,
  Same<z.output<typeof classSchema>, Json<typeof classToJson>>,
  Same<z.output<typeof userSchema>, Json<typeof userToJson>>,
  Same<z.output<typeof auditEventSchema>, Json<typeof auditToJson>>,
  Same<z.output<typeof webhookSchema>, Json<typeof webhookToJson>>,
  Same<z.output<typeof deliverySchema>, Json<typeof deliveryToJson>>,
  Same<z.output<typeof attemptSchema>, Json<typeof attemptToJson>>,
  Mutual<z.output<typeof meSchema>, Awaited<Json<typeof getMe>>>,
  Same<z.output<typeof keySchema>, Json<typeof keyToJson>>,
  Same<z.output<typeof operatorSchema>, Json<typeof operatorToJson>>,
  Same<z.output<typeof nodeSchema>, Json<typeof nodeToJson>>,
  Mutual<z.output<typeof clusterSchema>, NonNullable<Awaited<Json<typeof clusterNodes>>>>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true];

// Keep the row types referenced so a schema change shows up here first.
export type _Rows = [Job, Plan, JobClass, User, AuditEvent];
