import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../config';
import type { Ctx } from '../context';
import { everySeconds, SWEEPER_NAMES, type SweeperName } from '../domain/sweeper-settings';
import { log } from '../log';
import type { SweepSettings } from './common';
import { fireDeadlines, upcomingDeadlines } from './deadlines';
import { runSweep, settingsFrom, type SweepOptions, type TickResult } from './runner';
import { nextStep, type TimeoutJob } from './timeout';

/**
 * Schedules the sweepers (node-cron, never overlapping themselves, one that throws or hangs never
 * stopping the others) and, for the timeout sweeper, timers for the next deadline (the fast path,
 * ./deadlines) and the next escalation step. What a tick
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

/** How far ahead the deadline fast path arms its timers, and how often it looks again. */
const LOOKAHEAD_MS = 1500;
const LOOKAHEAD_REFRESH_MS = 500;

const cronLogger = {
  info: (msg: string) => log.debug({ cron: true }, msg),
  warn: (msg: string) => log.debug({ cron: true }, msg),
  error: (msg: string | Error, err?: Error) => log.warn({ cron: true, err: String(err ?? msg) }, 'node-cron error'),
  debug: (msg: string | Error) => log.trace({ cron: true }, String(msg)),
};

export interface StartOptions {
  /**
   * Timeout sweeper only: timers instead of waiting for the next cron beat — one per running job
   * whose deadline is near (armed ahead; at the deadline the fast path, ./deadlines, times it out
   * and SIGTERMs it without a tick) and one for the next escalation step (a tick: SIGKILL at the
   * end of the grace). Without them a deadline waits for the next whole second (p99 ≈ 1 s).
   * Default on.
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
  const intervals: NodeJS.Timeout[] = [];
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
        if (name === 'timeout' && precise && !stopped && !r.skipped) await arm(tickAt);
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

  // The deadline fast path: a timer per running job whose deadline is near, armed ahead of time
  // (every LOOKAHEAD_REFRESH_MS for the next LOOKAHEAD_MS, and after each tick for what came due
  // while it ran); at the deadline the job is handed to fireDeadlines with nothing to read first.
  // Fires overlap: a deadline never waits behind another's SIGTERM on a loaded engine.
  const busy = new Set<string>();
  const fires = new Set<Promise<unknown>>();
  const jobTimers = new Map<string, { at: number; t: NodeJS.Timeout }>();
  const fireAt = (j: TimeoutJob) => {
    const at = j.deadlineAt!.getTime();
    const cur = jobTimers.get(j.id);
    if (cur?.at === at || stopped) return;
    if (cur) {
      clearTimeout(cur.t);
      timers.delete(cur.t);
    }
    const wait = () => Math.max(0, at - ctx.clock.now().getTime() + 1);
    const go = () => {
      timers.delete(t);
      if (stopped) return;
      // A timer may fire a millisecond early: the plan acts only once the deadline has passed.
      if (wait() > 1) {
        t = setTimeout(go, wait());
        timers.add(t);
        jobTimers.set(j.id, { at, t });
        return;
      }
      jobTimers.delete(j.id);
      const p: Promise<unknown> = fireDeadlines(ctx, cfg, [j], { settings: opts.settings, busy }).finally(() => fires.delete(p));
      fires.add(p);
    };
    let t = setTimeout(go, wait());
    t.unref?.();
    timers.add(t);
    jobTimers.set(j.id, { at, t });
  };

  // The next escalation step (SIGKILL at the end of a grace, …): a tick at that moment.
  let stepTimer: NodeJS.Timeout | null = null;
  const setStepTimer = (delay: number) => {
    if (stepTimer) {
      clearTimeout(stepTimer);
      timers.delete(stepTimer);
    }
    stepTimer = null;
    if (stopped) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (stepTimer === t) stepTimer = null;
      void run('timeout', 'deadline');
    }, delay);
    t.unref?.();
    stepTimer = t;
    timers.add(t);
  };

  const horizonMs = everySeconds(cfg, 'timeout') * 1000;
  const batch = settingsFrom(cfg, opts.settings).batchSize;
  // Timers for the deadlines in (since, now + LOOKAHEAD_MS]; `since` before now (a tick's start):
  // those that passed while it ran fire at once.
  const lookAhead = async (since: Date) => {
    if (cfg.WARDEN_DRY_RUN) return;
    const until = new Date(ctx.clock.now().getTime() + LOOKAHEAD_MS);
    for (const j of await upcomingDeadlines(ctx, since, until, batch)) fireAt(j);
  };
  let looking = false;
  const refresh = () => {
    if (looking || stopped) return;
    looking = true;
    lookAhead(ctx.clock.now())
      .catch((e: unknown) => log.warn({ err: String(e), sweeper: 'timeout' }, 'reading the next deadlines failed (the tick is the backstop)'))
      .finally(() => (looking = false));
  };
  if (precise) {
    const iv = setInterval(refresh, LOOKAHEAD_REFRESH_MS);
    iv.unref?.();
    intervals.push(iv);
  }
  // After a tick: deadlines that passed while it ran, and the next escalation step.
  let stepSeq = 0;
  const arm = async (since: Date) => {
    const seq = ++stepSeq;
    const now = ctx.clock.now();
    const [, step] = await Promise.all([lookAhead(since), nextStep(ctx, now, horizonMs + 100, since)]);
    if (stopped || seq !== stepSeq) return;
    // +5 ms: the tick must see the step due. Nothing due soon: a tick one period and a bit from
    // now anyway, so a beat node-cron drops (it skips one that fires a full period late, as a
    // starved process's timers do) never leaves due work waiting for the one after.
    setStepTimer(step ? Math.max(5, step.getTime() - now.getTime() + 5) : horizonMs + 250);
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
      for (const iv of intervals) clearInterval(iv);
      for (const t of tasks) {
        await t.stop();
        await t.destroy();
      }
      await Promise.allSettled([...inflight.values(), ...fires]);
    },
  };
}
