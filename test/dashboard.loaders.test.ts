import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

vi.mock('server-only', () => ({}));

import { FakeClock } from '../server/clock';
import type { Ctx } from '../server/context';
import { jobs, sweeperRuns, type NewJob } from '../server/db/schema';
import { daySummary, stateCounts } from '../server/dashboard/overview';
import { exportJobsCsv, loadAudit, loadJobDetail, loadJobs, loadOverview, loadPlans, loadUsers } from '../server/dashboard/loaders';
import { csvField, jobsCsvStream } from '../server/dashboard/jobs-csv';
import { jobListQuerySchema } from '../server/dashboard/job-lists';
import { createTestDatabase } from './helpers/db';
import { ADMIN, VIEWER, makeCtx, makeUser } from './helpers/fixtures';

/** The dashboard's read models over a real database: shapes, tab filters and the 24 h series. */
let db: Awaited<ReturnType<typeof createTestDatabase>>;
let ctx: Ctx;
const T0 = Date.UTC(2026, 5, 10, 12, 30, 0);
const clock = new FakeClock(T0);
const at = (minAgo: number) => new Date(T0 - minAgo * 60_000);
let userId = '';

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = await makeCtx(db.db, { clock });
  const u = await makeUser(ctx, { name: 'alice' });
  userId = u.user.id;
  const base = (o: Partial<NewJob>): NewJob => ({ userId, image: 'busybox', maxRetries: 0, timeoutS: 600, timeoutSource: 'plan', gracePeriodS: 10, queuedAt: at(300), ...o });
  await ctx.db.insert(jobs).values([
    base({ name: 'run-soon', status: 'running', startedAt: at(150), deadlineAt: at(-2), warnedAt: at(1) }),
    base({ name: 'run-later', status: 'running', startedAt: at(30), deadlineAt: at(-60) }),
    base({ name: 'stopping', status: 'terminating', startedAt: at(20), deadlineAt: at(-1) }),
    base({ name: 'waiting', status: 'queued', queuedAt: at(5) }),
    base({ name: '<img src=x onerror=alert(1)>', status: 'timed_out', startedAt: at(200), finishedAt: at(100), reason: 'Timeout: exceeded 600s (plan free)' }),
    base({ name: 'killed-one', status: 'killed', startedAt: at(90), finishedAt: at(45), reason: 'Killed by operator:a@b' }),
    base({ name: 'ok', status: 'succeeded', startedAt: at(70), finishedAt: at(65), exitCode: 0 }),
    base({ name: 'ancient', status: 'succeeded', startedAt: at(3000), finishedAt: at(2990), exitCode: 0 }),
    base({ name: 'gone', status: 'lost', startedAt: at(50), finishedAt: at(40) }),
  ]);
  await ctx.db.insert(sweeperRuns).values([
    { sweeper: 'timeout', node: 'n1', startedAt: at(2), finishedAt: at(2), examined: 3, acted: 1, errors: 0 },
    { sweeper: 'timeout', node: 'n1', startedAt: at(1), finishedAt: at(1), examined: 3, acted: 0, errors: 2, error: 'docker down' },
  ]);
});
afterAll(async () => {
  await db?.drop();
});

describe('dashboard read models', () => {
  it('overview: live counts exact, finished counts over 24 h, nearing deadline first', async () => {
    const c = await stateCounts(ctx.db);
    expect(c.live).toEqual({ queued: 1, starting: 0, running: 2, terminating: 1 });
    expect(c.totalEstimate).toBe(9);
    const day = await daySummary(ctx.db, clock.now());
    expect(day.last24h).toEqual({ succeeded: 1, timed_out: 1, killed: 1, lost: 1, failed: 0, cancelled: 0 });
    const o = await loadOverview({ ...ctx, docker: null }, VIEWER);
    expect(o.counts.last24h.killed).toBe(1);
    expect(o.nearing.map((j) => j.name)).toEqual(['run-soon', 'run-later']);
    expect(o.recent.map((j) => j.status)).toEqual(['killed', 'timed_out']);
    expect(o.docker.ok).toBe(false);
    const t = o.sweepers.find((s) => s.name === 'timeout')!;
    expect(t).toMatchObject({ runsLastHour: 2, errorsLastHour: 2, lastRun: { error: 'docker down', errors: 2 } });
    expect(o.sweepers.find((s) => s.name === 'ttl')!.lastRun).toBeNull();
  });

  it('hourly series: running at the end of each hour, timeouts and kills per hour', async () => {
    const s = (await daySummary(ctx.db, clock.now())).series;
    expect(s).toHaveLength(24);
    // Buckets end now (12:30); running then = 2 running + 1 terminating.
    expect(s.at(-1)!.t).toBe('2026-06-10T12:30:00.000Z');
    expect(s.at(-1)!.running).toBe(3);
    expect(s.reduce((a, p) => a + p.timedOut, 0)).toBe(1);
    expect(s.reduce((a, p) => a + p.killed, 0)).toBe(1);
    expect(s.reduce((a, p) => a + p.finished, 0)).toBe(4);
    // At 10:30: the timed-out job (09:10–10:50) and run-soon (from 10:00) were running.
    expect(s.find((p) => p.t === '2026-06-10T10:30:00.000Z')!.running).toBe(2);
    // At 09:30 only the timed-out job.
    expect(s.find((p) => p.t === '2026-06-10T09:30:00.000Z')!.running).toBe(1);
  });

  it('jobs tabs filter by state on the server and page', async () => {
    const running = await loadJobs(ctx, VIEWER, { tab: 'running' });
    expect(running.rows.map((r) => r.name)).toEqual(['stopping', 'run-soon', 'run-later']);
    expect(running.total).toBe(3);
    expect(running.counts.running.n).toBe(3);
    expect(running.rows[1]!.warnedAt).not.toBeNull();
    const timedOut = await loadJobs(ctx, VIEWER, { tab: 'timed_out' });
    expect(timedOut.rows.map((r) => r.name)).toEqual(['<img src=x onerror=alert(1)>']);
    const finished = await loadJobs(ctx, VIEWER, { tab: 'finished', status: 'succeeded' });
    expect(finished.rows.map((r) => r.name)).toEqual(['ok', 'ancient']);
    const lost = await loadJobs(ctx, VIEWER, { tab: 'lost' });
    expect(lost.rows.map((r) => r.name)).toEqual(['gone']);
    // The tab's old name still works for old links.
    const orphaned = await loadJobs(ctx, VIEWER, { tab: 'orphaned' });
    expect(orphaned.tab).toBe('lost');
    expect(orphaned.rows.map((r) => r.name)).toEqual(['gone']);
    const queued = await loadJobs(ctx, VIEWER, { tab: 'queued' });
    expect(queued.rows.map((r) => r.name)).toEqual(['waiting']);
    const search = await loadJobs(ctx, VIEWER, { tab: 'running', q: 'later' });
    expect(search.rows.map((r) => r.name)).toEqual(['run-later']);
    expect(search.total).toBe(1);
    const byUser = await loadJobs(ctx, VIEWER, { tab: 'running', user: 'nobody' });
    expect(byUser.rows).toHaveLength(0);
    const paged = await loadJobs(ctx, VIEWER, { tab: 'running', limit: '5', page: '1', sort: 'started', dir: 'desc' });
    expect(paged.rows.map((r) => r.name)).toEqual(['stopping', 'run-later', 'run-soon']);
    const bad = await loadJobs(ctx, VIEWER, { tab: 'nonsense', sort: 'drop table', page: '-4' });
    expect(bad.tab).toBe('running');
  });

  it('job detail, users, plans and audit load for a viewer', async () => {
    const [j] = (await loadJobs(ctx, VIEWER, { tab: 'running', q: 'run-soon' })).rows;
    const d = await loadJobDetail(ctx, VIEWER, j!.id);
    expect(d.job.name).toBe('run-soon');
    expect(d.limits).toMatchObject({ maxTimeoutFrom: 'plan' });
    expect(d.plan?.name).toBe('free');
    const u = await loadUsers(ctx, VIEWER, {});
    expect(u.users.find((x) => x.name === 'alice')).toMatchObject({ running: 3, queued: 1 });
    const p = await loadPlans(ctx, VIEWER);
    expect(p.plans.map((x) => x.name)).toContain('free');
    // Running per plan: running and terminating jobs of the plan's users.
    expect(p.plans.find((x) => x.name === 'free')).toMatchObject({ users: 1, running: 3 });
    const a = await loadAudit(ctx, ADMIN, { action: 'user.create' });
    expect(a.events.length).toBeGreaterThan(0);
  });

  it('CSV export: the current filter in its order, quoted, formulas defused, streamed and cut at the cap with a line saying so', async () => {
    const res = exportJobsCsv(ctx, VIEWER, { tab: 'running', sort: 'name', dir: 'asc', page: '3' });
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="warden-jobs-running-2026-06-10.csv"');
    const lines = (await res.text()).trim().split('\r\n');
    expect(lines[0]!.split(',').slice(0, 4)).toEqual(['id', 'name', 'user', 'status']);
    // Page is ignored: every row of the filter, in the view's order.
    expect(lines.slice(1).map((l) => l.split(',')[1])).toEqual(['run-later', 'run-soon', 'stopping']);
    expect(lines[1]).toContain(',alice,running,busybox,');

    const all = jobListQuerySchema.parse({ tab: 'finished', sort: 'name', dir: 'asc' });
    const cut = (await new Response(jobsCsvStream(ctx.db, all, 2)).text()).trim().split('\r\n');
    expect(cut).toHaveLength(4);
    expect(cut[3]).toBe('# cut at 2 rows: narrow the filters to export the rest');
    const whole = (await new Response(jobsCsvStream(ctx.db, all, 100)).text()).trim().split('\r\n');
    expect(whole).toHaveLength(1 + 5);
    expect(whole.some((l) => l.startsWith('#'))).toBe(false);

    expect(csvField('a,"b"\nc')).toBe('"a,""b""\nc"');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('-1')).toBe("'-1");
    expect(csvField(-1)).toBe('-1');
    expect(csvField(null)).toBe('');
  });
});
