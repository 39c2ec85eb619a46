import crypto from 'node:crypto';
import { and, eq, gte, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerRuntime } from '../server/docker/runtime';
import { auditEvents, jobs, nodes, sweeperRuns } from '../server/db/schema';
import { submitJob } from '../server/domain/jobs';
import { createTestDatabase } from './helpers/db';
import { dockerAvailable, TEST_IMAGE } from './helpers/docker';
import { makeCtx, makeUser, waitFor } from './helpers/fixtures';
import { removeInstallationContainers, requireHostPrerequisites, spawnWorker, type WorkerProc } from './helpers/hosts';

/**
 * A worker whose clock runs 90 s ahead (Debian's libfaketime, FAKETIME=+90s) next to a normal
 * one, both real processes on the real engine and one real PostgreSQL. Heartbeats, staleness and
 * deadlines use the database's clock, so the skewed worker neither thinks its peer is dead (its
 * heartbeats would look 90 s old) nor writes deadlines 90 s late or early: no live job is
 * disturbed, and its own deadline-bound jobs are stopped at their deadline, not before.
 */

describe.skipIf(!dockerAvailable())('a worker 90 s ahead (libfaketime) disturbs no live job', () => {
  let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
  let ctx: Awaited<ReturnType<typeof makeCtx>>;
  const docker = createDockerRuntime();
  const tag = crypto.randomBytes(3).toString('hex');
  const NORMAL = `clk-normal-${tag}`;
  const SKEWED = `clk-skewed-${tag}`;
  const workers: WorkerProc[] = [];

  beforeAll(async () => {
    requireHostPrerequisites({ faketime: true });
    tdb = await createTestDatabase();
    ctx = await makeCtx(tdb.db);
  });
  afterAll(async () => {
    for (const w of workers) await w.stop('SIGKILL');
    if (ctx) {
      await removeInstallationContainers(docker, ctx.installation);
      expect(await docker.list({ 'warden.installation': ctx.installation })).toEqual([]);
    }
    await tdb?.drop();
  }, 60_000);

  it('no job is lost or stopped early; the skewed worker times its own jobs out at their deadline', async () => {
    const env = { WARDEN_ORPHAN_SWEEP_S: '1' };
    const users = await Promise.all([0, 1, 2].map((i) => makeUser(ctx, { name: `clk-${i}`, plan: { name: 'clock', maxConcurrentJobs: 10, gracePeriodS: 2, monthlyQuotaS: null } })));
    const long: string[] = [];
    const short: string[] = [];
    const rows = (ids: string[]) => tdb.db.select().from(jobs).where(inArray(jobs.id, ids));
    /** A long and a short job per user, all started. */
    const batch = async (who: () => string) => {
      const ids: string[] = [];
      for (const u of users) {
        const l = (await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 600'], timeoutSeconds: 600 })).id;
        const s = (await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 600'], timeoutSeconds: 20, gracePeriodSeconds: 2 })).id;
        long.push(l);
        short.push(s);
        ids.push(l, s);
      }
      await waitFor(async () => (await rows(ids)).every((j) => j.status !== 'queued' && j.status !== 'starting'), { timeoutMs: 90_000, what: `jobs started (${who()})` });
    };
    // Each worker gets work of its own: the normal one first, alone; then the skewed one while
    // the normal one is paused (SIGSTOP: a few seconds, far below the staleness threshold).
    const normal = spawnWorker({ databaseUrl: tdb.url, nodeId: NORMAL, env });
    workers.push(normal);
    await batch(() => normal.text());
    const skewed = spawnWorker({ databaseUrl: tdb.url, nodeId: SKEWED, faketime: '+90s', env });
    workers.push(skewed);
    await waitFor(async () => (await tdb.db.select().from(nodes).where(eq(nodes.id, SKEWED))).length === 1, { timeoutMs: 60_000, what: `the skewed worker's heartbeat (${skewed.text()})` });
    normal.proc.kill('SIGSTOP');
    try {
      await batch(() => skewed.text());
    } finally {
      normal.proc.kill('SIGCONT');
    }
    const started = await rows(long);
    expect(new Set(started.map((j) => j.node))).toEqual(new Set([SKEWED, NORMAL]));

    // Let both orphan sweepers judge each other's heartbeats many times over, and the short jobs
    // reach their deadlines.
    const [{ now }] = (await tdb.sql`select now() as now`) as unknown as [{ now: Date | string }];
    const t0 = new Date(now);
    await waitFor(async () => {
      const n = await tdb.db
        .select({ node: sweeperRuns.node, n: sql<number>`count(*)::int` })
        .from(sweeperRuns)
        .where(and(eq(sweeperRuns.sweeper, 'orphans'), gte(sweeperRuns.startedAt, t0)))
        .groupBy(sweeperRuns.node);
      const done = (await rows(short)).every((j) => j.status === 'timed_out');
      return done && n.length === 2 && n.every((r) => Number(r.n) >= 15);
    }, { timeoutMs: 120_000, intervalMs: 500, what: 'fifteen orphan sweeps on each node and the short jobs timed out' });

    // Nothing was declared lost, nothing restarted; every long job still runs in its first container.
    const lost = await tdb.db.select().from(auditEvents).where(and(inArray(auditEvents.targetId, [...long, ...short]), eq(auditEvents.action, 'job.lost')));
    expect(lost).toEqual([]);
    for (const j of await rows(long)) {
      const was = started.find((s) => s.id === j.id)!;
      expect(j).toMatchObject({ status: 'running', attempt: 1, containerId: was.containerId, node: was.node });
      expect((await docker.inspect(j.containerId!))?.running).toBe(true);
      // Deadlines in the database's time: started_at is when it was claimed and started, not 90 s on.
      expect(j.deadlineAt!.getTime() - j.startedAt!.getTime()).toBe(600_000);
      expect(j.startedAt!.getTime()).toBeGreaterThanOrEqual(j.claimedAt!.getTime());
      expect(j.startedAt!.getTime() - j.claimedAt!.getTime()).toBeLessThan(30_000);
    }
    // The short jobs were stopped at (not before) their deadline, on both nodes (each batch was
    // started by the one worker running then).
    const ended = await rows(short);
    expect(new Set(ended.map((j) => j.node))).toEqual(new Set([SKEWED, NORMAL]));
    for (const j of ended) {
      expect(j.status).toBe('timed_out');
      expect(j.deadlineAt!.getTime() - j.startedAt!.getTime()).toBe(20_000);
      expect(j.sigtermAt!.getTime()).toBeGreaterThanOrEqual(j.deadlineAt!.getTime());
      expect(j.startedAt!.getTime() - j.claimedAt!.getTime()).toBeLessThan(30_000);
    }
    // The skewed node's heartbeat is in the database's time.
    const [hb] = (await tdb.sql`select extract(epoch from (now() - heartbeat_at)) as age from nodes where id = ${SKEWED}`) as unknown as [{ age: string }];
    expect(Math.abs(Number(hb.age))).toBeLessThan(15);
    expect((await tdb.db.select().from(nodes)).map((n) => n.id).sort()).toEqual([NORMAL, SKEWED].sort());
    // And the skewed process really was 90 s ahead (it logged its offset at start).
    expect(skewed.text()).toMatch(/clock differs from the database/);
  }, 300_000);
});
