import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('server-only', () => ({}));

import type { Ctx } from '../server/context';
import { jobs, type NewJob } from '../server/db/schema';
import { activityQuery, activitySummary, type ActivityBucket } from '../server/dashboard/concurrency';
import { createTestDatabase } from './helpers/db';
import { makeCtx, makeUser } from './helpers/fixtures';

/**
 * The Overview's activity (server/dashboard/concurrency.ts) over a real database: rows with known
 * intervals in, peaks, counts and percentiles out. Now is 2026-06-10 12:00 UTC, so the window is
 * 2026-06-09 12:00 → now and bucket i is the hour starting at 12:00 + i h on the 9th.
 */
const NOW = Date.UTC(2026, 5, 10, 12, 0, 0);
const WS = NOW - 24 * 3600_000;
/** Bucket hour h (may be negative or fractional), plus minutes and milliseconds. */
const t = (h: number, min = 0, ms = 0) => new Date(WS + h * 3600_000 + min * 60_000 + ms);

let db: Awaited<ReturnType<typeof createTestDatabase>>;
let ctx: Ctx;
let userId = '';

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = await makeCtx(db.db);
  userId = (await makeUser(ctx, { name: 'alice' })).user.id;
});
afterAll(async () => {
  await db?.drop();
});

const job = (o: Partial<NewJob>): NewJob => ({ userId, image: 'busybox', maxRetries: 0, timeoutS: 600, timeoutSource: 'plan', gracePeriodS: 10, queuedAt: o.startedAt ?? t(0), status: 'succeeded', ...o });
const ran = (from: Date, to: Date | null, status: NewJob['status'] = 'succeeded', o: Partial<NewJob> = {}) =>
  job({ startedAt: from, finishedAt: to, status: to ? status : 'running', ...o });

type Expect = { peak?: Record<number, number>; started?: Record<number, number>; finished?: Record<number, Partial<ActivityBucket>> };
const cases: { name: string; rows: () => NewJob[]; expect: Expect }[] = [
  {
    name: 'two jobs overlapping inside one hour',
    rows: () => [ran(t(1, 10), t(1, 40)), ran(t(1, 20), t(1, 50))],
    expect: { peak: { 0: 0, 1: 2, 2: 0 }, started: { 1: 2 }, finished: { 1: { succeeded: 2 } } },
  },
  {
    name: 'back to back: one ending as the next starts is not an overlap',
    rows: () => [ran(t(2), t(2, 30)), ran(t(2, 30), t(3))],
    expect: { peak: { 2: 1, 3: 0 }, started: { 2: 2 }, finished: { 2: { succeeded: 1 }, 3: { succeeded: 1 } } },
  },
  {
    name: 'a job that spans several buckets counts in each',
    rows: () => [ran(t(4, 30), t(7, 15), 'failed', { exitCode: 1 })],
    expect: { peak: { 3: 0, 4: 1, 5: 1, 6: 1, 7: 1, 8: 0 }, started: { 4: 1, 5: 0 }, finished: { 7: { failed: 1 }, 4: { failed: 0 } } },
  },
  {
    name: 'one still running counts up to now',
    rows: () => [ran(t(20, 10), null)],
    expect: { peak: { 19: 0, 20: 1, 21: 1, 22: 1, 23: 1 }, started: { 20: 1 } },
  },
  {
    name: 'one that started before the window seeds bucket 0; one that ended before it is not read',
    rows: () => [
      ran(t(-2), t(0, 45), 'timed_out', { exitCode: -1 }),
      ran(t(-5), t(-3)),
      ran(t(-30), null), // still running since yesterday: in every bucket
    ],
    expect: { peak: { 0: 2, 1: 1, 23: 1 }, started: { 0: 0 }, finished: { 0: { timed_out: 1, succeeded: 0 } } },
  },
  {
    name: 'three end at a bucket boundary as two start: the new bucket peaks at 2, not 4 or 5',
    rows: () => [ran(t(10), t(11)), ran(t(10), t(11)), ran(t(10), t(11)), ran(t(11), t(11, 30), 'killed'), ran(t(11), t(11, 30), 'lost')],
    expect: { peak: { 10: 3, 11: 2, 12: 0 }, started: { 10: 3, 11: 2 }, finished: { 11: { succeeded: 3, killed: 1, lost: 1 } } },
  },
  {
    name: 'cancelled from the queue: finished, never ran',
    rows: () => [job({ status: 'cancelled', queuedAt: t(9), finishedAt: t(9, 5) })],
    expect: { peak: { 9: 0 }, started: { 9: 0 }, finished: { 9: { cancelled: 1, succeeded: 0 } } },
  },
];

describe('activity: peak concurrency, starts and finishes per hour', () => {
  it.each(cases)('$name', async ({ rows: make, expect: e }) => {
    const rows = make();
    await ctx.db.delete(jobs);
    await ctx.db.insert(jobs).values(rows);
    const a = await activitySummary(ctx.db, new Date(NOW));
    expect(a.buckets).toHaveLength(24);
    expect(a.buckets[0]!.from).toBe(new Date(WS).toISOString());
    expect(a.buckets[23]!.to).toBe(new Date(NOW).toISOString());
    for (const [b, n] of Object.entries(e.peak ?? {})) expect(a.buckets[Number(b)]!.peak, `peak of bucket ${b}`).toBe(n);
    for (const [b, n] of Object.entries(e.started ?? {})) expect(a.buckets[Number(b)]!.started, `started in bucket ${b}`).toBe(n);
    for (const [b, f] of Object.entries(e.finished ?? {})) expect(a.buckets[Number(b)], `finished in bucket ${b}`).toMatchObject(f);
    // Totals agree with the rows: every finish in the window lands in exactly one bucket.
    const inWindow = rows.filter((r) => r.finishedAt && r.finishedAt.getTime() >= WS).length;
    const finals = a.buckets.reduce((s, k) => s + k.succeeded + k.failed + k.timed_out + k.killed + k.lost + k.cancelled, 0);
    expect(finals).toBe(inWindow);
  });
});

describe('activity: percentiles over the window', () => {
  it('p50/p95 of time-to-start, timeout lateness and kill lateness', async () => {
    await ctx.db.delete(jobs);
    const waits = [1, 2, 3, 4, 100]; // seconds queued → started
    await ctx.db.insert(jobs).values([
      ...waits.map((s, i) => ran(t(5 + i), t(5 + i, 30), 'succeeded', { queuedAt: new Date(t(5 + i).getTime() - s * 1000) })),
      // Started before the window: its wait is not the window's.
      ran(t(-3), t(1), 'succeeded', { queuedAt: t(-4) }),
      // Timeouts: deadline → SIGTERM 250 ms and 750 ms; a forced one with SIGKILL only, 50 ms.
      ran(t(12), t(12, 10), 'timed_out', { terminateKind: 'timeout', deadlineAt: t(12, 9), sigtermAt: t(12, 9, 250), sigkillAt: t(12, 9, 10_250) }),
      ran(t(13), t(13, 10), 'timed_out', { terminateKind: 'timeout', deadlineAt: t(13, 9), sigtermAt: t(13, 9, 750) }),
      ran(t(14), null, 'running', { status: 'terminating', terminateKind: 'timeout', deadlineAt: t(14, 9), sigkillAt: t(14, 9, 50) }),
      // Kills: requested → SIGTERM 100 ms and 300 ms.
      ran(t(15), t(15, 10), 'killed', { terminateKind: 'kill', terminateRequestedAt: t(15, 5), sigtermAt: t(15, 5, 100) }),
      ran(t(16), t(16, 10), 'killed', { terminateKind: 'kill', terminateRequestedAt: t(16, 5), sigtermAt: t(16, 5, 300) }),
    ]);
    const a = await activitySummary(ctx.db, new Date(NOW));
    // 5 waits of 1, 2, 3, 4, 100 s plus the five terminated jobs' 0 s (queuedAt = startedAt).
    // Sorted: 0,0,0,0,0,1,2,3,4,100 → p50 = 0.5 s; p95 = 4 + 0.55 × 96 = 56.8 s (linear interpolation).
    expect(a.timeToStart).toEqual({ p50Ms: 500, p95Ms: 56_800, n: 10 });
    // 50, 250, 750 → p50 250; p95 = 250 + 0.9 × 500 = 700.
    expect(a.timeoutLateness).toEqual({ p50Ms: 250, p95Ms: 700, n: 3 });
    // 100, 300 → p50 200; p95 = 100 + 0.95 × 200 = 290.
    expect(a.killLateness).toEqual({ p50Ms: 200, p95Ms: 290, n: 2 });
  });

  it('an empty window: zeros and nulls, never NaN', async () => {
    await ctx.db.delete(jobs);
    const a = await activitySummary(ctx.db, new Date(NOW));
    expect(a.buckets.every((b) => b.peak === 0 && b.started === 0)).toBe(true);
    expect(a.timeToStart).toEqual({ p50Ms: null, p95Ms: null, n: 0 });
    expect(a.killLateness).toEqual({ p50Ms: null, p95Ms: null, n: 0 });
  });
});

describe('activity: cost', () => {
  it('reads the 24 h slice by index, never the finished history', async () => {
    await ctx.db.delete(jobs);
    // 50k jobs that ended over the past 60 days (WARDEN_ACTIVITY_ROWS for more: ~1M for the
    // benchmark's size), 864 in the window, and 50 running.
    const N = Number(process.env.WARDEN_ACTIVITY_ROWS ?? 50_000);
    await ctx.db.execute(sql`
      insert into jobs (user_id, image, max_retries, timeout_s, timeout_source, grace_period_s, status, queued_at, started_at, finished_at)
      select ${userId}, 'busybox', 0, 600, 'plan', 10, 'succeeded'::job_status,
             ${new Date(NOW).toISOString()}::timestamptz - make_interval(secs => i * 100 + 60),
             ${new Date(NOW).toISOString()}::timestamptz - make_interval(secs => i * 100 + 30),
             ${new Date(NOW).toISOString()}::timestamptz - make_interval(secs => i * 100)
      from generate_series(1, ${sql.raw(String(N))}) as i`);
    await ctx.db.execute(sql`
      insert into jobs (user_id, image, max_retries, timeout_s, timeout_source, grace_period_s, status, queued_at, started_at, deadline_at)
      select ${userId}, 'busybox', 0, 600, 'plan', 10, 'running'::job_status, ${new Date(NOW - 60_000).toISOString()}::timestamptz, ${new Date(NOW - 30_000).toISOString()}::timestamptz, ${new Date(NOW + 600_000).toISOString()}::timestamptz
      from generate_series(1, 50)`);
    await ctx.db.execute(sql`analyze jobs`);
    const plan = (await ctx.db.execute<{ 'QUERY PLAN': string }>(sql`explain ${activityQuery(new Date(NOW))}`)).map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).toMatch(/jobs_finished_at_idx/);
    expect(plan).not.toMatch(/Seq Scan on jobs/);
    const t0 = performance.now();
    const a = await activitySummary(ctx.db, new Date(NOW));
    if (process.env.WARDEN_PRINT_PLAN) {
      const analyzed = (await ctx.db.execute<{ 'QUERY PLAN': string }>(sql`explain (analyze, buffers) ${activityQuery(new Date(NOW))}`)).map((r) => r['QUERY PLAN']).join('\n');
      console.log(`${N} jobs: activitySummary ${Math.round(performance.now() - t0)} ms\n${analyzed}`);
    }
    // 864 finished in the window (one every 100 s, 30 s each: one at a time), 50 running at the end.
    expect(a.buckets.reduce((s, b) => s + b.succeeded, 0)).toBe(864);
    expect(a.buckets.slice(0, 23).every((b) => b.peak === 1)).toBe(true);
    expect(a.buckets[23]!.peak).toBe(50);
  });
});
