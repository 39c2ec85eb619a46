import { sql } from 'drizzle-orm';
import { expect } from 'vitest';
import type { Ctx } from '../../server/context';
import type { Database } from '../../server/db/client';
import type { Actor } from '../../server/domain/actor';
import { closeAppPool, createTestDatabase } from './db';

/**
 * Calls the App Router route handlers directly (`new Request(...)`, `{ params }`), exactly as
 * Next would. The handlers use getAppContext(), which reads config() once per process, so the
 * environment is set *before* the route modules are imported (vitest runs each test file in
 * its own forked process, so this never leaks into another file).
 */

export type Handler = (req: Request, route: { params: Promise<Record<string, string>> }) => Promise<Response>;

export interface CallOpts {
  key?: string | null;
  /** JSON-encoded unless raw is given. */
  body?: unknown;
  /** Sent as is (malformed JSON, huge bodies). */
  raw?: string;
  params?: Record<string, string>;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  headers: Headers;
}

export async function call(handler: Handler, method: string, path: string, o: CallOpts = {}): Promise<CallResult> {
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  if (o.key) headers.authorization = `Bearer ${o.key}`;
  let body: string | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) body = JSON.stringify(o.body);
  if (body !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] ??= String(Buffer.byteLength(body));
  }
  const req = new Request(`http://localhost${path}`, { method, headers, body });
  const res = await handler(req, { params: Promise.resolve(o.params ?? {}) });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch {
    /* text responses (logs) */
  }
  return { status: res.status, text, json, headers: res.headers };
}

/** The one error shape: {"error": {code, message, field?}} and nothing else; never a stack. */
export function expectError(r: CallResult, status: number, code?: string, field?: string): void {
  expect(r.status, `status for ${r.text.slice(0, 300)}`).toBe(status);
  expect(Object.keys(r.json ?? {})).toEqual(['error']);
  const e = r.json.error as Record<string, unknown>;
  expect(typeof e.code).toBe('string');
  expect(typeof e.message).toBe('string');
  expect((e.message as string).length).toBeGreaterThan(0);
  expect((e.message as string).length).toBeLessThan(2000);
  for (const k of Object.keys(e)) expect(['code', 'message', 'field']).toContain(k);
  if (code) expect(e.code).toBe(code);
  if (field !== undefined) expect(e.field).toBe(field);
  expect(r.text).not.toMatch(/\n\s+at\s|node_modules|\.ts:\d+/);
}

/** Row counts of every table an API call could write. */
export interface Counts {
  jobs: number;
  audit: number;
  users: number;
  plans: number;
  keys: number;
  usage: number;
}

export async function counts(db: Database['db']): Promise<Counts> {
  const [r] = await db.execute<Record<string, number>>(sql`select
    (select count(*)::int from jobs) as jobs,
    (select count(*)::int from audit_events) as audit,
    (select count(*)::int from users) as users,
    (select count(*)::int from plans) as plans,
    (select count(*)::int from api_keys) as keys,
    (select count(*)::int from usage) as usage`);
  return Object.fromEntries(Object.entries(r!).map(([k, v]) => [k, Number(v)])) as unknown as Counts;
}

export interface ApiHarness {
  db: Database['db'];
  url: string;
  ctx: Ctx;
  admin: string;
  operator: string;
  viewer: string;
  close(): Promise<void>;
}

/**
 * A fresh test database wired in as the app's DATABASE_URL, the app context warmed up (so the
 * first-start seeding does not count as a write of the first request under test), and operator
 * keys for each role. DOCKER_HOST points nowhere unless the caller set it: API tests need no engine.
 */
export async function setupApi(env: Record<string, string> = {}): Promise<ApiHarness> {
  const tdb = await createTestDatabase();
  process.env.DATABASE_URL = tdb.url;
  process.env.WARDEN_ADMIN_EMAIL = 'boot@test.local';
  process.env.WARDEN_ADMIN_PASSWORD = 'boot-password-1';
  process.env.DOCKER_HOST ??= 'unix:///tmp/warden-nonexistent.sock';
  // Node capacity defaults to the engine's CPU count; with the plans' cpus caps (1, 2, 4) a 2-core
  // test machine would run one or two jobs at a time. Tests about capacity set their own.
  process.env.WARDEN_NODE_CPU_OVERCOMMIT ??= '16';
  Object.assign(process.env, env);
  const { getAppContext } = await import('../../server/app');
  const { createOperator, createOperatorKey } = await import('../../server/domain/operators');
  const ctx = await getAppContext();
  const system: Actor = { kind: 'system', name: 'cli' };
  const keys: Record<string, string> = {};
  for (const role of ['admin', 'operator', 'viewer'] as const) {
    const email = `${role}@test.local`;
    await createOperator(ctx, system, { email, role, password: 'password-123' });
    keys[role] = (await createOperatorKey(ctx, system, email)).apiKey;
  }
  return {
    db: ctx.db,
    url: tdb.url,
    ctx,
    admin: keys.admin!,
    operator: keys.operator!,
    viewer: keys.viewer!,
    async close() {
      await closeAppPool();
      await tdb.drop();
    },
  };
}
