import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../server/clock';
import { connect, type Database } from '../server/db/client';
import { jobs, nodes, usage, users } from '../server/db/schema';
import { claimJobs, ENGINE_WAIT, markDispatchWaits, markQuotaWaits, waitMarksDue } from '../server/worker/dispatcher';
import { createTestDatabase } from './helpers/db';
import { activeByUser, insertQueued } from './helpers/core';
import { makeCtx, makeUser } from './helpers/fixtures';

/**
 * The dispatcher's claim step against a real PostgreSQL (no containers: claim-and-mark only):
 * exact per-user limits, fairness (least-recently-served user first, oldest job first), quota,
 * and two dispatchers on separate pools racing over one database.
 */

let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
const extraPools: Database[] = [];

beforeAll(async () => {
  tdb = await createTestDatabase();
});
afterEach(async () => {
  // Each test starts from an empty queue (users/plans stay; names are random).
  await tdb.db.execute(sql`delete from audit_events; delete from usage; delete from jobs`);
});
afterAll(async () => {
  for (const p of extraPools) await p.close();
  await tdb.drop();
  // Leak check: every pool this file opened is closed.
  for (const p of extraPools) await expect(p.sql`select 1`).rejects.toThrow();
});

async function finish(db: Database['db'], ids: string[], at: Date) {
  if (ids.length === 0) return;
  await db.update(jobs).set({ status: 'succeeded', finishedAt: at, exitCode: 0 }).where(inArray(jobs.id, ids));
}

describe('claimJobs: limits and order', () => {
  it('never exceeds max_concurrent_jobs; a freed slot is taken by the next oldest job', async () => {
    const clock = new FakeClock();
    const ctx = await makeCtx(tdb.db, { clock });
    const u = await makeUser(ctx, { plan: { name: 'two', maxConcurrentJobs: 2 } });
    const queued = await insertQueued(tdb.db, u.user.id, 5, clock.now());
    const claimed: string[] = [];
    for (let i = 0; i < 6; i++) {
      const got = await claimJobs(tdb.db, { now: clock.advance(1000), node: 'n1', perUser: 5 });
      claimed.push(...got.map((j) => j.id));
      expect((await activeByUser(tdb.db)).get(u.user.id) ?? 0).toBeLessThanOrEqual(2);
    }
    // Oldest two, and only two.
    expect(claimed).toEqual([queued[0]!.id, queued[1]!.id]);
    const [first] = await tdb.db.select().from(jobs).where(eq(jobs.id, queued[0]!.id));
    expect(first).toMatchObject({ status: 'starting', node: 'n1', waitReason: null });
    expect(first!.claimedAt).toBeInstanceOf(Date);
    // One ends: exactly one more (the third oldest) is claimed.
    await finish(tdb.db, [queued[0]!.id], clock.now());
    const next = await claimJobs(tdb.db, { now: clock.advance(1000), node: 'n1', perUser: 5 });
    expect(next.map((j) => j.id)).toEqual([queued[2]!.id]);
    expect(await claimJobs(tdb.db, { now: clock.advance(1000), node: 'n1', perUser: 5 })).toEqual([]);
    // Every claim is audited as the dispatcher.
    const [a] = await tdb.db.execute<{ n: number }>(sql`select count(*)::int as n from audit_events where action = 'job.claim' and actor = 'dispatcher'`);
    expect(Number(a!.n)).toBe(3);
  });

  it('a per-user override of max_concurrent_jobs replaces the plan value (0 pauses the user)', async () => {
    const clock = new FakeClock();
    const ctx = await makeCtx(tdb.db, { clock });
    const three = await makeUser(ctx, { plan: { name: 'two', maxConcurrentJobs: 2 }, overrides: { maxConcurrentJobs: 3 } });
    const paused = await makeUser(ctx, { plan: { name: 'two' }, overrides: { maxConcurrentJobs: 0 } });
    await insertQueued(tdb.db, three.user.id, 5, clock.now());
    await insertQueued(tdb.db, paused.user.id, 5, clock.now());
    for (let i = 0; i < 5; i++) await claimJobs(tdb.db, { now: clock.advance(1000), node: 'n1', perUser: 5 });
    const act = await activeByUser(tdb.db);
    expect(act.get(three.user.id)).toBe(3);
    expect(act.get(paused.user.id) ?? 0).toBe(0);
  });

  it('two users with equal demand are served alternately (least-recently-served first)', async () => {
    const clock = new FakeClock();
    const ctx = await makeCtx(tdb.db, { clock });
    const a = await makeUser(ctx, { plan: { name: 'wide', maxConcurrentJobs: 100 } });
    const b = await makeUser(ctx, { plan: { name: 'wide' } });
    // B's jobs are all older than A's: age across users must not matter, only who was served last.
    await insertQueued(tdb.db, b.user.id, 10, clock.now());
    await insertQueued(tdb.db, a.user.id, 10, clock.advance(60_000));
    const seq: string[] = [];
    for (let i = 0; i < 20; i++) {
      const got = await claimJobs(tdb.db, { now: clock.advance(1000), node: 'n1', maxUsers: 1, perUser: 1 });
      expect(got).toHaveLength(1);
      seq.push(got[0]!.userId === a.user.id ? 'A' : 'B');
    }
    // Strict alternation, whoever goes first.
    for (let i = 1; i < seq.length; i++) expect(seq[i]).not.toBe(seq[i - 1]);
    expect(seq.filter((s) => s === 'A')).toHaveLength(10);
    // With room for both in one round, each round serves both once.
    await tdb.db.execute(sql`delete from jobs`);
    await insertQueued(tdb.db, a.user.id, 5, clock.now());
    await insertQueued(tdb.db, b.user.id, 5, clock.now());
    for (let r = 0; r < 5; r++) {
      const got = await claimJobs(tdb.db, { now: clock.advance(1000), node: 'n1' });
      expect(got.map((j) => j.userId).sort()).toEqual([a.user.id, b.user.id].sort());
    }
  });

  it('a heavy user does not starve a light one: 1 job each per round among all waiting users', async () => {
    const clock = new FakeClock();
    const ctx = await makeCtx(tdb.db, { clock });
    const heavy = await makeUser(ctx, { plan: { name: 'wide', maxConcurrentJobs: 100 } });
    const light = await makeUser(ctx, { plan: { name: 'wide' } });
    await insertQueued(tdb.db, heavy.user.id, 50, clock.now());
    const lightJobs = await insertQueued(tdb.db, light.user.id, 2, clock.advance(10_000));
    const r1 = await claimJobs(tdb.db, { now: clock.advance(1000), node: 'n1' });
    const r2 = await claimJobs(tdb.db, { now: clock.advance(1000), node: 'n1' });
    expect(r1.filter((j) => j.userId === light.user.id).map((j) => j.id)).toEqual([lightJobs[0]!.id]);
    expect(r2.filter((j) => j.userId === light.user.id).map((j) => j.id)).toEqual([lightJobs[1]!.id]);
  });

  it('skips users over their monthly quota and says why the job waits', async () => {
    const clock = new FakeClock();
    const ctx = await makeCtx(tdb.db, { clock });
    const over = await makeUser(ctx, { plan: { name: 'quota', maxConcurrentJobs: 5, monthlyQuotaS: 100 } });
    const under = await makeUser(ctx, { plan: { name: 'quota' } });
    const month = clock.now().toISOString().slice(0, 7);
    await tdb.db.insert(usage).values([
      { userId: over.user.id, month, seconds: 100, jobs: 3 },
      { userId: under.user.id, month, seconds: 99, jobs: 3 },
    ]);
    const [ov] = await insertQueued(tdb.db, over.user.id, 1, clock.now());
    await insertQueued(tdb.db, under.user.id, 1, clock.now());
    expect(await markQuotaWaits(tdb.db, clock.now())).toBe(1);
    expect(await markQuotaWaits(tdb.db, clock.now())).toBe(0); // idempotent
    const got = await claimJobs(tdb.db, { now: clock.advance(1000), node: 'n1' });
    expect(got.map((j) => j.userId)).toEqual([under.user.id]);
    const [row] = await tdb.db.select().from(jobs).where(eq(jobs.id, ov!.id));
    expect(row!.status).toBe('queued');
    expect(row!.waitReason).toMatch(/monthly quota of 100s used \(100s this month\)/);
    // Raising the user's quota lets the job go (and the claim clears the wait reason).
    await tdb.db.update(users).set({ monthlyQuotaS: 1000 }).where(eq(users.id, over.user.id));
    const got2 = await claimJobs(tdb.db, { now: clock.advance(1000), node: 'n1' });
    expect(got2.map((j) => j.id)).toEqual([ov!.id]);
    expect(got2[0]!.waitReason).toBeNull();
  });
});

describe('wait marks across a fleet', () => {
  afterEach(async () => {
    await tdb.db.execute(sql`delete from nodes; delete from wait_marks`);
  });

  it('"Docker engine unreachable" marks queued jobs only when no other node takes work, and a node whose engine answers clears it', async () => {
    const clock = new FakeClock();
    const ctx = await makeCtx(tdb.db, { clock });
    const u = await makeUser(ctx, { plan: { name: 'fleet-engine', maxConcurrentJobs: 5 } });
    const queued = await insertQueued(tdb.db, u.user.id, 3, clock.now());
    const waitsOf = async () => (await tdb.db.select().from(jobs).where(inArray(jobs.id, queued.map((j) => j.id)))).map((j) => j.waitCode);
    // Node b's engine answers (its heartbeat is fresh): a's failed ping marks nothing.
    const beat = (id: string, dockerOk: boolean, at: Date) =>
      tdb.db.insert(nodes).values({ id, heartbeatAt: at, startedAt: at, dockerOk }).onConflictDoUpdate({ target: nodes.id, set: { heartbeatAt: at, dockerOk } });
    await beat('a', false, clock.now());
    await beat('b', true, clock.now());
    await markDispatchWaits(tdb.db, clock.now(), true, 'a');
    expect(await waitsOf()).toEqual([null, null, null]);
    // b drains: it takes no work, so the jobs wait on the engine.
    await tdb.db.update(nodes).set({ state: 'draining' }).where(eq(nodes.id, 'b'));
    await markDispatchWaits(tdb.db, clock.now(), true, 'a');
    expect(await waitsOf()).toEqual(['engine_down', 'engine_down', 'engine_down']);
    expect((await tdb.db.select().from(jobs).where(eq(jobs.id, queued[0]!.id)))[0]!.waitReason).toBe(ENGINE_WAIT);
    // b takes work again: its good ping clears the marks.
    await tdb.db.update(nodes).set({ state: 'active' }).where(eq(nodes.id, 'b'));
    await markDispatchWaits(tdb.db, clock.now(), false, 'b');
    expect(await waitsOf()).toEqual([null, null, null]);
    // b's engine stopped answering at its last heartbeat: a's failed ping marks them again.
    await beat('b', false, clock.now());
    await markDispatchWaits(tdb.db, clock.now(), true, 'a');
    expect(await waitsOf()).toEqual(['engine_down', 'engine_down', 'engine_down']);
    await tdb.db.update(jobs).set({ waitCode: null, waitReason: null }).where(inArray(jobs.id, queued.map((j) => j.id)));
    // b answers but its heartbeat is older than three beats: it is not counted on to take work.
    await beat('b', true, clock.now());
    clock.advance(16_000);
    await markDispatchWaits(tdb.db, clock.now(), true, 'a');
    expect(await waitsOf()).toEqual(['engine_down', 'engine_down', 'engine_down']);
  });

  it('waitMarksDue lets one caller through per interval, across separate pools', async () => {
    const other = connect(tdb.url, { max: 2 });
    extraPools.push(other);
    expect(await waitMarksDue(tdb.db, 60_000)).toBe(true);
    // Within the interval, no caller on either pool gets through, even many at once.
    const again = await Promise.all([...Array.from({ length: 5 }, () => waitMarksDue(tdb.db, 60_000)), ...Array.from({ length: 5 }, () => waitMarksDue(other.db, 60_000))]);
    expect(again.filter(Boolean)).toEqual([]);
    // Once the interval has passed, exactly one of many concurrent callers gets through.
    const [row] = await tdb.db.execute<{ at: string }>(sql`select marked_at::text as at from wait_marks`);
    await tdb.db.execute(sql`update wait_marks set marked_at = marked_at - interval '2 minutes'`);
    const raced = await Promise.all([...Array.from({ length: 5 }, () => waitMarksDue(tdb.db, 60_000)), ...Array.from({ length: 5 }, () => waitMarksDue(other.db, 60_000))]);
    expect(raced.filter(Boolean)).toHaveLength(1);
    const [after] = await tdb.db.execute<{ at: string }>(sql`select marked_at::text as at from wait_marks`);
    expect(after!.at).not.toBe(row!.at);
  });
});

describe('claimJobs: two dispatchers on separate pools never exceed a limit', () => {
  it('30 rounds of parallel claim loops over 40 users with small limits', async () => {
    const ctx = await makeCtx(tdb.db);
    const USERS = 40;
    const made = [];
    for (let i = 0; i < USERS; i++) {
      // Limits 1, 2 and 3 (plan 2; overrides for a third of the users each way).
      const overrides = i % 3 === 0 ? { maxConcurrentJobs: 1 } : i % 3 === 1 ? { maxConcurrentJobs: 3 } : undefined;
      made.push(await makeUser(ctx, { plan: { name: 'race', maxConcurrentJobs: 2 }, overrides }));
    }
    const limitOf = new Map(made.map((m) => [m.user.id, m.user.maxConcurrentJobs ?? 2]));
    const t0 = new Date();
    for (const m of made) await insertQueued(tdb.db, m.user.id, 25, t0);
    const p1 = connect(tdb.url, { max: 4 });
    const p2 = connect(tdb.url, { max: 4 });
    extraPools.push(p1, p2);

    const totals = [0, 0];
    let finishedSoFar = 0;
    for (let round = 0; round < 30; round++) {
      const loop = async (db: Database['db'], node: string, k: number) => {
        let n = 0;
        for (let i = 0; i < 4; i++) {
          // perUser 3: ask for more than some users have room for, so the exact count matters.
          n += (await claimJobs(db, { now: new Date(), node, maxUsers: 15, perUser: 3 })).length;
        }
        totals[k] = totals[k]! + n;
        return n;
      };
      await Promise.all([loop(p1.db, 'node-a', 0), loop(p2.db, 'node-b', 1)]);
      const act = await activeByUser(tdb.db);
      for (const [userId, n] of act) {
        expect(n, `round ${round}: user ${userId} has ${n} active, limit ${limitOf.get(userId)}`).toBeLessThanOrEqual(limitOf.get(userId)!);
      }
      // Free about half of the slots so later rounds keep racing on partly full users.
      const live = await tdb.db.select({ id: jobs.id }).from(jobs).where(eq(jobs.status, 'starting'));
      const done = live.filter((_, i) => (i + round) % 2 === 0).map((j) => j.id);
      await finish(tdb.db, done, new Date());
      finishedSoFar += done.length;
    }
    // Both dispatchers did real work, and every claim was a distinct job.
    expect(totals[0]).toBeGreaterThan(0);
    expect(totals[1]).toBeGreaterThan(0);
    const [c] = await tdb.db.execute<{ claims: number; distinct_jobs: number }>(sql`
      select count(*)::int as claims, count(distinct target_id)::int as distinct_jobs from audit_events where action = 'job.claim'`);
    expect(Number(c!.claims)).toBe(totals[0]! + totals[1]!);
    expect(Number(c!.distinct_jobs)).toBe(Number(c!.claims));
    expect(finishedSoFar).toBeGreaterThan(0);
  });

  it('two dispatchers stay fair: least-recently-served order holds across pools (no user served twice per cycle)', async () => {
    const ctx = await makeCtx(tdb.db);
    const USERS = 60;
    const made = [];
    for (let i = 0; i < USERS; i++) made.push(await makeUser(ctx, { plan: { name: 'fair2', maxConcurrentJobs: 1000 } }));
    const t0 = new Date();
    for (const m of made) await insertQueued(tdb.db, m.user.id, 40, t0);
    const p1 = connect(tdb.url, { max: 2 });
    const p2 = connect(tdb.url, { max: 2 });
    extraPools.push(p1, p2);
    // 10 users a round each: one cycle over all users is 6 rounds in total. The two dispatchers
    // race within each step (one round each, at once: locks, SKIP LOCKED and the re-check decide),
    // and a step starts when both rounds of the one before have committed. Free-running loops
    // would also test the scheduler: on a busy box one loop runs ahead of the other by many
    // rounds and its stamps interleave by chance, which is not what this checks.
    for (let i = 0; i < 60; i++) {
      await Promise.all([p1.db, p2.db].map((db, k) => claimJobs(db, { now: new Date(), node: k ? 'node-b' : 'node-a', maxUsers: 10, perUser: 1 })));
    }
    const rows = await tdb.db.execute<{ n: number }>(sql`
      select count(*)::int as n from jobs where status = 'starting' group by user_id`);
    const per = rows.map((r) => Number(r.n));
    expect(per).toHaveLength(USERS);
    const total = per.reduce((a, b) => a + b, 0);
    // A round may come up short when the other dispatcher holds or just re-stamped its candidates.
    expect(total).toBeGreaterThan(1100);
    expect(total).toBeLessThanOrEqual(1200);
    // Equal demand, equal service: 20 each, give or take the users in flight at the end.
    expect(Math.max(...per) - Math.min(...per), `claims per user: ${per.join(',')}`).toBeLessThanOrEqual(2);
  });
});
