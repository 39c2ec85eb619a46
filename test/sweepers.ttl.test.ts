import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobs, nodes, sweeperRuns, usage } from '../server/db/schema';
import { sweep } from '../server/sweepers';
import { PURGE_BATCH } from '../server/sweepers/ttl';
import { reconcile } from '../server/worker/completion';
import { dockerAvailable } from './helpers/docker';
import { faultyRuntime, makeRig, TEST_IMAGE, waitStopped, type Rig } from './helpers/sweepers';

/**
 * TTL sweeper: finished jobs past their TTL lose their container and labelled volumes (the row
 * stays readable); history past the retention is purged in batches, never a row with a live
 * child or an uncleaned container; usage totals stay.
 */

const volumesOf = (jobId: string) =>
  execFileSync('docker', ['volume', 'ls', '-q', '--filter', `label=warden.job=${jobId}`]).toString().trim().split('\n').filter(Boolean);

describe.skipIf(!dockerAvailable())('ttl sweeper (real Docker)', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await makeRig({ plan: { ttlSucceededS: 60, ttlFailedS: 120 } });
  });
  afterAll(async () => {
    await rig?.close();
  });
  const tick = (o: Parameters<typeof sweep>[2] = {}) => sweep(rig.ctx, 'ttl', o);

  /** Runs a job to completion through the real dispatcher and the completion backstop. */
  async function finished(command: string[]) {
    const j = await rig.start(command, { timeoutSeconds: 60 });
    await waitStopped(rig.docker, j.containerId!);
    await reconcile(rig.ctx, rig.docker);
    return rig.job(j.id);
  }

  it('removes the container and labelled volumes at expiry, keeps the row readable', async () => {
    const ok = await finished(['sh', '-c', 'echo all good']);
    const bad = await finished(['sh', '-c', 'echo oops; exit 3']);
    expect(ok.status).toBe('succeeded');
    expect(bad.status).toBe('failed');
    // TTL by final state: plan says 60 s for succeeded, 120 s for failed.
    expect(ok.ttlExpiresAt!.getTime() - ok.finishedAt!.getTime()).toBe(60_000);
    expect(bad.ttlExpiresAt!.getTime() - bad.finishedAt!.getTime()).toBe(120_000);
    execFileSync('docker', ['volume', 'create', '--label', `warden.job=${ok.id}`, '--label', `warden.node=${rig.node}`, `wv-${ok.id}`], { stdio: 'ignore' });
    expect(volumesOf(ok.id)).toHaveLength(1);

    rig.ctx.clock.set(ok.ttlExpiresAt!.getTime() - 1);
    expect((await tick()).planned.filter((p) => p.kind === 'cleanup')).toEqual([]);
    rig.ctx.clock.set(ok.ttlExpiresAt!);
    const r = await tick();
    expect(r.planned.filter((p) => p.kind === 'cleanup').map((p) => p.jobId)).toEqual([ok.id]);
    expect(await rig.docker.inspect(ok.containerId!)).toBeNull();
    expect(volumesOf(ok.id)).toEqual([]);
    const row = await rig.job(ok.id);
    expect(row.cleanedAt?.getTime()).toBe(ok.ttlExpiresAt!.getTime());
    expect(row.logTail).toContain('all good');
    expect((await rig.audits(ok.id)).map((a) => a.action).slice(-3)).toEqual(['container.remove', 'volume.remove', 'job.cleaned']);
    // The failed one lives on until its own (longer) TTL.
    expect((await rig.docker.inspect(bad.containerId!))).not.toBeNull();
    rig.ctx.clock.set(bad.ttlExpiresAt!);
    await tick();
    expect(await rig.docker.inspect(bad.containerId!)).toBeNull();
    expect((await rig.job(bad.id)).cleanedAt).not.toBeNull();
    // Nothing left to do: a second tick is a no-op.
    expect((await tick()).planned.filter((p) => p.jobId === bad.id)).toEqual([]);
  });

  it("re-inspects first: a container whose labels don't name the job is not removed", async () => {
    const other = await rig.docker.run({
      image: TEST_IMAGE,
      command: ['sleep', '300'],
      labels: { 'warden.managed': 'true', 'warden.job': crypto.randomUUID(), 'warden.attempt': '1', 'warden.node': rig.node },
    });
    const now = rig.ctx.clock.now();
    const [j] = await rig.db
      .insert(jobs)
      .values({
        userId: rig.user.id, image: TEST_IMAGE, status: 'succeeded', maxRetries: 0, timeoutS: 60, timeoutSource: 'plan', gracePeriodS: 1,
        queuedAt: now, finishedAt: now, ttlExpiresAt: now, node: rig.node, containerId: other,
      })
      .returning();
    await tick();
    expect((await rig.docker.inspect(other))?.running).toBe(true);
    const [rm] = await rig.audits(j!.id, 'container.remove');
    expect(rm).toMatchObject({ success: false });
    expect(rm!.error).toMatch(/^refused: container/);
    expect((await rig.job(j!.id)).cleanedAt).not.toBeNull();
    await rig.docker.remove(other);
  });

  it('a failed removal is retried with backoff; the job stays uncleaned until it succeeds', async () => {
    let fail = true;
    const ctx = { ...rig.ctx, docker: faultyRuntime(rig.docker, { remove: () => (fail ? 'fail' : 'pass') }) };
    const j = await finished(['true']);
    rig.ctx.clock.set(j.ttlExpiresAt!);
    expect((await sweep(ctx, 'ttl')).errors).toBe(1);
    let row = await rig.job(j.id);
    expect(row).toMatchObject({ cleanedAt: null, sideEffectFailures: 1 });
    expect(row.nextAttemptAt!.getTime()).toBe(j.ttlExpiresAt!.getTime() + 1000);
    expect((await sweep(ctx, 'ttl')).planned.filter((p) => p.jobId === j.id)).toEqual([]);
    fail = false;
    rig.ctx.clock.advance(1000);
    await sweep(ctx, 'ttl');
    row = await rig.job(j.id);
    expect(row).toMatchObject({ sideEffectFailures: 0, nextAttemptAt: null });
    expect(row.cleanedAt).not.toBeNull();
    expect(await rig.docker.inspect(j.containerId!)).toBeNull();
  });

  it("marks a stale node's expired jobs cleaned without touching Docker; a live node's are left to it", async () => {
    const now = rig.ctx.clock.now();
    await rig.db.insert(nodes).values([
      { id: `${rig.node}-dead`, heartbeatAt: new Date(now.getTime() - 3600_000), startedAt: now },
      { id: `${rig.node}-alive`, heartbeatAt: now, startedAt: now },
    ]);
    const base = { userId: rig.user.id, image: TEST_IMAGE, status: 'succeeded' as const, maxRetries: 0, timeoutS: 60, timeoutSource: 'plan', gracePeriodS: 1, queuedAt: now, finishedAt: now, ttlExpiresAt: now, containerId: 'abc' };
    const [dead, alive] = await rig.db.insert(jobs).values([{ ...base, node: `${rig.node}-dead` }, { ...base, node: `${rig.node}-alive` }]).returning();
    await tick();
    expect((await rig.job(dead!.id)).cleanedAt).not.toBeNull();
    expect((await rig.audits(dead!.id, 'job.cleaned'))[0]!.details).toMatchObject({ why: expect.stringMatching(/unreachable/) });
    expect((await rig.job(alive!.id)).cleanedAt).toBeNull();
    await rig.db.delete(jobs).where(inArray(jobs.id, [dead!.id, alive!.id]));
  });

  it('purges history in batches; keeps uncleaned rows, parents of live children and usage totals', async () => {
    const now = rig.ctx.clock.now();
    const old = new Date(now.getTime() - 31 * 86400_000);
    const recent = new Date(now.getTime() - 29 * 86400_000);
    await rig.db.insert(usage).values({ userId: rig.user.id, month: '2025-01', seconds: 12345, jobs: 9 }).onConflictDoNothing();
    const N = PURGE_BATCH * 2 + 500;
    await rig.db.execute(sql`
      insert into jobs (user_id, image, status, max_retries, timeout_s, timeout_source, grace_period_s, queued_at, finished_at, ttl_expires_at, cleaned_at)
      select ${rig.user.id}, 'x', 'succeeded', 0, 60, 'plan', 1, ${old.toISOString()}::timestamptz, ${old.toISOString()}::timestamptz, ${old.toISOString()}::timestamptz, ${old.toISOString()}::timestamptz
      from generate_series(1, ${N})`);
    const base = { userId: rig.user.id, image: 'x', maxRetries: 0, timeoutS: 60, timeoutSource: 'plan', gracePeriodS: 1, queuedAt: old };
    const [uncleaned, parent, fresh] = await rig.db
      .insert(jobs)
      .values([
        { ...base, status: 'failed', finishedAt: old, ttlExpiresAt: new Date(now.getTime() + 86400_000) },
        { ...base, status: 'succeeded', finishedAt: old, ttlExpiresAt: old, cleanedAt: old },
        { ...base, status: 'succeeded', finishedAt: recent, ttlExpiresAt: recent, cleanedAt: recent },
      ])
      .returning();
    const [child] = await rig.db
      .insert(jobs)
      .values({ ...base, status: 'queued', parentId: parent!.id, queuedAt: now })
      .returning();

    const dry = await tick({ dryRun: true, settings: { historyDays: 30 } });
    expect(dry.planned.find((p) => p.kind === 'purge')).toBeDefined();
    const count = async () => Number((await rig.db.execute<{ n: number }>(sql`select count(*)::int as n from jobs where finished_at < ${new Date(now.getTime() - 30 * 86400_000).toISOString()}::timestamptz`))[0]!.n);
    expect(await count()).toBe(N + 2);

    const r = await tick({ settings: { historyDays: 30 } });
    expect(r.byKind?.purge ?? (r as { acted: number }).acted).toBeGreaterThanOrEqual(N);
    expect(await count()).toBe(2); // the uncleaned one and the parent of a live child
    const left = await rig.db.select({ id: jobs.id }).from(jobs).where(inArray(jobs.id, [uncleaned!.id, parent!.id, fresh!.id, child!.id]));
    expect(left).toHaveLength(4);
    const [u] = await rig.db.select().from(usage).where(and(eq(usage.userId, rig.user.id), eq(usage.month, '2025-01')));
    expect(u).toMatchObject({ seconds: 12345, jobs: 9 });
    const purges = await rig.db.query.auditEvents.findMany({ where: (e, { eq: q }) => q(e.action, 'job.purge') });
    expect(purges.reduce((s, p) => s + Number((p.details as { count: number }).count), 0)).toBe(N);
    await rig.db.delete(jobs).where(inArray(jobs.id, [uncleaned!.id, parent!.id, fresh!.id, child!.id]));
  });

  it('prunes idle sweeper_runs after a day and busy ones after the history retention', async () => {
    const now = rig.ctx.clock.now().getTime();
    const ago = (ms: number) => new Date(now - ms);
    await rig.db.insert(sweeperRuns).values([
      { sweeper: 'timeout', node: rig.node, startedAt: ago(25 * 3600_000), finishedAt: ago(25 * 3600_000), examined: 0, acted: 0 },
      { sweeper: 'timeout', node: rig.node, startedAt: ago(25 * 3600_000), finishedAt: ago(25 * 3600_000), examined: 3, acted: 2 },
      { sweeper: 'timeout', node: rig.node, startedAt: ago(23 * 3600_000), finishedAt: ago(23 * 3600_000), examined: 0, acted: 0 },
      { sweeper: 'orphans', node: rig.node, startedAt: ago(31 * 86400_000), finishedAt: ago(31 * 86400_000), examined: 3, acted: 2 },
    ]);
    await tick({ settings: { historyDays: 30 } });
    const rows = await rig.db.select().from(sweeperRuns).where(sql`${sweeperRuns.startedAt} < ${ago(3600_000).toISOString()}::timestamptz`);
    expect(rows.map((r) => [r.sweeper, r.acted])).toEqual(expect.arrayContaining([['timeout', 2], ['timeout', 0]]));
    expect(rows).toHaveLength(2);
  });
});
