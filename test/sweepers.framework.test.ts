import { and, asc, eq, sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../server/clock';
import { parseConfig } from '../server/config';
import type { Ctx } from '../server/context';
import { auditEvents, jobs, sweeperRuns, type Job } from '../server/db/schema';
import { metrics } from '../server/metrics';
import { setSweeperDryRun, sweeperStatus } from '../server/domain/sweeper-settings';
import { startSweepers, sweep } from '../server/sweepers';
import { runSweeperNow, SWEEPER_LOCK_CLASS, SWEEPERS } from '../server/sweepers/runner';
import { createTestDatabase } from './helpers/db';
import { FakeDocker } from './helpers/fake-docker';
import { ADMIN, makeCtx, makeUser, OPERATOR, VIEWER, waitFor } from './helpers/fixtures';

/**
 * The sweeper framework: advisory lock per (sweeper, node), sweeper_runs bookkeeping, dry-run
 * settings, the node-cron schedule (isolation, precise deadlines) and metrics. Docker is an
 * in-memory fake here; the engine itself is covered by the other sweepers.* files.
 */

let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
let ctx: Ctx;
let docker: FakeDocker;
let userId: string;

beforeAll(async () => {
  tdb = await createTestDatabase();
  docker = new FakeDocker();
  ctx = await makeCtx(tdb.db, { clock: systemClock, docker, node: 'fw-node' });
  userId = (await makeUser(ctx, { plan: { name: 'fw', gracePeriodS: 1, warnBeforeS: 0, monthlyQuotaS: null } })).user.id;
});
afterAll(async () => {
  await tdb?.drop();
});

async function runningJob(deadline: Date, over: Partial<Job> = {}): Promise<Job> {
  const containerId = docker.add({ 'warden.managed': 'true', 'warden.node': ctx.node });
  const [j] = await tdb.db
    .insert(jobs)
    .values({
      userId,
      image: 'x',
      status: 'running',
      maxRetries: 0,
      timeoutS: 60,
      timeoutSource: 'plan',
      gracePeriodS: 1,
      queuedAt: new Date(deadline.getTime() - 60_000),
      startedAt: new Date(deadline.getTime() - 60_000),
      deadlineAt: deadline,
      node: ctx.node,
      containerId,
      ...over,
    })
    .returning();
  docker.containers.get(containerId)!.labels = { 'warden.managed': 'true', 'warden.node': ctx.node, 'warden.job': j!.id, 'warden.attempt': '1' };
  return j!;
}

describe('advisory lock', () => {
  it('a tick whose lock another session holds is skipped and records nothing; other nodes are not blocked', async () => {
    const other = postgres(tdb.url, { max: 1, onnotice: () => {} });
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let locked!: () => void;
      const isLocked = new Promise<void>((r) => (locked = r));
      const tx = other.begin(async (s) => {
        await s`select pg_advisory_xact_lock(${SWEEPER_LOCK_CLASS}::int, hashtext(${'timeout:fw-node'}))`;
        locked();
        await held;
      });
      await isLocked;
      const before = await tdb.db.select().from(sweeperRuns);
      const r = await sweep(ctx, 'timeout');
      expect(r).toMatchObject({ skipped: true, examined: 0, acted: 0 });
      expect(await tdb.db.select().from(sweeperRuns)).toHaveLength(before.length);
      // Same sweeper, another node (another Docker host): its own lock.
      expect((await sweep({ ...ctx, node: 'fw-other' }, 'timeout')).skipped).toBeUndefined();
      // Another sweeper on this node: its own lock.
      expect((await sweep(ctx, 'ttl')).skipped).toBeUndefined();
      release();
      await tx;
      expect((await sweep(ctx, 'timeout')).skipped).toBeUndefined();
    } finally {
      await other.end();
    }
  });

  it('concurrent ticks of one sweeper never overlap (sweeper_runs intervals are disjoint)', async () => {
    await tdb.db.delete(sweeperRuns);
    for (let i = 0; i < 5; i++) await runningJob(new Date(Date.now() - 1000));
    const results = await Promise.all(Array.from({ length: 12 }, () => sweep(ctx, 'timeout')));
    const ran = results.filter((r) => !r.skipped);
    expect(ran.length).toBeGreaterThanOrEqual(1);
    const runs = await tdb.db.select().from(sweeperRuns).where(eq(sweeperRuns.sweeper, 'timeout')).orderBy(asc(sweeperRuns.startedAt));
    expect(runs).toHaveLength(ran.length);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.startedAt.getTime()).toBeGreaterThanOrEqual(runs[i - 1]!.finishedAt!.getTime());
    // And each of the 5 jobs got exactly one SIGTERM.
    const sig = await tdb.db.select().from(auditEvents).where(eq(auditEvents.action, 'container.sigterm'));
    expect(sig).toHaveLength(5);
    expect(new Set(sig.map((s) => s.targetId)).size).toBe(5);
  });
});

describe('runs, dry-run and status', () => {
  it('records each run with counts, duration and what it planned', async () => {
    const j = await runningJob(new Date(Date.now() - 500));
    const r = await sweep(ctx, 'timeout');
    const [run] = await tdb.db.select().from(sweeperRuns).where(eq(sweeperRuns.id, r.runId!));
    expect(run).toMatchObject({ sweeper: 'timeout', node: 'fw-node', dryRun: false, errors: 0, error: null });
    expect(run!.examined).toBeGreaterThanOrEqual(1);
    expect(run!.acted).toBe(r.acted);
    expect(run!.finishedAt!.getTime()).toBeGreaterThanOrEqual(run!.startedAt.getTime());
    const d = run!.details as { ms: number; planned: { kind: string; jobId: string }[]; pid: number };
    expect(d.ms).toBeGreaterThan(0);
    expect(d.pid).toBe(process.pid);
    expect(d.planned).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'timeout', jobId: j.id })]));
  });

  it('dry-run per sweeper from the settings table (admin only), forced for all by WARDEN_DRY_RUN', async () => {
    await expect(setSweeperDryRun(ctx, OPERATOR, 'timeout', true)).rejects.toMatchObject({ status: 403 });
    await expect(setSweeperDryRun(ctx, ADMIN, 'nope' as 'ttl', true)).rejects.toMatchObject({ status: 422 });
    await setSweeperDryRun(ctx, ADMIN, 'timeout', true);
    const j = await runningJob(new Date(Date.now() - 500));
    const r = await sweep(ctx, 'timeout');
    expect(r.dryRun).toBe(true);
    expect(r.planned).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'timeout', jobId: j.id })]));
    const [row] = await tdb.db.select().from(jobs).where(eq(jobs.id, j.id));
    expect(row!.status).toBe('running');
    expect(docker.containers.get(j.containerId!)!.running).toBe(true);
    expect((await sweep(ctx, 'ttl')).dryRun).toBe(false);

    let status = await sweeperStatus(ctx);
    expect(status.find((s) => s.name === 'timeout')).toMatchObject({ everySeconds: 1, dryRun: true, dryRunSource: 'setting' });
    expect(status.find((s) => s.name === 'ttl')).toMatchObject({ everySeconds: 30, dryRun: false, dryRunSource: 'off' });
    expect(status.find((s) => s.name === 'timeout')!.lastRuns[0]!.dryRun).toBe(true);
    const [audit] = await tdb.db.select().from(auditEvents).where(eq(auditEvents.action, 'sweeper.dry_run'));
    expect(audit).toMatchObject({ actor: 'operator:admin@test', targetId: 'sweeper.timeout.dryRun', details: { dryRun: true } });

    await setSweeperDryRun(ctx, ADMIN, 'timeout', false);
    expect((await sweep(ctx, 'timeout')).dryRun).toBe(false);
    const [after] = await tdb.db.select().from(jobs).where(eq(jobs.id, j.id));
    expect(after!.status).not.toBe('running');

    const env = parseConfig({ WARDEN_DRY_RUN: 'on' });
    expect((await sweep(ctx, 'orphans', { cfg: env })).dryRun).toBe(true);
    status = await sweeperStatus(ctx);
    expect(status.every((s) => s.dryRunSource !== 'env')).toBe(true); // process env is off
  });

  it('run now: operators and up, under the same lock, audited', async () => {
    await expect(runSweeperNow(ctx, VIEWER, 'ttl')).rejects.toMatchObject({ status: 403 });
    const r = await runSweeperNow(ctx, OPERATOR, 'ttl');
    expect(r.skipped).toBeUndefined();
    const [run] = await tdb.db.select().from(sweeperRuns).where(eq(sweeperRuns.id, r.runId!));
    expect(run!.details).toMatchObject({ trigger: 'operator:op@test' });
    const [a] = await tdb.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'sweeper.run'), eq(auditEvents.targetId, 'ttl')));
    expect(a).toMatchObject({ actor: 'operator:op@test', success: true });
  });
});

describe('a wedged engine', () => {
  it('a Docker call that never answers times out: audited, backed off, the tick (and its lock) ends', async () => {
    const hung = new FakeDocker();
    hung.kill = () => new Promise<boolean>(() => {});
    const hctx = { ...ctx, docker: hung };
    const cid = hung.add({ 'warden.managed': 'true', 'warden.node': ctx.node });
    const [j] = await tdb.db
      .insert(jobs)
      .values({ userId, image: 'x', status: 'running', maxRetries: 0, timeoutS: 60, timeoutSource: 'plan', gracePeriodS: 1, queuedAt: new Date(), startedAt: new Date(Date.now() - 60_000), deadlineAt: new Date(Date.now() - 10), node: ctx.node, containerId: cid })
      .returning();
    const r = await sweep(hctx, 'timeout', { settings: { dockerTimeoutMs: 100 } });
    expect(r.errors).toBeGreaterThanOrEqual(1);
    const [row] = await tdb.db.select().from(jobs).where(eq(jobs.id, j!.id));
    expect(row).toMatchObject({ status: 'terminating', sigtermAt: null, sideEffectFailures: 1 });
    const [a] = await tdb.db.select().from(auditEvents).where(and(eq(auditEvents.targetId, j!.id), eq(auditEvents.action, 'container.sigterm')));
    expect(a).toMatchObject({ success: false, error: 'Docker kill did not answer within 0.1 s' });
    // The lock was released: the next tick runs (and, the backoff over, retries).
    expect((await sweep(hctx, 'timeout', { settings: { dockerTimeoutMs: 100 } })).skipped).toBeUndefined();
  });
});

describe('schedule', () => {
  it('a sweeper that throws never stops the others; stop() ends the schedule', async () => {
    const cfg = parseConfig({ WARDEN_TIMEOUT_SWEEP_S: '1', WARDEN_TTL_SWEEP_S: '1', WARDEN_ORPHAN_SWEEP_S: '1' });
    const real = SWEEPERS.ttl.snapshot;
    SWEEPERS.ttl.snapshot = async () => {
      throw new Error('injected: ttl snapshot failed');
    };
    const since = new Date();
    const h = startSweepers(ctx, cfg);
    try {
      const count = async (name: string, failed: boolean) =>
        Number(
          (
            await tdb.db.execute<{ n: number }>(
              sql`select count(*)::int as n from sweeper_runs where sweeper = ${name} and started_at >= ${since.toISOString()}::timestamptz and (error is not null) = ${failed}`,
            )
          )[0]!.n,
        );
      await waitFor(async () => (await count('ttl', true)) >= 2 && (await count('timeout', false)) >= 2 && (await count('orphans', false)) >= 2, {
        what: 'two runs of each sweeper, ttl failing',
        timeoutMs: 15_000,
      });
      const [failed] = await tdb.db.select().from(sweeperRuns).where(and(eq(sweeperRuns.sweeper, 'ttl'), sql`${sweeperRuns.error} is not null`)).limit(1);
      expect(failed).toMatchObject({ errors: 1, error: 'injected: ttl snapshot failed' });
    } finally {
      await h.stop();
      SWEEPERS.ttl.snapshot = real;
    }
    const text = await metrics().registry.metrics();
    expect(text).toMatch(/warden_sweeper_runs_total\{sweeper="ttl",outcome="error"\} [1-9]/);
    expect(text).toMatch(/warden_sweeper_runs_total\{sweeper="timeout",outcome="ok"\} [1-9]/);
  });

  it('SIGTERM goes out at the deadline, not at the next cron tick (precise deadline timer)', async () => {
    // The cron beat is hourly (at :00:00) and the deadline comes seconds after the first tick
    // has finished: only the deadline timer can send SIGTERM in between. The check is the
    // mechanism (no tick ran between the first one and the SIGTERM), not how fast it came, so a
    // busy box makes it slower, never wrong (see bench/ for the speed).
    const cfg = parseConfig({ WARDEN_TIMEOUT_SWEEP_S: '3600', WARDEN_TTL_SWEEP_S: '3600', WARDEN_ORPHAN_SWEEP_S: '3600' });
    // Stay clear of the hourly beat: within a minute of the top of the hour, wait until it has passed.
    await waitFor(() => {
      const intoHour = Date.now() % 3_600_000;
      return intoHour > 15_000 && intoHour < 3_540_000;
    }, { what: 'the hourly cron beat to be more than a minute away', timeoutMs: 120_000, intervalMs: 1000 });
    const since = new Date();
    const before = (await metrics().killLateness.get()).values.find((v) => v.metricName === 'warden_kill_lateness_seconds_count' && v.labels.kind === 'timeout')?.value ?? 0;
    const timeoutRuns = () => tdb.db.select().from(sweeperRuns).where(and(eq(sweeperRuns.sweeper, 'timeout'), eq(sweeperRuns.node, ctx.node), sql`${sweeperRuns.startedAt} >= ${since.toISOString()}::timestamptz`)).orderBy(asc(sweeperRuns.startedAt));
    const h = startSweepers(ctx, cfg);
    try {
      // The first tick (at start) has run and finished; the deadline comes 2 s after that.
      const first = await waitFor(async () => (await timeoutRuns()).find((r) => r.finishedAt), { what: 'the first timeout tick', timeoutMs: 30_000 });
      const deadline = new Date(Date.now() + 2000);
      const j = await runningJob(deadline);
      const row = await waitFor(async () => {
        const [r] = await tdb.db.select().from(jobs).where(eq(jobs.id, j.id));
        return r?.sigtermAt ? r : null;
      }, { what: 'SIGTERM', timeoutMs: 60_000 });
      expect(row.sigtermAt!.getTime()).toBeGreaterThanOrEqual(deadline.getTime());
      // No tick ran between the first one and the SIGTERM: the deadline timer sent it.
      const ticks = (await timeoutRuns()).filter((r) => r.startedAt.getTime() <= row.sigtermAt!.getTime());
      expect(ticks.map((r) => r.id)).toEqual([first.id]);
      expect((first.details as { trigger: string }).trigger).toBe('start');
    } finally {
      await h.stop();
    }
    const after = (await metrics().killLateness.get()).values.find((v) => v.metricName === 'warden_kill_lateness_seconds_count' && v.labels.kind === 'timeout')?.value ?? 0;
    expect(after).toBe(before + 1);
  });

  it('a deadline is not held behind a tick in flight: the fast path signals it while the tick waits on a hung engine call', async () => {
    // A terminating job whose SIGTERM the tick sends hangs in the engine (60 s call timeout), so the
    // tick that picks it up stays in flight. Another job's deadline passes meanwhile: the deadline
    // fast path (timer armed ahead, no tick) must signal it before the hung call returns. With the
    // deadline handled by a tick, it would wait behind the stuck one.
    const cfg = parseConfig({ WARDEN_TIMEOUT_SWEEP_S: '1', WARDEN_TTL_SWEEP_S: '3600', WARDEN_ORPHAN_SWEEP_S: '3600' });
    const stuck = await runningJob(new Date(Date.now() + 3_600_000));
    await tdb.db.update(jobs).set({ status: 'terminating', terminateRequestedAt: new Date(), terminateKind: 'kill', terminateReason: 'test' }).where(eq(jobs.id, stuck.id));
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    let hangs = 0;
    const realKill = docker.kill.bind(docker);
    docker.kill = async (id, signal) => {
      if (id === stuck.containerId) {
        hangs++;
        await hung;
      }
      return realKill(id, signal);
    };
    const h = startSweepers(ctx, cfg, { settings: { dockerTimeoutMs: 60_000 } });
    try {
      await waitFor(async () => hangs > 0, { what: 'the tick stuck in the hung SIGTERM', timeoutMs: 10_000 });
      const since = new Date();
      const j = await runningJob(new Date(Date.now() + 1200));
      const row = await waitFor(async () => {
        const [r] = await tdb.db.select().from(jobs).where(eq(jobs.id, j.id));
        return r?.sigtermAt ? r : null;
      }, { what: 'the SIGTERM of the job whose deadline passed', timeoutMs: 10_000 });
      expect(row.status).toBe('terminating');
      expect(docker.calls).toContain(`kill SIGTERM ${j.containerId}`);
      expect(hangs).toBe(1); // still the one hung call: no tick ran in between
      // Not a tick's work: no run of this sweeper on this node finished since (the stuck tick holds its lock).
      const [runs] = await tdb.db.execute<{ n: number }>(
        sql`select count(*)::int as n from sweeper_runs where sweeper = 'timeout' and node = ${ctx.node} and finished_at >= ${since.toISOString()}::timestamptz`,
      );
      expect(runs!.n).toBe(0);
      const acts = await tdb.db.select().from(auditEvents).where(eq(auditEvents.targetId, j.id)).orderBy(asc(auditEvents.id));
      expect(acts.map((a) => `${a.action}:${a.actor}`)).toEqual(['job.timeout:sweeper:timeout', 'container.sigterm:sweeper:timeout']);
    } finally {
      release();
      await h.stop();
      docker.kill = realKill;
    }
  });
});
