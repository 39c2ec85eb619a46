import { drainNodeSchema, resumeNodeSchema } from '../domain/nodes';
import { z } from 'zod';
import { auditQuerySchema } from '../domain/audit-queries';
import {
  classFieldsSchema,
  classNameSchema,
  createKeySchema,
  createUserSchema,
  createWebhookSchema,
  extendJobSchema,
  killJobSchema,
  listAttemptsQuerySchema,
  listDeliveriesQuerySchema,
  listJobsQuerySchema,
  logsQuerySchema,
  logStreamQuerySchema,
  planFieldsSchema,
  planNameSchema,
  submitJobSchema,
  suspendJobSchema,
  updateUserSchema,
} from '../domain/schemas';
import {
  auditListSchema,
  classSchema,
  attemptListSchema,
  deliveryListSchema,
  pingSchema,
  jobListSchema,
  jobSchema,
  keyListSchema,
  keySchema,
  meSchema,
  newKeySchema,
  operatorSchema,
  nodeSchema,
  clusterSchema,
  orphansSchema,
  planSchema,
  userListSchema,
  userSchema,
  userWithKeySchema,
  webhookCreatedSchema,
  webhookListSchema,
  webhookSchema,
} from './responses';

/**
 * Every /api/v1 route, in one list: method, path, who may call it, and the zod schemas of its
 * path, query, body and response — the same request schemas the domain parses with, so the
 * OpenAPI document (./openapi.ts) cannot drift from what the routes accept. A new route file
 * under app/api/v1 needs an entry here: test/openapi.test.ts discovers the route files and fails
 * for any (path, method) missing from the document.
 */

export type Method = 'get' | 'post' | 'put' | 'delete';
export type Access = 'public' | 'user' | 'viewer' | 'operator' | 'admin';

export interface ApiRoute {
  method: Method;
  /** OpenAPI style: /api/v1/jobs/{id} */
  path: string;
  summary: string;
  description?: string;
  /** Lowest role that may call it; `user` = user keys (their own jobs) and every operator. */
  access: Access;
  /** Operators may call it too, with at least this role (for `user` routes). */
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request headers it reads beyond Authorization. */
  headers?: z.ZodObject;
  body?: z.ZodType;
  bodyRequired?: boolean;
  /** `sse`: a text/event-stream; a string describes its events (default: the live feed's). */
  ok: { status: 200 | 201 | 202 | 204; description: string; json?: z.ZodType; text?: true; tar?: true; sse?: true | string };
  /** Error statuses it can answer with (always in the Error shape). */
  errors: number[];
  /** Example request bodies (name → summary and value), shown in the reference. */
  examples?: Record<string, { summary: string; value: unknown }>;
}

const jobId = z.object({
  id: z
    .string()
    .regex(/^[0-9a-fA-F-]{6,36}$/)
    .meta({ description: 'Job id, or a unique prefix of it of at least 6 characters (409 ambiguous_id lists the matches; 422 id_too_short)' }),
});
const userId = z.object({ id: z.uuid().meta({ description: 'User id' }) });
const planName = z.object({ name: planNameSchema.meta({ description: 'Plan name' }) });
const className = z.object({ name: classNameSchema.meta({ description: 'Class name' }) });
const operatorId = z.object({ id: z.uuid().meta({ description: 'Operator id' }) });
const keyPath = (owner: string) => z.object({ id: z.uuid().meta({ description: owner }), keyId: z.uuid().meta({ description: 'Key id' }) });
const webhookId = z.object({ id: z.uuid().meta({ description: 'Subscription id' }) });
const AUTH = [401, 403];
const nodeId = z.object({ id: z.string().meta({ description: 'Node id (GET /api/v1/nodes lists them)' }) });

export const API_ROUTES: ApiRoute[] = [
  // Jobs
  {
    method: 'post',
    path: '/api/v1/jobs',
    summary: 'Submit a job',
    description: 'A user key submits for itself; an operator key (operator role) for `?user=<user id>`. Limits and caps are checked first (422 naming the cap; 429 when the queue is full). The image\'s registry must pass the registry policy (`WARDEN_REGISTRIES`; unset: no IP literals, local names or names resolving to private addresses): else 422 `registry_not_allowed` on `image`, naming the registry and the setting.',
    access: 'user',
    query: z.object({ user: z.uuid().optional().meta({ description: 'Operators: the user to submit for' }) }),
    body: submitJobSchema,
    bodyRequired: true,
    examples: {
      minimal: { summary: 'An image and a command; the plan sets the timeout', value: { image: 'busybox:1.36', command: ['sh', '-c', 'echo hello'] } },
      full: {
        summary: 'A named job with a timeout, grace, TTL, env and labels',
        value: { image: 'busybox:1.36', command: ['sleep', '120'], name: 'nightly-report', timeoutSeconds: 60, gracePeriodSeconds: 5, ttlSecondsAfterFinished: 600, env: { MODE: 'fast' }, labels: { team: 'data' } },
      },
    },
    ok: { status: 201, description: 'The queued job', json: jobSchema },
    errors: [400, ...AUTH, 404, 409, 422, 429],
  },
  {
    method: 'get',
    path: '/api/v1/jobs',
    summary: 'List jobs, newest first',
    description: 'Operators see every job (filter by `user`); a user key sees only its own. `nextCursor` pages.',
    access: 'user',
    query: listJobsQuerySchema,
    ok: { status: 200, description: 'A page of jobs', json: jobListSchema },
    errors: [...AUTH, 422],
  },
  { method: 'get', path: '/api/v1/jobs/{id}', summary: 'A job', access: 'user', params: jobId, ok: { status: 200, description: 'The job', json: jobSchema }, errors: [...AUTH, 404, 409, 422] },
  {
    method: 'get',
    path: '/api/v1/jobs/{id}/logs',
    summary: "A job's output",
    description:
      'The saved log tail (last 64 KiB), or the live tail while it runs. `follow=true` streams the live output until the container stops; at most 4 follows per user and `WARDEN_MAX_LOG_FOLLOWS` per server are open at once, past that a 429 `too_many_follows` with `Retry-After`.',
    access: 'user',
    params: jobId,
    query: logsQuerySchema,
    ok: { status: 200, description: 'stdout and stderr as text', text: true },
    errors: [...AUTH, 404, 409, 422, 429],
  },
  {
    method: 'get',
    path: '/api/v1/jobs/{id}/logs/stream',
    summary: "A job's output line by line, live (Server-Sent Events)",
    description:
      'A `text/event-stream`: `event: hello` (`{jobId, status, resumed}`), then one `event: line` per line (`{at, stream, text}`: the engine\'s time, `stdout` or `stderr`, the text; `id:` is the line\'s place in the log, see `Last-Event-ID`), first the last `tail` lines (default 1000, at most 10000), then each new one as the container writes it; `event: end` (`{status, exitCode, reason}`) when the job is final. A job not started yet is waited for. When its container is gone, `event: source` (`{source: "saved"}`) and the saved tail (last 64 KiB; `at` and `stream` null) follow, then `end`. A `: keep-alive` comment every 15 s keeps proxies from closing it. Lines are read from the engine only as fast as the client reads them. Each stream takes one of the log-follow slots (4 per user, `WARDEN_MAX_LOG_FOLLOWS` per server; 429 `too_many_follows` with `Retry-After`). A reconnect that sends the last line\'s id as `Last-Event-ID` (as EventSource does) goes on right after that line (`resumed: true`: only the lines written since, none twice); an id more than 10000 lines back, of another container or not one of ours gets the tail as a first connection does (`resumed: false`, and `hello` clears the id with an empty `id:`).',
    access: 'user',
    params: jobId,
    query: logStreamQuerySchema,
    headers: z.object({
      'last-event-id': z
        .string()
        .optional()
        .meta({ description: 'The `id:` of the last `line` event received: the stream goes on after that line instead of sending the tail again (browsers\' EventSource sends it when they reconnect)' }),
    }),
    ok: { status: 200, description: 'The stream (text/event-stream)', sse: 'Server-Sent Events: `event: hello` (`{jobId, status, resumed}`), `event: line` (`{at, stream, text}`, with `id:`) per line, `event: source` (`{source: "saved"}`) before a saved tail, `event: end` (`{status, exitCode, reason}`)' },
    errors: [...AUTH, 404, 409, 422, 429],
  },
  {
    method: 'get',
    path: '/api/v1/jobs/{id}/results',
    summary: "A job's results",
    description: 'A tar of what the job left under its `resultsPath`, copied out when it ended and kept until its TTL. Header `Warden-Results-Truncated: true` when the plan\'s `maxResultsMb` cut it short. Streamed from the database. A job that would have gone past the plan\'s `maxResultsTotalMb` (all of a user\'s results together) keeps none: 404 saying so.',
    access: 'user',
    params: jobId,
    ok: { status: 200, description: 'The results archive', tar: true },
    errors: [...AUTH, 404, 409, 422],
  },
  { method: 'post', path: '/api/v1/jobs/{id}/cancel', summary: 'Cancel a queued job, or kill a running one as its owner', access: 'user', params: jobId, ok: { status: 200, description: 'The job', json: jobSchema }, errors: [...AUTH, 404, 409, 422] },
  {
    method: 'post',
    path: '/api/v1/jobs/{id}/kill',
    summary: 'Kill a job (SIGTERM, grace, SIGKILL; `force` skips the grace)',
    description: 'Operators, or the job\'s owner.',
    access: 'user',
    params: jobId,
    body: killJobSchema,
    examples: {
      graceful: { summary: 'SIGTERM, the grace period, then SIGKILL', value: { reason: 'stuck on a lock' } },
      force: { summary: 'SIGKILL at once', value: { force: true, reason: 'runaway memory' } },
    },
    ok: { status: 200, description: 'The job (terminating, then killed)', json: jobSchema },
    errors: [400, ...AUTH, 404, 409, 422],
  },
  {
    method: 'post',
    path: '/api/v1/jobs/{id}/extend',
    summary: "Add seconds to a running job's deadline",
    description: 'Refused past the cap (admins may pass `overrideCap` with a reason). The owner may extend its own running job with its user key, within the cap only.',
    access: 'user',
    params: jobId,
    body: extendJobSchema,
    bodyRequired: true,
    examples: {
      tenMinutes: { summary: 'Ten more minutes, within the cap', value: { seconds: 600, reason: 'the backfill is almost done' } },
      overCap: { summary: 'Past the cap (admins only, with a reason)', value: { seconds: 7200, reason: 'incident 4711', overrideCap: true } },
    },
    ok: { status: 200, description: 'The job', json: jobSchema },
    errors: [400, ...AUTH, 404, 409, 422],
  },
  {
    method: 'post',
    path: '/api/v1/jobs/{id}/suspend',
    summary: "Suspend or resume a job's timeout",
    access: 'admin',
    params: jobId,
    body: suspendJobSchema,
    bodyRequired: true,
    ok: { status: 200, description: 'The job', json: jobSchema },
    errors: [400, ...AUTH, 404, 409, 422],
  },
  // Classes
  { method: 'get', path: '/api/v1/classes', summary: 'Every job class', access: 'user', ok: { status: 200, description: 'The classes', json: z.object({ classes: z.array(classSchema) }).meta({ id: 'ClassList' }) }, errors: AUTH },
  { method: 'get', path: '/api/v1/classes/{name}', summary: 'A job class', access: 'user', params: className, ok: { status: 200, description: 'The class', json: classSchema }, errors: [...AUTH, 404] },
  {
    method: 'put',
    path: '/api/v1/classes/{name}',
    summary: 'Create or replace a job class',
    description: 'Omitted optional fields are cleared (fall through to the plan). A default above the class\'s own max is refused; one above a user\'s cap is refused when used.',
    access: 'admin',
    params: className,
    body: classFieldsSchema,
    bodyRequired: true,
    ok: { status: 200, description: 'The class (201 when created)', json: classSchema },
    errors: [400, ...AUTH, 409, 422],
  },
  { method: 'delete', path: '/api/v1/classes/{name}', summary: 'Delete a job class', access: 'admin', params: className, ok: { status: 200, description: 'The deleted class', json: classSchema }, errors: [...AUTH, 404] },
  // Plans
  { method: 'get', path: '/api/v1/plans', summary: 'Every plan', access: 'viewer', ok: { status: 200, description: 'The plans', json: z.object({ plans: z.array(planSchema) }).meta({ id: 'PlanList' }) }, errors: AUTH },
  { method: 'get', path: '/api/v1/plans/{name}', summary: 'A plan', access: 'viewer', params: planName, ok: { status: 200, description: 'The plan', json: planSchema }, errors: [...AUTH, 404] },
  {
    method: 'put',
    path: '/api/v1/plans/{name}',
    summary: 'Create or update a plan',
    access: 'admin',
    params: planName,
    body: planFieldsSchema,
    bodyRequired: true,
    ok: { status: 200, description: 'The plan (201 when created)', json: planSchema },
    errors: [400, ...AUTH, 409, 422],
  },
  // Users
  { method: 'get', path: '/api/v1/users', summary: 'Users with running, queued and usage this month', access: 'viewer', ok: { status: 200, description: 'The users', json: userListSchema }, errors: AUTH },
  { method: 'post', path: '/api/v1/users', summary: 'Create a user', access: 'admin', body: createUserSchema, bodyRequired: true, ok: { status: 201, description: 'The user and its API key (shown once)', json: userWithKeySchema }, errors: [400, ...AUTH, 409, 422] },
  { method: 'get', path: '/api/v1/users/{id}', summary: 'A user', access: 'viewer', params: userId, ok: { status: 200, description: 'The user', json: userSchema }, errors: [...AUTH, 404] },
  { method: 'put', path: '/api/v1/users/{id}', summary: "Change a user's plan or overrides (`null` clears one)", access: 'admin', params: userId, body: updateUserSchema, bodyRequired: true, ok: { status: 200, description: 'The user', json: userSchema }, errors: [400, ...AUTH, 404, 422] },
  { method: 'get', path: '/api/v1/users/{id}/keys', summary: "A user's API keys, never the secret", description: 'Admins, or the user with its own key.', access: 'user', params: userId, ok: { status: 200, description: 'The keys', json: keyListSchema }, errors: [...AUTH, 404] },
  { method: 'post', path: '/api/v1/users/{id}/keys', summary: 'A new API key for a user', access: 'admin', params: userId, body: createKeySchema, ok: { status: 201, description: 'The key (shown once)', json: newKeySchema }, errors: [400, ...AUTH, 404, 422] },
  { method: 'delete', path: '/api/v1/users/{id}/keys/{keyId}', summary: "Revoke a user's API key (refused from the next request on)", description: 'Admins, or the user with its own key. Audited.', access: 'user', params: keyPath('User id'), ok: { status: 200, description: 'The revoked key', json: keySchema }, errors: [...AUTH, 404, 409] },
  // Operators and their keys
  { method: 'get', path: '/api/v1/operators', summary: 'Every operator', access: 'admin', ok: { status: 200, description: 'The operators', json: z.object({ operators: z.array(operatorSchema) }).meta({ id: 'OperatorList' }) }, errors: AUTH },
  { method: 'get', path: '/api/v1/operators/{id}/keys', summary: "An operator's API keys, never the secret", description: 'Admins, or the operator with its own key.', access: 'viewer', params: operatorId, ok: { status: 200, description: 'The keys', json: keyListSchema }, errors: [...AUTH, 404] },
  { method: 'post', path: '/api/v1/operators/{id}/keys', summary: 'A new API key for an operator', access: 'admin', params: operatorId, body: createKeySchema, ok: { status: 201, description: 'The key (shown once)', json: newKeySchema }, errors: [400, ...AUTH, 404, 422] },
  { method: 'delete', path: '/api/v1/operators/{id}/keys/{keyId}', summary: "Revoke an operator's API key", description: 'Admins, or the operator with its own key. Audited.', access: 'viewer', params: keyPath('Operator id'), ok: { status: 200, description: 'The revoked key', json: keySchema }, errors: [...AUTH, 404, 409] },
  // Users' own view and webhooks
  { method: 'get', path: '/api/v1/me', summary: "The caller: a user's plan, effective limits (and which rule set each), counts and usage vs quota", access: 'user', ok: { status: 200, description: 'Who the key is', json: meSchema }, errors: [401] },
  {
    method: 'post',
    path: '/api/v1/webhooks',
    summary: 'Subscribe to job events',
    description: 'A user key subscribes to its own jobs; an operator key (operator role) to every job, or one user\'s with `userId`. The URL must be http(s) and, unless WARDEN_WEBHOOK_ALLOW_PRIVATE=on, resolve to public addresses only. Deliveries are signed: `Warden-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.',
    access: 'user',
    body: createWebhookSchema,
    bodyRequired: true,
    ok: { status: 201, description: 'The subscription and its secret (shown once)', json: webhookCreatedSchema },
    errors: [400, ...AUTH, 404, 422, 429],
  },
  { method: 'get', path: '/api/v1/webhooks', summary: "The caller's subscriptions (operators: all)", access: 'user', ok: { status: 200, description: 'The subscriptions', json: webhookListSchema }, errors: AUTH },
  { method: 'get', path: '/api/v1/webhooks/{id}', summary: 'A subscription', access: 'user', params: webhookId, ok: { status: 200, description: 'The subscription', json: webhookSchema }, errors: [...AUTH, 404] },
  { method: 'delete', path: '/api/v1/webhooks/{id}', summary: 'Delete a subscription and its pending deliveries', access: 'user', params: webhookId, ok: { status: 204, description: 'Deleted' }, errors: [...AUTH, 404] },
  {
    method: 'get',
    path: '/api/v1/webhooks/{id}/deliveries',
    summary: "A subscription's deliveries, newest first",
    access: 'user',
    params: webhookId,
    query: listDeliveriesQuerySchema,
    ok: { status: 200, description: 'A page of deliveries', json: deliveryListSchema },
    errors: [...AUTH, 404, 422],
  },
  {
    method: 'get',
    path: '/api/v1/webhooks/{id}/attempts',
    summary: "Every send of a subscription's deliveries, newest first",
    description: 'One row per HTTP request: the body sent, the status (or the network error in words), the first 4 KB of the answer and the duration; a 500 that a retry made good stays listed. The newest 500 per subscription are kept, and none past the delivery history (WARDEN_HISTORY_DAYS).',
    access: 'user',
    params: webhookId,
    query: listAttemptsQuerySchema,
    ok: { status: 200, description: 'A page of attempts', json: attemptListSchema },
    errors: [...AUTH, 404, 422],
  },
  {
    method: 'post',
    path: '/api/v1/webhooks/{id}/ping',
    summary: 'Send a test ping',
    description: 'Queues a `webhook.test` event for this subscription only; it is signed, sent and retried like any delivery and shows in its deliveries and attempts. One at a time: 429 `ping_pending` while a ping is still pending. Audited.',
    access: 'user',
    params: webhookId,
    ok: { status: 202, description: 'Queued', json: pingSchema },
    errors: [...AUTH, 404, 429],
  },
  // Nodes
  { method: 'get', path: '/api/v1/nodes', summary: 'Every worker node: state, capacity, allocation, running jobs; on Kubernetes also the cluster\'s nodes (read-only)', access: 'viewer', ok: { status: 200, description: 'The nodes, newest heartbeat first; `cluster` is null on Docker', json: z.object({ nodes: z.array(nodeSchema), cluster: clusterSchema.nullable() }).meta({ id: 'NodeList' }) }, errors: AUTH },
  {
    method: 'post',
    path: '/api/v1/nodes/{id}/drain',
    summary: 'Drain a node: it takes no new work',
    description: 'Its running jobs run on to their own end; with deadlineSeconds, those still running then get the kill escalation (SIGTERM, grace, SIGKILL). The node shows `drained` once empty. Kept across worker restarts. Audited with the reason.',
    access: 'operator',
    params: nodeId,
    body: drainNodeSchema,
    bodyRequired: true,
    ok: { status: 200, description: 'The node', json: nodeSchema },
    errors: [400, ...AUTH, 404, 422],
  },
  {
    method: 'post',
    path: '/api/v1/nodes/{id}/resume',
    summary: 'Resume a drained or draining node: it takes work again',
    access: 'operator',
    params: nodeId,
    body: resumeNodeSchema,
    ok: { status: 200, description: 'The node', json: nodeSchema },
    errors: [400, ...AUTH, 404, 409, 422],
  },
  // Operations
  {
    method: 'get',
    path: '/api/v1/events',
    summary: 'A live stream of what changed (Server-Sent Events)',
    description:
      'A `text/event-stream` that stays open: `event: hello` first (read what you show now), then a `data:` line of a JSON array of topics whenever something changed, batched (at most 10 a second): `job:<id>:<status>` when a job changed state, `jobs` when a job was submitted, and for operator keys also `node` (a node\'s heartbeat or state) and `sweeper` (a sweeper run); `*` means "read everything again". A user key hears only its own jobs. Events carry no data: re-read through the ordinary endpoints (`warden jobs list --watch` does). A `: ping` comment every 20 s keeps proxies from closing it. At most 4 streams per user key and WARDEN_LIVE_MAX_CLIENTS per server (429 with Retry-After); 503 when the server cannot listen to its database (poll instead).',
    access: 'user',
    ok: { status: 200, description: 'The stream (text/event-stream)', sse: true },
    errors: [...AUTH, 429, 503],
  },
  { method: 'get', path: '/api/v1/orphans', summary: 'What the orphan sweeper sees now', access: 'viewer', ok: { status: 200, description: 'The report', json: orphansSchema }, errors: AUTH },
  { method: 'get', path: '/api/v1/audit', summary: 'The audit trail, newest first', access: 'viewer', query: auditQuerySchema, ok: { status: 200, description: 'A page of events', json: auditListSchema }, errors: [...AUTH, 422] },
  {
    method: 'get',
    path: '/api/v1/openapi.json',
    summary: 'This document',
    access: 'public',
    ok: { status: 200, description: 'OpenAPI 3.1', json: z.looseObject({ openapi: z.literal('3.1.0') }).meta({ id: 'OpenApiDocument' }) },
    errors: [],
  },
];
