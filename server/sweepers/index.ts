import { desc, eq } from 'drizzle-orm';
import cron, { type ScheduledTask } from 'node-cron';
import { config, type Config } from '../config';
import type { Ctx } from '../context';
import { jobs, settings, sweeperRuns, type SweeperRun } from '../db/schema';
import { type Actor, requireRole } from '../domain/actor';
import { audit } from '../domain/audit';
import { AppError, conflict, invalid, notFound } from '../domain/errors';
import { log } from '../log';
import { DEFAULT_SETTINGS, SWEEPER_NAMES, type SweeperName, type SweepSettings } from './common';
import { containerVerdict, report } from './orphans';
import { dryRunKey, resolveDryRun, runSweep, type SweepOptions, type TickResult } from './runner';
import { nextDeadline } from './timeout';

/**
 * Public surface of the sweepers (used by the worker, the API and the dashboard).
 * SIGNATURES ARE A CONTRACT between the worker, API and dashboard: keep them.
 */
export type { SweeperName } from './common';
export { SWEEPER_NAMES } from './common';
export type { SweepOptions } from './runner';

/** One tick's counts and plan (the runner's result, as recorded in sweeper_runs). */
export type SweepResult = TickResult;

export interface SweeperInfo {
  name: SweeperName;
  everySeconds: number;
  dryRun: boolean;
  dryRunSource: 'env' | 'setting' | 'off';
  lastRuns: SweeperRun[];
}

export interface OrphanReport {
  dockerOk: boolean;
  containers: { id: string; name: string; jobId: string | null; attempt: string | null; node: string | null; reason: string; createdAt: string; ageSeconds: number; removableAt: string }[];
  lostJobs: { jobId: string; userId: string; name: string | null; status: string; containerId: string | null; node: string | null; reason: string }[];
  orphanedChildren: { jobId: string; parentId: string; parentStatus: string }[];
}

export interface SweeperHandle {
  stop(): Promise<void>;
}

/**
 * One tick of one sweeper, now, under its advisory lock, recorded in sweeper_runs. No timers:
 * tests call this directly with a fake clock in ctx.
 */
export function sweep(ctx: Ctx, name: SweeperName, opts: SweepOptions = {}): Promise<SweepResult> {
  return runSweep(ctx, name, opts);
}

export function sweepTimeouts(ctx: Ctx, opts?: SweepOptions) {
  return sweep(ctx, 'timeout', opts);
}
export function sweepTtl(ctx: Ctx, opts?: SweepOptions) {
  return sweep(ctx, 'ttl', opts);
}
export function sweepOrphans(ctx: Ctx, opts?: SweepOptions) {
  return sweep(ctx, 'orphans', opts);
}

function everySeconds(cfg: Pick<Config, 'WARDEN_TIMEOUT_SWEEP_S' | 'WARDEN_TTL_SWEEP_S' | 'WARDEN_ORPHAN_SWEEP_S'>, name: SweeperName): number {
  return name === 'timeout' ? cfg.WARDEN_TIMEOUT_SWEEP_S : name === 'ttl' ? cfg.WARDEN_TTL_SWEEP_S : cfg.WARDEN_ORPHAN_SWEEP_S;
}

/**
 * A node-cron expression firing every `seconds`. Cron fields cannot express every period: a
 * second count that does not divide 60 fires at its multiples within each minute (e.g. 45 → :00
 * and :45), and periods above a minute are rounded to whole minutes / hours.
 */
export function cronExpression(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  if (s < 60) return s === 1 ? '* * * * * *' : `*/${s} * * * * *`;
  const m = Math.max(1, Math.round(s / 60));
  if (m < 60) return `0 */${m} * * * *`;
  const h = Math.max(1, Math.min(23, Math.round(m / 60)));
  return `0 0 */${h} * * *`;
}

const cronLogger = {
  info: (msg: string) => log.debug({ cron: true }, msg),
  warn: (msg: string) => log.debug({ cron: true }, msg),
  error: (msg: string | Error, err?: Error) => log.warn({ cron: true, err: String(err ?? msg) }, 'node-cron error'),
  debug: (msg: string | Error) => log.trace({ cron: true }, String(msg)),
};

export interface StartOptions {
  /**
   * Timeout sweeper only: after each tick, arm a timer for the next deadline due before the next
   * cron tick, so SIGTERM goes out at the deadline (measured: p99 lateness ≈ 30 ms) instead of at
   * the next whole second (p99 ≈ 1 s). Default on.
   */
  preciseDeadlines?: boolean;
  settings?: Partial<SweepSettings>;
}

/**
 * Schedules the three sweepers with node-cron (noOverlap), each isolated: one that throws or
 * hangs never stops the others. stop() waits for in-flight ticks.
 */
export function startSweepers(ctx: Ctx, cfg: Config, opts: StartOptions = {}): SweeperHandle {
  let stopped = false;
  const tasks: ScheduledTask[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const inflight = new Map<SweeperName, Promise<void>>();
  const again = new Set<SweeperName>();
  const precise = opts.preciseDeadlines ?? true;

  const run = (name: SweeperName, trigger: string): Promise<void> => {
    if (stopped) return Promise.resolve();
    const cur = inflight.get(name);
    if (cur) {
      // A deadline timer fired during a tick: run once more right after it.
      if (trigger === 'deadline') again.add(name);
      return cur;
    }
    const p = (async () => {
      try {
        const r = await runSweep(ctx, name, { cfg, settings: opts.settings, trigger });
        if (name === 'timeout' && precise && !stopped && !r.skipped) await armDeadlineTimer(everySeconds(cfg, 'timeout') * 1000);
      } catch (e) {
        log.error({ err: String(e), sweeper: name }, 'sweeper failed');
      }
    })().finally(() => {
      inflight.delete(name);
      if (again.delete(name) && !stopped) void run(name, 'deadline');
    });
    inflight.set(name, p);
    return p;
  };

  let deadlineTimer: NodeJS.Timeout | null = null;
  const armDeadlineTimer = async (horizonMs: number) => {
    const now = ctx.clock.now();
    const next = await nextDeadline(ctx, now, horizonMs + 100);
    if (deadlineTimer) {
      clearTimeout(deadlineTimer);
      timers.delete(deadlineTimer);
      deadlineTimer = null;
    }
    if (!next || stopped) return;
    // +5 ms: the tick must see deadline <= now.
    const delay = Math.max(5, next.getTime() - now.getTime() + 5);
    const t = setTimeout(() => {
      timers.delete(t);
      if (deadlineTimer === t) deadlineTimer = null;
      void run('timeout', 'deadline');
    }, delay);
    t.unref?.();
    deadlineTimer = t;
    timers.add(t);
  };

  for (const name of SWEEPER_NAMES) {
    const expr = cronExpression(everySeconds(cfg, name));
    const task = cron.schedule(expr, () => run(name, 'schedule'), {
      name: `sweeper:${name}`,
      noOverlap: true,
      logger: cronLogger,
      suppressMissedWarning: true,
    });
    tasks.push(task);
  }
  log.info(
    { timeoutEvery: cfg.WARDEN_TIMEOUT_SWEEP_S, ttlEvery: cfg.WARDEN_TTL_SWEEP_S, orphanEvery: cfg.WARDEN_ORPHAN_SWEEP_S, dryRun: cfg.WARDEN_DRY_RUN, node: ctx.node },
    'sweepers started',
  );
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const t of tasks) {
        await t.stop();
        await t.destroy();
      }
      await Promise.allSettled([...inflight.values()]);
    },
  };
}

function checkName(name: string): asserts name is SweeperName {
  if (!(SWEEPER_NAMES as string[]).includes(name)) throw invalid(`Unknown sweeper "${name}" (expected ${SWEEPER_NAMES.join(', ')})`, 'name');
}

/** Schedule, dry-run state and the last runs of each sweeper (any node), newest first. */
export async function sweeperStatus(ctx: Ctx): Promise<SweeperInfo[]> {
  const cfg = config();
  return Promise.all(
    SWEEPER_NAMES.map(async (name) => {
      const dr = await resolveDryRun(ctx, name, cfg.WARDEN_DRY_RUN);
      const lastRuns = await ctx.db.select().from(sweeperRuns).where(eq(sweeperRuns.sweeper, name)).orderBy(desc(sweeperRuns.startedAt)).limit(10);
      return { name, everySeconds: everySeconds(cfg, name), dryRun: dr.dryRun, dryRunSource: dr.source, lastRuns };
    }),
  );
}

/** Admin only. Persists in the settings table (key `sweeper.<name>.dryRun`); WARDEN_DRY_RUN=on forces dry-run for all. */
export async function setSweeperDryRun(ctx: Ctx, actor: Actor, name: SweeperName, dryRun: boolean): Promise<void> {
  requireRole(actor, 'admin');
  checkName(name);
  if (typeof dryRun !== 'boolean') throw invalid('dryRun must be true or false', 'dryRun');
  const now = ctx.clock.now();
  const key = dryRunKey(name);
  const who = actor.kind === 'operator' ? `operator:${actor.email}` : actor.kind === 'user' ? `api:${actor.name}` : actor.name;
  await ctx.db.transaction(async (tx) => {
    await tx
      .insert(settings)
      .values({ key, value: dryRun, updatedAt: now, updatedBy: who })
      .onConflictDoUpdate({ target: settings.key, set: { value: dryRun, updatedAt: now, updatedBy: who } });
    await audit(tx, { actor, action: 'sweeper.dry_run', targetType: 'setting', targetId: key, at: now, details: { sweeper: name, dryRun, forcedByEnv: config().WARDEN_DRY_RUN } });
  });
}

/** Operator or above. Runs one tick now (under the same advisory lock), recorded in sweeper_runs. */
export async function runSweeperNow(ctx: Ctx, actor: Actor, name: SweeperName): Promise<SweepResult> {
  requireRole(actor, 'operator');
  checkName(name);
  const who = actor.kind === 'operator' ? `operator:${actor.email}` : actor.kind === 'user' ? `api:${actor.name}` : actor.name;
  const r = await runSweep(ctx, name, { trigger: who });
  await audit(ctx.db, {
    actor,
    action: 'sweeper.run',
    targetType: 'sweeper',
    targetId: name,
    at: ctx.clock.now(),
    success: !r.error,
    error: r.error ?? null,
    details: { skipped: !!r.skipped, examined: r.examined, acted: r.acted, errors: r.errors, dryRun: r.dryRun, runId: r.runId ?? null },
  });
  return r;
}

/** What the orphan sweeper sees now (viewer or above). */
export async function listOrphans(ctx: Ctx, actor: Actor): Promise<OrphanReport> {
  requireRole(actor, 'viewer');
  return report(ctx, { now: ctx.clock.now(), graceS: config().WARDEN_ORPHAN_GRACE_S, nodeStaleMs: DEFAULT_SETTINGS.nodeStaleMs });
}

/** Operator or above: remove one orphaned managed container now (re-inspected first; unlabelled containers refused). */
export async function removeOrphanContainer(ctx: Ctx, actor: Actor, containerId: string): Promise<void> {
  requireRole(actor, 'operator');
  if (!/^[0-9a-f]{12,64}$/i.test(containerId)) throw invalid('containerId must be a Docker container id (12-64 hex characters)', 'containerId');
  const docker = ctx.docker;
  if (!docker || !(await docker.ping())) throw new AppError(503, 'docker_unavailable', 'The Docker engine is not reachable from this node');
  const ins = await docker.inspect(containerId);
  if (!ins) throw notFound('Container', containerId);
  if (ins.labels['warden.managed'] !== 'true') {
    throw invalid(`Container ${containerId} is not managed by Warden (no warden.managed=true label); Warden never removes it`, 'containerId', 'not_managed');
  }
  if (ins.labels['warden.node'] !== ctx.node) {
    throw conflict(`Container ${containerId} belongs to node ${ins.labels['warden.node'] ?? '(none)'}; this is node ${ctx.node}`, 'other_node');
  }
  const jobId = ins.labels['warden.job'];
  const jobsById: Parameters<typeof containerVerdict>[1] = {};
  if (jobId && /^[0-9a-f-]{36}$/i.test(jobId)) {
    const [j] = await ctx.db
      .select({ id: jobs.id, status: jobs.status, attempt: jobs.attempt, cleanedAt: jobs.cleanedAt, containerId: jobs.containerId })
      .from(jobs)
      .where(eq(jobs.id, jobId));
    if (j) jobsById[j.id] = j;
  }
  const reason = containerVerdict({ id: ins.id, labels: ins.labels }, jobsById);
  if (!reason) {
    const j = jobId ? jobsById[jobId] : undefined;
    throw conflict(
      `Container ${containerId} belongs to job ${jobId} (${j?.status ?? 'unknown'}), which is not orphaned: kill the job instead, or wait for its TTL`,
      'not_orphaned',
    );
  }
  const now = ctx.clock.now();
  try {
    await docker.remove(ins.id);
  } catch (e) {
    await audit(ctx.db, { actor, action: 'container.remove', targetType: 'container', targetId: ins.id, reason: `orphan: ${reason}`, at: now, success: false, error: String((e as Error)?.message ?? e) });
    throw e;
  }
  await audit(ctx.db, {
    actor,
    action: 'container.remove',
    targetType: 'container',
    targetId: ins.id,
    reason: `orphan: ${reason}`,
    at: now,
    details: { jobId: jobId ?? null, attempt: ins.labels['warden.attempt'] ?? null, manual: true, running: ins.running },
  });
}
