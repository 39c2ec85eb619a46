import fs from 'node:fs';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../server/api/openapi';
import { API_ROUTES } from '../server/api/routes';
import { WAIT_CODES } from '../server/domain/waits';
import { WEBHOOK_EVENTS } from '../server/domain/webhook-events';
import { ALL_STATUSES } from '../server/domain/status';
import { auditListSchema, classSchema, jobListSchema, jobSchema, planSchema, userSchema, userWithKeySchema } from '../server/api/responses';
import { call, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * GET /api/v1/openapi.json: a valid OpenAPI 3.1 document (checked by a real validator against
 * the specification's schema) that lists every route file under app/api/v1 — discovered from
 * the filesystem, so a route added without a registry entry fails here — and whose schemas
 * describe what the routes really send (real responses parsed strictly).
 */

const V1 = path.join(__dirname, '../app/api/v1');
const METHOD_RE = /export\s+(?:const|async\s+function|function)\s+(GET|POST|PUT|PATCH|DELETE)\b/g;

/** Every (path, method) a route file under app/api/v1 exports, OpenAPI-style ({id}). */
function routeFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/^route\.(ts|tsx|js)$/.test(e.name)) {
        const rel = path.relative(V1, dir).split(path.sep).filter(Boolean);
        const apiPath = ['/api/v1', ...rel.map((s) => s.replace(/^\[(\w+)\]$/, '{$1}'))].join('/');
        for (const [, m] of fs.readFileSync(p, 'utf8').matchAll(METHOD_RE)) out.push(`${m!.toLowerCase()} ${apiPath}`);
      }
    }
  };
  walk(V1);
  return out.sort();
}

const doc = buildOpenApiDocument();
const documented = Object.entries(doc.paths ?? {})
  .flatMap(([p, item]) => Object.keys(item as object).filter((k) => ['get', 'post', 'put', 'patch', 'delete'].includes(k)).map((m) => `${m} ${p}`))
  .sort();

describe('the OpenAPI document', () => {
  it('validates as OpenAPI 3.1 (the specification\'s own schema, $refs resolved)', async () => {
    const v = new Validator();
    const r = await v.validate(JSON.parse(JSON.stringify(doc)));
    expect(r.errors ?? []).toEqual([]);
    expect(r.valid).toBe(true);
    expect(v.version).toBe('3.1');
    expect(() => v.resolveRefs()).not.toThrow();
  });

  it('lists every route file under app/api/v1, and nothing that has no route file', () => {
    const files = routeFiles();
    expect(files.length).toBeGreaterThan(20);
    expect(files.filter((f) => !documented.includes(f)), 'routes missing from server/api/routes.ts').toEqual([]);
    expect(documented.filter((d) => !files.includes(d)), 'documented routes without a route file').toEqual([]);
  });

  it('is built from the zod schemas the routes parse with (submit, class PUT)', () => {
    const submit = (doc.paths!['/api/v1/jobs'] as { post: { requestBody: { content: { 'application/json': { schema: { $ref?: string; properties?: Record<string, unknown>; additionalProperties?: unknown } } } } } }).post.requestBody.content['application/json'].schema;
    const props = Object.keys(submit.properties ?? {});
    for (const k of ['image', 'command', 'timeoutSeconds', 'class', 'resultsPath', 'idleTimeoutSeconds', 'parentId']) expect(props).toContain(k);
    expect(submit.additionalProperties).toBe(false); // strictObject: unknown fields are refused
    const classes = JSON.stringify(doc.paths!['/api/v1/classes/{name}']);
    expect(classes).toContain('defaultTimeoutSeconds');
    expect(Object.keys(doc.components?.schemas ?? {})).toEqual(expect.arrayContaining(['Job', 'Plan', 'JobClass', 'Error', 'User', 'AuditEvent']));
  });
});

type Schema = Record<string, unknown>;
const components = (doc.components?.schemas ?? {}) as Record<string, Schema>;
/** Schemas that say on purpose that they are open (a report whose rows vary; the document itself). */
const OPEN = new Set(['OrphanReport', 'OpenApiDocument', 'WebhookPayload']);

/**
 * Every object reachable from `schema` (through $ref, properties, items, unions, records): each
 * declares its properties and refuses others (additionalProperties: false), or is a record
 * (additionalProperties: a schema), or is one of OPEN. Returns what is wrong, with its path.
 */
function looseObjects(schema: Schema | undefined, where: string, seen = new Set<string>()): string[] {
  if (!schema || typeof schema !== 'object') return [];
  const ref = schema.$ref as string | undefined;
  if (ref) {
    const name = ref.replace('#/components/schemas/', '');
    if (seen.has(name) || OPEN.has(name)) return [];
    seen.add(name);
    return looseObjects(components[name], `${where}→${name}`, seen);
  }
  const out: string[] = [];
  const props = schema.properties as Record<string, Schema> | undefined;
  const ap = schema.additionalProperties;
  if (schema.type === 'object' || props) {
    const isRecord = typeof ap === 'object' && ap !== null;
    if (!isRecord && !Object.keys(props ?? {}).length) out.push(`${where}: an object with no properties`);
    if (!isRecord && ap !== false) out.push(`${where}: an object that does not refuse unknown fields`);
    if (isRecord) out.push(...looseObjects(ap as Schema, `${where}{}`, seen));
  }
  for (const [k, v] of Object.entries(props ?? {})) out.push(...looseObjects(v, `${where}.${k}`, seen));
  if (schema.items) out.push(...looseObjects(schema.items as Schema, `${where}[]`, seen));
  for (const k of ['anyOf', 'oneOf', 'allOf']) for (const [i, v] of ((schema[k] as Schema[]) ?? []).entries()) out.push(...looseObjects(v, `${where}|${i}`, seen));
  return out;
}

describe('the typed client (client/)', () => {
  it('its schema.ts is generated from this document: `npm run client:generate` after an API change', async () => {
    const { generateClientSchema, SCHEMA_FILE } = await import('../client/generate');
    expect(fs.readFileSync(SCHEMA_FILE, 'utf8'), 'client/schema.ts is stale: run npm run client:generate').toBe(await generateClientSchema());
  });
});

describe('the route registry and the document', () => {
  it('every registry route is in the document, with its request and response schemas, nested objects included', () => {
    const problems: string[] = [];
    for (const r of API_ROUTES) {
      const name = `${r.method.toUpperCase()} ${r.path}`;
      const op = (doc.paths?.[r.path] as Record<string, Schema> | undefined)?.[r.method] as
        | { requestBody?: { content?: Record<string, { schema?: Schema }> }; responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>; parameters?: Schema[] }
        | undefined;
      if (!op) {
        problems.push(`${name}: not in the document`);
        continue;
      }
      if (r.body) {
        const body = op.requestBody?.content?.['application/json']?.schema;
        if (!body) problems.push(`${name}: no request body schema`);
        problems.push(...looseObjects(body, `${name} body`));
      }
      const params = (op.parameters ?? []) as { in: string; name: string }[];
      for (const p of Object.keys(r.params?.shape ?? {})) if (!params.some((x) => x.in === 'path' && x.name === p)) problems.push(`${name}: path parameter ${p} missing`);
      for (const q of Object.keys(r.query?.shape ?? {})) if (!params.some((x) => x.in === 'query' && x.name === q)) problems.push(`${name}: query parameter ${q} missing`);
      const ok = op.responses?.[String(r.ok.status)];
      if (!ok) problems.push(`${name}: no ${r.ok.status} response`);
      else if (r.ok.json) {
        const schema = ok.content?.['application/json']?.schema;
        if (!schema) problems.push(`${name}: no response schema`);
        problems.push(...looseObjects(schema, `${name} ${r.ok.status}`));
      }
      for (const e of r.errors) if (!op.responses?.[String(e)]?.content?.['application/json']?.schema) problems.push(`${name}: ${e} has no Error schema`);
    }
    expect(problems).toEqual([]);
  });

  it('names every vocabulary: statuses, wait codes, webhook events', () => {
    expect(components.JobStatus!.enum).toEqual([...ALL_STATUSES]);
    expect(components.WaitCode!.enum).toEqual([...WAIT_CODES]);
    expect(components.WebhookEvent!.enum).toEqual([...WEBHOOK_EVENTS]);
    expect((components.Job!.properties as Record<string, Schema>).status).toEqual({ $ref: '#/components/schemas/JobStatus' });
  });

  it('describes webhook deliveries under `webhooks` (3.1), one per event, with the signature scheme', () => {
    const hooks = (doc as { webhooks?: Record<string, { post: { description: string; requestBody: { content: Record<string, { schema: Schema }> }; parameters: { name: string }[] } }> }).webhooks ?? {};
    expect(Object.keys(hooks).sort()).toEqual([...WEBHOOK_EVENTS].sort());
    for (const h of Object.values(hooks)) {
      expect(h.post.description).toMatch(/Warden-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256\(secret, "<t>\.<raw body>"\)>/);
      expect(h.post.parameters.map((p) => p.name).sort()).toEqual(['warden-delivery', 'warden-event', 'warden-signature']);
      expect(h.post.requestBody.content['application/json']!.schema).toEqual({ $ref: '#/components/schemas/WebhookPayload' });
    }
    const payload = components.WebhookPayload!.properties as Record<string, Schema>;
    expect(payload.job).toEqual({ $ref: '#/components/schemas/Job' });
    expect(payload.type).toEqual({ $ref: '#/components/schemas/WebhookEvent' });
  });

  it('has examples for submit, extend and kill that the routes accept', async () => {
    for (const [p, m] of [['/api/v1/jobs', 'post'], ['/api/v1/jobs/{id}/extend', 'post'], ['/api/v1/jobs/{id}/kill', 'post']] as const) {
      const route = API_ROUTES.find((r) => r.path === p && r.method === m)!;
      const content = ((doc.paths![p] as Record<string, { requestBody: { content: Record<string, { examples?: Record<string, { value: unknown }> }> } }>)[m]!).requestBody.content['application/json']!;
      const examples = Object.values(content.examples ?? {});
      expect(examples.length, p).toBeGreaterThanOrEqual(2);
      for (const e of examples) expect(route.body!.safeParse(e.value).success, `${p}: ${JSON.stringify(e.value)}`).toBe(true);
    }
  });
});

describe('GET /api/v1/openapi.json and the real responses', () => {
  let h: ApiHarness;
  type R = { GET: Handler; POST: Handler; PUT: Handler };
  const ROUTES: Record<string, () => Promise<unknown>> = {
    'openapi.json': () => import('../app/api/v1/openapi.json/route'),
    users: () => import('../app/api/v1/users/route'),
    'users/[id]': () => import('../app/api/v1/users/[id]/route'),
    'classes/[name]': () => import('../app/api/v1/classes/[name]/route'),
    jobs: () => import('../app/api/v1/jobs/route'),
    'plans/[name]': () => import('../app/api/v1/plans/[name]/route'),
    audit: () => import('../app/api/v1/audit/route'),
  };
  const route = async (p: string) => (await ROUTES[p]!()) as R;
  beforeAll(async () => {
    h = await setupApi();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('serves the document without a key', async () => {
    const r = await call((await route('openapi.json')).GET, 'GET', '/api/v1/openapi.json');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
    expect(r.json).toEqual(JSON.parse(JSON.stringify(doc)));
  });

  it("real responses match the document's schemas exactly (no field missing or extra)", async () => {
    const users = await route('users');
    const u = await call(users.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: 'oa-user', plan: 'free' } });
    userWithKeySchema.strict().parse(u.json);
    userSchema.strict().parse((await call((await route('users/[id]')).GET, 'GET', '/x', { key: h.viewer, params: { id: u.json.id } })).json);
    const cls = await call((await route('classes/[name]')).PUT, 'PUT', '/x', { key: h.admin, params: { name: 'oa' }, body: { defaultTimeoutSeconds: 60, idleTimeoutSeconds: 30, resultsPath: '/out' } });
    classSchema.strict().parse(cls.json);
    const job = await call((await route('jobs')).POST, 'POST', '/api/v1/jobs', { key: u.json.apiKey, body: { image: 'busybox:1.36', class: 'oa' } });
    expect(job.status).toBe(201);
    jobSchema.strict().parse(job.json);
    jobListSchema.strict().parse((await call((await route('jobs')).GET, 'GET', '/api/v1/jobs', { key: h.viewer })).json);
    planSchema.strict().parse((await call((await route('plans/[name]')).GET, 'GET', '/x', { key: h.viewer, params: { name: 'free' } })).json);
    auditListSchema.strict().parse((await call((await route('audit')).GET, 'GET', '/api/v1/audit', { key: h.viewer })).json);
  });
});
