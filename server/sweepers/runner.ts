import { sql } from 'drizzle-orm';
import { config, type Config } from '../config';
import type { Ctx } from '../context';
import { sweeperRuns } from '../db/schema';
import { timeboxed } from '../docker/timeboxed';
import { type Actor, actorLabel, requireRole } from '../domain/actor';
import { audit } from '../domain/audit';
import { emptyTally, errMessage } from '../domain/side-effects';
import { checkSweeperName, dryRunKey, SWEEPER_ACTOR, type SweeperName } from '../domain/sweeper-settings';
import { log } from '../log';
import { metrics } from '../metrics';
import { DEFAULT_SETTINGS, type ApplyDeps, type ApplyResult, type PlannedAction, type SweepSettings } from './common';
import * as orphans from './orphans';
import * as timeout from './timeout';
import * as ttl from './ttl';

/**
 * One sweeper tick, the same for all three:
 *   1. open a transaction and take pg_try_advisory_xact_lock(sweeper, node); busy → skipped;
 *   2. snapshot → plan (pure) → apply (skipped in dry-run);
 *   3. record the run in sweeper_runs (counts, duration, plan) in the same transaction;
 *   4. commit, which releases the lock.
 * The lock is held for the whole tick, Docker side effects included, and dies with the session
 * if the process does: no lease to expire, no stale lock after a crash.
 *
 * The lock is per (sweeper, node): each worker owns the containers of its own Docker host, so
 * workers on different hosts sweep in parallel, while replicas sharing a host (same
 * WARDEN_NODE_ID) never sweep it twice. Everything a tick does to rows that other nodes could
 * also touch (lost jobs of stale nodes, orphaned children, purges) is a conditional UPDATE or
 * SKIP LOCKED, so doing it from two nodes at once is still once.
 */

export interface SweepOptions {
  /** true/false forces dry-run on/off for this tick; undefined: WARDEN_DRY_RUN, then the setting. */
  dryRun?: boolean;
  settings?: Partial<SweepSettings>;
  /** Environment settings; defaults to the process's config(). */
  cfg?: Pick<Config, 'WARDEN_DRY_RUN' | 'WARDEN_ORPHAN_GRACE_S' | 'WARDEN_HISTORY_DAYS'>;
  /** Who asked for this tick (schedule, operator:…); stored in the run's details. */
  trigger?: string;
}

export interface TickResult {
  sweeper: SweeperName;
  examined: number;
  acted: number;
  errors: number;
  ms: number;
  dryRun: boolean;
  planned: PlannedAction[];
  skipped?: boolean;
  error?: string;
  runId?: number;
  byKind?: Record<string, number>;
  /** Time spent in the snapshot queries (the part of a tick that could grow with the data). */
  snapshotMs?: number;
}

/** The sweepers as the runner sees them. */
interface SweeperDef {
  snapshot(ctx: Ctx, now: Date, s: SweepSettings): Promise<unknown>;
  examined(snap: unknown): number;
  plan(snap: unknown, now: Date): unknown[];
  describe(a: unknown): PlannedAction;
  apply(actions: unknown[], deps: ApplyDeps): Promise<ApplyResult>;
}

function def<S, A>(d: {
  snapshot(ctx: Ctx, now: Date, s: SweepSettings): Promise<S>;
  examined(snap: S): number;
  plan(snap: S, now: Date): A[];
  describe(a: A): PlannedAction;
  apply(actions: A[], deps: ApplyDeps): Promise<ApplyResult>;
}): SweeperDef {
  return d as unknown as SweeperDef;
}

export const SWEEPERS: Record<SweeperName, SweeperDef> = {
  timeout: def({
    snapshot: (ctx, now, s) => timeout.snapshot(ctx, { now, batchSize: s.batchSize }),
    examined: (s) => s.jobs.length,
    plan: timeout.plan,
    describe: timeout.describe,
    apply: timeout.apply,
  }),
  ttl: def({
    snapshot: (ctx, now, s) => ttl.snapshot(ctx, { now, batchSize: s.batchSize, historyDays: s.historyDays, nodeStaleMs: s.nodeStaleMs }),
    examined: (s) => s.expired.length + s.purgeable,
    plan: ttl.plan,
    describe: ttl.describe,
    apply: ttl.apply,
  }),
  orphans: def({
    snapshot: (ctx, now, s) => orphans.snapshot(ctx, { now, graceS: s.orphanGraceS, nodeStaleMs: s.nodeStaleMs }),
    examined: (s) => s.containers.length + (s.liveChecked ?? s.liveJobs.length) + s.staleJobs.length + s.children.length,
    plan: orphans.plan,
    describe: orphans.describe,
    apply: orphans.apply,
  }),
};

/** Lock class for pg advisory locks of sweepers (the migration lock is 7301001). */
export const SWEEPER_LOCK_CLASS = 7301100;

export function settingsFrom(cfg: SweepOptions['cfg'], over?: Partial<SweepSettings>): SweepSettings {
  return {
    ...DEFAULT_SETTINGS,
    ...(cfg ? { orphanGraceS: cfg.WARDEN_ORPHAN_GRACE_S, historyDays: cfg.WARDEN_HISTORY_DAYS } : {}),
    ...over,
  };
}

/** Runs one tick of `name` (see the header). Never throws for a failing sweeper: the error is in the result and in sweeper_runs. */
export async function runSweep(ctx: Ctx, name: SweeperName, opts: SweepOptions = {}): Promise<TickResult> {
  const m = metrics();
  const t0 = performance.now();
  const cfg = opts.cfg ?? config();
  const s = settingsFrom(cfg, opts.settings);
  const d = SWEEPERS[name];
  const actor = SWEEPER_ACTOR[name];
  const docker = ctx.docker ? timeboxed(ctx.docker, s.dockerTimeoutMs) : null;
  const sctx: Ctx = { ...ctx, docker };
  let out: TickResult;
  try {
    out = await ctx.db.transaction(async (tx) => {
      // One round trip: the lock, the dry-run setting, and asynchronous commit for this
      // transaction, whose only write is the run row (bookkeeping: a crash may lose the last
      // runs' rows, never a job's state; an fsync per tick was a measurable share of an idle tick).
      const [lock] = await tx.execute<{ ok: boolean; dry: unknown }>(
        sql`select pg_try_advisory_xact_lock(${SWEEPER_LOCK_CLASS}::int, hashtext(${`${name}:${ctx.node}`})) as ok,
                   set_config('synchronous_commit', 'off', true) as sc,
                   (select value from settings where key = ${dryRunKey(name)}) as dry`,
      );
      const dryRun = opts.dryRun ?? (cfg.WARDEN_DRY_RUN || lock?.dry === true);
      if (!lock?.ok) {
        // Normal with two replicas on one node id: debug, not info.
        log.debug({ sweeper: name, node: ctx.node }, 'sweeper tick skipped: another session holds its lock');
        return { sweeper: name, examined: 0, acted: 0, errors: 0, ms: performance.now() - t0, dryRun, planned: [], skipped: true };
      }
      const startedAt = ctx.clock.now();
      let examined = 0;
      let planned: PlannedAction[] = [];
      let r: ApplyResult = emptyTally();
      let error: string | undefined;
      const phases = { snapshotMs: 0, applyMs: 0 };
      let phase = 'snapshot';
      // A tick that runs long holds back everything due after it on this node: say so, and where.
      const slow = setTimeout(() => log.warn({ sweeper: name, phase, planned: planned.slice(0, 10) }, 'sweeper tick still running after 2 s'), 2_000);
      slow.unref?.();
      try {
        const now = ctx.clock.now();
        const t1 = performance.now();
        const snap = await d.snapshot(sctx, now, s);
        phases.snapshotMs = performance.now() - t1;
        examined = d.examined(snap);
        const actions = d.plan(snap, now);
        planned = actions.map((a) => d.describe(a));
        const t2 = performance.now();
        phase = 'apply';
        if (!dryRun && actions.length > 0) r = await d.apply(actions, { ctx: sctx, docker, actor, settings: s });
        phases.applyMs = performance.now() - t2;
      } catch (e) {
        error = errMessage(e);
        r.errors++;
        log.error({ err: error, sweeper: name }, 'sweeper tick failed');
      } finally {
        clearTimeout(slow);
      }
      const ms = performance.now() - t0;
      // Written while the lock is still held, in the lock's own transaction: the recorded
      // [started_at, finished_at] of two runs of one sweeper on one node can never overlap.
      const [run] = await tx
        .insert(sweeperRuns)
        .values({
          sweeper: name,
          node: ctx.node,
          startedAt,
          finishedAt: ctx.clock.now(),
          dryRun,
          examined,
          acted: r.acted,
          errors: r.errors,
          error: error ?? null,
          details: {
            pid: process.pid,
            trigger: opts.trigger ?? 'schedule',
            ms: Math.round(ms * 100) / 100,
            snapshotMs: Math.round(phases.snapshotMs * 100) / 100,
            applyMs: Math.round(phases.applyMs * 100) / 100,
            plannedCount: planned.length,
            // Bounded: a 10k-row purge or a burst of timeouts must not make a huge row.
            planned: planned.slice(0, 50),
            byKind: r.byKind,
          },
        })
        .returning({ id: sweeperRuns.id });
      return { sweeper: name, examined, acted: r.acted, errors: r.errors, ms, dryRun, planned, error, runId: run!.id, byKind: r.byKind, snapshotMs: phases.snapshotMs };
    });
  } catch (e) {
    // The database itself failed (lock, run row): nothing could be recorded.
    const error = errMessage(e);
    log.error({ err: error, sweeper: name }, 'sweeper tick failed before it could be recorded');
    out = { sweeper: name, examined: 0, acted: 0, errors: 1, ms: performance.now() - t0, dryRun: opts.dryRun ?? cfg.WARDEN_DRY_RUN, planned: [], error };
  }
  m.sweeperRuns.inc({ sweeper: name, outcome: out.skipped ? 'skipped' : out.error ? 'error' : 'ok' });
  if (!out.skipped) {
    m.sweeperDuration.observe({ sweeper: name }, out.ms / 1000);
    m.sweeperLastRun.set({ sweeper: name }, Date.now() / 1000);
    if (out.errors > 0) m.sweeperErrors.inc({ sweeper: name }, out.errors);
    for (const [kind, n] of Object.entries(out.byKind ?? {})) m.sweeperActions.inc({ sweeper: name, kind }, n);
    if (out.acted > 0 || out.errors > 0) {
      log.info({ sweeper: name, examined: out.examined, acted: out.acted, errors: out.errors, ms: Math.round(out.ms), dryRun: out.dryRun }, 'sweep');
    }
  }
  return out;
}

/** Operator or above: one tick now (under the same advisory lock), recorded in sweeper_runs and audited. */
export async function runSweeperNow(ctx: Ctx, actor: Actor, name: SweeperName): Promise<TickResult> {
  requireRole(actor, 'operator');
  checkSweeperName(name);
  const r = await runSweep(ctx, name, { trigger: actorLabel(actor) });
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
