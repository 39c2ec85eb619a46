/**
 * Worker memory and tick time at size: N running jobs (default 10,000) in an embedded PostgreSQL,
 * their containers on a fake engine (test/helpers/fake-docker.ts: a map, so the figures are
 * Warden's own). This process makes the database and the rows; a child process started as
 * `npm run worker` starts (tsx) runs the worker's loops for `--seconds` — the sweepers on their
 * real schedule (timeout every second with its deadline timer, TTL, orphans), the dispatch loop
 * woken every second, reconcile every 10 s, heartbeats — and samples its own RSS every 100 ms,
 * then times whole ticks one by one and reports to the parent as JSON on stdout.
 *
 *   npx tsx bench/worker-memory.ts [--running 10000] [--seconds 30] [--ticks 50] [--no-write]
 */
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { eq, sql } from 'drizzle-orm';
import { systemClock } from '../server/clock';
import { parseConfig } from '../server/config';
import type { Ctx } from '../server/context';
import { connect } from '../server/db/client';
import { jobs } from '../server/db/schema';
import { containerLabels } from '../server/docker/labels';
import { ensureInstallation } from '../server/domain/installation';
import { writeHeartbeat } from '../server/domain/nodes';
import { seedDefaultPlans } from '../server/domain/plans';
import { startSweepers, sweep } from '../server/sweepers';
import { reconcile } from '../server/worker/completion';
import { startDispatchLoop } from '../server/worker/dispatch-loop';
import { FakeDocker } from '../test/helpers/fake-docker';
import { arg, beginResult, formatSummary, loadAverage, machineLine, publish, runMain, summarize, today, withBenchPostgres } from './lib';

const RUNNING = Number(arg('running', '10000'));
const SECONDS = Number(arg('seconds', '30'));
const TICKS = Number(arg('ticks', '50'));
const NODE = 'bench-mem';
const mb = (b: number) => (b / 2 ** 20).toFixed(0);

interface ChildReport {
  before: number;
  rss: number[];
  heap: number[];
  times: Record<string, number[]>;
}

/** The worker side, in its own process: FakeDocker holding the rows' containers, the loops, the ticks. */
async function child(): Promise<void> {
  const database = connect(process.env.DATABASE_URL!, { max: 8 });
  const db = database.db;
  const installation = await ensureInstallation(db);
  const fake = new FakeDocker();
  const rows = await db.select({ id: jobs.id, userId: jobs.userId, containerId: jobs.containerId }).from(jobs).where(eq(jobs.status, 'running'));
  for (const r of rows) {
    fake.containers.set(r.containerId!, { labels: containerLabels({ id: r.id, userId: r.userId, attempt: 1, labels: {} }, { node: NODE, installation }), running: true, exitCode: null, createdAt: new Date(), stubborn: false, name: `fake-${r.containerId!.slice(0, 8)}` });
  }
  rows.length = 0;
  const ctx: Ctx = { db, clock: systemClock, node: NODE, installation, docker: fake };
  const cfg = parseConfig({ WARDEN_ORPHAN_SWEEP_S: '5', WARDEN_TTL_SWEEP_S: '5' });

  const before = process.memoryUsage();
  const sweepers = startSweepers(ctx, cfg);
  const loop = startDispatchLoop(ctx, fake, { concurrency: 8, start: { pullTimeoutMs: 60_000 } });
  const rss: number[] = [];
  const heap: number[] = [];
  // Sampled every 100 ms, so the peaks of the 10,000-container listings are seen.
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    rss.push(m.rss);
    heap.push(m.heapUsed);
  }, 100);
  for (let s = 0; s < SECONDS; s++) {
    loop.wake();
    if (s % 10 === 0) await reconcile(ctx, fake);
    if (s % 5 === 0) await writeHeartbeat(db, { node: NODE, at: new Date(), dockerOk: true, dockerError: null });
    await new Promise((r) => setTimeout(r, 1000));
  }
  clearInterval(sampler);
  await sweepers.stop();
  await loop.stop();

  const times: Record<string, number[]> = { timeout: [], ttl: [], orphans: [], reconcile: [] };
  for (const name of ['timeout', 'ttl', 'orphans'] as const) {
    for (let i = 0; i < 5; i++) await sweep(ctx, name, { cfg });
    for (let i = 0; i < TICKS; i++) {
      const r = await sweep(ctx, name, { cfg });
      if (r.error) throw new Error(`${name}: ${r.error}`);
      times[name]!.push(r.ms);
    }
  }
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await reconcile(ctx, fake);
    times.reconcile!.push(performance.now() - t0);
  }
  const report: ChildReport = { before: before.rss, rss, heap, times };
  process.stdout.write(JSON.stringify(report) + '\n');
  await database.close();
}

const main = async () => {
  const load0 = loadAverage();
  const result = beginResult('worker-memory', 'Worker memory at size', 'worker-memory.ts');
  await withBenchPostgres('worker-memory', async (pg) => {
    const database = pg.connect(8);
    const db = database.db;
    await seedDefaultPlans(db);
    await ensureInstallation(db);
    await db.execute(sql`insert into users (name, plan_id) select 'u' || g, (select id from plans where name = 'pro') from generate_series(1, 100) g`);
    const userIds = (await db.execute<{ id: string }>(sql`select id from users order by name`)).map((r) => r.id);
    const now = Date.now();
    // Running jobs with deadlines spread over the next hour, each with its container on the fake engine.
    for (let i = 0; i < RUNNING; i += 1000) {
      const rows = [];
      for (let k = i; k < Math.min(RUNNING, i + 1000); k++) {
        const id = crypto.randomUUID();
        const userId = userIds[k % userIds.length]!;
        const containerId = crypto.randomBytes(32).toString('hex');
        const startedAt = new Date(now - 60_000);
        rows.push({
          id,
          userId,
          image: 'bench',
          status: 'running' as const,
          timeoutS: 3600,
          timeoutSource: 'plan' as const,
          gracePeriodS: 30,
          queuedAt: startedAt,
          startedAt,
          deadlineAt: new Date(now + 60_000 + ((k * 7919) % 3_600_000)),
          node: NODE,
          containerId,
          attempt: 1,
          maxRetries: 0,
        });
      }
      await db.insert(jobs).values(rows);
    }
    await db.execute(sql`vacuum analyze jobs`);
    const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1]!], {
      env: { ...process.env, DATABASE_URL: pg.url, WARDEN_BENCH_CHILD: '1', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 * 1024 * 1024,
    }).toString();
    const { before, rss, heap, times } = JSON.parse(out.trim().split('\n').at(-1)!) as ChildReport;
    const still = (await db.execute<{ n: number }>(sql`select count(*)::int as n from jobs where status = 'running'`))[0]!.n;
    if (still !== RUNNING) throw new Error(`expected ${RUNNING} running jobs after the run, found ${still}`);
    const pgv = (await db.execute<{ v: string }>(sql`select current_setting('server_version') as v`))[0]!.v;
    const lines = [
      `## Worker memory at size (${today()})`,
      '',
      `\`npx tsx bench/worker-memory.ts${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}\``,
      '',
      `Machine: ${machineLine(`PostgreSQL ${pgv} (embedded), fake engine`, load0)}.`,
      '',
      `${RUNNING.toLocaleString('en')} running jobs (100 users, deadlines over the next hour), their containers on a fake engine; the worker's loops ran ${SECONDS} s in a process of their own, started the way \`npm run worker\` starts (tsx): sweepers on their schedule with orphans and TTL every 5 s, dispatch woken every second, reconcile every 10 s, heartbeats every 5 s. All ${RUNNING.toLocaleString('en')} were still running at the end (nothing was due).`,
      '',
      `- The worker process's RSS before its loops ${mb(before)} MB (modules, tsx, the fake engine's ${RUNNING.toLocaleString('en')} containers); during the run max **${mb(Math.max(...rss))} MB** (goal ≤ 200 MB), at the end ${mb(rss.at(-1)!)} MB; heap used max ${mb(Math.max(...heap))} MB.`,
      `- Whole ticks at this size, p50 / p95 / max (ms) over ${TICKS}: timeout **${formatSummary(summarize(times.timeout!), 2)}** (goal ≤ 20 ms), TTL ${formatSummary(summarize(times.ttl!), 2)}, orphans (lists all ${RUNNING.toLocaleString('en')} containers) ${formatSummary(summarize(times.orphans!), 2)}; reconcile over 10: ${formatSummary(summarize(times.reconcile!), 1)}.`,
    ];
    publish('## Worker memory at size', lines.join('\n'));
    result.series('worker_rss', 'MB', rss.map((b) => b / 2 ** 20));
    result.series('worker_heap_used', 'MB', heap.map((b) => b / 2 ** 20));
    for (const [name, xs] of Object.entries(times)) result.series(`${name}_tick`, 'ms', xs);
    result.figure({ label: `worker RSS at ${RUNNING.toLocaleString('en')} running (fake engine, worker loops in a tsx process)`, series: 'worker_rss', stat: 'max', goal: { max: 200, text: '≤ 200 MB at 10,000 running' } });
    result.figure({ label: 'timeout sweeper tick, whole', series: 'timeout_tick', stat: 'p99', goal: { max: 20, text: '≤ 20 ms' } });
    result.figure({ label: 'TTL sweeper tick, whole', series: 'ttl_tick', stat: 'p99' });
    result.figure({ label: `orphans sweeper tick (lists ${RUNNING.toLocaleString('en')} containers)`, series: 'orphans_tick', stat: 'p99' });
    const { missed } = result.save({ running: RUNNING, seconds: SECONDS, ticks: TICKS, engine: 'fake (test/helpers/fake-docker.ts)' }, `PostgreSQL ${pgv} (embedded), fake engine`);
    if (missed.length) {
      console.error(`goal missed: ${missed.join('; ')}`);
      process.exitCode = 1;
    }
  });
};

if (process.env.WARDEN_BENCH_CHILD === '1') runMain(child);
else runMain(main);
