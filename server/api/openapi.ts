import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import { errorSchema, webhookPayloadSchema } from './responses';
import { WEBHOOK_EVENTS } from '../domain/webhook-events';
import { API_ROUTES, type ApiRoute } from './routes';

/**
 * GET /api/v1/openapi.json: an OpenAPI 3.1 document built from the route registry (./routes.ts)
 * by zod-openapi, i.e. from the zod schemas the routes parse with. Built once per process.
 */

const ACCESS_TEXT: Record<ApiRoute['access'], string> = {
  public: 'No key needed.',
  user: 'User keys (their own jobs only) and operator keys.',
  viewer: 'Operator keys, viewer role and up.',
  operator: 'Operator keys, operator role and up.',
  admin: 'Operator keys, admin role.',
};

const STATUS_TEXT: Record<number, string> = {
  400: 'Malformed or oversized body',
  401: 'No key, or a malformed header (`unauthorized`); a well-formed key that is unknown, revoked or expired (`unknown_key`, `unauthorized`)',
  403: 'The key’s role does not allow this',
  404: 'Not found (or not yours)',
  409: 'Conflicts with the current state',
  422: 'Invalid input; `field` names it. An unknown field is named with the nearest known one: `Unknown field "timeout" (did you mean "timeoutSeconds"?)`',
  429: 'Queue full, or too many log follows or event streams (`Retry-After`)',
  503: 'Not available on this server right now (`live_unavailable`: the event stream; poll instead)',
};

function operation(r: ApiRoute): ZodOpenApiOperationObject {
  const content = r.ok.json
    ? { 'application/json': { schema: r.ok.json } }
    : r.ok.text
      ? { 'text/plain': { schema: { type: 'string' as const } } }
      : r.ok.sse
        ? { 'text/event-stream': { schema: { type: 'string' as const, description: typeof r.ok.sse === 'string' ? r.ok.sse : 'Server-Sent Events: `event: hello`, then `data: ["job:<id>:<status>", "jobs", …]` per batch of changes' } } }
        : { 'application/x-tar': { schema: { type: 'string' as const, contentMediaType: 'application/x-tar' } } };
  const responses: Record<string, { description: string; content?: typeof content | { 'application/json': { schema: typeof errorSchema } }; headers?: Record<string, { description: string; schema: { type: 'integer' } }> }> = {
    [String(r.ok.status)]: r.ok.status === 204 ? { description: r.ok.description } : { description: r.ok.description, content },
  };
  if (r.ok.status === 200 && r.method === 'put') responses['201'] = { description: 'Created', content };
  for (const s of r.errors) responses[String(s)] = { description: STATUS_TEXT[s] ?? 'Error', content: { 'application/json': { schema: errorSchema } } };
  if ((r.path.endsWith('/logs') || r.ok.sse) && responses['429']) responses['429'].headers = { 'Retry-After': { description: r.ok.sse ? 'Seconds to wait before opening another stream' : 'Seconds to wait before opening another follow', schema: { type: 'integer' } } };
  return {
    summary: r.summary,
    description: [r.description, ACCESS_TEXT[r.access]].filter(Boolean).join('\n\n'),
    operationId: `${r.method}${r.path.replace(/^\/api\/v1/, '').replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    tags: [r.path.split('/')[3]!.replace('.json', '')],
    ...(r.access === 'public' ? { security: [] } : {}),
    ...(r.params || r.query || r.headers ? { requestParams: { ...(r.params ? { path: r.params } : {}), ...(r.query ? { query: r.query } : {}), ...(r.headers ? { header: r.headers } : {}) } } : {}),
    ...(r.body ? { requestBody: { required: r.bodyRequired ?? false, content: { 'application/json': { schema: r.body, ...(r.examples ? { examples: r.examples } : {}) } } } } : {}),
    responses: responses as ZodOpenApiOperationObject['responses'],
  };
}

export const SIGNATURE_TEXT =
  'Every delivery is a POST with `Content-Type: application/json` and three headers: `Warden-Event` (the event type), `Warden-Delivery` (the delivery id: the same on every retry, so receivers can drop duplicates) and `Warden-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, where `secret` is the one returned when the subscription was created. Check the signature over the raw bytes of the body and refuse a `t` more than 5 minutes old. Any 2xx within 10 s is delivered; anything else is retried with backoff for 24 h (at least once, per-job order by `sequence`).';

/** One entry per event type under the document's `webhooks` (OpenAPI 3.1): what a subscriber receives. */
function webhookOperations(): ZodOpenApiPathsObject {
  const out: ZodOpenApiPathsObject = {};
  for (const event of WEBHOOK_EVENTS) {
    out[event] = {
      post: {
        summary: `${event} delivery`,
        description: SIGNATURE_TEXT,
        operationId: `webhook${event.replace(/(^|[._])(\w)/g, (_m, _p, c: string) => c.toUpperCase())}`,
        tags: ['webhook deliveries'],
        requestParams: {
          header: z.object({
            'warden-event': z.literal(event).meta({ description: 'The event type' }),
            'warden-delivery': z.uuid().meta({ description: 'The delivery id, the same on every retry' }),
            'warden-signature': z.string().meta({ description: 't=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>', example: 't=1764790000,v1=5f0c…' }),
          }),
        },
        // A $ref to the component registered below (as an output, like the Job it holds), so the
        // payload's job is the response Job, not a second, request-side copy of it.
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/WebhookPayload' } } } },
        responses: { '200': { description: 'Any 2xx: delivered. Anything else, or no answer within 10 s: retried' } },
      },
    };
  }
  return out;
}

/**
 * The WebhookPayload component, rendered as a response (output) schema, so its `job` is a $ref to
 * the same Job the routes answer with. (Registered in the main document, zod-openapi would also
 * render its request-side copy and rename the routes' Job to JobOutput.)
 */
function webhookPayloadComponent() {
  const mini = createDocument({
    openapi: '3.1.0',
    info: { title: 'payload', version: '1' },
    paths: { '/payload': { get: { responses: { '200': { description: 'payload', content: { 'application/json': { schema: webhookPayloadSchema } } } } } } },
  });
  return mini.components!.schemas!.WebhookPayload!;
}

export function buildOpenApiDocument(): ReturnType<typeof createDocument> {
  const paths: ZodOpenApiPathsObject = {};
  for (const r of API_ROUTES) (paths[r.path] ??= {})[r.method] = operation(r);
  const doc = createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Warden API',
      version: '1',
      description:
        'Warden starts users’ jobs in Docker within their plan’s limits and ends them at their deadline. JSON over HTTP with `Authorization: Bearer <key>` (user keys start `wd_u_`, operator keys `wd_o_`); errors are `{"error": {"code", "message", "field"?}}`. Job ids may be shortened to a unique prefix of 6 or more characters. The vocabularies (JobStatus, WaitCode, WebhookEvent, DeliveryStatus) are named schemas below; webhook deliveries are described under Webhooks.',
    },
    servers: [{ url: '/' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A user or operator API key' } } },
    security: [{ bearer: [] }],
    paths,
    webhooks: webhookOperations(),
  });
  doc.components!.schemas!.WebhookPayload = webhookPayloadComponent();
  return doc;
}

const g = globalThis as unknown as { __wardenOpenApi?: ReturnType<typeof createDocument> };

export function openApiDocument(): ReturnType<typeof createDocument> {
  g.__wardenOpenApi ??= buildOpenApiDocument();
  return g.__wardenOpenApi;
}
