import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import { errorSchema } from './responses';
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
  401: 'Missing or unknown key',
  403: 'The key’s role does not allow this',
  404: 'Not found (or not yours)',
  409: 'Conflicts with the current state',
  422: 'Invalid input; `field` names it',
  429: 'Queue full',
};

function operation(r: ApiRoute): ZodOpenApiOperationObject {
  const content = r.ok.json
    ? { 'application/json': { schema: r.ok.json } }
    : r.ok.text
      ? { 'text/plain': { schema: { type: 'string' as const } } }
      : { 'application/x-tar': { schema: { type: 'string' as const, contentMediaType: 'application/x-tar' } } };
  const responses: Record<string, { description: string; content?: typeof content | { 'application/json': { schema: typeof errorSchema } } }> = {
    [String(r.ok.status)]: r.ok.status === 204 ? { description: r.ok.description } : { description: r.ok.description, content },
  };
  if (r.ok.status === 200 && r.method === 'put') responses['201'] = { description: 'Created', content };
  for (const s of r.errors) responses[String(s)] = { description: STATUS_TEXT[s] ?? 'Error', content: { 'application/json': { schema: errorSchema } } };
  return {
    summary: r.summary,
    description: [r.description, ACCESS_TEXT[r.access]].filter(Boolean).join('\n\n'),
    operationId: `${r.method}${r.path.replace(/^\/api\/v1/, '').replace(/\{(\w+)\}/g, 'By_$1').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    tags: [r.path.split('/')[3]!.replace('.json', '')],
    ...(r.access === 'public' ? { security: [] } : {}),
    ...(r.params || r.query ? { requestParams: { ...(r.params ? { path: r.params } : {}), ...(r.query ? { query: r.query } : {}) } } : {}),
    ...(r.body ? { requestBody: { required: r.bodyRequired ?? false, content: { 'application/json': { schema: r.body } } } } : {}),
    responses: responses as ZodOpenApiOperationObject['responses'],
  };
}

export function buildOpenApiDocument(): ReturnType<typeof createDocument> {
  const paths: ZodOpenApiPathsObject = {};
  for (const r of API_ROUTES) (paths[r.path] ??= {})[r.method] = operation(r);
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'Warden API',
      version: '1',
      description: 'Warden starts users’ jobs in Docker within their plan’s limits and ends them at their deadline. JSON over HTTP with `Authorization: Bearer <key>`; errors are `{"error": {"code", "message", "field"?}}`.',
    },
    servers: [{ url: '/' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A user or operator API key' } } },
    security: [{ bearer: [] }],
    paths,
  });
}

const g = globalThis as unknown as { __wardenOpenApi?: ReturnType<typeof createDocument> };

export function openApiDocument(): ReturnType<typeof createDocument> {
  g.__wardenOpenApi ??= buildOpenApiDocument();
  return g.__wardenOpenApi;
}
