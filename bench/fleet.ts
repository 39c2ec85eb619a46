/**
 * The fleet's ceiling on one PostgreSQL: W real worker processes against one embedded PostgreSQL,
 * each its own node on its own simulated engine. A worker is `node bin/worker.mjs`, the program
 * `npm run worker` runs (npm's own wrapper process is left out: at 100 workers it alone would hold
 * ~4 GB of this box). Each talks through its own dockerode client to a Docker API stand-in
 * (bench/fake-engine.ts, one unix socket per worker, its own engine ID) that answers container
 * create and start after --latency ms and kill and remove after half of it, as an engine does.
 *
 * For each size W workers × J jobs:
 * - claims/s: J jobs queued at once (one NOTIFY), time until all run; the spread over the nodes;
 * - steady state with J running for --seconds: transactions/s (pg_stat_database), per 1,000 running
 *   jobs and per worker, client connections, PostgreSQL CPU, the workers' CPU and RSS, timeout-tick
 *   p99 (sweeper_runs);
 * - kill lateness: --kills of the running jobs get deadlines one every --every ms; lateness is the
 *   engine's receipt of the SIGTERM (the stand-in's clock, this machine's) − deadline_at.
 *
 * One result per size: docs/bench-results/fleet-w<W>-j<J>-….json.
 *
 *   npm run bench -- fleet [--workers 5,20] [--jobs 10000] [--seconds 30] [--latency 20] [--kills 300] [--every 10] [--pool N] [--no-write]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { DISPATCH_CHANNEL } from '../server/domain/dispatch-signal';
import { ensureInstallation } from '../server/domain/installation';
import { startFakeEngine, type FakeEngine } from './fake-engine';
import { arg, beginResult, flag, loadAverage, pct, runMain, withBenchPostgres } from './lib';
import { cpuSecondsOf, processTree, rssOf } from './product';

const WORKERS = arg('workers', '5,20').split(',').map(Number);
const JOBS = arg('jobs', '10000').split(',').map(Number);
const SECONDS = Number(arg('seconds', '30'));
const LATENCY = Number(arg('latency', '20'));
const KILLS = Number(arg('kills', '300'));
const EVERY = Number(arg('every', '10'));
/** WARDEN_WORKER_DB_POOL for every worker ('' = the default, 8). */
const POOL = arg('pool', '');
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const IMAGE = 'warden-test/busybox:latest';
/** Jobs per user (the dispatcher serves one job per user per claiming round, as fairness asks). */
const PER_USER = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

function workerEnv(dbUrl: string, socket: string, node: string, dataDir: string): NodeJS.ProcessEnv {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('VITEST') && k !== 'NODE_ENV') env[k] = v;
  return {
    ...env,
    DATABASE_URL: dbUrl,
    DOCKER_HOST: `unix://${socket}`,
    WARDEN_NODE_ID: node,
    WARDEN_DATA_DIR: dataDir,
    // The stand-in says 2 CPUs and 64 GiB; thousands of tiny jobs per node must fit.
    WARDEN_NODE_CPU_OVERCOMMIT: '1000',
    WARDEN_NODE_MEMORY_MB: '100000000',
    ...(POOL ? { WARDEN_WORKER_DB_POOL: POOL } : {}),
    LOG_LEVEL: 'warn',
  } as unknown as NodeJS.ProcessEnv;
}

async function stopAll(kids: ChildProcess[]): Promise<void> {
  for (const c of kids) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all(kids.map((c) => (c.exitCode !== null || c.signalCode !== null ? null : Promise.race([new Promise((r) => c.once('exit', r)), sleep(30_000).then(() => c.kill('SIGKILL'))]))));
}

async function runSize(w: number, jobsN: number): Promise<void> {
  const load0 = loadAverage();
  const result = beginResult(`fleet-w${w}-j${jobsN}${POOL ? `-pool${POOL}` : ''}`, `Fleet: ${w} workers, ${jobsN.toLocaleString('en')} running jobs, one PostgreSQL`, 'fleet.ts');
  // Each worker: its pool, its LISTEN, its instance lock; the bench's own pool; headroom.
  const maxConnections = Math.max(200, w * ((Number(POOL) || 8) + 3) + 20);
  await withBenchPostgres(`fleet-${w}`, async (pg) => {
    const database = pg.connect(4);
    const db = database.db;
    await ensureInstallation(db);
    await db.execute(sql`insert into plans (name, max_concurrent_jobs, max_queued_jobs, cpus, memory_mb, default_timeout_s, max_timeout_s, grace_period_s, network)
      values ('fleet', ${PER_USER}, ${PER_USER}, 0.01, 6, 86400, 86400, 1, 'none')`);
    const users = Math.ceil(jobsN / PER_USER);
    await db.execute(sql`insert into users (name, plan_id) select 'fleet-' || g, (select id from plans where name = 'fleet') from generate_series(1, ${users}) g`);
    const pgPids = () => {
      const [pm] = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(new URL(pg.url).port) && fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'postgres';
        } catch {
          return false;
        }
      });
      return pm ? processTree(Number(pm)) : [];
    };

    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-bench-fleet-data-'));
    const engines: FakeEngine[] = [];
    const kids: ChildProcess[] = [];
    const log = fs.createWriteStream(path.join(ROOT, 'test-results', `bench-fleet-w${w}-workers.log`));
    const spawnWorker = async (i: number) => {
      const engine = await startFakeEngine(path.join(os.tmpdir(), `warden-fleet-${crypto.randomBytes(3).toString('hex')}-${i}.sock`), { latencyMs: LATENCY });
      engines.push(engine);
      const c = spawn(process.execPath, [path.join(ROOT, 'bin/worker.mjs')], { cwd: ROOT, env: workerEnv(pg.url, engine.socket, `fleet-${i}`, dataDir), stdio: ['ignore', 'pipe', 'pipe'] });
      c.stdout!.on('data', (d: Buffer) => log.write(d));
      c.stderr!.on('data', (d: Buffer) => log.write(d));
      kids.push(c);
    };
    const nodesUp = async () => Number((await db.execute<{ n: number }>(sql`select count(*)::int as n from nodes where id like 'fleet-%' and heartbeat_at > now() - interval '30 seconds'`))[0]!.n);
    try {
      // The first worker alone (it may build bin/worker.mjs's bundle), then the rest.
      await spawnWorker(0);
      await until('the first worker to send a heartbeat', async () => (await nodesUp()) >= 1, 180_000);
      for (let i = 1; i < w; i++) await spawnWorker(i);
      await until(`${w} workers to send heartbeats`, async () => {
        const dead = kids.find((c) => c.exitCode !== null);
        if (dead) throw new Error(`a worker exited ${dead.exitCode}: see test-results/bench-fleet-w${w}-workers.log`);
        return (await nodesUp()) >= w;
      }, 300_000, 500);
      const wpids = () => kids.flatMap((c) => processTree(c.pid!));
      console.error(`[fleet] ${w} workers up (load ${loadAverage()}); queueing ${jobsN.toLocaleString('en')} jobs`);

      // Claims: J queued at once, one NOTIFY.
      const t0 = Date.now();
      await db.execute(sql`insert into jobs (user_id, image, status, timeout_s, timeout_source, grace_period_s, queued_at, max_retries)
        select u.id, ${IMAGE}, 'queued', 86400, 'plan', 1, now(), 0
        from generate_series(0, ${jobsN - 1}) g join (select id, row_number() over (order by name) - 1 as k from users where name like 'fleet-%') u on u.k = g / ${PER_USER}`);
      await db.execute(sql`select pg_notify(${DISPATCH_CHANNEL}, '')`);
      const running = async () => Number((await db.execute<{ n: number }>(sql`select count(*)::int as n from jobs where status = 'running'`))[0]!.n);
      let n = 0;
      while ((n = await running()) < jobsN) {
        if (kids.some((c) => c.exitCode !== null)) throw new Error(`a worker exited: see test-results/bench-fleet-w${w}-workers.log`);
        if (Date.now() - t0 > 1_800_000) throw new Error(`only ${n} of ${jobsN} running after 30 min`);
        await sleep(500);
      }
      const claimS = (Date.now() - t0) / 1000;
      const per = (await db.execute<{ n: number }>(sql`select count(*)::int as n from jobs where status = 'running' group by node`)).map((r) => Number(r.n));
      console.error(`[fleet] ${jobsN} running after ${claimS.toFixed(1)} s; per node ${Math.min(...per)}–${Math.max(...per)}`);

      // Steady state.
      const xact = async () => Number((await db.execute<{ x: string }>(sql`select sum(xact_commit + xact_rollback)::bigint as x from pg_stat_database`))[0]!.x);
      const x0 = await xact();
      const pg0 = cpuSecondsOf(pgPids());
      const w0 = cpuSecondsOf(wpids());
      const s0 = new Date();
      const conns: number[] = [];
      const rss: number[] = [];
      for (let s = 0; s < SECONDS; s++) {
        await sleep(1000);
        conns.push(Number((await db.execute<{ n: number }>(sql`select count(*)::int as n from pg_stat_activity where backend_type = 'client backend'`))[0]!.n));
        rss.push(wpids().reduce((a, p) => a + rssOf(p), 0) / 2 ** 20 / w);
      }
      const wall = (Date.now() - s0.getTime()) / 1000;
      const x1 = await xact();
      const pgCpu = ((cpuSecondsOf(pgPids()) - pg0) / wall) * 100;
      const workersCpu = ((cpuSecondsOf(wpids()) - w0) / wall) * 100;
      const ticks = (await db.execute<{ ms: number }>(sql`select extract(epoch from (finished_at - started_at)) * 1000 as ms from sweeper_runs where sweeper = 'timeout' and started_at >= ${s0.toISOString()} and finished_at is not null`)).map((r) => Number(r.ms));
      const xps = (x1 - x0) / wall;

      // Kill lateness: one deadline every EVERY ms, from 5 s on (past every worker's look-ahead).
      const k0 = Date.now();
      const kw0 = cpuSecondsOf(wpids());
      const kp0 = cpuSecondsOf(pgPids());
      // warned_at as well: a job's warning comes warn_before (60 s) ahead of its deadline, long
      // before these 5 s; without it, 300 warnings would land in the same window.
      const warned = flag('unwarned') ? sql`null` : sql`now()`;
      const marked = await db.execute<{ id: string; deadline: string }>(sql`update jobs set deadline_at = now() + interval '5 seconds' + (x.k * ${EVERY}) * interval '1 millisecond', warned_at = ${warned}
        from (select id, row_number() over (order by id) - 1 as k from jobs where status = 'running' order by id limit ${KILLS}) x where jobs.id = x.id
        returning jobs.id, (extract(epoch from jobs.deadline_at) * 1000)::text as deadline`);
      const deadlines = new Map(marked.map((r) => [r.id, Number(r.deadline)]));
      const heard = () => [...deadlines.keys()].filter((id) => engines.some((e) => e.sigterms.has(id))).length;
      await until(`the engines to receive SIGTERM for ${KILLS} jobs`, async () => heard() >= deadlines.size, 5000 + KILLS * EVERY + 180_000, 500).catch((e: unknown) => console.error(`[fleet] ${String(e)}: ${heard()} of ${deadlines.size}`));
      const late = [...deadlines].flatMap(([id, dl]) => {
        const at = engines.map((e) => e.sigterms.get(id)).find((x) => x !== undefined);
        return at === undefined ? [] : [at - dl];
      });
      const kWall = (Date.now() - k0) / 1000;
      const killCpu = { workers: ((cpuSecondsOf(wpids()) - kw0) / kWall) * 100, postgres: ((cpuSecondsOf(pgPids()) - kp0) / kWall) * 100 };
      console.error(`[fleet] while killing: workers ${killCpu.workers.toFixed(0)}%, PostgreSQL ${killCpu.postgres.toFixed(0)}% of a core`);
      console.error(`[fleet] kill lateness p50 ${pct(late, 50).toFixed(0)} ms, p99 ${pct(late, 99).toFixed(0)} ms (${late.length} of ${deadlines.size}) in ${((Date.now() - k0) / 1000).toFixed(0)} s`);
      const unknown = new Map<string, number>();
      for (const e of engines) for (const [k, v] of e.unknown) unknown.set(k, (unknown.get(k) ?? 0) + v);

      result.series('claims_per_s', 'jobs/s', [jobsN / claimS]);
      result.series('per_node', 'running jobs', per);
      result.series('xact_per_s', 'transactions/s', [xps]);
      result.series('xact_per_s_per_1000_running', 'transactions/s', [(xps / jobsN) * 1000]);
      result.series('xact_per_s_per_worker', 'transactions/s', [xps / w]);
      result.series('connections', 'client connections', conns);
      result.series('pg_cpu', '% of a core', [pgCpu]);
      result.series('workers_cpu', '% of a core', [workersCpu]);
      result.series('worker_rss', 'MB per worker', rss);
      result.series('timeout_tick_ms', 'ms', ticks);
      result.series('kill_lateness_ms', 'ms', late);
      result.series('workers_cpu_killing', '% of a core', [killCpu.workers]);
      result.series('pg_cpu_killing', '% of a core', [killCpu.postgres]);
      result.figure({ label: `claims/s, ${jobsN.toLocaleString('en')} queued at once`, series: 'claims_per_s', stat: 'last' });
      result.figure({ label: 'fewest running jobs on one node', series: 'per_node', stat: 'min' });
      result.figure({ label: 'most running jobs on one node', series: 'per_node', stat: 'max' });
      result.figure({ label: 'PostgreSQL transactions/s, steady', series: 'xact_per_s', stat: 'last' });
      result.figure({ label: '… per 1,000 running jobs', series: 'xact_per_s_per_1000_running', stat: 'last' });
      result.figure({ label: '… per worker', series: 'xact_per_s_per_worker', stat: 'last' });
      result.figure({ label: 'client connections, steady', series: 'connections', stat: 'max' });
      result.figure({ label: 'PostgreSQL CPU, steady', series: 'pg_cpu', stat: 'last' });
      result.figure({ label: `the ${w} workers' CPU, steady`, series: 'workers_cpu', stat: 'last' });
      result.figure({ label: 'RSS per worker, steady', series: 'worker_rss', stat: 'max' });
      result.figure({ label: 'timeout tick', series: 'timeout_tick_ms', stat: 'p99' });
      result.figure({ label: `kill lateness, one deadline every ${EVERY} ms (engine's SIGTERM − deadline)`, series: 'kill_lateness_ms', stat: 'p99', goal: { max: 100, text: 'p99 ≤ 100 ms' } });
      result.figure({ label: `the workers' CPU while the deadlines pass`, series: 'workers_cpu_killing', stat: 'last' });
      result.figure({ label: 'PostgreSQL CPU while the deadlines pass', series: 'pg_cpu_killing', stat: 'last' });
      result.save(
        { workers: w, jobs: jobsN, seconds: SECONDS, latencyMs: LATENCY, kills: KILLS, everyMs: EVERY, workerDbPool: POOL || '8 (default)', maxConnections, loadAtStart: load0, claimSeconds: claimS, killsHeard: late.length, unemulated: Object.fromEntries(unknown) },
        `embedded PostgreSQL 18 (max_connections ${maxConnections}), ${w} × node bin/worker.mjs, stand-in Docker API (bench/fake-engine.ts, create/start ${LATENCY} ms, kill ${LATENCY / 2} ms)`,
      );
    } finally {
      await stopAll(kids);
      log.end();
      for (const e of engines) await e.close().catch(() => {});
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  }, { maxConnections });
}

runMain(async () => {
  for (const j of JOBS) for (const w of WORKERS) await runSize(w, j);
});
