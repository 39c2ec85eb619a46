/**
 * Start speed against the engine itself, in the same run, on the local Docker engine and an
 * embedded PostgreSQL. Warden's side is the real dispatcher (server/worker/dispatch-loop.ts: woken
 * by each submission, draining fairly, `--concurrency` starts at once) and the real completion
 * path (Docker events → onContainerEvent); no tick runs, so every start came from a wake-up.
 *
 * - burst: N jobs submitted at once (from 1 user whose limit is N, and from 10 users with N/10
 *   each, rounded up); time from the first submission to the last container's `start` event (engine time), over
 *   the time the engine needs to create and start the same containers (same specs) directly at
 *   the same concurrency. Goal ≤ 1.3×.
 * - single: submit → `start` event, 50 sequential submissions, next to the engine's own create +
 *   start of the same spec (call → `start` event). Goal: overhead p50 ≤ 50 ms.
 * - completion: `die` event → the job's final status committed (a trigger records
 *   clock_timestamp() when a job turns final; same machine clock as the engine). Goal p99 ≤ 100 ms.
 *
 *   npx tsx bench/start-speed.ts [--sizes 24,100] [--concurrency 4,8,16] [--repeat 3] [--single 50] [--completion 50] [--no-write]
 */
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { eq, inArray, sql } from 'drizzle-orm';
import { systemClock } from '../server/clock';
import type { Ctx } from '../server/context';
import type { Database } from '../server/db/client';
import { jobs, plans, type Job } from '../server/db/schema';
import { createDockerRuntime } from '../server/docker/runtime';
import type { ContainerEvent, DockerRuntime } from '../server/docker/types';
import type { Actor } from '../server/domain/actor';
import { containerSpec } from '../server/domain/container-spec';
import { dispatchSignal } from '../server/domain/dispatch-signal';
import { ensureInstallation } from '../server/domain/installation';
import { submitJob } from '../server/domain/jobs';
import { seedDefaultPlans, upsertPlan } from '../server/domain/plans';
import { createUser } from '../server/domain/users';
import { onContainerEvent } from '../server/worker/completion';
import { startDispatchLoop } from '../server/worker/dispatch-loop';
import { arg, beginResult, loadAverage, machineLine, pct, publish, runMain, today, withBenchPostgres } from './lib';

const SIZES = arg('sizes', '24,100').split(',').map(Number);
const CONCURRENCY = arg('concurrency', '4,8,16').split(',').map(Number);
const SINGLE = Number(arg('single', '50'));
const COMPLETION = Number(arg('completion', '50'));
/** Each burst configuration is run this many times (engine, then Warden, each time); the table gives the median ratio. */
const REPEAT = Math.max(1, Number(arg('repeat', '3')));
const IMAGE = 'warden-test/busybox:latest';
const BENCH = 'start-speed';
const ADMIN: Actor = { kind: 'operator', id: '00000000-0000-4000-8000-000000000001', email: 'bench@bench', role: 'admin' };
const ms = (x: number) => x.toFixed(0);
const s2 = (x: number) => (x / 1000).toFixed(2);

async function mapLimit<T, R>(xs: T[], n: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, xs.length) }, async () => {
      while (i < xs.length) {
        const k = i++;
        out[k] = await fn(xs[k]!, k);
      }
    }),
  );
  return out;
}

function removeAll(node: string): void {
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=warden.node=${node}`]).toString().trim();
  if (ids) execFileSync('docker', ['rm', '-f', ...ids.split('\n')], { stdio: 'ignore' });
}

/** Engine events of one node, by action then container id (first occurrence). */
class EventLog {
  private readonly by = new Map<string, Map<string, number>>();
  private waiters: (() => void)[] = [];
  push(e: ContainerEvent): void {
    const m = this.by.get(e.action) ?? new Map<string, number>();
    this.by.set(e.action, m);
    if (!m.has(e.id)) m.set(e.id, e.at.getTime());
    for (const w of this.waiters.splice(0)) w();
  }
  time(action: string, id: string): number | undefined {
    return this.by.get(action)?.get(id);
  }
  async until(action: string, ids: string[], timeoutMs = 120_000): Promise<number[]> {
    const t0 = Date.now();
    for (;;) {
      const ts = ids.map((id) => this.time(action, id));
      if (ts.every((t) => t !== undefined)) return ts as number[];
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${action} of ${ts.filter((t) => t === undefined).length} containers`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
}

interface Rig {
  db: Database;
  docker: DockerRuntime;
  ctx: Ctx;
  events: EventLog;
  close(): Promise<void>;
}

async function rig(db: Database, concurrency: number): Promise<Rig> {
  const docker = createDockerRuntime();
  const node = `bench-ss-${crypto.randomBytes(3).toString('hex')}`;
  const ctx: Ctx = { db: db.db, clock: systemClock, node, installation: await ensureInstallation(db.db), docker };
  const events = new EventLog();
  const loop = startDispatchLoop(ctx, docker, { concurrency, start: { pullTimeoutMs: 60_000 } });
  const off = dispatchSignal.on(() => loop.wake());
  const sub = docker.events((e) => {
    if (e.labels['warden.node'] !== node) return;
    events.push(e);
    void onContainerEvent(ctx, docker, e).then(() => e.action === 'die' && loop.wake());
  });
  await new Promise((r) => setTimeout(r, 300)); // the events stream is connected
  return {
    db,
    docker,
    ctx,
    events,
    async close() {
      off();
      await loop.stop();
      sub.close();
      removeAll(node);
    },
  };
}

async function users(ctx: Ctx, plan: string, n: number, limit: number): Promise<Actor[]> {
  await upsertPlan(ctx, ADMIN, plan, { maxConcurrentJobs: limit, maxQueuedJobs: 1000, maxTimeoutSeconds: 3600, monthlyQuotaSeconds: null, network: 'none' });
  const out: Actor[] = [];
  for (let i = 0; i < n; i++) {
    const u = await createUser(ctx, ADMIN, { name: `${plan}-${i}`, plan });
    out.push({ kind: 'user', id: u.user.id, name: u.user.name });
  }
  return out;
}

const sleeper = { image: IMAGE, command: ['sleep', '600'], timeoutSeconds: 3600 };

interface Burst {
  n: number;
  users: number;
  concurrency: number;
  wardenMs: number;
  engineMs: number;
}

async function burst(db: Database, n: number, nUsers: number, concurrency: number, tag: string): Promise<Burst> {
  const r = await rig(db, concurrency);
  try {
    const actors = await users(r.ctx, `burst-${tag}`, nUsers, Math.ceil(n / nUsers));
    const [plan] = await r.db.db.select().from(plans).where(eq(plans.name, `burst-${tag}`));
    const fence = { owner: { node: r.ctx.node, installation: r.ctx.installation }, logMaxSize: '10m', logMaxFiles: 3 };
    // The engine alone first: the same fenced specs Warden makes, for jobs that are not in the
    // database, at the same concurrency. Then cleared, and a pause, so both start on a quiet engine.
    const specs = Array.from({ length: n }, (_, i) => containerSpec({ id: crypto.randomUUID(), userId: (actors[i % nUsers] as { id: string }).id, attempt: 1, labels: {}, env: {}, ...sleeper }, plan!, fence));
    const e0 = Date.now();
    const ids = await mapLimit(specs, concurrency, (spec) => r.docker.run(spec));
    const estarts = await r.events.until('start', ids);
    const engineMs = Math.max(...estarts) - e0;
    removeAll(r.ctx.node);
    await new Promise((res) => setTimeout(res, 2000));
    const t0 = Date.now();
    // Everyone submits at once (8 submissions in flight, as a busy API would see).
    const submitted = await mapLimit(Array.from({ length: n }, (_, i) => actors[i % nUsers]!), 8, (a) => submitJob(r.ctx, a, sleeper));
    const rows = await waitRunning(r.db, submitted.map((j) => j.id));
    const starts = await r.events.until('start', rows.map((j) => j.containerId!));
    const wardenMs = Math.max(...starts) - t0;
    await r.db.db.delete(jobs).where(inArray(jobs.id, rows.map((j) => j.id)));
    return { n, users: nUsers, concurrency, wardenMs, engineMs };
  } finally {
    await r.close();
  }
}

async function waitRunning(db: Database, ids: string[], timeoutMs = 180_000): Promise<Job[]> {
  const t0 = Date.now();
  for (;;) {
    const rows = await db.db.select().from(jobs).where(inArray(jobs.id, ids));
    if (rows.every((j) => j.status === 'running')) return rows;
    const bad = rows.find((j) => j.status !== 'running' && j.status !== 'queued' && j.status !== 'starting');
    if (bad) throw new Error(`job ${bad.id} ended ${bad.status}: ${bad.reason ?? ''}`);
    if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting for jobs to run');
    await new Promise((res) => setTimeout(res, 20));
  }
}

async function single(db: Database, count: number): Promise<{ warden: number[]; engine: number[] }> {
  const r = await rig(db, 8);
  try {
    const [actor] = await users(r.ctx, 'single', 1, 2);
    const warden: number[] = [];
    const engine: number[] = [];
    const [plan] = await r.db.db.select().from(plans).where(eq(plans.name, 'single'));
    for (let i = 0; i < count; i++) {
      const t0 = Date.now();
      const job = await submitJob(r.ctx, actor!, sleeper);
      const [row] = await waitRunning(r.db, [job.id]);
      const [t] = await r.events.until('start', [row!.containerId!]);
      warden.push(t! - t0);
      await r.docker.remove(row!.containerId!);
      await r.db.db.delete(jobs).where(eq(jobs.id, job.id));
      // The engine alone, same spec.
      const e0 = Date.now();
      const id = await r.docker.run(containerSpec({ ...row!, id: crypto.randomUUID() }, plan!, { owner: { node: r.ctx.node, installation: r.ctx.installation }, logMaxSize: '10m', logMaxFiles: 3 }));
      const [et] = await r.events.until('start', [id]);
      engine.push(et! - e0);
      await r.docker.remove(id);
    }
    return { warden, engine };
  } finally {
    await r.close();
  }
}

async function completion(db: Database, count: number): Promise<{ lag: number[]; nextStart: number[] }> {
  await db.db.execute(sql`create table if not exists bench_final (job_id uuid primary key, at timestamptz not null default clock_timestamp())`);
  await db.db.execute(sql`
    create or replace function bench_final_trg() returns trigger language plpgsql as $$
    begin
      if new.status in ('succeeded','failed','timed_out','killed','lost','cancelled') and old.status is distinct from new.status then
        insert into bench_final(job_id) values (new.id) on conflict do nothing;
      end if;
      return new;
    end $$`);
  await db.db.execute(sql`drop trigger if exists bench_final on jobs`);
  await db.db.execute(sql`create trigger bench_final after update on jobs for each row execute function bench_final_trg()`);
  const r = await rig(db, 8);
  try {
    // Limit 1: each exit frees the slot the next job takes, so die → next start is measured too.
    const [actor] = await users(r.ctx, 'completion', 1, 1);
    const submitted: Job[] = [];
    for (let i = 0; i < count; i++) submitted.push(await submitJob(r.ctx, actor!, { image: IMAGE, command: ['sleep', '0.2'], timeoutSeconds: 60 }));
    const ids = submitted.map((j) => j.id);
    const t0 = Date.now();
    for (;;) {
      const rows = await r.db.db.select({ status: jobs.status }).from(jobs).where(inArray(jobs.id, ids));
      if (rows.every((j) => j.status === 'succeeded')) break;
      if (Date.now() - t0 > 120_000) throw new Error('completion run did not finish');
      await new Promise((res) => setTimeout(res, 50));
    }
    const rows = await r.db.db.select().from(jobs).where(inArray(jobs.id, ids));
    const finals = new Map(
      (await r.db.db.execute<{ job_id: string; at: string }>(sql`select job_id, at::text from bench_final`)).map((x) => [x.job_id, new Date(x.at).getTime()]),
    );
    const lag = rows.map((j) => finals.get(j.id)! - r.events.time('die', j.containerId!)!);
    const byStart = [...rows].sort((a, b) => a.startedAt!.getTime() - b.startedAt!.getTime());
    const nextStart: number[] = [];
    for (let k = 1; k < byStart.length; k++) nextStart.push(r.events.time('start', byStart[k]!.containerId!)! - r.events.time('die', byStart[k - 1]!.containerId!)!);
    return { lag, nextStart };
  } finally {
    await r.close();
  }
}

runMain(async () => {
  const load0 = loadAverage();
  const result = beginResult(BENCH, 'Start speed', 'start-speed.ts');
  await withBenchPostgres(BENCH, async (pg) => {
    const db = pg.connect(12);
    await seedDefaultPlans(db.db);
    const v = execFileSync('docker', ['version', '--format', '{{.Server.Version}}']).toString().trim();
    const pgv = (await db.db.execute<{ v: string }>(sql`select current_setting('server_version') as v`))[0]!.v;
    const bursts: Burst[][] = [];
    let tag = 0;
    for (const n of SIZES) {
      for (const u of [1, 10]) {
        for (const c of CONCURRENCY) {
          const runs: Burst[] = [];
          for (let k = 0; k < REPEAT; k++) {
            const b = await burst(db, n, u, c, String(tag++));
            console.log(`burst ${n} jobs, ${u} user(s), concurrency ${c} (${k + 1}/${REPEAT}): Warden ${s2(b.wardenMs)} s, engine ${s2(b.engineMs)} s, ratio ${(b.wardenMs / b.engineMs).toFixed(2)}`);
            runs.push(b);
          }
          bursts.push(runs);
        }
      }
    }
    const ratio = (b: Burst) => b.wardenMs / b.engineMs;
    const median = (runs: Burst[]) => [...runs].sort((a, b) => ratio(a) - ratio(b))[Math.floor((runs.length - 1) / 2)]!;
    const sg = await single(db, SINGLE);
    const over = sg.warden.map((w, i) => w - sg.engine[i]!);
    console.log(`single: Warden p50 ${ms(pct(sg.warden, 50))} ms p99 ${ms(pct(sg.warden, 99))} ms; engine p50 ${ms(pct(sg.engine, 50))} p99 ${ms(pct(sg.engine, 99))}; overhead p50 ${ms(pct(over, 50))} p99 ${ms(pct(over, 99))}`);
    const cp = await completion(db, COMPLETION);
    console.log(`completion: die → final p50 ${ms(pct(cp.lag, 50))} ms p99 ${ms(pct(cp.lag, 99))} ms; die → next start p50 ${ms(pct(cp.nextStart, 50))} ms p99 ${ms(pct(cp.nextStart, 99))} ms`);

    const lines = [
      `## Start speed (${today()})`,
      '',
      `\`npx tsx bench/start-speed.ts${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}\``,
      '',
      `Machine: ${machineLine(`Docker ${v}, PostgreSQL ${pgv} (embedded)`, load0)}.`,
      '',
      'Warden: the dispatch loop woken by each submission (no tick), fenced container specs, completion from Docker events. Engine: the same specs created and started directly by dockerode at the same concurrency, just before Warden\'s run of the same burst (cleared, 2 s pause between). Times end at the last container\'s `start` event (engine clock).',
      '',
      `Each configuration ran ${REPEAT} time(s); the row is the run with the median ratio, the last column every run's ratio.`,
      '',
      '| burst | users | start concurrency | Warden (submit → last start) | engine (create → last start) | ratio (median) | every run |',
      '|---|---|---|---|---|---|---|',
      ...bursts.map((runs) => {
        const b = median(runs);
        return `| ${b.n} | ${b.users} | ${b.concurrency} | ${s2(b.wardenMs)} s | ${s2(b.engineMs)} s | ${ratio(b).toFixed(2)}× | ${runs.map((r) => ratio(r).toFixed(2)).join(', ')} |`;
      }),
      '',
      `Single submissions (${SINGLE}, sequential, concurrency 8): submit → \`start\` event p50 ${ms(pct(sg.warden, 50))} ms, p99 ${ms(pct(sg.warden, 99))} ms; the engine's own create → \`start\` p50 ${ms(pct(sg.engine, 50))} ms, p99 ${ms(pct(sg.engine, 99))} ms; **overhead p50 ${ms(pct(over, 50))} ms**, p99 ${ms(pct(over, 99))} ms (goal p50 ≤ 50 ms).`,
      '',
      `Completion (${COMPLETION} jobs of \`sleep 0.2\`, one user with limit 1): \`die\` event → final status committed (clock_timestamp() in a trigger) **p50 ${ms(pct(cp.lag, 50))} ms, p99 ${ms(pct(cp.lag, 99))} ms** (goal p99 ≤ 100 ms); \`die\` → the next queued job's \`start\` p50 ${ms(pct(cp.nextStart, 50))} ms, p99 ${ms(pct(cp.nextStart, 99))} ms.`,
    ];
    publish('## Start speed', lines.join('\n'));
    // Every run's ratio (not the median run): the goal holds on each.
    for (const n of SIZES) {
      result.series(`burst${n}_ratio`, '×', bursts.flat().filter((b) => b.n === n).map(ratio));
      result.series(`burst${n}_warden`, 'ms', bursts.flat().filter((b) => b.n === n).map((b) => b.wardenMs));
      result.series(`burst${n}_engine`, 'ms', bursts.flat().filter((b) => b.n === n).map((b) => b.engineMs));
    }
    result.series('single_warden', 'ms', sg.warden);
    result.series('single_engine', 'ms', sg.engine);
    result.series('single_overhead', 'ms', over);
    result.series('completion_lag', 'ms', cp.lag);
    result.series('completion_next_start', 'ms', cp.nextStart);
    if (SIZES.includes(24)) result.figure({ label: 'burst of 24, Warden ÷ engine create+start, every run (in-process dispatcher, not yet HTTP)', series: 'burst24_ratio', stat: 'max', goal: { max: 1.3, text: '≤ 1.3×' } });
    result.figure({ label: 'single submit → start, over the engine (in-process submit, not yet HTTP)', series: 'single_overhead', stat: 'p50', goal: { max: 50, text: 'p50 ≤ +50 ms' } });
    result.figure({ label: 'completion: die → final status (AFTER UPDATE trigger, before COMMIT)', series: 'completion_lag', stat: 'p99', goal: { max: 100, text: 'p99 ≤ 100 ms' } });
    const { missed } = result.save({ sizes: SIZES, concurrency: CONCURRENCY, repeat: REPEAT, single: SINGLE, completion: COMPLETION }, `Docker ${v}, PostgreSQL ${pgv} (embedded)`);
    if (missed.length) {
      console.error(`goal missed: ${missed.join('; ')}`);
      process.exitCode = 1;
    }
  });
});
