/**
 * Kill lateness: N running containers (default 200) whose deadlines are spread over 30 s; for
 * each, the time from its deadline to the SIGTERM as the Docker engine reports it (the `kill`
 * event with signal 15, engine clock, ms). The real sweeper schedule runs (node-cron, advisory
 * lock, sweeper_runs) in this process against an embedded PostgreSQL and the local engine.
 *
 * Modes:
 *   precise  — what ships: cron every WARDEN_TIMEOUT_SWEEP_S=1 s plus the next-deadline timer
 *   cron-1s  — cron every 1 s alone (timer off)
 *   cron-60s — cron every 60 s, timer off: the "check once a minute" comparison. Its deadlines
 *              start 15 s after a minute boundary, so they land mid-way between two checks
 *              (expected lateness of a 60 s checker: uniform 0-60 s, mean 30 s).
 *   engine   — no Warden: one timer per deadline in this process calls the engine's kill directly
 *              (the same runtime call the escalation makes). The floor this machine and engine
 *              allow under the same load (containers exiting at the same rate), side by side.
 *
 *   npx tsx bench/kill-lateness.ts [--n 200] [--spread 30] [--modes precise,cron-1s,cron-60s] [--no-write]
 */
import { execFileSync, spawn } from 'node:child_process';
import { ensureInstallation } from '../server/domain/installation';
import crypto from 'node:crypto';
import path from 'node:path';
import { inArray, sql } from 'drizzle-orm';
import { systemClock } from '../server/clock';
import { parseConfig } from '../server/config';
import type { Ctx } from '../server/context';
import type { Database } from '../server/db/client';
import { jobs, plans, users } from '../server/db/schema';
import { createDockerRuntime } from '../server/docker/runtime';
import { seedDefaultPlans } from '../server/domain/plans';
import { startSweepers } from '../server/sweepers';
import { arg, beginResult, loadAverage, machineLine, pct, publish, runMain, today, withBenchPostgres } from './lib';

const N = Number(arg('n', '200'));
const SPREAD_S = Number(arg('spread', '30'));
const MODES = arg('modes', 'precise,cron-1s,cron-60s').split(',') as Mode[];
const IMAGE = 'warden-test/busybox:latest';
type Mode = 'precise' | 'cron-1s' | 'cron-60s' | 'engine';

const secs = (ms: number) => (ms / 1000).toFixed(3);

async function mapLimit<T, R>(xs: T[], n: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < xs.length) {
        const k = i++;
        out[k] = await fn(xs[k]!, k);
      }
    }),
  );
  return out;
}

interface ModeResult {
  mode: Mode;
  /** First to last SIGTERM event, ms. */
  spreadMs: number;
  lateMs: number[];
  dbLateMs: number[];
  /** Docker `kill` event − DB sigterm_at: the claim's commit, the call and the engine's own share. */
  claimToKillMs: number[];
  ticks: number;
  startSeconds: number;
}

async function runMode(db: Database, mode: Mode, userId: string): Promise<ModeResult> {
  const docker = createDockerRuntime();
  const node = `bench-${crypto.randomBytes(4).toString('hex')}`;
  const installation = await ensureInstallation(db.db);
  const ctx: Ctx = { db: db.db, clock: systemClock, node, installation, docker };
  const ids = Array.from({ length: N }, () => crypto.randomUUID());
  const t0 = Date.now();
  const containers = await mapLimit(ids, 8, (id) =>
    docker.run({
      image: IMAGE,
      command: ['sh', '-c', 'sleep 900'],
      labels: { 'warden.managed': 'true', 'warden.job': id, 'warden.attempt': '1', 'warden.node': node, 'warden.installation': installation, 'warden.user': userId, 'warden.bench': 'kill-lateness' },
    }),
  );
  const startSeconds = (Date.now() - t0) / 1000;
  const byContainer = new Map(containers.map((c, i) => [c, ids[i]!]));
  let base: number;
  if (mode === 'cron-60s') {
    const now = Date.now();
    base = Math.ceil((now + 5000) / 60_000) * 60_000 + 15_000;
  } else {
    // A random sub-second phase: deadlines do not line up with the whole-second cron ticks.
    base = Date.now() + 4000 + Math.floor(Math.random() * 1000);
  }
  const deadlines = ids.map((_, i) => base + Math.floor((i * SPREAD_S * 1000) / N));
  await db.db.insert(jobs).values(
    ids.map((id, i) => ({
      id,
      userId,
      image: IMAGE,
      status: 'running' as const,
      maxRetries: 0,
      timeoutS: 300,
      timeoutSource: 'plan',
      // Long grace: only SIGTERM is measured; nothing escalates during the run.
      gracePeriodS: 3600,
      queuedAt: new Date(t0),
      startedAt: new Date(deadlines[i]! - 300_000),
      deadlineAt: new Date(deadlines[i]!),
      node,
      containerId: containers[i]!,
    })),
  );
  // The engine's own event stream, read with the docker CLI: independent of the runtime under test.
  const sigterm = new Map<string, number>();
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  const sub = spawn('docker', ['events', '--filter', `label=warden.node=${node}`, '--filter', 'event=kill', '--format', '{{json .}}'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let pending = '';
  sub.stdout.on('data', (d: Buffer) => {
    const lines = (pending + d.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as { Actor?: { ID?: string; Attributes?: Record<string, string> }; timeNano?: number };
      if (e.Actor?.Attributes?.signal !== '15') continue;
      const job = byContainer.get(e.Actor.ID ?? '');
      if (!job || sigterm.has(job)) continue;
      sigterm.set(job, Math.floor((e.timeNano ?? 0) / 1e6));
      if (sigterm.size === N) resolveAll();
    }
  });
  await new Promise((r) => setTimeout(r, 500)); // let the CLI subscribe
  const cfg = parseConfig({
    WARDEN_TIMEOUT_SWEEP_S: mode === 'cron-60s' ? '60' : '1',
    WARDEN_TTL_SWEEP_S: '86400',
    WARDEN_ORPHAN_SWEEP_S: '86400',
  });
  const startedRunsAt = new Date();
  const h =
    mode === 'engine'
      ? directKills(docker, containers, deadlines)
      : startSweepers(ctx, cfg, { preciseDeadlines: mode === 'precise' });
  const limit = Math.max(...deadlines) - Date.now() + (mode === 'cron-60s' ? 75_000 : 15_000);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, limit)))]);
  clearTimeout(timer);
  await h.stop();
  sub.kill();
  const [runs] = await db.db.execute<{ n: number }>(sql`select count(*)::int as n from sweeper_runs where node = ${node} and started_at >= ${startedRunsAt.toISOString()}::timestamptz`);
  const rows = await db.db.select({ id: jobs.id, deadlineAt: jobs.deadlineAt, sigtermAt: jobs.sigtermAt }).from(jobs).where(inArray(jobs.id, ids));
  const lateMs: number[] = [];
  const dbLateMs: number[] = [];
  const claimToKillMs: number[] = [];
  for (const r of rows) {
    const ev = sigterm.get(r.id);
    if (ev !== undefined) lateMs.push(ev - r.deadlineAt!.getTime());
    if (r.sigtermAt) dbLateMs.push(r.sigtermAt.getTime() - r.deadlineAt!.getTime());
    if (ev !== undefined && r.sigtermAt) claimToKillMs.push(ev - r.sigtermAt.getTime());
  }
  if (lateMs.length < N) console.error(`[${mode}] only ${lateMs.length}/${N} SIGTERMs seen in time`);
  await mapLimit(containers, 8, (c) => docker.remove(c));
  await db.db.delete(jobs).where(inArray(jobs.id, ids));
  const evs = [...sigterm.values()];
  const spreadMs = evs.length ? Math.max(...evs) - Math.min(...evs) : 0;
  return { mode, spreadMs, lateMs, dbLateMs, claimToKillMs, ticks: Number(runs?.n ?? 0), startSeconds };
}

/** The engine mode: a timer per deadline, each calling kill(SIGTERM) itself. */
function directKills(docker: ReturnType<typeof createDockerRuntime>, containers: string[], deadlines: number[]) {
  const timers = containers.map((c, i) =>
    setTimeout(() => void docker.kill(c, 'SIGTERM').catch((e: unknown) => console.error(`[engine] kill failed: ${String(e)}`)), Math.max(0, deadlines[i]! - Date.now())),
  );
  return { stop: async () => timers.forEach(clearTimeout) };
}

async function main() {
  try {
    execFileSync('docker', ['image', 'inspect', IMAGE], { stdio: 'ignore' });
  } catch {
    execFileSync('bash', [path.join(process.cwd(), 'test/fixtures/build-busybox-image.sh')], { stdio: 'inherit' });
  }
  const loadAtStart = loadAverage();
  const result = beginResult('kill-lateness', 'Kill lateness', 'kill-lateness.ts');
  await withBenchPostgres('kill', async (pg) => {
    try {
      const database = pg.connect(10);
      await seedDefaultPlans(database.db);
      const [plan] = await database.db.insert(plans).values({ name: 'bench', gracePeriodS: 3600, warnBeforeS: 0, maxConcurrentJobs: 1000 }).returning();
      const [user] = await database.db.insert(users).values({ name: 'bench', planId: plan!.id }).returning();
      const results: ModeResult[] = [];
      for (const mode of MODES) {
        console.error(`[${mode}] starting ${N} containers…`);
        const r = await runMode(database, mode, user!.id);
        console.error(`[${mode}] p50 ${secs(pct(r.lateMs, 50))} s, p99 ${secs(pct(r.lateMs, 99))} s, max ${secs(Math.max(...r.lateMs))} s`);
        results.push(r);
      }
      const dockerVersion = execFileSync('docker', ['version', '--format', '{{.Server.Version}}']).toString().trim();
      const lines: string[] = [];
      lines.push(`## Kill lateness (${today()})`, '');
      lines.push(`- Machine: ${machineLine(`Docker ${dockerVersion}, embedded PostgreSQL 18`, loadAtStart)}`);
      lines.push(`- Command: \`npx tsx bench/kill-lateness.ts --n ${N} --spread ${SPREAD_S} --modes ${MODES.join(',')}\``);
      lines.push(
        `- Method: ${N} \`sh -c 'sleep 900'\` containers started on the local engine (labels as the dispatcher sets them), job rows inserted as \`running\` with deadlines spread evenly over ${SPREAD_S} s, ` +
          'then the real schedule (`startSweepers`: node-cron, advisory lock per tick, sweeper_runs) runs in this process. Lateness = Docker `kill` event time (signal 15) − deadline. ' +
          '`precise` is the shipped configuration (1 s cron + a timer armed for the next deadline); `cron-1s` is the 1 s cron alone; `cron-60s` checks once a minute (real time, not simulated), with deadlines starting 15 s after a minute boundary so they fall mid-way between checks; `engine` is no Warden at all — one timer per deadline calling the engine\'s kill directly, the floor under the same load. ' +
          '"DB sigterm_at" = the SIGTERM claim (the clock read as the timeout\'s write begins) − deadline: Warden\'s share before its write; "sigterm_at → kill event" = that write\'s commit, the call and the engine\'s own share.',
        '',
      );
      lines.push('| mode | SIGTERMs seen | p50 (s) | p90 (s) | p99 (s) | max (s) | min (s) | ticks run | DB sigterm_at p99 (s) | sigterm_at → kill event p99 (s) |');
      lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
      for (const r of results) {
        lines.push(
          `| ${r.mode} | ${r.lateMs.length}/${N} | ${secs(pct(r.lateMs, 50))} | ${secs(pct(r.lateMs, 90))} | ${secs(pct(r.lateMs, 99))} | ${secs(Math.max(...r.lateMs))} | ${secs(Math.min(...r.lateMs))} | ${r.mode === 'engine' ? '—' : r.ticks} | ${r.dbLateMs.length ? secs(pct(r.dbLateMs, 99)) : '—'} | ${r.claimToKillMs.length ? secs(pct(r.claimToKillMs, 99)) : '—'} |`,
        );
      }
      lines.push('');
      const p = results.find((r) => r.mode === 'precise');
      if (p) lines.push(`Target (p99 ≤ 1 s from deadline to SIGTERM): ${pct(p.lateMs, 99) <= 1000 ? 'met' : 'NOT met'} by the shipped configuration (p99 ${secs(pct(p.lateMs, 99))} s).`, '');
      const m60 = results.find((r) => r.mode === 'cron-60s');
      if (m60) {
        lines.push(
          `The 60 s checker's one due tick signalled all ${m60.lateMs.length} jobs in a ${secs(m60.spreadMs)} s burst (Docker calls 16 at a time on a loaded engine), ` +
            'so its minimum lateness is the 15 s the schedule gives plus that burst; its worst case is a full period (60 s) plus the burst.',
          '',
        );
      }
      publish('## Kill lateness', lines.join('\n'));
      for (const r of results) {
        result.series(`${r.mode}_lateness`, 'ms', r.lateMs);
        if (r.dbLateMs.length) result.series(`${r.mode}_db_sigterm_at`, 'ms', r.dbLateMs);
        if (r.claimToKillMs.length) result.series(`${r.mode}_sigterm_at_to_kill`, 'ms', r.claimToKillMs);
        const every = `one deadline every ${Math.round((SPREAD_S * 1000) / N)} ms`;
        result.figure({
          label: r.mode === 'engine' ? `engine alone: deadline → kill event, ${N} running, ${every}` : `${r.mode} (sweepers in the bench process, not yet \`npm run worker\`): deadline → engine kill event, ${N} running, ${every}`,
          series: `${r.mode}_lateness`,
          stat: 'p99',
          ...(r.mode === 'precise' ? { goal: { max: 100, text: 'p99 ≤ 100 ms at 500 running, one deadline every 150 ms' } } : {}),
        });
      }
      const { missed } = result.save({ n: N, spreadS: SPREAD_S, modes: MODES }, `Docker ${dockerVersion}, embedded PostgreSQL 18`);
      if (missed.length) {
        console.error(`goal missed: ${missed.join('; ')}`);
        process.exitCode = 1;
      }
    } finally {
      // Leftovers from an interrupted run: every bench container carries warden.bench.
      try {
        const left = execFileSync('docker', ['ps', '-aq', '--filter', 'label=warden.bench=kill-lateness']).toString().trim();
        if (left) execFileSync('docker', ['rm', '-f', ...left.split('\n')], { stdio: 'ignore' });
      } catch {
        /* engine gone */
      }
    }
  });
}

runMain(main);
