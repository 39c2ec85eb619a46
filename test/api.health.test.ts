import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
vi.mock('server-only', () => ({}));

import { dockerAvailable } from './helpers/docker';
import { call, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * GET /api/health through its route handler. The app reads DOCKER_HOST (and DATABASE_URL) from
 * config() once per process; this file runs in its own process, starts with an engine address
 * that does not exist, and resets the cached config/runtime between phases.
 */

let h: ApiHarness;
let health: { GET: Handler };
const g = globalThis as unknown as Record<string, unknown>;

function resetAppCaches() {
  for (const k of ['__wardenConfig', '__wardenDocker', '__wardenApp']) delete g[k];
}

beforeAll(async () => {
  h = await setupApi({ DOCKER_HOST: 'unix:///tmp/warden-nonexistent.sock' });
  health = (await import('../app/api/health/route')) as unknown as typeof health;
});

afterAll(async () => {
  await h?.close();
});

describe('GET /api/health', () => {
  it('without a key: the status only (no DOCKER_HOST, engine id, node or errors); a bad key gets the same', async () => {
    for (const key of [null, 'wk_not-a-real-key-at-all']) {
      const r = await call(health.GET, 'GET', '/api/health', { key });
      expect(r.status).toBe(200);
      expect(r.json).toEqual({ status: 'degraded' });
      expect(r.text).not.toMatch(/nonexistent|sock|docker|node/i);
    }
  });

  it('a user key is not an operator: status only', async () => {
    const { createUser } = await import('../server/domain/users');
    const u = await createUser(h.ctx, { kind: 'system', name: 'cli' }, { name: 'health-user', plan: 'free' });
    const r = await call(health.GET, 'GET', '/api/health', { key: u.apiKey });
    expect(r.json).toEqual({ status: 'degraded' });
  });

  it('a signed-in operator (session cookie) gets the details', async () => {
    const { loginWithPassword, SESSION_COOKIE } = await import('../server/auth/session');
    const sess = await loginWithPassword(h.ctx, 'viewer@test.local', 'password-123');
    const r = await call(health.GET, 'GET', '/api/health', { headers: { cookie: `${SESSION_COOKIE}=${sess.token}` } });
    expect(r.json).toMatchObject({ status: 'degraded', docker: { host: 'unix:///tmp/warden-nonexistent.sock' } });
  });

  it('engine unreachable, operator key: 200, status degraded, docker unreachable with the reason; db ok', async () => {
    const r = await call(health.GET, 'GET', '/api/health', { key: h.viewer });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      status: 'degraded',
      db: { ok: true },
      docker: { ok: false, state: 'unreachable', host: 'unix:///tmp/warden-nonexistent.sock' },
    });
    expect(r.json.docker.error).toMatch(/warden-nonexistent\.sock/);
    expect(r.json.worker).toHaveProperty('lastRuns');
  });

  it.skipIf(!dockerAvailable())('engine back: docker reachable, status ok', async () => {
    delete process.env.DOCKER_HOST;
    resetAppCaches();
    const r = await call(health.GET, 'GET', '/api/health', { key: h.operator });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: 'ok', db: { ok: true }, docker: { ok: true, state: 'reachable', error: null } });
  });

  it('database down: 503, status down, no stack', async () => {
    const saved = { url: process.env.DATABASE_URL, db: g.__wardenDb, boot: g.__wardenBoot };
    process.env.DATABASE_URL = 'postgres://nobody:x@127.0.0.1:1/none';
    resetAppCaches();
    delete g.__wardenDb;
    delete g.__wardenBoot;
    try {
      // With a key too: it cannot be checked without the database, so the public answer.
      const r = await call(health.GET, 'GET', '/api/health', { key: h.admin });
      expect(r.status).toBe(503);
      expect(r.json).toEqual({ status: 'down' });
      expect(r.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|nobody/);
      expect(r.text).not.toMatch(/\n\s+at\s/);
    } finally {
      process.env.DATABASE_URL = saved.url;
      resetAppCaches();
      g.__wardenDb = saved.db;
      g.__wardenBoot = saved.boot;
    }
  });
});
