import fs from 'node:fs';
import path from 'node:path';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../server/api/openapi';
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
