import crypto from 'node:crypto';
import { and, asc, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, jobs } from '../server/db/schema';
import { connect, type Database } from '../server/db/client';
import { createDockerRuntime } from '../server/docker/runtime';
import type { DockerRuntime } from '../server/docker/types';
import type { Ctx } from '../server/context';
import { DISPATCH_CHANNEL } from '../server/domain/dispatch-signal';
import { submitJob } from '../server/domain/jobs';
import { ACTIVE_STATUSES } from '../server/domain/status';
import { startDispatchLoop, type DispatchLoop } from '../server/worker/dispatch-loop';
import { setupApi, type ApiHarness } from './helpers/api';
import { dockerAvailable, TEST_IMAGE } from './helpers/docker';
import { makeUser, waitFor } from './helpers/fixtures';
import { removeNodeContainers } from './helpers/sweepers';

/**
 * The dispatcher drains when woken (server/worker/dispatch-loop.ts). Every test here runs with
 * no dispatcher tick at all (WARDEN_DISPATCH_TICK_S=0, or a bare loop nobody ticks), so a job
 * that starts was started by a wake-up: a NOTIFY from another replica, a submission in this
 * process, a freed slot. Real PostgreSQL, real Docker.
 */

const RUN = crypto.randomBytes(3).toString('hex');
const NODE = `wake-${RUN}`;
const REPLICA = `wake-replica-${RUN}`;
const sleeper = (s: number) => ({ image: TEST_IMAGE, command: ['sleep', String(s)], timeoutSeconds: 600 });

describe.skipIf(!dockerAvailable())('dispatcher wake-ups (real PostgreSQL and Docker, no tick)', () => {
  let h: ApiHarness;
  let docker: DockerRuntime;
  let stopWorker: (() => Promise<void>) | null = null;
  const loops: DispatchLoop[] = [];
  const conns: Database[] = [];
  const bareLoop = (node: string, concurrency = 4) => {
    const ctx: Ctx = { ...h.ctx, node };
    const l = startDispatchLoop(ctx, docker, { concurrency, start: { pullTimeoutMs: 60_000 } });
    loops.push(l);
    return l;
  };
  const jobRow = async (id: string) => (await h.db.select().from(jobs).where(eq(jobs.id, id)))[0]!;

  beforeAll(async () => {
    h = await setupApi({ WARDEN_NODE_ID: NODE, WARDEN_DISPATCH_TICK_S: '0', DOCKER_HOST: '', LOG_LEVEL: 'warn' });
    docker = createDockerRuntime();
  });

  afterAll(async () => {
    await stopWorker?.();
    for (const l of loops) await l.stop();
    for (const c of conns) await c.close();
    if (docker) {
      for (const n of [NODE, REPLICA, `${REPLICA}-drain`]) {
        await removeNodeContainers(docker, n);
        expect(await docker.list({ 'warden.node': n })).toEqual([]);
      }
    }
    await h?.close();
  });

  it("another replica's submission reaches this dispatcher through LISTEN/NOTIFY", async () => {
    // "This" replica: a bare loop on its own connection, woken only by LISTEN. The submission
    // below runs in this process but no in-process listener is registered (no worker yet), so
    // only the NOTIFY its transaction sent on commit can wake the loop.
    const loop = bareLoop(REPLICA);
    const listener = connect(h.url, { max: 1 });
    conns.push(listener);
    let notified = 0;
    const sub = await listener.sql.listen(DISPATCH_CHANNEL, () => {
      notified++;
      loop.wake();
    });
    const u = await makeUser(h.ctx, { plan: { name: `wake-r-${RUN}`, maxConcurrentJobs: 2, network: 'none' } });
    const job = await submitJob(h.ctx, u.actor, sleeper(60));
    const running = await waitFor(async () => {
      const j = await jobRow(job.id);
      return j.status === 'running' && j;
    }, { what: 'the job to start on the replica', timeoutMs: 20_000 });
    expect(running.node).toBe(REPLICA);
    expect(notified).toBeGreaterThanOrEqual(1);
    expect(loop.stats().drains).toBeGreaterThanOrEqual(1);
    // A submission that is refused (rolled back) notifies nobody.
    const before = notified;
    await expect(submitJob(h.ctx, u.actor, { image: TEST_IMAGE, class: 'no-such-class' })).rejects.toThrow(/no-such-class/);
    await listener.sql`select 1`; // a round trip on the listening connection: any notification is in by now
    expect(notified).toBe(before);
    await sub.unlisten();
    await loop.stop();
  });

  it('one wake-up drains every free slot, one job per user per round, never over a limit', async () => {
    const node = `${REPLICA}-drain`;
    const limits = [2, 3, 5];
    const us = [];
    for (const [i, lim] of limits.entries()) {
      us.push({ ...(await makeUser(h.ctx, { name: `drain${i}-${RUN}`, plan: { name: `wake-d${i}-${RUN}`, maxConcurrentJobs: lim, network: 'none' } })), lim });
    }
    // Queue first (no loop listens), then one wake-up.
    for (const u of us) for (let k = 0; k < 6; k++) await submitJob(h.ctx, u.actor, sleeper(120));
    const ids = us.map((u) => u.user.id);
    const loop = bareLoop(node, 4);
    let worst = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const rows = await h.db
          .select({ userId: jobs.userId, n: sql<number>`count(*)::int` })
          .from(jobs)
          .where(and(inArray(jobs.userId, ids), inArray(jobs.status, [...ACTIVE_STATUSES])))
          .groupBy(jobs.userId);
        for (const r of rows) worst = Math.max(worst, r.n - us.find((u) => u.user.id === r.userId)!.lim);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    loop.wake();
    await loop.idle();
    sampling = false;
    await sampler;
    expect(worst).toBeLessThanOrEqual(0);
    // Every free slot was filled by that single wake-up: min(limit, 6) running per user.
    for (const u of us) {
      const rows = await h.db.select({ status: jobs.status }).from(jobs).where(eq(jobs.userId, u.user.id));
      expect(rows.filter((r) => r.status === 'running')).toHaveLength(Math.min(u.lim, 6));
      expect(rows.filter((r) => r.status === 'queued')).toHaveLength(6 - Math.min(u.lim, 6));
    }
    // Fair: when a user got its (k+1)-th claim, every user with room for k jobs had k already.
    const claims = await h.db
      .select({ targetId: auditEvents.targetId })
      .from(auditEvents)
      .where(and(eq(auditEvents.action, 'job.claim'), inArray(auditEvents.targetId, (await h.db.select({ id: jobs.id }).from(jobs).where(inArray(jobs.userId, ids))).map((r) => r.id))))
      .orderBy(asc(auditEvents.id));
    const owner = new Map((await h.db.select({ id: jobs.id, userId: jobs.userId }).from(jobs).where(inArray(jobs.userId, ids))).map((r) => [r.id, r.userId]));
    const got = new Map<string, number>(ids.map((id) => [id, 0]));
    for (const c of claims) {
      const who = owner.get(c.targetId!)!;
      const k = got.get(who)!;
      for (const u of us) if (u.user.id !== who && u.lim > k) expect(got.get(u.user.id)!, `claim ${k + 1} of ${who}`).toBeGreaterThanOrEqual(k);
      got.set(who, k + 1);
    }
    expect(claims).toHaveLength(2 + 3 + 5);
    expect(loop.stats().drains).toBe(1);
    await loop.stop();
    await removeNodeContainers(docker, node);
    await h.db.delete(jobs).where(inArray(jobs.userId, ids));
  });

  it('in the worker: a submission starts at once and each freed slot starts the next job, with the tick off', async () => {
    const { startWorker } = await import('../server/worker');
    const w = await startWorker();
    expect(await w.ready).toBe(NODE);
    stopWorker = () => w.stop();
    // Limit 1, three jobs that end at once: the second and third can only start because the
    // previous one's exit (Docker's die event) woke the dispatcher.
    const u = await makeUser(h.ctx, { plan: { name: `wake-w-${RUN}`, maxConcurrentJobs: 1, network: 'none' } });
    const submitted: { id: string }[] = [];
    for (let k = 0; k < 3; k++) submitted.push(await submitJob(h.ctx, u.actor, { image: TEST_IMAGE, command: ['true'], timeoutSeconds: 60 }));
    await waitFor(async () => {
      const rows = await h.db.select({ status: jobs.status }).from(jobs).where(inArray(jobs.id, submitted.map((j) => j.id)));
      return rows.every((r) => r.status === 'succeeded');
    }, { what: 'all three jobs to run one after the other and succeed', timeoutMs: 30_000 });
    const rows = await h.db.select().from(jobs).where(inArray(jobs.id, submitted.map((j) => j.id)));
    const byStart = rows.sort((a, b) => a.startedAt!.getTime() - b.startedAt!.getTime());
    // One at a time: each started after the previous one finished.
    for (let k = 1; k < byStart.length; k++) expect(byStart[k]!.startedAt!.getTime()).toBeGreaterThanOrEqual(byStart[k - 1]!.finishedAt!.getTime());
    expect(rows.every((r) => r.node === NODE)).toBe(true);
  });
});
