/**
 * The fleet's ceiling on one PostgreSQL: W worker processes (each its own node with its own pool,
 * dispatch loop, sweepers, LISTEN and heartbeat, as `npm run worker` runs them) against one
 * embedded PostgreSQL, each on a simulated engine (test/helpers/fake-docker.ts, made to answer at
 * engine-like latency: --latency ms per create/start/kill call). For each size:
 *
 * - claims/s: J jobs queued at once (one NOTIFY), time until all run, spread over the nodes;
 * - steady state with J running for --seconds: transactions/s (pg_stat_database), the same per
 *   1,000 running jobs and per worker, connections, PostgreSQL CPU (its processes' /proc times),
 *   timeout-tick p99 (sweeper_runs);
 * - kill lateness: --kills of the running jobs get deadlines one every --every ms; lateness is
 *   sigterm_at − deadline_at (the timeout write and the simulated kill), p50/p99.
 *
 *   npx tsx bench/fleet.ts [--workers 5,20] [--jobs 2000] [--seconds 20] [--latency 20] [--kills 300] [--every 10] [--no-write]
 *
 * Raw results as JSON in docs/bench-results/fleet/fleet-<date>.json. The machine is named with each run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { systemClock } from '../server/clock';
import { parseConfig } from '../server/config';
import type { Ctx } from '../server/context';
import { connect } from '../server/db/client';
import type { ContainerSpec } from '../server/docker/types';
import { DISPATCH_CHANNEL } from '../server/domain/dispatch-signal';
import { ensureInstallation } from '../server/domain/installation';
import { writeHeartbeat } from '../server/domain/nodes';
import { seedDefaultPlans } from '../server/domain/plans';
import { startSweepers } from '../server/sweepers';
import { startDispatchLoop } from '../server/worker/dispatch-loop';
import { FakeDocker } from '../test/helpers/fake-docker';
import { arg, loadAverage, machineLine, pct, runMain, today, withBenchPostgres, WRITE } from './lib';

const WORKERS = arg('workers', '5,20').split(',').map(Number);
const JOBS = Number(arg('jobs', '2000'));
const SECONDS = Number(arg('seconds', '20'));
const LATENCY = Number(arg('latency', '20'));
const KILLS = Number(arg('kills', '300'));
const EVERY = Number(arg('every', '10'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A FakeDocker that answers create/start/kill after `ms` (an engine's usual 10-50 ms). */
class SlowDocker extends FakeDocker {
  constructor(private readonly ms: number) {
    super();
  }
  override async run(spec: ContainerSpec) {
    await sleep(this.ms);
    return super.run(spec);
  }
  override async kill(id: string, sig: 'SIGTERM' | 'SIGKILL') {
    await sleep(this.ms / 2);
    return super.kill(id, sig);
  }
}

/** One worker node in its own process (WARDEN_BENCH_CHILD=<node id>). */
async function child(node: string): Promise<void> {
  const database = connect(process.env.DATABASE_URL!, { max: 4 });
  const db = database.db;
  const installation = await ensureInstallation(db);
  const fake = new SlowDocker(LATENCY);
  const ctx: Ctx = { db, clock: systemClock, node, installation, docker: fake };
  const facts = { name: node, cpus: 1e6, memoryMb: 1e9, maxJobs: null, labels: {} };
  await writeHeartbeat(db, { node, at: new Date(), dockerOk: true, dockerError: null, facts });
  const beat = setInterval(() => void writeHeartbeat(db, { node, at: new Date(), dockerOk: true, dockerError: null, facts }).catch(() => {}), 5000);
  const cfg = parseConfig({ WARDEN_ORPHAN_SWEEP_S: '3600', WARDEN_TTL_SWEEP_S: '3600' });
  const sweepers = startSweepers(ctx, cfg);
  const loop = startDispatchLoop(ctx, fake, { concurrency: 8, start: { pullTimeoutMs: 60_000 } });
  await database.sql.listen(DISPATCH_CHANNEL, () => loop.wake());
  const tick = setInterval(() => loop.wake(), 1000);
  console.log('ready');
  await new Promise<void>((r) => process.once('SIGTERM', () => r()));
  clearInterval(beat);
  clearInterval(tick);
  await loop.stop();
  await sweepers.stop();
  await database.close();
  process.exit(0);
}

/** CPU seconds of PostgreSQL's processes (the postmaster's children): sum of utime+stime from /proc. */
function pgCpuSeconds(postmaster: number): number {
  const hz = 100;
  let ticks = 0;
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(f[1]);
      if (Number(pid) === postmaster || ppid === postmaster) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch {
      /* gone */
    }
  }
  return ticks / hz;
}

interface SizeResult {
  workers: number;
  jobs: number;
  claimSeconds: number;
  claimsPerSecond: number;
  perNode: { min: number; max: number };
  steady: { seconds: number; xactPerSecond: number; xactPerSecondPer1000Running: number; xactPerSecondPerWorker: number; connections: number; pgCpuPercentOfCore: number; timeoutTickMs: { p50: number; p99: number; n: number } };
  killLateness: { deadlines: number; everyMs: number; p50Ms: number; p99Ms: number; maxMs: number; signalled: number };
}

async function runSize(w: number): Promise<SizeResult> {
  return withBenchPostgres(`fleet-${w}`, async (pg) => {
    const database = pg.connect(4);
    const db = database.db;
    await seedDefaultPlans(db);
    await ensureInstallation(db);
    await db.execute(sql`insert into plans (name, max_concurrent_jobs, max_queued_jobs, cpus, memory_mb, default_timeout_s, max_timeout_s, grace_period_s)
      values ('fleet', 1000000, 1000000, 0.01, 1, 3600, 86400, 1)`);
    await db.execute(sql`insert into users (name, plan_id) select 'u' || g, (select id from plans where name = 'fleet') from generate_series(1, 100) g`);
    const [{ pid: postmaster } = { pid: 0 }] = await db.execute<{ pid: number }>(sql`select pg_postmaster_start_time() is not null as ok, (select pid from pg_stat_activity where backend_type = 'checkpointer') as pid`);
    // The checkpointer's parent is the postmaster.
    const pmPid = (() => {
      try {
        const stat = fs.readFileSync(`/proc/${postmaster}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      } catch {
        return 0;
      }
    })();

    const kids: ChildProcess[] = [];
    try {
      for (let i = 0; i < w; i++) {
        const c = spawn(process.execPath, [...process.execArgv, process.argv[1]!], {
          env: { ...process.env, DATABASE_URL: pg.url, WARDEN_BENCH_CHILD: `bench-n${i}`, LOG_LEVEL: 'error' },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        kids.push(c);
      }
      await Promise.all(kids.map((c) => new Promise<void>((r, j) => {
        c.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && r());
        c.once('exit', (code) => j(new Error(`worker exited ${code}`)));
      })));

      // Claims: J queued at once, one NOTIFY.
      const t0 = Date.now();
      await db.execute(sql`insert into jobs (user_id, image, status, timeout_s, timeout_source, grace_period_s, queued_at, max_retries)
        select (select id from users order by name offset (g % 100) limit 1), 'bench', 'queued', 3600, 'plan', 1, now(), 0 from generate_series(1, ${JOBS}) g`);
      await db.execute(sql`select pg_notify(${DISPATCH_CHANNEL}, '')`);
      for (;;) {
        const [{ n }] = (await db.execute<{ n: number }>(sql`select count(*)::int as n from jobs where status = 'running'`)) as unknown as [{ n: number }];
        if (n >= JOBS) break;
        if (Date.now() - t0 > 900_000) throw new Error(`only ${n} of ${JOBS} running after 15 min`);
        await sleep(200);
      }
      const claimSeconds = (Date.now() - t0) / 1000;
      const per = (await db.execute<{ n: number }>(sql`select count(*)::int as n from jobs where status = 'running' group by node`)).map((r) => Number(r.n));

      // Steady state.
      const xact = async () => Number((await db.execute<{ x: string }>(sql`select sum(xact_commit + xact_rollback)::bigint as x from pg_stat_database`))[0]!.x);
      const x0 = await xact();
      const c0 = pgCpuSeconds(pmPid);
      const s0 = new Date();
      const conns: number[] = [];
      for (let s = 0; s < SECONDS; s++) {
        await sleep(1000);
        conns.push(Number((await db.execute<{ n: number }>(sql`select count(*)::int as n from pg_stat_activity where backend_type = 'client backend'`))[0]!.n));
      }
      const x1 = await xact();
      const c1 = pgCpuSeconds(pmPid);
      const ticks = (await db.execute<{ ms: number }>(sql`select extract(epoch from (finished_at - started_at)) * 1000 as ms from sweeper_runs where sweeper = 'timeout' and started_at >= ${s0.toISOString()} and finished_at is not null`)).map((r) => Number(r.ms));
      const xps = (x1 - x0) / SECONDS;

      // Kill lateness: one deadline every EVERY ms, starting 3 s from now.
      const k0 = Date.now();
      await db.execute(sql`update jobs set deadline_at = now() + interval '3 seconds' + (x.k * ${EVERY}) * interval '1 millisecond'
        from (select id, row_number() over (order by id) - 1 as k from jobs where status = 'running' order by id limit ${KILLS}) x where jobs.id = x.id`);
      const span = 3000 + KILLS * EVERY;
      await sleep(span + 5000);
      for (;;) {
        const [{ n }] = (await db.execute<{ n: number }>(sql`select count(*)::int as n from jobs where deadline_at < now() and sigterm_at is null and status in ('running', 'terminating')`)) as unknown as [{ n: number }];
        if (n === 0 || Date.now() - k0 > span + 120_000) break;
        await sleep(500);
      }
      const late = (await db.execute<{ ms: number }>(sql`select extract(epoch from (sigterm_at - deadline_at)) * 1000 as ms from jobs where sigterm_at is not null`)).map((r) => Number(r.ms));

      return {
        workers: w,
        jobs: JOBS,
        claimSeconds,
        claimsPerSecond: JOBS / claimSeconds,
        perNode: { min: Math.min(...per), max: Math.max(...per) },
        steady: {
          seconds: SECONDS,
          xactPerSecond: xps,
          xactPerSecondPer1000Running: (xps / JOBS) * 1000,
          xactPerSecondPerWorker: xps / w,
          connections: Math.max(...conns),
          pgCpuPercentOfCore: ((c1 - c0) / SECONDS) * 100,
          timeoutTickMs: { p50: pct(ticks, 50), p99: pct(ticks, 99), n: ticks.length },
        },
        killLateness: { deadlines: KILLS, everyMs: EVERY, p50Ms: pct(late, 50), p99Ms: pct(late, 99), maxMs: Math.max(...late), signalled: late.length },
      };
    } finally {
      for (const c of kids) c.kill('SIGTERM');
      await Promise.all(kids.map((c) => (c.exitCode !== null ? null : new Promise((r) => c.once('exit', r)))));
      await database.close();
    }
  });
}

const main = async () => {
  const load0 = loadAverage();
  const results: SizeResult[] = [];
  for (const w of WORKERS) {
    const r = await runSize(w);
    console.log(JSON.stringify(r));
    results.push(r);
  }
  const out = {
    bench: 'fleet',
    date: new Date().toISOString(),
    machine: machineLine('PostgreSQL (embedded), simulated engine', load0),
    loadAtEnd: loadAverage(),
    params: { workers: WORKERS, jobs: JOBS, seconds: SECONDS, latencyMs: LATENCY, kills: KILLS, everyMs: EVERY },
    results,
  };
  if (WRITE) {
    const dir = path.join(__dirname, '../docs/bench-results/fleet');
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `fleet-${today()}-${JOBS}.json`);
    fs.writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
    console.log(`wrote ${path.relative(process.cwd(), file)}`);
  }
};

if (process.env.WARDEN_BENCH_CHILD) void child(process.env.WARDEN_BENCH_CHILD);
else runMain(main);
