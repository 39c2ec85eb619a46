import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  it('engine unreachable: 200, status degraded, docker unreachable with the reason; db ok', async () => {
    const r = await call(health.GET, 'GET', '/api/health');
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
    const r = await call(health.GET, 'GET', '/api/health');
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
      const r = await call(health.GET, 'GET', '/api/health');
      expect(r.status).toBe(503);
      expect(r.json).toMatchObject({ status: 'down', db: { ok: false } });
      expect(r.json.db.error).toMatch(/ECONNREFUSED|connect/);
      expect(r.text).not.toMatch(/\n\s+at\s/);
    } finally {
      process.env.DATABASE_URL = saved.url;
      resetAppCaches();
      g.__wardenDb = saved.db;
      g.__wardenBoot = saved.boot;
    }
  });
});
