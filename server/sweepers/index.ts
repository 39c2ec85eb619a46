import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../config';
import type { Ctx } from '../context';
import { everySeconds, SWEEPER_NAMES, type SweeperName } from '../domain/sweeper-settings';
import { log } from '../log';
import type { SweepSettings } from './common';
import { runSweep, type SweepOptions, type TickResult } from './runner';
import { nextDeadline } from './timeout';

/**
 * Schedules the sweepers (node-cron, never overlapping themselves, one that throws or hangs never
 * stopping the others) and, for the timeout sweeper, a timer for the next deadline. What a tick
 * does is in ./runner (one tick of any sweeper) and the sweeper files; the operations operators
 * call live in the domain (sweeper settings, orphan removal) and in ./runner (run now).
 */

/** One tick's counts and plan (the runner's result, as recorded in sweeper_runs). */
export type SweepResult = TickResult;

export interface SweeperHandle {
  /** Runs a tick of this sweeper now (or right after the one in flight), outside its schedule. */
  kick(name: SweeperName): Promise<void>;
  stop(): Promise<void>;
}

/**
 * One tick of one sweeper, now, under its advisory lock, recorded in sweeper_runs. No timers:
 * tests call this directly with a fake clock in ctx.
 */
export function sweep(ctx: Ctx, name: SweeperName, opts: SweepOptions = {}): Promise<SweepResult> {
  return runSweep(ctx, name, opts);
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
      // A deadline timer (or a kick) fired during a tick: run once more right after it.
      if (trigger === 'deadline' || trigger === 'kick') again.add(name);
      return cur;
    }
    const p = (async () => {
      const t0 = Date.now();
      const tickAt = ctx.clock.now();
      try {
        const r = await runSweep(ctx, name, { cfg, settings: opts.settings, trigger });
        const t1 = Date.now();
        if (name === 'timeout' && precise && !stopped && !r.skipped) await armDeadlineTimer(everySeconds(cfg, 'timeout') * 1000, tickAt);
        if (Date.now() - t0 > 1500) log.warn({ sweeper: name, tickMs: t1 - t0, timerMs: Date.now() - t1, trigger }, 'slow sweeper run');
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
  const armDeadlineTimer = async (horizonMs: number, since: Date) => {
    const now = ctx.clock.now();
    // From the tick's start: a deadline that passed while it ran (after its snapshot) is due now.
    const next = await nextDeadline(ctx, now, horizonMs + 100, since);
    if (deadlineTimer) {
      clearTimeout(deadlineTimer);
      timers.delete(deadlineTimer);
      deadlineTimer = null;
    }
    if (stopped) return;
    // +5 ms: the tick must see deadline <= now. Nothing due soon: a tick one period and a bit
    // from now anyway, so a beat node-cron drops (it skips one that fires a full period late,
    // as a starved process's timers do) never leaves due work waiting for the one after.
    const delay = next ? Math.max(5, next.getTime() - now.getTime() + 5) : horizonMs + 250;
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
  // The first timeout tick at once, not at the next cron second: a worker that restarts after a
  // crash has deadlines that passed while it was down.
  void run('timeout', 'start');
  log.info(
    { timeoutEvery: cfg.WARDEN_TIMEOUT_SWEEP_S, ttlEvery: cfg.WARDEN_TTL_SWEEP_S, orphanEvery: cfg.WARDEN_ORPHAN_SWEEP_S, dryRun: cfg.WARDEN_DRY_RUN, node: ctx.node },
    'sweepers started',
  );
  return {
    kick: (name) => {
      if (inflight.has(name)) again.add(name);
      return run(name, 'kick');
    },
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
