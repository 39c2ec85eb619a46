/**
 * The fleet's ceiling on one PostgreSQL: W real worker processes against one embedded PostgreSQL,
 * each its own node on its own simulated engine. A worker is `node bin/worker.mjs`, the program
 * `npm run worker` runs, without its two memory settings (npm's own wrapper process is left out: at 100 workers it alone would hold
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
 * Bounded: a size gets --budget minutes in all (default 20). Claiming stops early when the running
 * count has not moved for --stall seconds (default 120), when a worker exits, or when the budget
 * would leave no time for the steady state and the deadlines. A size that stops still writes its
 * result: what it measured up to then, `outcome` saying where and why it stopped, and `diagnosis`
 * (per-node counts, node rows, PostgreSQL's sessions and waits, the workers' last errors).
 *
 *   npm run bench -- fleet [--workers 5,20] [--jobs 10000] [--seconds 30] [--latency 20] [--kills 300] [--every 10] [--pool N]
 *                          [--max-connections N] [--budget 20] [--stall 120] [--no-write]
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
/** PostgreSQL's max_connections; default: enough for every worker's share (see runSize). */
const MAX_CONNECTIONS = arg('max-connections', '');
/** Minutes a size may take in all, start-up to the last deadline. */
const BUDGET_MS = Number(arg('budget', '20')) * 60_000;
/** Seconds without a claim before the claim phase is called stalled. */
const STALL_MS = Number(arg('stall', '120')) * 1000;
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

/** Why a size stopped before its end: `stage` is the phase, `message` the reason in words. */
class Stopped extends Error {
  constructor(
    readonly stage: string,
    message: string,
  ) {
    super(message);
  }
}

/** The diagnosis in one sentence: what the nodes, the sessions and the workers' logs said. */
function summarize(d: Record<string, unknown>): string {
  const parts: string[] = [];
  const nodes = Array.isArray(d.nodes) ? (d.nodes as { docker_ok: boolean; heartbeat_age_s: number }[]) : [];
  if (nodes.length) {
    const down = nodes.filter((n) => !n.docker_ok).length;
    parts.push(`${down} of ${nodes.length} nodes had last found their engine not answering (docker_ok false), heartbeats up to ${Math.max(...nodes.map((n) => n.heartbeat_age_s))} s old`);
  }
  const sessions = Array.isArray(d.sessions) ? (d.sessions as { state: string | null; n: number }[]) : [];
  const max = Array.isArray(d.maxConnections) ? (d.maxConnections as { n: number }[])[0]?.n : undefined;
  if (sessions.length) {
    const total = sessions.reduce((a, x) => a + x.n, 0);
    const idleTx = sessions.filter((x) => x.state === 'idle in transaction').reduce((a, x) => a + x.n, 0);
    parts.push(`${total} of ${max ?? '?'} connections in use, ${idleTx} idle in transaction`);
  }
  const errs = Array.isArray(d.workerErrors) ? (d.workerErrors as { n: number; message: string }[]) : [];
  if (errs.length) parts.push(`the workers' commonest warnings: ${errs.slice(0, 2).map((e) => `"${e.message.replace(/\s+/g, ' ').slice(0, 80)}" ×${e.n}`).join(', ')}`);
  parts.push(`load average ${String(d.load)}`);
  return parts.join('; ');
}

/** The last error lines of one worker's log (pino JSON at warn and above), and counts by message. */
class WorkerLog {
  readonly counts = new Map<string, number>();
  readonly last: string[] = [];
  private rest = '';
  constructor(readonly index: number) {}
  feed(d: Buffer): void {
    const lines = (this.rest + d.toString()).split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      let msg = line.slice(0, 300);
      try {
        const j = JSON.parse(line) as { level?: number; msg?: string; err?: string };
        if ((j.level ?? 50) < 40) continue;
        msg = `${j.msg ?? ''}${j.err ? `: ${String(j.err).slice(0, 200)}` : ''}`;
      } catch {
        // Not JSON: node-cron's own warnings and a crash's stack count, without their times,
        // colours and pid; the rest (the seeded admin login's lines) is not a warning.
        if (!/warn|error|fatal|exception|\bat /i.test(line) || /password|email:|login created/i.test(line)) continue;
        msg = msg.replace(/\x1b\[\d+m/g, '').replace(/\[[^\]]*\d{2}:\d{2}[^\]]*\]|\[PID: \d+\]|at \w{3} \w{3} \d.*?\)/g, '').replace(/\s+/g, ' ').trim();
      }
      this.counts.set(msg, (this.counts.get(msg) ?? 0) + 1);
      this.last.push(msg);
      if (this.last.length > 5) this.last.shift();
    }
  }
}

async function runSize(w: number, jobsN: number): Promise<void> {
  const tStart = Date.now();
  const load0 = loadAverage();
  const result = beginResult(`fleet-w${w}-j${jobsN}${POOL ? `-pool${POOL}` : ''}`, `Fleet: ${w} workers, ${jobsN.toLocaleString('en')} running jobs, one PostgreSQL`, 'fleet.ts');
  // Each worker: its pool, its LISTEN, its instance lock; the bench's own pool; headroom.
  const maxConnections = MAX_CONNECTIONS ? Number(MAX_CONNECTIONS) : Math.max(200, w * ((Number(POOL) || 8) + 3) + 20);
  // Time kept back for the steady state and the deadlines once every job runs.
  const reserveMs = (SECONDS + 5 + (KILLS * EVERY) / 1000 + 90) * 1000;
  const left = () => tStart + BUDGET_MS - Date.now();
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
    const logs: WorkerLog[] = [];
    const exits: { worker: number; code: number | null; signal: string | null; afterS: number }[] = [];
    let stopping = false;
    const logFile = path.join('test-results', `bench-fleet-w${w}-j${jobsN}-workers.log`);
    fs.mkdirSync(path.join(ROOT, 'test-results'), { recursive: true });
    const log = fs.createWriteStream(path.join(ROOT, logFile));
    const spawnWorker = async (i: number) => {
      const engine = await startFakeEngine(path.join(os.tmpdir(), `warden-fleet-${crypto.randomBytes(3).toString('hex')}-${i}.sock`), { latencyMs: LATENCY });
      engines.push(engine);
      const c = spawn(process.execPath, [path.join(ROOT, 'bin/worker.mjs')], { cwd: ROOT, env: workerEnv(pg.url, engine.socket, `fleet-${i}`, dataDir), stdio: ['ignore', 'pipe', 'pipe'] });
      const wl = new WorkerLog(i);
      logs.push(wl);
      const out = (d: Buffer) => {
        // Output can arrive after the exit the bench waited for, when the log is closed.
        if (!log.writableEnded) log.write(d.toString().replace(/^(?=.)/gm, `[w${i}] `));
        wl.feed(d);
      };
      c.stdout!.on('data', out);
      c.stderr!.on('data', out);
      c.once('exit', (code, signal) => {
        if (!stopping) exits.push({ worker: i, code, signal, afterS: Math.round((Date.now() - tStart) / 1000) });
      });
      kids.push(c);
    };
    const nodesUp = async () => Number((await db.execute<{ n: number }>(sql`select count(*)::int as n from nodes where id like 'fleet-%' and heartbeat_at > now() - interval '30 seconds'`))[0]!.n);
    const running = async () => Number((await db.execute<{ n: number }>(sql`select count(*)::int as n from jobs where status = 'running'`))[0]!.n);
    const connections = async () => Number((await db.execute<{ n: number }>(sql`select count(*)::int as n from pg_stat_activity where backend_type = 'client backend'`))[0]!.n);
    const xact = async () => Number((await db.execute<{ x: string }>(sql`select sum(xact_commit + xact_rollback)::bigint as x from pg_stat_database`))[0]!.x);
    const wpids = () => kids.flatMap((c) => (c.pid ? processTree(c.pid) : []));
    const exited = () => exits.length > 0 && new Stopped('workers', `worker ${exits[0]!.worker} exited (${exits[0]!.signal ?? `code ${exits[0]!.code}`}) ${exits[0]!.afterS} s into the run${exits.length > 1 ? `, and ${exits.length - 1} more after it` : ''}: ${lastWords(exits[0]!.worker)}`);
    const lastWords = (i: number) => logs[i]?.last.at(-1) ?? `nothing in ${logFile}`;

    /** What the database and the workers looked like when a size stopped. */
    const diagnose = async (): Promise<Record<string, unknown>> => {
      const q = async <T>(what: Promise<T>): Promise<T | string> => what.catch((e: unknown) => `could not ask: ${String(e)}`);
      const errors = new Map<string, number>();
      for (const l of logs) for (const [m, n] of l.counts) errors.set(m, (errors.get(m) ?? 0) + n);
      return {
        jobsByStatus: await q(db.execute(sql`select status, count(*)::int as n from jobs group by status order by status`)),
        perNode: await q(db.execute(sql`select node, count(*) filter (where status = 'running')::int as running, count(*) filter (where status = 'starting')::int as starting from jobs where node is not null group by node order by node`)),
        nodes: await q(db.execute(sql`select id, state, docker_ok, round(extract(epoch from now() - heartbeat_at))::int as heartbeat_age_s from nodes order by id`)),
        sessions: await q(db.execute(sql`select application_name, state, wait_event_type, wait_event, count(*)::int as n from pg_stat_activity where backend_type = 'client backend' group by 1, 2, 3, 4 order by n desc`)),
        maxConnections: await q(db.execute(sql`select setting::int as n from pg_settings where name = 'max_connections'`)),
        locks: await q(db.execute(sql`select locktype, mode, granted, count(*)::int as n from pg_locks group by 1, 2, 3 order by n desc limit 12`)),
        longest: await q(db.execute(sql`select round(extract(epoch from now() - query_start) * 1000)::int as ms, state, left(query, 160) as query from pg_stat_activity where backend_type = 'client backend' and state <> 'idle' and pid <> pg_backend_pid() order by query_start limit 5`)),
        workerExits: exits,
        workerErrors: [...errors].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([message, n]) => ({ n, message })),
        load: loadAverage(),
      };
    };

    // Figures shared by a finished and a stopped size.
    const params = (extra: Record<string, unknown>) => ({ workers: w, jobs: jobsN, seconds: SECONDS, latencyMs: LATENCY, kills: KILLS, everyMs: EVERY, workerDbPool: POOL || '8 (default)', maxConnections, budgetMin: BUDGET_MS / 60_000, stallS: STALL_MS / 1000, loadAtStart: load0, ...extra });
    const software = `embedded PostgreSQL 18 (max_connections ${maxConnections}), ${w} × node bin/worker.mjs, stand-in Docker API (bench/fake-engine.ts, create/start ${LATENCY} ms, kill ${LATENCY / 2} ms)`;
    let stage = 'start-up';
    let claimWindow: { t0: number; x0: number; pg0: number; w0: number; b0: number } | null = null;
    const benchCpu = () => (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
    let reached = 0;
    const claimFigures = async (n: number) => {
      if (!claimWindow) return;
      const s = (Date.now() - claimWindow.t0) / 1000;
      result.series('claims_per_s', 'jobs/s', [n / s]);
      result.series('xact_per_s_claiming', 'transactions/s', [((await xact()) - claimWindow.x0) / s]);
      result.series('pg_cpu_claiming', '% of a core', [((cpuSecondsOf(pgPids()) - claimWindow.pg0) / s) * 100]);
      result.series('workers_cpu_claiming', '% of a core', [((cpuSecondsOf(wpids()) - claimWindow.w0) / s) * 100]);
      result.series('engines_cpu_claiming', '% of a core', [((benchCpu() - claimWindow.b0) / s) * 100]);
    };
    const claimFigureRows = (label: string) => {
      result.figure({ label, series: 'claims_per_s', stat: 'last' });
      result.figure({ label: 'PostgreSQL transactions/s while claiming', series: 'xact_per_s_claiming', stat: 'last' });
      result.figure({ label: 'PostgreSQL CPU while claiming', series: 'pg_cpu_claiming', stat: 'last' });
      result.figure({ label: `the ${w} workers' CPU while claiming`, series: 'workers_cpu_claiming', stat: 'last' });
      result.figure({ label: `the ${w} stand-in engines' CPU while claiming (the bench's process)`, series: 'engines_cpu_claiming', stat: 'last' });
    };

    try {
      // The first worker alone (it may build bin/worker.mjs's bundle), then the rest.
      await spawnWorker(0);
      await until('the first worker to send a heartbeat', async () => {
        const x = exited();
        if (x) throw x;
        return (await nodesUp()) >= 1;
      }, 180_000);
      for (let i = 1; i < w; i++) await spawnWorker(i);
      let up = 0;
      const upBy = tStart + BUDGET_MS - reserveMs;
      while ((up = await nodesUp()) < w) {
        const x = exited();
        if (x) throw x;
        if (Date.now() > upBy) throw new Stopped('start-up', `only ${up} of ${w} workers sent a heartbeat within ${Math.round((Date.now() - tStart) / 1000)} s`);
        await sleep(500);
      }
      console.error(`[fleet] ${w} workers up after ${Math.round((Date.now() - tStart) / 1000)} s (load ${loadAverage()}); queueing ${jobsN.toLocaleString('en')} jobs`);

      // Claims: J queued at once, one NOTIFY.
      stage = 'claims';
      await db.execute(sql`insert into jobs (user_id, image, status, timeout_s, timeout_source, grace_period_s, queued_at, max_retries)
        select u.id, ${IMAGE}, 'queued', 86400, 'plan', 1, now(), 0
        from generate_series(0, ${jobsN - 1}) g join (select id, row_number() over (order by name) - 1 as k from users where name like 'fleet-%') u on u.k = g / ${PER_USER}`);
      claimWindow = { t0: Date.now(), x0: await xact(), pg0: cpuSecondsOf(pgPids()), w0: cpuSecondsOf(wpids()), b0: benchCpu() };
      const t0 = claimWindow.t0;
      await db.execute(sql`select pg_notify(${DISPATCH_CHANNEL}, '')`);
      let lastMove = Date.now();
      let said = Date.now();
      let prev = 0;
      while ((reached = await running()) < jobsN) {
        const x = exited();
        if (x) throw x;
        const now = Date.now();
        if (reached !== prev) lastMove = now;
        prev = reached;
        if (now - lastMove > STALL_MS) throw new Stopped('claims', `claiming stopped at ${reached.toLocaleString('en')} of ${jobsN.toLocaleString('en')} running: none started in the last ${STALL_MS / 1000} s`);
        if (left() < reserveMs) throw new Stopped('claims', `out of time: ${reached.toLocaleString('en')} of ${jobsN.toLocaleString('en')} running after ${Math.round((now - t0) / 1000)} s of claiming (the size's budget is ${BUDGET_MS / 60_000} min)`);
        if (now - said > 30_000) {
          said = now;
          console.error(`[fleet] ${reached} of ${jobsN} running after ${Math.round((now - t0) / 1000)} s; ${await connections()} connections; load ${loadAverage()}`);
        }
        await sleep(500);
      }
      const claimS = (Date.now() - t0) / 1000;
      await claimFigures(jobsN);
      const per = (await db.execute<{ n: number }>(sql`select count(*)::int as n from jobs where status = 'running' group by node`)).map((r) => Number(r.n));
      console.error(`[fleet] ${jobsN} running after ${claimS.toFixed(1)} s; per node ${Math.min(...per)}–${Math.max(...per)}`);

      // Steady state.
      stage = 'steady state';
      const x0 = await xact();
      const pg0 = cpuSecondsOf(pgPids());
      const w0 = cpuSecondsOf(wpids());
      const s0 = new Date();
      const conns: number[] = [];
      const rss: number[] = [];
      for (let s = 0; s < SECONDS; s++) {
        await sleep(1000);
        conns.push(await connections());
        rss.push(wpids().reduce((a, p) => a + rssOf(p), 0) / 2 ** 20 / w);
      }
      const wall = (Date.now() - s0.getTime()) / 1000;
      const x1 = await xact();
      const pgCpu = ((cpuSecondsOf(pgPids()) - pg0) / wall) * 100;
      const workersCpu = ((cpuSecondsOf(wpids()) - w0) / wall) * 100;
      const ticks = (await db.execute<{ ms: number }>(sql`select extract(epoch from (finished_at - started_at)) * 1000 as ms from sweeper_runs where sweeper = 'timeout' and started_at >= ${s0.toISOString()} and finished_at is not null`)).map((r) => Number(r.ms));
      const xps = (x1 - x0) / wall;

      // Kill lateness: one deadline every EVERY ms, from 5 s on (past every worker's look-ahead).
      stage = 'deadlines';
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
      let outcome: string | undefined;
      const killWait = Math.max(5000 + KILLS * EVERY + 30_000, Math.min(5000 + KILLS * EVERY + 180_000, left()));
      await until(`the engines to receive SIGTERM for ${KILLS} jobs`, async () => heard() >= deadlines.size, killWait, 500).catch(() => {
        outcome = `only ${heard()} of ${deadlines.size} deadlines' SIGTERMs reached the engines within ${Math.round(killWait / 1000)} s; lateness is of those that did`;
        console.error(`[fleet] ${outcome}`);
      });
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
      claimFigureRows(`claims/s, ${jobsN.toLocaleString('en')} queued at once`);
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
      result.save(params({ claimSeconds: claimS, killsHeard: late.length, unemulated: Object.fromEntries(unknown) }), software, outcome);
    } catch (e) {
      // A size that cannot finish still says how far it got and why, in its result.
      const why = e instanceof Stopped ? e.message : `${stage}: ${String(e)}`;
      console.error(`[fleet] stopped (${stage}): ${why}`);
      const diagnosis = await diagnose();
      console.error(`[fleet] diagnosis: ${JSON.stringify(diagnosis, null, 1)}`);
      if (stage !== 'start-up') {
        // The claim figures were taken when claiming ended, or are taken now if it never did.
        if (stage === 'claims') await claimFigures(reached).catch(() => {});
        else reached = jobsN;
        const per = await db.execute<{ n: number }>(sql`select count(*)::int as n from jobs where status = 'running' group by node`).then((r) => r.map((x) => Number(x.n))).catch(() => [] as number[]);
        result.series('running_reached', 'running jobs', [reached]);
        if (!result.has('per_node')) result.series('per_node', 'running jobs', per);
        result.figure({ label: `running jobs reached (of ${jobsN.toLocaleString('en')})`, series: 'running_reached', stat: 'last' });
        claimFigureRows(stage === 'claims' ? 'claims/s until it stopped' : `claims/s, ${jobsN.toLocaleString('en')} queued at once`);
        result.figure({ label: 'fewest running jobs on one node', series: 'per_node', stat: 'min' });
        result.figure({ label: 'most running jobs on one node', series: 'per_node', stat: 'max' });
      }
      const conns = await connections().catch(() => NaN);
      if (Number.isFinite(conns)) {
        result.series('connections_at_stop', 'client connections', [conns]);
        result.figure({ label: 'client connections when it stopped', series: 'connections_at_stop', stat: 'last' });
      }
      const up = await nodesUp().catch(() => NaN);
      if (Number.isFinite(up)) {
        result.series('workers_up', 'workers', [up]);
        result.figure({ label: `workers with a recent heartbeat (of ${w})`, series: 'workers_up', stat: 'last' });
      }
      result.save(params({ stoppedAt: stage, afterS: Math.round((Date.now() - tStart) / 1000), diagnosis }), software, `did not finish: stopped in ${stage}, ${why}. When it stopped: ${summarize(diagnosis)}`);
      process.exitCode = 1;
    } finally {
      stopping = true;
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
