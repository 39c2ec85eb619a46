import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../server/clock';
import type { Ctx } from '../server/context';
import { jobs, type Job } from '../server/db/schema';
import { createDockerRuntime } from '../server/docker/runtime';
import type { ContainerEvent, DockerRuntime, EventSubscription } from '../server/docker/types';
import { submitJob } from '../server/domain/jobs';
import { containerLabels, containerName } from '../server/docker/labels';
import { completeJob } from '../server/domain/termination';
import { onContainerEvent, reconcile } from '../server/worker/completion';
import { claimJobs, dispatchOnce, ENGINE_WAIT } from '../server/worker/dispatcher';
import type { StartOptions } from '../server/worker/start';
import { auditFor, usageOf } from './helpers/core';
import { createTestDatabase } from './helpers/db';
import { dockerAvailable, TEST_IMAGE } from './helpers/docker';
import { makeUser, waitFor } from './helpers/fixtures';
import { seedDefaultPlans } from '../server/domain/plans';
import { ensureInstallation } from '../server/domain/installation';

/**
 * The core loop end to end on real parts: real PostgreSQL, the real Docker engine, the real
 * clock. dispatchOnce claims and starts containers; completion is driven by the engine's events
 * stream (onContainerEvent), or by reconcile() where a test says so. Tests wait on conditions;
 * nothing sleeps as an assertion. Every container carries warden.node=<this run's node>, which
 * the leak check uses.
 */

const FINAL = ['succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled'];

describe.skipIf(!dockerAvailable())('dispatcher + completion on the real engine', () => {
  const RUN = crypto.randomBytes(4).toString('hex');
  const NODE = `wt-core-${RUN}`;
  const docker = createDockerRuntime();
  let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
  let ctx: Ctx;
  let sub: EventSubscription;
  const handling = new Set<Promise<void>>();
  const seen: ContainerEvent[] = [];

  beforeAll(async () => {
    tdb = await createTestDatabase();
    await seedDefaultPlans(tdb.db);
    ctx = { db: tdb.db, clock: systemClock, node: NODE, installation: await ensureInstallation(tdb.db), docker };
    await docker.ensureImage(TEST_IMAGE);
    sub = docker.events((e) => {
      seen.push(e);
      const p = onContainerEvent(ctx, docker, e);
      handling.add(p);
      void p.finally(() => handling.delete(p));
    });
    // The subscription connects asynchronously: prove it is live with a throwaway container.
    const warm = await docker.run({ image: TEST_IMAGE, command: ['true'], labels: { 'warden.managed': 'true', 'warden.node': NODE } });
    await waitFor(() => seen.some((e) => e.id === warm && e.action === 'die'), { what: 'events stream to be live' });
  });

  afterAll(async () => {
    sub?.close();
    await Promise.allSettled([...handling]);
    // Leak check: remove everything this run started, then prove nothing is left.
    // (Some tests use the node ids `${NODE}-r` / `${NODE}-s`: match the prefix.)
    const mine = async () => (await docker.list({ 'warden.managed': 'true' })).filter((c) => c.labels['warden.node']?.startsWith(NODE));
    for (const c of await mine()) await docker.remove(c.id);
    expect(await mine()).toEqual([]);
    await tdb?.drop();
  });

  async function row(id: string): Promise<Job> {
    const [j] = await ctx.db.select().from(jobs).where(eq(jobs.id, id));
    return j!;
  }

  async function activeCount(userId: string): Promise<number> {
    const [r] = await ctx.db.execute<{ n: number }>(
      sql`select count(*)::int as n from jobs where user_id = ${userId} and status in ('starting','running','terminating')`,
    );
    return Number(r!.n);
  }

  /** Ticks the dispatcher until every job is final; returns the most jobs seen active at once. */
  async function driveUntilFinal(ids: string[], userId: string, opts: { timeoutMs?: number; start?: Partial<StartOptions> } = {}): Promise<number> {
    let maxActive = 0;
    await waitFor(
      async () => {
        await dispatchOnce(ctx, opts.start ? { start: opts.start } : {});
        maxActive = Math.max(maxActive, await activeCount(userId));
        const rows = await Promise.all(ids.map(row));
        return rows.every((r) => FINAL.includes(r.status));
      },
      { timeoutMs: opts.timeoutMs ?? 120_000, intervalMs: 50, what: 'jobs to finish' },
    );
    return maxActive;
  }

  it('a user allowed 2 at once queues 3: never more than 2 run, the third starts when one ends, all succeed', async () => {
    const u = await makeUser(ctx, { plan: { name: 'two-at-once', maxConcurrentJobs: 2, monthlyQuotaS: null, cpus: 0.5, memoryMb: 64 } });
    // Each job runs until the test lets it go (a file in its container), then 1 s more: that both
    // slots are in use at once is waited for, not left to how fast the engine starts containers.
    const gated = ['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.1; done; sleep 1; echo done'];
    const submitted: Job[] = [];
    for (let i = 0; i < 3; i++) {
      submitted.push(await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: gated, name: `seed-${i}` }));
    }
    const ids = submitted.map((j) => j.id);
    expect(submitted.every((j) => j.status === 'queued')).toBe(true);

    let maxActive = 0;
    const step = async () => {
      await dispatchOnce(ctx);
      maxActive = Math.max(maxActive, await activeCount(u.user.id));
      return Promise.all(ids.map(row));
    };
    // Both slots fill; the third waits, also on a later dispatch pass.
    const filled = await waitFor(async () => {
      const rows = await step();
      return rows.filter((r) => r.status === 'running').length === 2 ? rows : null;
    }, { timeoutMs: 120_000, intervalMs: 50, what: 'two jobs running' });
    expect(filled.map((r) => r.status)).toEqual(['running', 'running', 'queued']);
    expect((await step())[2]!.status).toBe('queued');
    // Let each go once it runs; the third starts only when a slot frees.
    const released = new Set<string>();
    await waitFor(async () => {
      const rows = await step();
      for (const r of rows) {
        if (r.status === 'running' && r.containerId && !released.has(r.id)) {
          execFileSync('docker', ['exec', r.containerId, 'touch', '/tmp/go']);
          released.add(r.id);
        }
      }
      return rows.every((r) => FINAL.includes(r.status));
    }, { timeoutMs: 120_000, intervalMs: 50, what: 'jobs to finish' });
    expect(maxActive).toBe(2); // both slots were used, never more

    const done = await Promise.all(ids.map(row));
    for (const j of done) {
      expect(j).toMatchObject({ status: 'succeeded', exitCode: 0, reason: null, node: NODE });
      expect(j.logTail).toBe('done\n');
      expect(j.startedAt).toBeInstanceOf(Date);
      expect(j.finishedAt!.getTime()).toBeGreaterThan(j.startedAt!.getTime());
      expect(j.deadlineAt!.getTime()).toBe(j.startedAt!.getTime() + j.timeoutS * 1000);
      expect(j.ttlExpiresAt).toBeInstanceOf(Date);
    }
    // The engine's own record: at most two containers overlapped, and the third started only
    // after one of the first two had exited.
    const spans = await Promise.all(
      done.map(async (j) => {
        const c = (await docker.inspect(j.containerId!))!;
        expect(c.labels).toMatchObject({ 'warden.managed': 'true', 'warden.job': j.id, 'warden.user': u.user.id, 'warden.attempt': '1', 'warden.node': NODE });
        return { id: j.id, start: c.startedAt!.getTime(), end: c.finishedAt!.getTime() };
      }),
    );
    spans.sort((a, b) => a.start - b.start);
    // The plan's caps reach the container.
    const hc = JSON.parse(execFileSync('docker', ['inspect', '--format', '{{json .HostConfig}}', done[0]!.containerId!]).toString()) as { Memory: number; NanoCpus: number; Init: boolean };
    expect(hc).toMatchObject({ Memory: 64 * 1024 * 1024, NanoCpus: 500_000_000, Init: true });
    const [s1, s2, s3] = spans as [(typeof spans)[0], (typeof spans)[0], (typeof spans)[0]];
    expect(s3.start).toBeGreaterThanOrEqual(Math.min(s1.end, s2.end));
    // Containers running at each container's start instant (the only moments the count can rise).
    for (const s of spans) {
      const runningAtStart = spans.filter((o) => o.start <= s.start && s.start < o.end).length;
      expect(runningAtStart).toBeLessThanOrEqual(2);
    }
    // FIFO within the user: the first two submitted ran first.
    expect(new Set([s1.id, s2.id])).toEqual(new Set([ids[0], ids[1]]));

    // Usage: three jobs of at least 1 s each, each counted in whole seconds rounded up.
    const [us] = await usageOf(ctx.db, u.user.id);
    expect(us!.jobs).toBe(3);
    expect(us!.seconds).toBeGreaterThanOrEqual(3);
    expect(us!.seconds).toBe(done.reduce((a, j) => a + Math.ceil((j.finishedAt!.getTime() - j.startedAt!.getTime()) / 1000), 0));

    // Every step is in the audit log.
    for (const id of ids) {
      const actions = (await auditFor(ctx.db, id)).map((a) => a.action);
      expect(actions).toEqual(['job.submit', 'job.claim', 'container.start', 'job.succeeded']);
    }
  });

  it('two users with equal demand are served fairly on the real loop', async () => {
    const a = await makeUser(ctx, { plan: { name: 'one-at-once', maxConcurrentJobs: 1, monthlyQuotaS: null } });
    const b = await makeUser(ctx, { plan: { name: 'one-at-once' } });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      for (const u of [a, b]) ids.push((await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'echo hi'] })).id);
    }
    await waitFor(
      async () => {
        await dispatchOnce(ctx);
        expect(await activeCount(a.user.id)).toBeLessThanOrEqual(1);
        expect(await activeCount(b.user.id)).toBeLessThanOrEqual(1);
        return (await Promise.all(ids.map(row))).every((r) => FINAL.includes(r.status));
      },
      { timeoutMs: 120_000, intervalMs: 50, what: 'both users finishing' },
    );
    const rows = await Promise.all(ids.map(row));
    expect(rows.every((r) => r.status === 'succeeded')).toBe(true);
    // Each user's first job was claimed before either user's second one.
    const claimAt = (r: Job) => r.claimedAt!.getTime();
    const [a1, b1, a2, b2] = rows as [Job, Job, Job, Job];
    expect(Math.max(claimAt(a1), claimAt(b1))).toBeLessThanOrEqual(Math.min(claimAt(a2), claimAt(b2)));
  });

  it('exit codes map to succeeded/failed with the code and log tail kept (events path)', async () => {
    const u = await makeUser(ctx, { plan: { name: 'wide', maxConcurrentJobs: 10, monthlyQuotaS: null } });
    const ok = await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'echo all good'] });
    const bad = await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'echo to-out; echo to-err >&2; exit 3'] });
    const killed9 = await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'exit 137'] });
    await driveUntilFinal([ok.id, bad.id, killed9.id], u.user.id);
    expect(await row(ok.id)).toMatchObject({ status: 'succeeded', exitCode: 0, reason: null, logTail: 'all good\n' });
    const b = await row(bad.id);
    expect(b).toMatchObject({ status: 'failed', exitCode: 3, reason: 'Exited with code 3' });
    expect(b.logTail).toContain('to-out\n');
    expect(b.logTail).toContain('to-err\n');
    expect(await row(killed9.id)).toMatchObject({ status: 'failed', exitCode: 137 });
    const failedAudit = (await auditFor(ctx.db, bad.id)).find((a) => a.action === 'job.failed')!;
    expect(failedAudit).toMatchObject({ actor: 'dispatcher', reason: 'Exited with code 3' });
    expect(failedAudit.details).toMatchObject({ from: 'running', to: 'failed', exitCode: 3 });
    const [us] = await usageOf(ctx.db, u.user.id);
    expect(us!.jobs).toBe(3);
  });

  it('a job killed by the OOM killer at the plan memory cap says so', async () => {
    const u = await makeUser(ctx, { plan: { name: 'tiny-mem', maxConcurrentJobs: 2, monthlyQuotaS: null, memoryMb: 16 } });
    // ~64 MB held in a shell variable against a 16 MB cap (swap capped too): the kernel kills it.
    const hog = await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'x=$(head -c 67108864 /dev/zero | tr "\\0" a); echo survived'] });
    const plain = await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'exit 137'] });
    await driveUntilFinal([hog.id, plain.id], u.user.id);
    const h = await row(hog.id);
    expect(h.status).toBe('failed');
    expect(h.reason).toMatch(/^Out of memory: killed at the memory cap of 16 MB \(plan tiny-mem\)/);
    expect(h.logTail ?? '').not.toContain('survived');
    // A plain exit 137 (no OOM) keeps the plain reason.
    expect(await row(plain.id)).toMatchObject({ status: 'failed', exitCode: 137, reason: 'Exited with code 137' });
  });

  it('reconcile completes a job whose exit event was missed', async () => {
    // Another node id: the events handler above ignores this node's containers.
    const other: Ctx = { ...ctx, node: `${NODE}-r` };
    const u = await makeUser(other, { plan: { name: 'wide', maxConcurrentJobs: 10 } });
    const j = await submitJob(other, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'echo missed; exit 4'] });
    const r = await dispatchOnce(other);
    expect(r).toMatchObject({ claimed: 1, started: 1, engineDown: false });
    const running = await row(j.id);
    expect(running.status).toBe('running');
    await waitFor(async () => {
      const c = await docker.inspect(running.containerId!);
      return c && !c.running;
    }, { what: 'container to exit' });
    expect((await row(j.id)).status).toBe('running'); // nobody saw the event
    expect(await reconcile(other, docker)).toMatchObject({ completed: 1 });
    expect(await row(j.id)).toMatchObject({ status: 'failed', exitCode: 4, logTail: 'missed\n' });
    // Idempotent: a late event or a second reconcile changes nothing.
    expect(await reconcile(other, docker)).toMatchObject({ completed: 0 });
    expect(await completeJob(other, docker, j.id, running.containerId!, 0, new Date())).toBeNull();
    expect((await row(j.id)).status).toBe('failed');
    await docker.remove(running.containerId!);
  });

  it('reconcile: a job stuck in `starting` adopts its container, or goes back to the queue (audited)', async () => {
    const other: Ctx = { ...ctx, node: `${NODE}-s` };
    const u = await makeUser(other, { plan: { name: 'wide', maxConcurrentJobs: 10 } });
    const withC = await submitJob(other, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 30'] });
    const without = await submitJob(other, u.actor, { image: TEST_IMAGE, command: ['true'] });
    const claimed = await claimJobs(other.db, { now: new Date(), node: other.node, perUser: 2 });
    expect(claimed.map((j) => j.id).sort()).toEqual([withC.id, without.id].sort());
    // The worker "crashed" after creating one container and before recording it.
    const j = claimed.find((c) => c.id === withC.id)!;
    const cid = await docker.run({ name: containerName(j), image: j.image, command: j.command, labels: containerLabels(j, other) });
    const r = await reconcile(other, docker, { startingStaleMs: 0 });
    expect(r).toMatchObject({ adopted: 1, requeued: 1 });
    const adopted = await row(withC.id);
    expect(adopted).toMatchObject({ status: 'running', containerId: cid });
    expect(adopted.deadlineAt!.getTime()).toBe(adopted.startedAt!.getTime() + adopted.timeoutS * 1000);
    expect(await row(without.id)).toMatchObject({ status: 'queued', node: null, claimedAt: null });
    expect((await auditFor(ctx.db, withC.id)).map((a) => a.action)).toContain('job.adopt');
    const rq = (await auditFor(ctx.db, without.id)).find((a) => a.action === 'job.requeue');
    expect(rq?.reason).toMatch(/start interrupted/);
    // A fresh `starting` job (inside the stale window) is left alone.
    const fresh = await claimJobs(other.db, { now: new Date(), node: other.node });
    expect(fresh.map((f) => f.id)).toEqual([without.id]);
    expect(await reconcile(other, docker)).toMatchObject({ adopted: 0, requeued: 0 });
    expect((await row(without.id)).status).toBe('starting');
    await docker.remove(cid);
    await ctx.db.update(jobs).set({ status: 'cancelled' }).where(eq(jobs.id, without.id));
  });

  it('a missing image ends the job failed with a reason naming the image (audited, no container)', async () => {
    const u = await makeUser(ctx, { plan: { name: 'wide', maxConcurrentJobs: 10 } });
    const image = 'warden-test/nope:missing';
    const j = await submitJob(ctx, u.actor, { image, command: ['true'] });
    // Offline, Docker Hub's name does not resolve, which may pass: tried again, here without the long waits.
    await driveUntilFinal([j.id], u.user.id, { timeoutMs: 60_000, start: { pullRetry: { tries: 3, curve: { baseMs: 50, maxMs: 100 } } } });
    const r = await row(j.id);
    expect(r.status).toBe('failed');
    expect(r.reason).toContain(image);
    expect(r.reason).toMatch(/^image warden-test\/nope:missing could not be pulled: /);
    expect(r.containerId).toBeNull();
    expect(r.cleanedAt).toBeInstanceOf(Date);
    expect(r.waitReason).toBeNull();
    const a = (await auditFor(ctx.db, j.id)).find((e) => e.action === 'job.start_failed');
    expect(a).toMatchObject({ actor: 'dispatcher' });
    expect(a!.reason).toContain(image);
    expect(await docker.list({ 'warden.job': j.id })).toEqual([]);
  });

  it('start failures end the job failed with the engine\'s words, audited; nothing is left running', async () => {
    // 1. The engine refuses the container (create fails: more CPUs than the host has).
    const big = await makeUser(ctx, { plan: { name: 'too-big', maxConcurrentJobs: 10, cpus: 256 } });
    const refused = await submitJob(ctx, big.actor, { image: TEST_IMAGE, command: ['true'] });
    await driveUntilFinal([refused.id], big.user.id);
    const r1 = await row(refused.id);
    expect(r1).toMatchObject({ status: 'failed', containerId: null, exitCode: null });
    expect(r1.reason).toMatch(/^Container failed to start: .*CPU/i);
    const a1 = (await auditFor(ctx.db, refused.id)).find((e) => e.action === 'job.start_failed');
    expect(a1).toMatchObject({ actor: 'dispatcher', reason: r1.reason });
    expect(await docker.list({ 'warden.job': refused.id })).toEqual([]);

    // 2. The command does not exist: tini (PID 1) cannot exec it and exits 127.
    const u = await makeUser(ctx, { plan: { name: 'wide', maxConcurrentJobs: 10 } });
    const nobin = await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['/no/such/binary'] });
    await driveUntilFinal([nobin.id], u.user.id);
    const r2 = await row(nobin.id);
    expect(r2).toMatchObject({ status: 'failed', exitCode: 127, reason: 'Exited with code 127' });
    expect(r2.logTail).toMatch(/no\/such\/binary/);
    const running = (await docker.list({ 'warden.job': nobin.id })).filter((c) => c.state === 'running');
    expect(running).toEqual([]);
  });

  it('engine lost between ping and start: the job goes back to the queue, audited, and runs later', async () => {
    const u = await makeUser(ctx, { plan: { name: 'wide', maxConcurrentJobs: 10 } });
    const j = await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'echo later'] });
    // A real runtime on a dead socket whose ping lies: run() fails with the real socket error.
    const dead = createDockerRuntime({ dockerHost: 'unix:///tmp/warden-nonexistent.sock' });
    const liar: DockerRuntime = Object.assign(Object.create(dead) as DockerRuntime, { ping: async () => true });
    const flaky: Ctx = { ...ctx, docker: liar };
    const r = await dispatchOnce(flaky);
    expect(r).toMatchObject({ claimed: 1, started: 0, requeued: 1 });
    expect(await row(j.id)).toMatchObject({ status: 'queued', waitReason: ENGINE_WAIT, node: null, claimedAt: null });
    const requeue = (await auditFor(ctx.db, j.id)).find((e) => e.action === 'job.requeue')!;
    expect(requeue).toMatchObject({ actor: 'dispatcher', success: false, reason: 'Docker engine unreachable' });
    expect(requeue.error).toMatch(/warden-nonexistent\.sock/);
    await driveUntilFinal([j.id], u.user.id);
    expect(await row(j.id)).toMatchObject({ status: 'succeeded', logTail: 'later\n', waitReason: null });
  });

  it('engine unreachable: jobs stay queued saying why, nothing throws; when it is back they run', async () => {
    const u = await makeUser(ctx, { plan: { name: 'wide', maxConcurrentJobs: 10 } });
    const ids = [
      (await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'echo back'] })).id,
      (await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'echo back'] })).id,
    ];
    const down: Ctx = { ...ctx, docker: createDockerRuntime({ dockerHost: 'unix:///tmp/warden-nonexistent.sock' }) };
    for (let i = 0; i < 3; i++) {
      const r = await dispatchOnce(down);
      expect(r).toEqual({ claimed: 0, started: 0, failed: 0, requeued: 0, pulling: 0, engineDown: true });
    }
    for (const id of ids) expect(await row(id)).toMatchObject({ status: 'queued', waitReason: ENGINE_WAIT, containerId: null });
    expect(down.docker!.lastError()).toMatch(/warden-nonexistent\.sock/);
    // A web-only process (no runtime at all) is "down" too.
    expect(await dispatchOnce({ ...ctx, docker: null })).toMatchObject({ engineDown: true, claimed: 0 });
    // The engine comes back: the same jobs run to completion and the wait reason clears.
    await driveUntilFinal(ids, u.user.id);
    for (const id of ids) expect(await row(id)).toMatchObject({ status: 'succeeded', waitReason: null, logTail: 'back\n' });
  });
});
