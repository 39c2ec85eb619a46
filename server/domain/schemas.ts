import { z } from 'zod';
import { echoInput } from './echo';
import { unknownStatusMessage } from './status';
import { WEBHOOK_EVENTS } from './webhook-events';
import { forbiddenNetwork } from '../docker/host-config';

/**
 * Input schemas shared by the HTTP API, server actions and forms. No server-only imports here,
 * so client components can validate with the same rules.
 */

const DAY = 86400;
/** PostgreSQL's `integer`: the largest value a seconds column can hold. */
const INT4_MAX = 2_147_483_647;

/** A canonical UUID. Checked before an id reaches SQL, where a malformed one is an error, not "no row". */
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID_RE.test(s);
const int = (label: string, min: number, max: number) =>
  z
    .number({
      error: (i) => (i.input === undefined ? `${label} is required` : i.input === null ? `${label} cannot be null` : `${label} must be a number`),
    })
    .int({ error: `${label} must be a whole number` })
    .min(min, { error: `${label} must be at least ${min}` })
    .max(max, { error: `${label} must be at most ${max}` });

const IMAGE_RE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/**
 * Hard ceilings of the submit schema. The real bounds are the plan's caps (server/domain/caps.ts,
 * 422 naming the cap); these only keep absurd input out before it is looked at, and a plan's cap
 * fields (planFieldsSchema) may not be set above them.
 */
export const SUBMIT_CEILINGS = { envVars: 1000, commandArgs: 4096, labels: 1000, bytes: 256 * 1024 } as const;

/** Keys that mean something to JavaScript objects: refused outright rather than silently dropped by a record parser. */
const PROTO_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export const labelsSchema = z
  .record(
    z
      .string()
      .min(1, 'label keys must not be empty')
      .max(100, 'label keys must be at most 100 characters')
      .regex(/^[A-Za-z0-9._/-]+$/, 'label keys may contain letters, digits, . _ / -')
      .refine((k) => !k.startsWith('warden.'), 'label keys starting with "warden." are reserved')
      .refine((k) => !PROTO_KEYS.has(k), 'this label key is not allowed'),
    z.string().max(500, 'label values must be at most 500 characters'),
  )
  .refine((r) => Object.keys(r).length <= SUBMIT_CEILINGS.labels, `at most ${SUBMIT_CEILINGS.labels} labels`);

export const envVarsSchema = z
  .record(
    z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'env names must match [A-Za-z_][A-Za-z0-9_]*')
      .refine((k) => !PROTO_KEYS.has(k), 'this env name is not allowed'),
    z.string().max(8192, 'env values must be at most 8192 characters'),
  )
  .refine((r) => Object.keys(r).length <= SUBMIT_CEILINGS.envVars, `at most ${SUBMIT_CEILINGS.envVars} env variables`);

/** An absolute path inside the job's container (what Docker's archive API copies out). */
export const resultsPathSchema = z
  .string({ error: 'resultsPath must be a string' })
  .max(1024, 'resultsPath must be at most 1024 characters')
  .regex(/^\/[^\0]*$/, 'resultsPath must be an absolute path in the container, like /out');

export const CLASS_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const classNameSchema = z
  .string({ error: 'class must be a string' })
  .regex(CLASS_NAME_RE, 'class names are 1-63 lowercase letters, digits, _ or -');

export const submitJobSchema = z.strictObject({
  image: z
    .string({ error: (i) => (i.input === undefined ? 'image is required' : 'image must be a string') })
    .min(1, 'image is required')
    .max(255, 'image must be at most 255 characters')
    .regex(IMAGE_RE, 'image must be a Docker image reference like "alpine:3.20"'),
  command: z
    .array(z.string().max(16384, 'each command argument must be at most 16384 characters'), {
      error: 'command must be an array of strings',
    })
    .max(SUBMIT_CEILINGS.commandArgs, `command may have at most ${SUBMIT_CEILINGS.commandArgs} arguments`)
    .optional(),
  name: z.string({ error: 'name must be a string' }).trim().min(1, 'name must not be empty').max(200, 'name must be at most 200 characters').optional(),
  env: envVarsSchema.optional(),
  labels: labelsSchema.optional(),
  // Bounded only by the column here: the real bound is the user's cap (plan or override), which
  // submitJob enforces with a message naming it. A 30-day bound here would answer "at most
  // 2592000" for a request above a 900 s cap instead of naming the cap.
  timeoutSeconds: int('timeoutSeconds', 1, INT4_MAX).optional(),
  gracePeriodSeconds: int('gracePeriodSeconds', 0, 3600).optional(),
  ttlSecondsAfterFinished: int('ttlSecondsAfterFinished', 0, 365 * DAY).optional(),
  maxRetries: int('maxRetries', 0, 20).optional(),
  parentId: z.uuid({ error: 'parentId must be a job id (UUID)' }).optional(),
  /** A job class (GET /api/v1/classes): its defaults sit between this request and the user/plan. */
  class: classNameSchema.optional(),
  /** Copied out of the container when the job ends (GET /api/v1/jobs/:id/results). */
  resultsPath: resultsPathSchema.optional(),
  /** No new output for this long → the timeout escalation, final `timed_out`. */
  idleTimeoutSeconds: int('idleTimeoutSeconds', 1, INT4_MAX).optional(),
});
export type SubmitJobInput = z.infer<typeof submitJobSchema>;

/** GET /api/v1/jobs/:id/logs?follow=true streams the live log until the container stops. */
export const logsQuerySchema = z.strictObject({
  follow: z.enum(['true', 'false', '1', '0'], { error: 'follow must be true or false' }).optional(),
});

/** GET /api/v1/jobs/:id/logs/stream: how many earlier lines to send first (server/dashboard/log-stream.ts). */
export const LOG_STREAM_TAIL_MAX = 10_000;
export const logStreamQuerySchema = z.strictObject({
  tail: z.coerce
    .number({ error: 'tail must be a whole number of lines' })
    .int('tail must be a whole number of lines')
    .min(0, 'tail must be 0 or more lines')
    .max(LOG_STREAM_TAIL_MAX, `tail must be at most ${LOG_STREAM_TAIL_MAX} lines`)
    .optional(),
});

export const killJobSchema = z.strictObject({
  force: z.boolean({ error: 'force must be true or false' }).optional(),
  reason: z.string().trim().max(500, 'reason must be at most 500 characters').optional(),
});
export type KillJobInput = z.infer<typeof killJobSchema>;

export const extendJobSchema = z.strictObject({
  seconds: z
    .number({ error: (i) => (i.input === undefined ? 'seconds is required' : 'seconds must be a number') })
    .int({ error: 'seconds must be a whole number' })
    .positive({ error: 'seconds must be greater than 0' })
    .max(365 * DAY, { error: `seconds must be at most ${365 * DAY}` }),
  reason: z.string().trim().max(500, 'reason must be at most 500 characters').optional(),
  overrideCap: z.boolean().optional(),
});
export type ExtendJobInput = z.infer<typeof extendJobSchema>;

export const suspendJobSchema = z.strictObject({
  suspended: z.boolean({ error: (i) => (i.input === undefined ? 'suspended is required' : 'suspended must be true or false') }),
  reason: z.string().trim().max(500, 'reason must be at most 500 characters').optional(),
});
export type SuspendJobInput = z.infer<typeof suspendJobSchema>;

export const PLAN_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const planNameSchema = z.string().regex(PLAN_NAME_RE, 'plan names are 1-63 lowercase letters, digits, _ or -');

const optNull = <T extends z.ZodType>(s: T) => s.nullable().optional();

export const planFieldsSchema = z.strictObject({
  defaultTimeoutSeconds: int('defaultTimeoutSeconds', 1, 30 * DAY).optional(),
  maxTimeoutSeconds: int('maxTimeoutSeconds', 1, 30 * DAY).optional(),
  maxConcurrentJobs: int('maxConcurrentJobs', 0, 10000).optional(),
  maxQueuedJobs: int('maxQueuedJobs', 0, 1_000_000).optional(),
  gracePeriodSeconds: int('gracePeriodSeconds', 0, 3600).optional(),
  warnBeforeSeconds: int('warnBeforeSeconds', 0, 30 * DAY).optional(),
  ttlSucceededSeconds: int('ttlSucceededSeconds', 0, 365 * DAY).optional(),
  ttlFailedSeconds: int('ttlFailedSeconds', 0, 365 * DAY).optional(),
  ttlTimedOutSeconds: int('ttlTimedOutSeconds', 0, 365 * DAY).optional(),
  ttlKilledSeconds: int('ttlKilledSeconds', 0, 365 * DAY).optional(),
  ttlLostSeconds: int('ttlLostSeconds', 0, 365 * DAY).optional(),
  maxRetries: int('maxRetries', 0, 20).optional(),
  monthlyQuotaSeconds: optNull(int('monthlyQuotaSeconds', 1, 10_000 * 3600)),
  // Every container gets cpu, memory and pids caps: null is refused (a new plan starts from
  // FENCE_DEFAULTS), so no plan can be saved without them.
  cpus: z
    .number({ error: (i) => (i.input === null ? 'cpus cannot be null: every plan has a cpu cap' : 'cpus must be a number') })
    .positive({ error: 'cpus must be greater than 0' })
    .max(256, { error: 'cpus must be at most 256' })
    .optional(),
  memoryMb: int('memoryMb', 6, 1024 * 1024).optional(),
  pidsLimit: int('pidsLimit', 8, 1_000_000).optional(),
  network: z
    .string({ error: 'network must be "none", "warden" or the name of an existing Docker network' })
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'network must be "none", "warden" or the name of an existing Docker network')
    .refine((n) => !forbiddenNetwork(n), { error: (i) => `network refused: ${forbiddenNetwork(String(i.input))}` })
    .optional(),
  runtime: optNull(
    z
      .string({ error: 'runtime must be an OCI runtime name such as "runsc", or null for the engine default' })
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'runtime must be an OCI runtime name such as "runsc", or null for the engine default'),
  ),
  idleTimeoutSeconds: optNull(int('idleTimeoutSeconds', 1, 30 * DAY)),
  resultsPath: optNull(resultsPathSchema),
  /** 0 keeps no results at all. At most 1 GiB: a PostgreSQL bytea value's limit. */
  maxResultsMb: int('maxResultsMb', 0, 1024).optional(),
  /** All of one user's saved results together; 0 keeps none. */
  maxResultsTotalMb: int('maxResultsTotalMb', 0, 1024 * 1024).optional(),
  maxEnvVars: int('maxEnvVars', 0, SUBMIT_CEILINGS.envVars).optional(),
  maxEnvBytes: int('maxEnvBytes', 0, SUBMIT_CEILINGS.bytes).optional(),
  maxCommandArgs: int('maxCommandArgs', 0, SUBMIT_CEILINGS.commandArgs).optional(),
  maxCommandBytes: int('maxCommandBytes', 0, SUBMIT_CEILINGS.bytes).optional(),
  maxLabels: int('maxLabels', 0, SUBMIT_CEILINGS.labels).optional(),
  maxLabelBytes: int('maxLabelBytes', 0, SUBMIT_CEILINGS.bytes).optional(),
});
export type PlanFieldsInput = z.infer<typeof planFieldsSchema>;

/** PUT /api/v1/classes/:name replaces the class: an omitted optional field is cleared (falls through to the plan). */
/** Node label keys and values (WARDEN_NODE_LABELS, a class's nodeSelector): short, plain words. */
export const NODE_LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.\/-]{0,62}$/;
export const NODE_LABEL_VALUE_RE = /^[A-Za-z0-9_.\/-]{0,63}$/;
/** A class's nodeSelector: labels a node must carry for the class's jobs to go there (at most 16). */
export const nodeSelectorSchema = z
  .record(
    z.string().regex(NODE_LABEL_KEY_RE, 'nodeSelector keys are 1-63 letters, digits, _ . / - (like gpu or zone)'),
    z.string({ error: 'nodeSelector values must be strings (like "true")' }).regex(NODE_LABEL_VALUE_RE, 'nodeSelector values are up to 63 letters, digits, _ . / -'),
    { error: 'nodeSelector must be an object of label: value, like {"gpu": "true"}' },
  )
  .refine((r) => Object.keys(r).length <= 16, 'nodeSelector takes at most 16 labels');

export const classFieldsSchema = z.strictObject({
  description: optNull(z.string({ error: 'description must be a string' }).trim().max(500, 'description must be at most 500 characters')),
  defaultTimeoutSeconds: int('defaultTimeoutSeconds', 1, 30 * DAY),
  maxTimeoutSeconds: optNull(int('maxTimeoutSeconds', 1, 30 * DAY)),
  gracePeriodSeconds: optNull(int('gracePeriodSeconds', 0, 3600)),
  warnBeforeSeconds: optNull(int('warnBeforeSeconds', 0, 30 * DAY)),
  idleTimeoutSeconds: optNull(int('idleTimeoutSeconds', 1, 30 * DAY)),
  ttlSucceededSeconds: optNull(int('ttlSucceededSeconds', 0, 365 * DAY)),
  ttlFailedSeconds: optNull(int('ttlFailedSeconds', 0, 365 * DAY)),
  ttlTimedOutSeconds: optNull(int('ttlTimedOutSeconds', 0, 365 * DAY)),
  ttlKilledSeconds: optNull(int('ttlKilledSeconds', 0, 365 * DAY)),
  ttlLostSeconds: optNull(int('ttlLostSeconds', 0, 365 * DAY)),
  resultsPath: optNull(resultsPathSchema),
  nodeSelector: optNull(nodeSelectorSchema),
});
export type ClassFieldsInput = z.infer<typeof classFieldsSchema>;

export const createUserSchema = z.strictObject({
  name: z
    .string({ error: (i) => (i.input === undefined ? 'name is required' : 'name must be a string') })
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, 'user names are 1-64 letters, digits, _ . @ -'),
  plan: planNameSchema,
});

export const updateUserSchema = z.strictObject({
  plan: planNameSchema.optional(),
  defaultTimeoutSeconds: optNull(int('defaultTimeoutSeconds', 1, 30 * DAY)),
  maxTimeoutSeconds: optNull(int('maxTimeoutSeconds', 1, 30 * DAY)),
  maxConcurrentJobs: optNull(int('maxConcurrentJobs', 0, 10000)),
  maxQueuedJobs: optNull(int('maxQueuedJobs', 0, 1_000_000)),
  monthlyQuotaSeconds: optNull(int('monthlyQuotaSeconds', 1, 10_000 * 3600)),
});
export type UpdateUserInput = z.infer<typeof updateUserSchema>;

/** POST …/keys: an optional expiry (ISO 8601 with a zone, e.g. 2026-12-31T00:00:00Z). */
export const createKeySchema = z.strictObject({
  expiresAt: z.iso
    .datetime({ offset: true, error: 'expiresAt must be an ISO 8601 time with a zone, like 2026-12-31T00:00:00Z' })
    .optional(),
});

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export const createOperatorSchema = z.strictObject({
  email: z.email({ error: 'a valid email is required' }).max(254).transform((s) => s.toLowerCase()),
  role: z.enum(ROLES, { error: 'role must be viewer, operator or admin' }),
  password: z.string().min(8, 'password must be at least 8 characters').max(200).optional(),
});

export const JOB_STATUS_VALUES = [
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

export const listJobsQuerySchema = z.strictObject({
  status: z
    .string()
    .optional()
    .transform((s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined))
    .pipe(z.array(z.enum(JOB_STATUS_VALUES, { error: (i) => unknownStatusMessage(String(i.input)) })).optional()),
  user: z.string().max(100).optional(),
  limit: z.coerce.number({ error: 'limit must be a number' }).int('limit must be a whole number').min(1, 'limit must be at least 1').max(500, 'limit must be at most 500').optional(),
  cursor: z.string().max(200).optional(),
});

/** POST /api/v1/webhooks. `events` absent: every event type. */
export const createWebhookSchema = z.strictObject({
  url: z
    .string({ error: (i) => (i.input === undefined ? 'url is required' : 'url must be a string') })
    .trim()
    .min(1, 'url is required')
    .max(2048, 'url must be at most 2048 characters'),
  events: z
    .array(
      z.enum(WEBHOOK_EVENTS, { error: (i) => `unknown event ${echoInput(JSON.stringify(i.input))}; known events: ${WEBHOOK_EVENTS.join(', ')}` }),
      { error: 'events must be an array of event names' },
    )
    .min(1, 'events must name at least one event (leave it out for all of them)')
    .max(WEBHOOK_EVENTS.length, `events may list at most ${WEBHOOK_EVENTS.length} names`)
    .refine((a) => new Set(a).size === a.length, 'events must not repeat a name')
    .optional(),
  secret: z
    .string({ error: 'secret must be a string' })
    .min(16, 'secret must be at least 16 characters')
    .max(256, 'secret must be at most 256 characters')
    .regex(/^[\x21-\x7e]+$/, 'secret must be printable ASCII without spaces')
    .optional(),
  userId: z.uuid({ error: 'userId must be a user id (UUID)' }).optional(),
});
export type CreateWebhookInput = z.infer<typeof createWebhookSchema>;

export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export const listAttemptsQuerySchema = z.strictObject({
  limit: z.coerce.number({ error: 'limit must be a number' }).int('limit must be a whole number').min(1, 'limit must be at least 1').max(200, 'limit must be at most 200').optional(),
  cursor: z.string().regex(/^[0-9]{1,18}$/, 'cursor is not valid').optional(),
});

export const listDeliveriesQuerySchema = z.strictObject({
  status: z.enum(DELIVERY_STATUSES, { error: `status must be one of ${DELIVERY_STATUSES.join(', ')}` }).optional(),
  limit: z.coerce.number({ error: 'limit must be a number' }).int('limit must be a whole number').min(1, 'limit must be at least 1').max(200, 'limit must be at most 200').optional(),
  cursor: z.string().regex(/^[0-9]{1,18}$/, 'cursor is not valid').optional(),
});
