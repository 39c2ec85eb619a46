import crypto from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ROUTES } from '../server/api/routes';
import { didYouMean } from '../server/domain/did-you-mean';
import { AppError, parseInput } from '../server/domain/errors';
import { call, counts, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * API errors that teach: an unknown field names itself and the known field it most likely meant
 * (on every route with a JSON body, through the one parse in server/domain/errors.ts), and a
 * well-formed key that matches no live key is `401 unknown_key`, not "malformed header".
 */

describe('didYouMean (pure)', () => {
  const KNOWN = ['image', 'command', 'name', 'timeoutSeconds', 'gracePeriodSeconds', 'ttlSecondsAfterFinished', 'maxRetries', 'idleTimeoutSeconds', 'labels', 'env'];
  const cases: [string, string | undefined][] = [
    ['timeout', 'timeoutSeconds'],
    ['TimeoutSeconds', 'timeoutSeconds'],
    ['imgae', 'image'],
    ['imag', 'image'],
    ['label', 'labels'],
    ['grace', 'gracePeriodSeconds'],
    ['retries', 'maxRetries'],
    ['ttl', 'ttlSecondsAfterFinished'],
    ['comand', 'command'],
    ['priority', undefined],
    ['zz', undefined],
    ['', undefined],
  ];
  for (const [word, want] of cases) it(`${JSON.stringify(word)} → ${want ?? 'nothing'}`, () => expect(didYouMean(word, KNOWN)).toBe(want));
});

describe('parseInput: unknown fields, nested objects too', () => {
  const schema = z.strictObject({ image: z.string(), limits: z.strictObject({ cpus: z.number(), memoryMb: z.number() }).optional() });
  const fail = (raw: unknown): AppError => {
    try {
      parseInput(schema, raw);
    } catch (e) {
      return e as AppError;
    }
    throw new Error('parsed');
  };
  it('names the field and its path, and puts the unknown field before other problems', () => {
    const e = fail({ limits: { cpus: 1, memory: 5 } });
    expect(e.toJSON()).toEqual({ error: { code: 'validation_failed', message: 'Unknown field "memory" (did you mean "memoryMb"?)', field: 'limits.memory' } });
  });
  it('lists the known fields when nothing is close', () => {
    expect(fail({ image: 'x', zzzz: 1 }).toJSON().error).toEqual({ code: 'validation_failed', message: 'Unknown field "zzzz" (known fields: image, limits)', field: 'zzzz' });
  });
});

describe('every route with a JSON body, over the real handlers', () => {
  let h: ApiHarness;
  const handlers = new Map<string, Handler>();
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    h = await setupApi();
    for (const r of API_ROUTES.filter((x) => x.body)) {
      const dir = r.path.replace(/^\/api\/v1/, '').replace(/\{(\w+)\}/g, '[$1]');
      const mod = (await import(/* @vite-ignore */ path.join(__dirname, '../app/api/v1', dir, 'route.ts'))) as Record<string, Handler>;
      handlers.set(`${r.method} ${r.path}`, mod[r.method.toUpperCase()]!);
    }
    const users = (await import('../app/api/v1/users/route')) as unknown as { POST: Handler };
    const u = await call(users.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: `errs-${crypto.randomBytes(3).toString('hex')}`, plan: 'free' } });
    expect(u.status).toBe(201);
    ids.user = u.json.id;
    ids.key = u.json.apiKey;
    const jobs = (await import('../app/api/v1/jobs/route')) as unknown as { POST: Handler };
    const j = await call(jobs.POST, 'POST', '/api/v1/jobs', { key: ids.key, body: { image: 'busybox:1.36' } });
    expect(j.status).toBe(201);
    ids.job = j.json.id;
    const me = (await import('../app/api/v1/me/route')) as unknown as { GET: Handler };
    ids.operator = (await call(me.GET, 'GET', '/api/v1/me', { key: h.admin })).json.operator.id;
  }, 120_000);

  afterAll(async () => {
    await h?.close();
  });

  /** A typo of the body's first field: its name less the last letter ("image" → "imag"). */
  const firstField = (s: z.ZodType): string => {
    const def = s._zod.def as unknown as { shape?: Record<string, unknown>; innerType?: z.ZodType; in?: z.ZodType };
    if (def.shape) return Object.keys(def.shape)[0]!;
    return firstField((def.innerType ?? def.in)!);
  };

  it('answers 422 `Unknown field "<typo>" (did you mean "<field>"?)` with field set, and writes nothing', async () => {
    const routes = API_ROUTES.filter((r) => r.body);
    expect(routes.length).toBeGreaterThanOrEqual(10);
    for (const r of routes) {
      const known = firstField(r.body!);
      const typo = known.slice(0, -1);
      const params: Record<string, string> = {};
      for (const [, p] of r.path.matchAll(/\{(\w+)\}/g)) {
        params[p!] =
          p === 'name' ? 'free' : r.path.startsWith('/api/v1/jobs') ? ids.job! : r.path.startsWith('/api/v1/operators') ? ids.operator! : p === 'keyId' ? crypto.randomUUID() : r.path.startsWith('/api/v1/nodes') ? 'node-x' : ids.user!;
      }
      const before = await counts(h.db);
      const res = await call(handlers.get(`${r.method} ${r.path}`)!, r.method.toUpperCase(), r.path, { key: h.admin, params, body: { [typo]: 1 } });
      expectError(res, 422, 'validation_failed', typo);
      expect(res.json.error.message, `${r.method} ${r.path}`).toBe(`Unknown field "${typo}" (did you mean "${known}"?)`);
      expect(await counts(h.db)).toEqual(before);
    }
  });

  it('the example from the issue: {"timeout":30} on submit', async () => {
    const res = await call(handlers.get('post /api/v1/jobs')!, 'POST', '/api/v1/jobs', { key: ids.key, body: { image: 'busybox:1.36', timeout: 30 } });
    expect(res.status).toBe(422);
    expect(res.json).toEqual({ error: { code: 'validation_failed', message: 'Unknown field "timeout" (did you mean "timeoutSeconds"?)', field: 'timeout' } });
  });

  it('a well-formed key that matches no live key is 401 unknown_key; a malformed header stays unauthorized', async () => {
    const get = (await import('../app/api/v1/jobs/[id]/route')) as unknown as { GET: Handler };
    const probe = (headers: Record<string, string>) => call(get.GET, 'GET', `/api/v1/jobs/${ids.job}`, { headers, params: { id: ids.job! } });
    const unknown = await probe({ authorization: `Bearer wd_u_${crypto.randomBytes(32).toString('base64url')}` });
    expect(unknown.status).toBe(401);
    expect(unknown.json).toEqual({ error: { code: 'unknown_key', message: 'This API key is not valid: it may have been revoked' } });
    expectError(await probe({ authorization: 'Bearer' }), 401, 'unauthorized');
    expectError(await probe({ authorization: 'Token abc' }), 401, 'unauthorized');
    expect((await probe({ authorization: `Bearer ${ids.key}` })).status).toBe(200);
  });
});
