import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeEngine, type FakeEngine } from '../bench/fake-engine';
import { runMigrations } from '../server/db/client';
import { startEmbeddedPostgres } from '../server/db/embedded';
import { waitFor } from './helpers/fixtures';
import { spawnWorker, type WorkerProc } from './helpers/hosts';

/**
 * A database with every connection in use: the first limit a fleet meets (docs/SCALING.md). A
 * worker started then waits, saying why in words (no connection free, max_connections, what to
 * change), instead of exiting with "cannot reach the database at DATABASE_URL"; it starts once
 * connections are freed. Real PostgreSQL (its own embedded server with a small max_connections),
 * the real worker process (`node bin/worker.mjs`) on a Docker API stand-in.
 */

const MAX_CONNECTIONS = 8;
let dir: string;
let pg: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
let engine: FakeEngine;
const hogs: postgres.Sql[] = [];
let worker: WorkerProc | undefined;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-dbfull-'));
  fs.chmodSync(dir, 0o755);
  pg = await startEmbeddedPostgres(dir, { shareRunning: false, maxConnections: MAX_CONNECTIONS });
  await runMigrations(pg.url);
  engine = await startFakeEngine(path.join(os.tmpdir(), `warden-dbfull-${process.pid}.sock`));
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  for (const h of hogs) await h.end({ timeout: 1 }).catch(() => {});
  await engine?.close();
  await pg?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Opens one-connection clients until PostgreSQL refuses one: every slot is then held here. */
async function fillDatabase(): Promise<string> {
  for (let i = 0; i < MAX_CONNECTIONS + 5; i++) {
    const c = postgres(pg.url, { max: 1, idle_timeout: 0, onnotice: () => {} });
    try {
      await c`select 1`;
      hogs.push(c);
    } catch (e) {
      await c.end({ timeout: 0 }).catch(() => {});
      return `${(e as { code?: string }).code}: ${(e as Error).message}`;
    }
  }
  throw new Error(`PostgreSQL took ${MAX_CONNECTIONS + 5} connections with max_connections ${MAX_CONNECTIONS}`);
}

describe('a database with no connection free', () => {
  it('a worker waits, saying why and what to change, and starts once connections are freed', async () => {
    expect(await fillDatabase()).toMatch(/^53300: .*too many clients/);
    worker = spawnWorker({ databaseUrl: pg.url, dockerHost: `unix://${engine.socket}`, nodeId: 'dbfull-1', env: { WARDEN_WORKER_DB_POOL: '2' } });
    // It says so, and says it again on its next try (still running, not exited).
    await waitFor(() => (worker!.text().match(/PostgreSQL has no connection free/g) ?? []).length >= 2, { timeoutMs: 120_000, what: 'the worker to say twice that it waits for a connection' });
    expect(worker.proc.exitCode, worker.text()).toBeNull();
    const said = worker.text();
    expect(said).toContain('max_connections');
    expect(said).toContain('WARDEN_WORKER_DB_POOL');
    expect(said).toContain('session mode');
    expect(said).not.toMatch(/Cannot reach the database|cannot start/i);

    // Connections freed: the worker starts, and its node sends a heartbeat.
    for (const h of hogs.splice(0)) await h.end({ timeout: 1 });
    const db = postgres(pg.url, { max: 1, onnotice: () => {} });
    try {
      await waitFor(async () => (await db`select 1 from nodes where id = 'dbfull-1'`).length === 1, { timeoutMs: 120_000, what: "the worker's first heartbeat" });
    } finally {
      await db.end({ timeout: 1 });
    }
    expect(worker.proc.exitCode, worker.text()).toBeNull();
  }, 300_000);
});
