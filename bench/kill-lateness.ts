/**
 * Kill lateness through the whole product: `bin/server.mjs` + a real `npm run worker`
 * (bench/product.ts) on the local engine. N running jobs (default 500) with their real
 * containers, made as the dispatcher makes them, their deadlines one every `--every` ms (default
 * 150) once all run; the real worker process does the rest. Lateness = the engine's own `kill`
 * event (signal 15, engine clock) − the job's `deadlineAt`. The 500 containers exiting on SIGTERM
 * cost the worker what they cost in production: Docker events, completions, log tails, the
 * webhook outbox.
 *
 * Side by side in the same run (`--modes worker,engine`, in that order unless `--engine-first`):
 * the engine alone — the same number of containers started directly, one timer per deadline in
 * this process calling the engine's kill, the floor this machine allows under the same load.
 *
 * Also recorded: the worker's RSS (sampled every 250 ms), the running count at each deadline, and
 * `die` → final status as a client sees it after COMMIT (LISTEN warden_live).
 *
 *   npm run bench -- kill-lateness [--n 500] [--every 150] [--modes worker,engine] [--no-write]
 */
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { jobs, plans } from '../server/db/schema';
import { createDockerRuntime } from '../server/docker/runtime';
import { containerSpec } from '../server/domain/container-spec';
import { removeContainers } from '../test/helpers/warden-server';
import { arg, beginResult, flag, loadAverage, pct, runMain } from './lib';
import { listenTransitions, planAndUsers, rssOf, startProduct, workerNodePid } from './product';

const N = Number(arg('n', '500'));
const EVERY_MS = Number(arg('every', '150'));
const MODES = arg('modes', flag('engine-first') ? 'engine,worker' : 'worker,engine').split(',') as Mode[];
const IMAGE = 'warden-test/busybox:latest';
type Mode = 'worker' | 'engine';
const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled']);

interface EngineEvent {
  action: string;
  id: string;
  at: number;
  signal?: string;
}

/** The engine's event stream for containers labelled warden.node=node, read with the docker CLI (independent of Warden's own client). */
function engineEvents(node: string) {
  const events: EngineEvent[] = [];
  const sub = spawn('docker', ['events', '--filter', `label=warden.node=${node}`, '--filter', 'event=kill', '--filter', 'event=start', '--filter', 'event=die', '--format', '{{json .}}'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let pending = '';
  sub.stdout.on('data', (d: Buffer) => {
    const lines = (pending + d.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as { Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> }; timeNano?: number };
      events.push({ action: e.Action ?? '', id: e.Actor?.ID ?? '', at: Math.floor((e.timeNano ?? 0) / 1e6), signal: e.Actor?.Attributes?.signal });
    }
  });
  return {
    events,
    firstKill: () => {
      const m = new Map<string, number>();
      for (const e of events) if (e.action === 'kill' && e.signal === '15' && !m.has(e.id)) m.set(e.id, e.at);
      return m;
    },
    /** Containers running at time t (start seen, die not yet). */
    runningAt: (t: number) => {
      const started = new Set<string>();
      for (const e of events) {
        if (e.at > t) continue;
        if (e.action === 'start') started.add(e.id);
        else if (e.action === 'die') started.delete(e.id);
      }
      return started.size;
    },
    dies: () => {
      const m = new Map<string, number>();
      for (const e of events) if (e.action === 'die' && !m.has(e.id)) m.set(e.id, e.at);
      return m;
    },
    ready: () => new Promise((r) => setTimeout(r, 700)),
    close: () => sub.kill(),
  };
}

async function waitUntil(what: string, fn: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Run {
  lateMs: number[];
  runningAtDeadline: number[];
  dieToFinalMs: number[];
  workerRssMb: number[];
  deadlineGapMs: number[];
}

/** Mapped with at most `k` in flight. */
async function mapLimit<T, R>(xs: T[], k: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let i = 0;
  await Promise.all(Array.from({ length: k }, async () => {
    while (i < xs.length) {
      const n = i++;
      out[n] = await fn(xs[n]!, n);
    }
  }));
  return out;
}

const FENCE = { logMaxSize: '10m', logMaxFiles: 3 };
const sleeper = (userId: string) => ({ id: crypto.randomUUID(), userId, attempt: 1, labels: {}, env: {}, image: IMAGE, command: ['sleep', '3600'] });

/**
 * Warden: the job rows of N running jobs with their real containers, made the way the dispatcher
 * makes them (the same container spec, labels and fence, owned by the worker's node), deadlines
 * one every EVERY_MS starting 15 s after all are running; from then on only the real worker acts.
 * (Submitting over HTTP instead lets the engine's start rate on 2 cores, ~3–5 containers a second,
 * set the deadlines' spacing: it cannot give 500 running and a deadline every 150 ms at once.)
 */
async function viaProduct(): Promise<Run> {
  const p = await startProduct('kill', {
    env: { WARDEN_NODE_CPU_OVERCOMMIT: '1000', WARDEN_NODE_MEMORY_MB: '10000000', WARDEN_ORPHAN_GRACE_S: '3600' },
  });
  const ev = engineEvents(p.node);
  const live = await listenTransitions(p.dbUrl);
  const rss: number[] = [];
  const wpid = workerNodePid(p.worker!);
  const sampler = setInterval(() => rss.push(rssOf(wpid) / 2 ** 20), 250);
  const docker = createDockerRuntime();
  try {
    const [user] = await planAndUsers(p, 'bench-kill', { maxConcurrentJobs: N, maxQueuedJobs: N, maxTimeoutSeconds: 86400, gracePeriodSeconds: 30, warnBeforeSeconds: 0, cpus: 0.1, memoryMb: 16, network: 'none' }, 1);
    const [plan] = await p.db.db.select().from(plans).where(eq(plans.name, 'bench-kill'));
    await ev.ready();
    const specs = Array.from({ length: N }, () => sleeper(user!.id));
    const t0 = Date.now();
    const containers = await mapLimit(specs, 8, (j) => docker.run(containerSpec(j, plan!, { ...FENCE, owner: { node: p.node, installation: p.installation } })));
    console.error(`[worker] ${N} containers started in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const base = Date.now() + 15_000;
    const timeoutS = 3600;
    await p.db.db.insert(jobs).values(
      specs.map((j, i) => {
        const deadline = new Date(base + i * EVERY_MS);
        return {
          id: j.id,
          userId: user!.id,
          image: IMAGE,
          command: j.command,
          status: 'running' as const,
          timeoutS,
          timeoutSource: 'plan' as const,
          gracePeriodS: 30,
          queuedAt: new Date(t0),
          startedAt: new Date(deadline.getTime() - timeoutS * 1000),
          deadlineAt: deadline,
          node: p.node,
          containerId: containers[i]!,
          attempt: 1,
          maxRetries: 0,
        };
      }),
    );
    const ids = specs.map((j) => j.id);
    try {
      await waitUntil('every job to end', () => ids.every((id) => [...(live.seen.get(id)?.keys() ?? [])].some((s) => FINAL.has(s))), 15_000 + N * EVERY_MS + 180_000);
    } catch (e) {
      const counts = await p.db.sql<{ status: string; n: number }[]>`select status, count(*)::int as n from jobs where id = any(${ids}) group by status`;
      console.error(`[worker] at the timeout, the jobs' rows: ${counts.map((c) => `${c.n} ${c.status}`).join(', ')}; finals heard: ${ids.filter((id) => [...(live.seen.get(id)?.keys() ?? [])].some((s) => FINAL.has(s))).length}`);
      throw e;
    }
    clearInterval(sampler);
    const rows = (await p.db.sql<{ id: string; deadline_at: string; container_id: string; status: string }[]>`select id, deadline_at::text, container_id, status from jobs where id = any(${ids})`).map((r) => ({ ...r, deadline_at: new Date(r.deadline_at) }));
    const kills = ev.firstKill();
    const dies = ev.dies();
    const lateMs: number[] = [];
    const runningAtDeadline: number[] = [];
    const dieToFinalMs: number[] = [];
    for (const r of rows) {
      const k = kills.get(r.container_id);
      if (k === undefined) {
        console.error(`[worker] job ${r.id} (${r.status}): no SIGTERM seen`);
        continue;
      }
      lateMs.push(k - r.deadline_at.getTime());
      runningAtDeadline.push(ev.runningAt(r.deadline_at.getTime()));
      const die = dies.get(r.container_id);
      const fin = [...(live.seen.get(r.id)?.entries() ?? [])].find(([s]) => FINAL.has(s))?.[1];
      if (die !== undefined && fin !== undefined) dieToFinalMs.push(fin - die);
    }
    const deadlines = rows.map((r) => r.deadline_at.getTime()).sort((a, b) => a - b);
    const deadlineGapMs = deadlines.slice(1).map((d, i) => d - deadlines[i]!);
    return { lateMs, runningAtDeadline, dieToFinalMs, workerRssMb: rss, deadlineGapMs };
  } finally {
    clearInterval(sampler);
    ev.close();
    await live.close().catch(() => {});
    await p.stop();
    removeContainers(`warden.node=${p.node}`);
  }
}

/** The engine alone: the same containers (same spec and fence, another owner), a timer per deadline calling kill (the runtime call the escalation makes). */
async function engineAlone(): Promise<Run> {
  const docker = createDockerRuntime();
  const node = `bench-kill-engine-${crypto.randomBytes(3).toString('hex')}`;
  const ev = engineEvents(node);
  await ev.ready();
  try {
    const plan = { cpus: 0.1, memoryMb: 16, pidsLimit: 1024, network: 'none', runtime: null };
    const userId = crypto.randomUUID();
    const specs = Array.from({ length: N }, () => sleeper(userId));
    const containers = await mapLimit(specs, 8, (j) => docker.run(containerSpec(j, plan, { ...FENCE, owner: { node, installation: crypto.randomUUID() } })));
    const base = Date.now() + 15_000;
    const deadlines = containers.map((_, i) => base + i * EVERY_MS);
    const timers = containers.map((c, i) => setTimeout(() => void docker.kill(c, 'SIGTERM').catch((e: unknown) => console.error(`[engine] kill failed: ${String(e)}`)), deadlines[i]! - Date.now()));
    await waitUntil('every SIGTERM', () => containers.every((c) => ev.firstKill().has(c)), 15_000 + N * EVERY_MS + 120_000).finally(() => timers.forEach(clearTimeout));
    const kills = ev.firstKill();
    return {
      lateMs: containers.map((c, i) => kills.get(c)! - deadlines[i]!),
      runningAtDeadline: deadlines.map((d) => ev.runningAt(d)),
      dieToFinalMs: [],
      workerRssMb: [],
      deadlineGapMs: [],
    };
  } finally {
    ev.close();
    removeContainers(`warden.node=${node}`);
  }
}

runMain(async () => {
  try {
    execFileSync('docker', ['image', 'inspect', IMAGE], { stdio: 'ignore' });
  } catch {
    execFileSync('bash', [path.join(process.cwd(), 'test/fixtures/build-busybox-image.sh')], { stdio: 'inherit' });
  }
  const load0 = loadAverage();
  const result = beginResult('kill-lateness', 'Kill lateness', 'kill-lateness.ts');
  const runs = new Map<Mode, Run>();
  for (const mode of MODES) {
    console.error(`[${mode}] ${N} containers, one deadline every ${EVERY_MS} ms… (load ${load0})`);
    const r = mode === 'worker' ? await viaProduct() : await engineAlone();
    console.error(`[${mode}] lateness p50 ${pct(r.lateMs, 50)} ms, p99 ${pct(r.lateMs, 99)} ms, max ${Math.max(...r.lateMs)} ms over ${r.lateMs.length}; running at the deadlines p50 ${pct(r.runningAtDeadline, 50)}, max ${Math.max(...r.runningAtDeadline)}`);
    runs.set(mode, r);
  }
  const dockerVersion = execFileSync('docker', ['version', '--format', '{{.Server.Version}}']).toString().trim();
  const w = runs.get('worker');
  const e = runs.get('engine');
  if (w) {
    result.series('worker_lateness', 'ms', w.lateMs);
    result.series('worker_running_at_deadline', 'containers', w.runningAtDeadline);
    result.series('worker_deadline_gap', 'ms', w.deadlineGapMs);
    result.series('worker_die_to_final_after_commit', 'ms', w.dieToFinalMs);
    result.series('worker_rss', 'MB', w.workerRssMb);
    result.figure({ label: `Warden (bin/server.mjs + npm run worker): deadline → engine kill event, ${N} jobs, one deadline every ${EVERY_MS} ms`, series: 'worker_lateness', stat: 'p99', goal: { max: 100, text: 'p99 ≤ 100 ms at 500 running, one deadline every 150 ms' } });
    result.figure({ label: 'running containers when the deadlines came (the largest)', series: 'worker_running_at_deadline', stat: 'max' });
    result.figure({ label: 'time between consecutive deadlines', series: 'worker_deadline_gap', stat: 'p50' });
    result.figure({ label: 'during the run: die → final status seen by a client after COMMIT (LISTEN)', series: 'worker_die_to_final_after_commit', stat: 'p99' });
    result.figure({ label: 'worker RSS during the run', series: 'worker_rss', stat: 'max' });
  }
  if (e) {
    result.series('engine_lateness', 'ms', e.lateMs);
    result.figure({ label: `engine alone (a timer per deadline calling kill): deadline → kill event, ${N} containers, one every ${EVERY_MS} ms`, series: 'engine_lateness', stat: 'p99' });
  }
  const { missed } = result.save({ n: N, everyMs: EVERY_MS, modes: MODES }, `Docker ${dockerVersion}, embedded PostgreSQL 18`);
  if (missed.length) {
    console.error(`goal missed: ${missed.join('; ')}`);
    process.exitCode = 1;
  }
});
