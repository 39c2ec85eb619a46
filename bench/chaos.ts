/**
 * Chaos: a seeded run over a mixed workload on a dedicated Docker engine and a dedicated
 * PostgreSQL, SIGKILLing the worker 100 times at random moments, restarting the engine 3 times
 * and PostgreSQL 3 times, then letting the last worker finish everything. Nothing here is shared
 * with the machine's own engine or any other database: the engine is a second dockerd of this
 * run's own (test/helpers/hosts.ts), the database an embedded PostgreSQL in a temp dir on a fixed
 * port (so it can come back where the worker expects it).
 *
 * Workload (seeded): ordinary jobs (sleep 1-8 s, exit 0 → succeeded), deadline-bound jobs
 * (sleep 600 with a 4-12 s timeout → timed_out), SIGTERM-ignoring deadline-bound jobs (need the
 * SIGKILL after the grace → timed_out), SIGTERM-catching ones (exit 0 on TERM → still timed_out)
 * and one user at a concurrency limit of 2 with a backlog of short jobs (→ succeeded).
 *
 * Figures (the engine's own events are the truth about containers; triggers on the bench's
 * database pair every status change with the audit rows written in the same transaction):
 * wrong final states; containers alive past deadline + grace (count, worst, and the downtime of
 * worker, engine and database inside that window); (job, attempt) pairs whose container was
 * created more than once; moments with more of the limited user's containers alive than its
 * limit; containers left running; status changes without an audit row in their transaction.
 *
 *   npm run bench -- chaos [--seed 7] [--kills 100] [--engine-restarts 3] [--pg-restarts 3] [--no-write]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inArray } from 'drizzle-orm';
import { systemClock } from '../server/clock';
import type { Ctx } from '../server/context';
import { connect, runMigrations } from '../server/db/client';
import { freePort, startEmbeddedPostgres } from '../server/db/embedded';
import { auditEvents, jobs, type Job } from '../server/db/schema';
import type { ContainerEvent } from '../server/docker/types';
import type { Actor } from '../server/domain/actor';
import { ensureInstallation } from '../server/domain/installation';
import { submitJob } from '../server/domain/jobs';
import { seedDefaultPlans, upsertPlan } from '../server/domain/plans';
import { createUser } from '../server/domain/users';
import { isFinal } from '../server/domain/status';
import { spawnWorker, startEngine, type WorkerProc } from '../test/helpers/hosts';
import { arg, beginResult, commandLine, loadAverage, machineLine, publish, runMain, today } from './lib';

const SEED = Number(arg('seed', '7'));
const KILLS = Number(arg('kills', '100'));
const ENGINE_RESTARTS = Number(arg('engine-restarts', '3'));
const PG_RESTARTS = Number(arg('pg-restarts', '3'));
const IMAGE = 'warden-test/busybox:latest';
const LIMIT = 2;
/** Containers alive this long past deadline + grace count as late (SIGKILL lands a little after). */
const TOLERANCE_S = 1;

/** mulberry32: small, seeded, good enough to pick moments and job shapes. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(SEED);
const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Kind = 'ordinary' | 'deadline' | 'deadline_ignores_term' | 'deadline_catches_term' | 'limited';
const EXPECTED: Record<Kind, string> = {
  ordinary: 'succeeded',
  deadline: 'timed_out',
  deadline_ignores_term: 'timed_out',
  deadline_catches_term: 'timed_out',
  limited: 'succeeded',
};

interface Interval {
  what: 'worker' | 'engine' | 'postgres';
  from: number;
  to: number;
}

// A restart of the engine or PostgreSQL can reset a socket under a promise nobody awaits any
// more (a poll that was abandoned): that must not end the run, whose figures come afterwards.
process.on('unhandledRejection', (e) => console.error(`chaos: ignored a rejection after a restart: ${String(e)}`));

runMain(async () => {
  const loadAtStart = loadAverage();
  const result = beginResult(`chaos-seed-${SEED}`, `Chaos, seed ${SEED}`, 'chaos.ts');
  const t0 = Date.now();
  const engine = await startEngine('chaos');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-chaos-pg-'));
  fs.chmodSync(dataDir, 0o755);
  const pgPort = await freePort();
  let pg = await startEmbeddedPostgres(dataDir, { shareRunning: false, port: pgPort });
  const url = pg.url;
  await runMigrations(url);
  const database = connect(url, { max: 4 });
  const db = database.db;
  await installAuditCheck(database.sql);
  await seedDefaultPlans(db);
  const installation = await ensureInstallation(db);
  const ctx: Ctx = { db, clock: systemClock, node: 'bench', installation, docker: null };
  const admin: Actor = { kind: 'operator', id: '00000000-0000-4000-8000-000000000001', email: 'chaos@bench', role: 'admin' };
  await upsertPlan(ctx, admin, 'chaos', { maxConcurrentJobs: 50, maxQueuedJobs: 1000, maxRetries: 5, gracePeriodSeconds: 2, warnBeforeSeconds: 0, monthlyQuotaSeconds: null, maxTimeoutSeconds: 3600, network: 'none' });
  await upsertPlan(ctx, admin, 'chaos-limited', { maxConcurrentJobs: LIMIT, maxQueuedJobs: 1000, maxRetries: 5, gracePeriodSeconds: 2, warnBeforeSeconds: 0, monthlyQuotaSeconds: null, network: 'none' });
  const users = await Promise.all([0, 1, 2, 3].map((i) => createUser(ctx, admin, { name: `chaos-${i}`, plan: 'chaos' })));
  const limited = await createUser(ctx, admin, { name: 'chaos-limited', plan: 'chaos-limited' });
  const actorOf = (u: { user: { id: string; name: string } }): Actor => ({ kind: 'user', id: u.user.id, name: u.user.name });

  // The engine's events are the record of what containers did. (Reconnects after its restarts.)
  const events: ContainerEvent[] = [];
  const sub = engine.runtime.events((e) => events.push(e));
  // The stream can miss deaths (an engine going down ends it): the engine's own FinishedAt, polled.
  const finishedAt = new Map<string, number>();
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        for (const c of await engine.runtime.list({ 'warden.managed': 'true' })) {
          if (c.state === 'running' || finishedAt.has(c.id)) continue;
          const ins = await engine.runtime.inspect(c.id);
          if (ins?.finishedAt) finishedAt.set(c.id, ins.finishedAt.getTime());
        }
      } catch {
        /* engine restarting */
      }
      await sleep(1000);
    }
  })();

  const down: Interval[] = [];
  const kinds = new Map<string, Kind>();
  let worker: WorkerProc | null = null;
  let workerDownSince: number | null = Date.now();
  const logDir = path.join(process.cwd(), 'bench', '.out', `chaos-${SEED}`);
  fs.rmSync(logDir, { recursive: true, force: true });
  fs.mkdirSync(logDir, { recursive: true });
  let incarnation = 0;
  const startWorker = () => {
    const logFile = fs.createWriteStream(path.join(logDir, `worker-${String(incarnation++).padStart(3, '0')}.log`));
    const w = spawnWorker({ databaseUrl: url, dockerHost: engine.host, env: { LOG_LEVEL: 'info', WARDEN_ORPHAN_SWEEP_S: '5', WARDEN_TTL_SWEEP_S: '5' } });
    w.proc.stdout!.on('data', (d: Buffer) => {
      if (workerDownSince !== null && d.toString().includes('"msg":"worker started"')) {
        down.push({ what: 'worker', from: workerDownSince, to: Date.now() });
        workerDownSince = null;
      }
    });
    // Its output goes to bench/.out/chaos-<seed>/ (for the post-mortem of any late container).
    w.proc.stdout!.on('data', (d: Buffer) => logFile.write(d));
    w.proc.stderr!.on('data', (d: Buffer) => logFile.write(d));
    w.proc.stdout!.on('data', () => w.out.splice(0, Math.max(0, w.out.length - 50)));
    w.proc.once('exit', () => logFile.end());
    return w;
  };
  worker = startWorker();

  const submit = async (kind: Kind) => {
    const u = kind === 'limited' ? limited : users[Math.floor(rand() * users.length)]!;
    const body =
      kind === 'ordinary' || kind === 'limited'
        ? { command: ['sh', '-c', `sleep ${Math.round(between(1, kind === 'limited' ? 4 : 8))}`], timeoutSeconds: 300 }
        : kind === 'deadline'
          ? { command: ['sh', '-c', 'sleep 600'], timeoutSeconds: Math.round(between(4, 12)) }
          : kind === 'deadline_ignores_term'
            ? { command: ['sh', '-c', 'trap "" TERM; sleep 600'], timeoutSeconds: Math.round(between(4, 12)) }
            : { command: ['sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait'], timeoutSeconds: Math.round(between(4, 12)) };
    try {
      const j = await submitJob(ctx, actorOf(u), { image: IMAGE, gracePeriodSeconds: 2, ...body });
      kinds.set(j.id, kind);
    } catch {
      /* the database is restarting: that submission simply did not happen */
    }
  };

  // The schedule: kills at random moments (each after a random uptime, the next worker 0–1.5 s
  // later), submissions in between, and — on their own clock, independent of the kills — engine
  // and database restarts at random moments over the expected length of the run.
  let chaosOver = false;
  const expectedS = KILLS * 7;
  const infra: { at: number; what: 'engine' | 'postgres' }[] = [
    ...Array.from({ length: ENGINE_RESTARTS }, () => ({ at: between(10, expectedS * 0.9), what: 'engine' as const })),
    ...Array.from({ length: PG_RESTARTS }, () => ({ at: between(10, expectedS * 0.9), what: 'postgres' as const })),
  ].sort((x, y) => x.at - y.at);
  const infraChaos = (async () => {
    const start = Date.now();
    for (const r of infra) {
      while (!chaosOver && Date.now() - start < r.at * 1000) await sleep(200);
      if (chaosOver) return;
      const from = Date.now();
      if (r.what === 'engine') {
        await engine.stop();
        await sleep(between(500, 2000));
        await engine.start();
      } else {
        await pg.stop();
        await sleep(between(500, 2000));
        pg = await startEmbeddedPostgres(dataDir, { shareRunning: false, port: pgPort });
      }
      down.push({ what: r.what, from, to: Date.now() });
      console.error(`chaos: ${r.what} restarted`);
    }
  })();
  for (let i = 0; i < 12; i++) await submit('limited');
  for (let k = 0; k < KILLS; k++) {
    const uptime = between(500, 7000);
    const until = Date.now() + uptime;
    while (Date.now() < until) {
      const r = rand();
      await submit(r < 0.45 ? 'ordinary' : r < 0.65 ? 'deadline' : r < 0.8 ? 'deadline_ignores_term' : r < 0.9 ? 'deadline_catches_term' : 'limited');
      await sleep(between(200, 900));
    }
    worker.proc.kill('SIGKILL');
    await worker.exited();
    // Down since this kill — or since an earlier one, when this worker was killed before it was
    // ready (it never served, so the outage runs on from the kill of the last ready worker).
    workerDownSince ??= Date.now();
    await sleep(between(0, 1500));
    worker = startWorker();
    if (k % 10 === 9) console.error(`chaos: ${k + 1}/${KILLS} kills, ${kinds.size} jobs submitted`);
  }
  // Every restart happens, even if the kills ran faster than expected.
  while (down.filter((d) => d.what !== 'worker').length < infra.length && Date.now() - t0 < expectedS * 3000) {
    await submit(rand() < 0.5 ? 'ordinary' : 'deadline');
    await sleep(between(200, 900));
  }
  chaosOver = true;
  await infraChaos;

  // Let the last worker finish everything.
  const chaosEnd = Date.now();
  const settleBy = Date.now() + 10 * 60_000;
  let rows: Job[] = [];
  for (;;) {
    rows = await db.select().from(jobs).where(inArray(jobs.id, [...kinds.keys()]));
    if (rows.every((j) => isFinal(j.status)) || Date.now() > settleBy) break;
    await sleep(1000);
  }
  const settledS = (Date.now() - chaosEnd) / 1000;
  await sleep(3000); // the last events
  await worker.stop();
  sub.close();
  polling = false;
  await poller;

  // ------------------------------------------------------------------------------------------
  // Figures
  // ------------------------------------------------------------------------------------------
  const wrong = rows.filter((j) => j.status !== EXPECTED[kinds.get(j.id)!]);
  const notFinal = rows.filter((j) => !isFinal(j.status));
  const byKind = new Map<Kind, Map<string, number>>();
  for (const j of rows) {
    const k = kinds.get(j.id)!;
    const m = byKind.get(k) ?? new Map<string, number>();
    m.set(j.status, (m.get(j.status) ?? 0) + 1);
    byKind.set(k, m);
  }
  const retried = rows.filter((j) => j.attempt > 1).length;

  // Containers from the engine's events: created, started, died (or destroyed), per (job, attempt).
  interface C {
    id: string;
    job: string;
    attempt: string;
    user: string;
    created?: number;
    started?: number;
    died?: number;
  }
  const cs = new Map<string, C>();
  for (const e of events) {
    const job = e.labels['warden.job'];
    if (!job || e.labels['warden.installation'] !== installation) continue;
    const c = cs.get(e.id) ?? { id: e.id, job, attempt: e.labels['warden.attempt'] ?? '?', user: e.labels['warden.user'] ?? '' };
    const t = e.at.getTime();
    if (e.action === 'create') c.created ??= t;
    if (e.action === 'start') c.started = c.started ?? t;
    if (e.action === 'die' || e.action === 'destroy') c.died = Math.min(c.died ?? Infinity, t);
    cs.set(e.id, c);
  }
  // The engine's own record of each death wins over the event (or the destroy) we saw, when it has one.
  for (const c of cs.values()) {
    const f = finishedAt.get(c.id);
    if (f !== undefined) c.died = f;
    else if (c.died === undefined) {
      const ins = await engine.runtime.inspect(c.id).catch(() => null);
      if (ins && !ins.running && ins.finishedAt) c.died = ins.finishedAt.getTime();
    }
  }
  /** Containers per (job, attempt), of those `keep` takes. */
  const perAttemptOf = (keep: (c: C) => boolean) => {
    const m = new Map<string, number>();
    for (const c of cs.values()) if (keep(c)) m.set(`${c.job}#${c.attempt}`, (m.get(`${c.job}#${c.attempt}`) ?? 0) + 1);
    return m;
  };
  const perAttempt = perAttemptOf((c) => c.created !== undefined);
  const createdTwice = [...perAttempt.values()].filter((n) => n > 1).length;
  // The double that matters most: more than one container of an attempt that actually started.
  const startedTwice = [...perAttemptOf((c) => c.started !== undefined).values()].filter((n) => n > 1).length;
  for (const [key, n] of perAttempt) {
    if (n < 2) continue;
    const [job, attempt] = key.split('#');
    const mine = [...cs.values()].filter((c) => c.job === job && c.attempt === attempt);
    console.error(`twice: ${kinds.get(job!)} job ${job} attempt ${attempt}: ${mine.map((c) => `${c.id.slice(0, 12)} created ${new Date(c.created ?? 0).toISOString()} died ${c.died ? new Date(c.died).toISOString() : '-'}`).join('; ')}`);
    const trail = await db.select({ at: auditEvents.at, action: auditEvents.action, reason: auditEvents.reason, details: auditEvents.details }).from(auditEvents).where(inArray(auditEvents.targetId, [job!])).orderBy(auditEvents.id);
    for (const t of trail) console.error(`   ${t.at.toISOString()} ${t.action} ${t.reason ?? ''} ${JSON.stringify(t.details).slice(0, 140)}`);
  }

  // Deadlines per container, as Warden recorded them when it started or adopted it.
  const recs = await db
    .select({ targetId: auditEvents.targetId, action: auditEvents.action, details: auditEvents.details, success: auditEvents.success })
    .from(auditEvents)
    .where(inArray(auditEvents.action, ['container.start', 'job.adopt']));
  const deadlineOf = new Map<string, number>();
  for (const r of recs) {
    const d = r.details as { containerId?: string; deadlineAt?: string };
    if (r.success && d.containerId && d.deadlineAt) deadlineOf.set(d.containerId, Date.parse(d.deadlineAt));
  }
  const graceOf = new Map(rows.map((j) => [j.id, j.gracePeriodS]));
  const overlap = (from: number, to: number) => {
    // Union of outage intervals inside [from, to].
    const parts = down.map((d) => [Math.max(d.from, from), Math.min(d.to, to)] as const).filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
    let total = 0;
    let cur: [number, number] | null = null;
    for (const [a, b] of parts) {
      if (!cur || a > cur[1]) {
        if (cur) total += cur[1] - cur[0];
        cur = [a, b];
      } else cur[1] = Math.max(cur[1], b);
    }
    if (cur) total += cur[1] - cur[0];
    return total / 1000;
  };
  const late: { job: string; lateS: number; downS: number; container: string }[] = [];
  let unrecordedAlive = 0;
  let unrecordedWorst = 0;
  for (const c of cs.values()) {
    if (c.started === undefined) continue;
    const end = c.died ?? Date.now();
    const dl = deadlineOf.get(c.id);
    if (dl === undefined) {
      // Never recorded (a lost claim's container): it should not have lived long.
      unrecordedAlive++;
      unrecordedWorst = Math.max(unrecordedWorst, (end - c.started) / 1000);
      continue;
    }
    const limit = dl + (graceOf.get(c.job) ?? 0) * 1000;
    const lateS = (end - limit) / 1000;
    if (lateS > TOLERANCE_S) late.push({ job: c.job, lateS, downS: overlap(dl, end), container: c.id });
  }
  const lateBeyondDowntime = late.filter((l) => l.lateS > l.downS + TOLERANCE_S);
  const worstLate = late.reduce((a, l) => (l.lateS > a.lateS ? l : a), { job: '', lateS: 0, downS: 0, container: '' });
  for (const l of lateBeyondDowntime) {
    const trail = await db.select({ at: auditEvents.at, action: auditEvents.action, actor: auditEvents.actor, details: auditEvents.details }).from(auditEvents).where(inArray(auditEvents.targetId, [l.job])).orderBy(auditEvents.id);
    console.error(`late: ${kinds.get(l.job)} job ${l.job} container ${l.container.slice(0, 12)} ${l.lateS.toFixed(1)} s late, ${l.downS.toFixed(1)} s outage; deadline ${new Date(deadlineOf.get(l.container)!).toISOString()}, died ${new Date(cs.get(l.container)!.died ?? 0).toISOString()}`);
    for (const t of trail) console.error(`   ${t.at.toISOString()} ${t.action} ${t.actor} ${JSON.stringify(t.details).slice(0, 160)}`);
    const dl = deadlineOf.get(l.container)!;
    const runs = (await database.sql`
      select started_at, finished_at, acted, errors, details->>'trigger' as trigger from sweeper_runs
      where sweeper = 'timeout' and started_at between ${new Date(dl - 2000).toISOString()}::timestamptz and ${new Date(dl + (l.lateS + 4) * 1000).toISOString()}::timestamptz order by started_at`) as unknown as { started_at: Date; finished_at: Date; acted: number; errors: number; trigger: string }[];
    console.error(`   timeout ticks: ${runs.map((r) => `${new Date(r.started_at).toISOString().slice(17, 23)}+${new Date(r.finished_at).getTime() - new Date(r.started_at).getTime()}ms(${r.acted}${r.errors ? `,${r.errors}err` : ''})`).join(' ')}`);
  }
  for (const d of down) console.error(`down ${d.what} ${new Date(d.from).toISOString()} → ${new Date(d.to).toISOString()}`);

  // The limited user: containers alive at each start instant.
  const lim = [...cs.values()].filter((c) => c.user === limited.user.id && c.started !== undefined);
  let overLimit = 0;
  let maxAlive = 0;
  for (const c of lim) {
    const alive = lim.filter((o) => o.started! <= c.started! && c.started! < (o.died ?? Infinity)).length;
    maxAlive = Math.max(maxAlive, alive);
    if (alive > LIMIT) overLimit++;
  }

  const leftRunning = (await engine.runtime.list({ 'warden.managed': 'true' })).filter((c) => c.state === 'running').length;
  const [{ n: unaudited }] = (await database.sql`
    select count(*)::int as n from chaos_status_log s
    where not exists (select 1 from chaos_audit_tx a where a.target_id = s.job_id::text and a.txid = s.txid)`) as unknown as [{ n: number }];
  const [{ n: transitions }] = (await database.sql`select count(*)::int as n from chaos_status_log`) as unknown as [{ n: number }];

  const dockerVersion = engine.docker('version', '--format', '{{.Server.Version}}').trim();
  const downS = (what: Interval['what']) => down.filter((d) => d.what === what).reduce((a, d) => a + (d.to - d.from), 0) / 1000;
  const workerDowns = down.filter((d) => d.what === 'worker').map((d) => (d.to - d.from) / 1000);
  const fmt = (n: number, d = 1) => n.toFixed(d);
  const ok = (n: number) => (n === 0 ? '0 ✓' : `**${n}**`);
  const md = [
    `## Chaos (${today()})`,
    '',
    `- Machine: ${machineLine(`Docker ${dockerVersion} (a second dockerd of the run's own), embedded PostgreSQL 18`, loadAtStart)}`,
    `- Command: \`${commandLine('chaos.ts')}\` (\`npm run bench -- chaos\`), seed ${SEED}`,
    `- Run: ${fmt((chaosEnd - t0) / 1000, 0)} s of chaos, then ${fmt(settledS, 0)} s for the last worker to finish; ${kinds.size} jobs (${[...byKind.entries()].map(([k, m]) => `${k} ${[...m.values()].reduce((a, b) => a + b, 0)}`).join(', ')}); ${retried} ran more than one attempt.`,
    `- Faults: ${KILLS} worker SIGKILLs (downtime each p50 ${fmt(median(workerDowns))} s, max ${fmt(Math.max(...workerDowns))} s, total ${fmt(downS('worker'), 0)} s), ${ENGINE_RESTARTS} engine restarts (${fmt(downS('engine'))} s down in all), ${PG_RESTARTS} PostgreSQL restarts (${fmt(downS('postgres'))} s down in all).`,
    '',
    '| figure | value | target |',
    '|---|---:|---|',
    `| jobs that ended in the wrong state | ${ok(wrong.length)}${notFinal.length ? ` (${notFinal.length} not final after ${fmt(settledS, 0)} s)` : ''} | 0 |`,
    `| containers alive past deadline + grace (+${TOLERANCE_S} s) | ${late.length} (worst ${fmt(worstLate.lateS)} s, with ${fmt(worstLate.downS)} s of outage in its window) | within downtime + 1 s |`,
    `| … of which later than the outage in their window + 1 s | ${ok(lateBeyondDowntime.length)} | 0 |`,
    `| (job, attempt) pairs whose container was created more than once | ${ok(createdTwice)} | 0 |`,
    `| … of which more than one container started | ${ok(startedTwice)} | 0 |`,
    `| moments with more of the limited user's containers alive than its limit (${LIMIT}) | ${ok(overLimit)} (most alive at once: ${maxAlive}) | 0 |`,
    `| containers left running | ${ok(leftRunning)} | 0 |`,
    `| status changes without an audit row in their transaction | ${ok(Number(unaudited))} (of ${transitions}) | 0 |`,
    `| containers never recorded (lost claims) | ${unrecordedAlive} (longest alive ${fmt(unrecordedWorst)} s) | — |`,
    '',
    'Final states by kind: ' + [...byKind.entries()].map(([k, m]) => `${k} → ${[...m.entries()].map(([s, n]) => `${s} ${n}`).join(', ')}`).join('; ') + '.',
    '',
    'How it is measured: the engine is a second dockerd of the run\'s own (restarted with SIGTERM: it stops its containers, and its in-memory event log starts empty), the database an embedded PostgreSQL on a fixed port (fast shutdown and start). One worker process (`bin/worker.ts`, default settings but 5 s TTL/orphan sweeps) is SIGKILLed after a random 0.5–7 s of life and restarted 0–1.5 s later; engine and database restarts come at random moments of their own (so some find the worker up, some down). Container lifetimes come from the engine\'s events (create/start/die/destroy), deadlines from Warden\'s audit rows for the container (`container.start`, `job.adopt`), outages from the bench\'s own clock. Triggers on the bench\'s database log every `jobs.status` change and every audit row with its transaction id.',
    ...(wrong.length > 0 ? ['', 'Wrong states: ' + wrong.slice(0, 10).map((j) => `${kinds.get(j.id)} ${j.id.slice(0, 8)} ${j.status} (attempt ${j.attempt}): ${j.reason ?? ''}`).join('; ')] : []),
  ].join('\n');
  publish('## Chaos', md);
  // Raw result: every figure of this seed (one sample each), the zero-goals marked.
  const zero = (name: string, label: string, v: number) => {
    result.series(name, 'count', [v]);
    result.figure({ label, series: name, stat: 'last', goal: { max: 0, text: '0' } });
  };
  zero('wrong_final_state', 'jobs that ended in the wrong state (or not final)', wrong.length);
  zero('late_beyond_outage', `containers alive past deadline + grace + ${TOLERANCE_S} s beyond the outage in their window`, lateBeyondDowntime.length);
  zero('created_twice', '(job, attempt) pairs whose container was created more than once', createdTwice);
  zero('started_twice', '(job, attempt) pairs with more than one container started', startedTwice);
  zero('over_limit', `moments with more of the limited user's containers alive than its limit (${LIMIT})`, overLimit);
  zero('left_running', 'containers left running', leftRunning);
  zero('unaudited', `status changes without an audit row in their transaction (of ${transitions})`, Number(unaudited));
  result.series('late_past_grace', 's', late.map((l) => l.lateS));
  result.figure({ label: `containers alive past deadline + grace + ${TOLERANCE_S} s (all, outage included): the latest`, series: 'late_past_grace', stat: 'max' });
  result.series('worker_downtime', 's', workerDowns);
  result.figure({ label: `worker downtime per SIGKILL (${KILLS} kills)`, series: 'worker_downtime', stat: 'p50' });
  result.series('jobs', 'jobs', [kinds.size]);
  result.figure({ label: 'jobs in the run', series: 'jobs', stat: 'last' });
  const { missed } = result.save({ seed: SEED, kills: KILLS, engineRestarts: ENGINE_RESTARTS, pgRestarts: PG_RESTARTS }, `Docker ${dockerVersion} (a second dockerd of the run's own), embedded PostgreSQL 18`);
  const failed = wrong.length + lateBeyondDowntime.length + createdTwice + overLimit + leftRunning + Number(unaudited);
  if (failed > 0 || missed.length > 0) process.exitCode = 1;

  await database.close();
  await pg.stop();
  await engine.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : 0;
}

/** Bench-only triggers: every jobs.status change and every audit row, with its transaction id. */
async function installAuditCheck(sqlc: ReturnType<typeof connect>['sql']): Promise<void> {
  await sqlc.unsafe(`
    create table chaos_status_log (job_id uuid not null, old_status job_status, new_status job_status not null, txid bigint not null);
    create table chaos_audit_tx (target_id text, action text not null, txid bigint not null);
    create index on chaos_audit_tx (target_id, txid);
    create function chaos_log_status() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT' or new.status is distinct from old.status then
        insert into chaos_status_log values (new.id, case when tg_op = 'UPDATE' then old.status end, new.status, txid_current());
      end if;
      return new;
    end $$;
    create trigger chaos_status after insert or update of status on jobs for each row execute function chaos_log_status();
    create function chaos_log_audit() returns trigger language plpgsql as $$
    begin
      insert into chaos_audit_tx values (new.target_id, new.action, txid_current());
      return new;
    end $$;
    create trigger chaos_audit after insert on audit_events for each row execute function chaos_log_audit();
  `);
}
