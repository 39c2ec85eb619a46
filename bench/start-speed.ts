/**
 * Start speed and completion through the whole product (bench/product.ts: `bin/server.mjs` +
 * a real `npm run worker`, on the local engine), side by side with the engine alone in the same
 * run.
 *
 * - burst: `--burst` jobs (default 24) POSTed to /api/v1/jobs at once; from the first request to
 *   the last container's `start` event (engine clock). The engine alone: the same container specs
 *   (server/domain/container-spec.ts, as the worker makes them) created and started directly at
 *   the worker's start concurrency (WARDEN_START_CONCURRENCY, 8); from the first create call to
 *   the last `start` event. Both warmed up once first; each repeat alternates which goes first.
 *   Goal: every run ≤ 1.3× the engine.
 * - single: one POST, then its container's `start` event; next to the engine's own create +
 *   start of the same spec (call → `start` event), the two alternating, warmed up. Goal: the
 *   overhead's p50 ≤ 50 ms.
 * - completion: jobs of `sleep 0.2` from one user with limit 1: `die` event → the final status as
 *   a client sees it after COMMIT (LISTEN warden_live; NOTIFY is delivered on commit). Goal p99
 *   ≤ 100 ms. Also die → the next queued job's `start`.
 *
 *   npm run bench -- start-speed [--burst 24] [--repeat 5] [--single 50] [--completion 200] [--no-write]
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import { plans } from '../server/db/schema';
import { createDockerRuntime } from '../server/docker/runtime';
import { containerSpec } from '../server/domain/container-spec';
import type { ContainerEvent } from '../server/runtime/types';
import { removeContainers } from '../test/helpers/warden-server';
import { arg, beginResult, loadAverage, pct, runMain } from './lib';
import { listenTransitions, planAndUsers, startProduct, type Product } from './product';

const BURST = Number(arg('burst', '24'));
const REPEAT = Number(arg('repeat', '5'));
const SINGLE = Number(arg('single', '50'));
const COMPLETION = Number(arg('completion', '200'));
const CONCURRENCY = 8;
const IMAGE = 'warden-test/busybox:latest';
const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled']);
const sleeper = { image: IMAGE, command: ['sleep', '600'], timeoutSeconds: 3600 };

async function mapLimit<T, R>(xs: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(xs.length);
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, xs.length) }, async () => {
      while (i < xs.length) {
        const k = i++;
        out[k] = await fn(xs[k]!);
      }
    }),
  );
  return out;
}

/** The engine's events (Warden's Docker client, in this process), first time of each action per container. */
class EventLog {
  private readonly by = new Map<string, Map<string, number>>();
  private readonly waiters = new Set<() => void>();
  push(e: ContainerEvent): void {
    const m = this.by.get(e.action) ?? new Map<string, number>();
    this.by.set(e.action, m);
    if (!m.has(e.id)) m.set(e.id, e.at.getTime());
    for (const w of this.waiters) w();
  }
  time(action: string, id: string): number | undefined {
    return this.by.get(action)?.get(id);
  }
  /** Resolves with the times once every id has the action (woken by each event, never a sleep). */
  until(action: string, ids: () => string[] | null, timeoutMs = 120_000): Promise<number[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const list = ids();
        if (!list) return;
        const ts = list.map((id) => this.time(action, id));
        if (ts.every((t) => t !== undefined)) {
          cleanup();
          resolve(ts as number[]);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${action} events`));
      }, timeoutMs);
      const poll = setInterval(check, 100);
      const cleanup = () => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}

interface Rig {
  p: Product;
  events: EventLog;
  /** The engine-alone containers' fence: another node and installation, so the product never sees them. */
  engineFence: { owner: { node: string; installation: string }; logMaxSize: string; logMaxFiles: number };
  plan: typeof plans.$inferSelect;
  key: string;
  userId: string;
  docker: ReturnType<typeof createDockerRuntime>;
  /** Job id → container id, from the live transitions + the database. */
  containerOf(jobId: string): Promise<string | null>;
  live: Awaited<ReturnType<typeof listenTransitions>>;
}

async function killAll(r: Rig, jobIds: string[]): Promise<void> {
  await mapLimit(jobIds, 8, (id) => r.p.api('POST', `/api/v1/jobs/${id}/kill`, { force: true, reason: 'bench' }));
  const end = Date.now() + 120_000;
  while (!jobIds.every((id) => [...(r.live.seen.get(id)?.keys() ?? [])].some((s) => FINAL.has(s)))) {
    if (Date.now() > end) throw new Error('killed jobs did not end');
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function wardenBurst(r: Rig, n: number): Promise<number> {
  const t0 = Date.now();
  const jobs = await Promise.all(Array.from({ length: n }, () => r.p.api<{ id: string }>('POST', '/api/v1/jobs', sleeper, r.key)));
  const containers = new Map<string, string>();
  const starts = await r.events.until('start', () => {
    for (const j of jobs) if (!containers.has(j.id)) void r.containerOf(j.id).then((c) => c && containers.set(j.id, c));
    return containers.size === n ? [...containers.values()] : null;
  });
  const ms = Math.max(...starts) - t0;
  await killAll(r, jobs.map((j) => j.id));
  return ms;
}

function engineSpec(r: Rig) {
  return containerSpec({ id: crypto.randomUUID(), userId: r.userId, attempt: 1, labels: {}, env: {}, ...sleeper }, r.plan, r.engineFence);
}

async function engineBurst(r: Rig, n: number): Promise<number> {
  const specs = Array.from({ length: n }, () => engineSpec(r));
  const t0 = Date.now();
  const ids = await mapLimit(specs, CONCURRENCY, (s) => r.docker.run(s));
  const starts = await r.events.until('start', () => ids);
  const ms = Math.max(...starts) - t0;
  removeContainers(`warden.node=${r.engineFence.owner.node}`);
  return ms;
}

async function wardenSingle(r: Rig): Promise<number> {
  const t0 = Date.now();
  const job = await r.p.api<{ id: string }>('POST', '/api/v1/jobs', sleeper, r.key);
  let c: string | null = null;
  const [t] = await r.events.until('start', () => {
    if (!c) void r.containerOf(job.id).then((x) => (c = x));
    return c ? [c] : null;
  });
  await killAll(r, [job.id]);
  return t! - t0;
}

async function engineSingle(r: Rig): Promise<number> {
  const spec = engineSpec(r);
  const t0 = Date.now();
  const id = await r.docker.run(spec);
  const [t] = await r.events.until('start', () => [id]);
  await r.docker.remove(id);
  return t! - t0;
}

runMain(async () => {
  const load0 = loadAverage();
  const result = beginResult('start-speed', 'Start speed and completion', 'start-speed.ts');
  const p = await startProduct('start', { env: { WARDEN_NODE_CPU_OVERCOMMIT: '1000', WARDEN_NODE_MEMORY_MB: '10000000', WARDEN_START_CONCURRENCY: String(CONCURRENCY) } });
  const docker = createDockerRuntime();
  const events = new EventLog();
  const engineNode = `bench-start-engine-${crypto.randomBytes(3).toString('hex')}`;
  const sub = docker.events((e) => {
    const n = e.labels['warden.node'];
    if (n === p.node || n === engineNode) events.push(e);
  });
  const live = await listenTransitions(p.dbUrl);
  let rig: Rig | null = null;
  try {
    await new Promise((res) => setTimeout(res, 500)); // the events stream is connected
    const limits = { maxConcurrentJobs: 1000, maxQueuedJobs: 10000, maxTimeoutSeconds: 3600, gracePeriodSeconds: 1, warnBeforeSeconds: 0, cpus: 0.1, memoryMb: 16, network: 'none' };
    const [user] = await planAndUsers(p, 'bench-start', limits, 1);
    const [plan] = await p.db.db.select().from(plans).where(eq(plans.name, 'bench-start'));
    const containerIds = new Map<string, string>();
    const r: Rig = {
      p,
      events,
      engineFence: { owner: { node: engineNode, installation: crypto.randomUUID() }, logMaxSize: '10m', logMaxFiles: 3 },
      plan: plan!,
      key: user!.key,
      userId: user!.id,
      docker,
      live,
      async containerOf(jobId) {
        const known = containerIds.get(jobId);
        if (known) return known;
        const [row] = await p.db.sql<{ container_id: string | null }[]>`select container_id from jobs where id = ${jobId}`;
        if (row?.container_id) containerIds.set(jobId, row.container_id);
        return row?.container_id ?? null;
      },
    };
    rig = r;

    // Warm-up: one of each, discarded.
    await engineBurst(r, BURST);
    await wardenBurst(r, BURST);
    const wardenB: number[] = [];
    const engineB: number[] = [];
    const ratios: number[] = [];
    for (let k = 0; k < REPEAT; k++) {
      const order = k % 2 === 0 ? ['engine', 'warden'] : ['warden', 'engine'];
      let w = 0;
      let e = 0;
      for (const side of order) {
        if (side === 'warden') w = await wardenBurst(r, BURST);
        else e = await engineBurst(r, BURST);
      }
      wardenB.push(w);
      engineB.push(e);
      ratios.push(w / e);
      console.error(`burst ${BURST} (${k + 1}/${REPEAT}, ${order[0]} first): Warden ${w} ms, engine ${e} ms, ratio ${(w / e).toFixed(2)}`);
    }

    for (let k = 0; k < 3; k++) {
      await engineSingle(r);
      await wardenSingle(r);
    }
    const wardenS: number[] = [];
    const engineS: number[] = [];
    for (let k = 0; k < SINGLE; k++) {
      if (k % 2 === 0) {
        engineS.push(await engineSingle(r));
        wardenS.push(await wardenSingle(r));
      } else {
        wardenS.push(await wardenSingle(r));
        engineS.push(await engineSingle(r));
      }
    }
    const over = wardenS.map((w, i) => w - engineS[i]!);
    console.error(`single: Warden p50 ${pct(wardenS, 50)} ms, engine p50 ${pct(engineS, 50)} ms, overhead p50 ${pct(over, 50)} ms`);

    // Completion: limit 1, so each exit frees the slot the next job takes.
    const [cu] = await planAndUsers(p, 'bench-completion', { ...limits, maxConcurrentJobs: 1 }, 1);
    const cjobs: string[] = [];
    for (let i = 0; i < COMPLETION; i++) cjobs.push((await p.api<{ id: string }>('POST', '/api/v1/jobs', { image: IMAGE, command: ['sleep', '0.2'], timeoutSeconds: 60 }, cu!.key)).id);
    const end = Date.now() + COMPLETION * 5000;
    while (!cjobs.every((id) => live.seen.get(id)?.has('succeeded'))) {
      if (Date.now() > end) throw new Error('the completion jobs did not all succeed');
      await new Promise((res) => setTimeout(res, 200));
    }
    const rows = (await p.db.sql<{ id: string; container_id: string; started_at: string }[]>`select id, container_id, started_at::text from jobs where id = any(${cjobs}) order by started_at`).map((x) => ({ ...x, startedAt: new Date(x.started_at).getTime() }));
    const lag: number[] = [];
    for (const row of rows) {
      const die = events.time('die', row.container_id);
      const fin = live.seen.get(row.id)?.get('succeeded');
      if (die !== undefined && fin !== undefined) lag.push(fin - die);
    }
    const nextStart: number[] = [];
    for (let k = 1; k < rows.length; k++) {
      const die = events.time('die', rows[k - 1]!.container_id);
      const start = events.time('start', rows[k]!.container_id);
      if (die !== undefined && start !== undefined) nextStart.push(start - die);
    }
    console.error(`completion: die → final after COMMIT p50 ${pct(lag, 50)} ms, p99 ${pct(lag, 99)} ms over ${lag.length}; die → next start p50 ${pct(nextStart, 50)} ms`);

    result.series(`burst${BURST}_ratio`, '×', ratios);
    result.series(`burst${BURST}_warden`, 'ms', wardenB);
    result.series(`burst${BURST}_engine`, 'ms', engineB);
    result.series('single_warden', 'ms', wardenS);
    result.series('single_engine', 'ms', engineS);
    result.series('single_overhead', 'ms', over);
    result.series('completion_after_commit', 'ms', lag);
    result.series('completion_next_start', 'ms', nextStart);
    result.figure({ label: `burst of ${BURST} over HTTP, Warden ÷ engine create+start at concurrency ${CONCURRENCY}, worst of ${REPEAT} runs`, series: `burst${BURST}_ratio`, stat: 'max', goal: { max: 1.3, text: '≤ 1.3× (every run)' } });
    result.figure({ label: `burst of ${BURST}: Warden, POST → last start event`, series: `burst${BURST}_warden`, stat: 'p50' });
    result.figure({ label: `burst of ${BURST}: engine alone, create → last start event`, series: `burst${BURST}_engine`, stat: 'p50' });
    result.figure({ label: 'single POST → start event, over the engine alone', series: 'single_overhead', stat: 'p50', goal: { max: 50, text: 'p50 ≤ +50 ms' } });
    result.figure({ label: 'single POST → start event', series: 'single_warden', stat: 'p50' });
    result.figure({ label: 'engine alone: create → start event', series: 'single_engine', stat: 'p50' });
    result.figure({ label: 'completion: die event → final status seen after COMMIT (LISTEN)', series: 'completion_after_commit', stat: 'p99', goal: { max: 100, text: 'p99 ≤ 100 ms' } });
    result.figure({ label: 'die → the next queued job’s start event (limit 1)', series: 'completion_next_start', stat: 'p50' });
    const v = execFileSync('docker', ['version', '--format', '{{.Server.Version}}']).toString().trim();
    const { missed } = result.save({ burst: BURST, repeat: REPEAT, single: SINGLE, completion: COMPLETION, concurrency: CONCURRENCY, loadAtStart: load0 }, `Docker ${v}, embedded PostgreSQL 18`);
    if (missed.length) {
      console.error(`goal missed: ${missed.join('; ')}`);
      process.exitCode = 1;
    }
  } finally {
    sub.close();
    await live.close().catch(() => {});
    if (rig) removeContainers(`warden.node=${rig.engineFence.owner.node}`);
    await p.stop();
    removeContainers(`warden.node=${p.node}`);
  }
});
