import type { Ctx } from '../context';
import type { Job } from '../db/schema';
import type { DockerRuntime } from '../docker/types';
import { metrics } from '../metrics';
import { log } from '../log';
import { claimJobs, markDispatchWaits, startCounted, startOptions, waitMarksDue } from './dispatcher';
import { inflightStarts, type StartOptions } from './start';

/**
 * The dispatcher as the worker runs it: it drains when woken, not once a second.
 *
 * Wake-ups: a submission in this process (dispatchSignal), a NOTIFY from another replica's
 * submission (LISTEN in worker/index.ts), a container that ended or a start that failed here (a
 * freed slot), and the backstop tick (WARDEN_DISPATCH_TICK_S). They coalesce: waking a draining
 * loop makes it drain once more when it is done, never twice at once.
 *
 * A drain runs claiming rounds back to back. Each round is claimJobs as before (least-recently-
 * served users first, one job per user, limits re-counted under the user's lock), so fairness and
 * limits are exactly the tick's; only the wait between rounds is gone. Claimed jobs go to a pool
 * that runs at most `concurrency` starts at a time; claiming pauses while `concurrency` jobs wait
 * for a start slot (claimed jobs never sit long in `starting`), and a drain ends after
 * `maxClaimsPerWake` claims and goes again, so one wake-up is bounded.
 */
export interface DispatchLoopOptions {
  owner?: string | null;
  /** Starts at once (engine create + start calls in flight). */
  concurrency: number;
  /** Claims per drain before it yields (and goes again if there is more). */
  maxClaimsPerWake?: number;
  /** Users per claiming round (each gets one job per round). */
  maxUsers?: number;
  /** Defaults from the settings (WARDEN_PULL_TIMEOUT_S). */
  start?: Partial<StartOptions>;
}

export interface DispatchLoop {
  /** Asks for a drain (coalesced). */
  wake(): void;
  /** Resolves when no drain runs and no start is in flight (tests, shutdown). */
  idle(): Promise<void>;
  stats(): { drains: number; rounds: number; claimed: number };
  stop(): Promise<void>;
}

export function startDispatchLoop(ctx: Ctx, docker: DockerRuntime, o: DispatchLoopOptions): DispatchLoop {
  const maxClaims = o.maxClaimsPerWake ?? 200;
  let stopped = false;
  let wanted = false;
  let draining: Promise<void> | null = null;
  const waiting: Job[] = [];
  const running = new Set<Promise<void>>();
  const stats = { drains: 0, rounds: 0, claimed: 0 };
  let slotFreed: (() => void) | null = null;

  const so = startOptions(o.start);
  const runStart = (job: Job) => {
    const p = (async () => {
      const outcome = await startCounted(ctx, docker, job, so, (r) => {
        if (r !== 'running') loop.wake();
      });
      // A start that did not end running gave its slot back (failed, requeued, gone).
      if (outcome !== 'running' && outcome !== 'pulling') loop.wake();
    })();
    running.add(p);
    void p.finally(() => {
      running.delete(p);
      pump();
    });
  };

  /** Moves waiting jobs into free start slots. */
  const pump = () => {
    while (running.size < o.concurrency && waiting.length > 0) runStart(waiting.shift()!);
    if (waiting.length < o.concurrency && slotFreed) {
      const f = slotFreed;
      slotFreed = null;
      f();
    }
  };

  const drain = async () => {
    stats.drains++;
    const pinged = await docker.ping();
    // Wait marks: once a second for the whole fleet, not on every wake-up of every worker.
    if (await waitMarksDue(ctx.db)) await markDispatchWaits(ctx.db, ctx.clock.now(), !pinged, ctx.node);
    if (!pinged) return;
    let claimed = 0;
    while (!stopped && claimed < maxClaims) {
      // Back-pressure: never more claimed-but-waiting jobs than start slots.
      if (waiting.length >= o.concurrency) await new Promise<void>((r) => (slotFreed = r));
      if (stopped) return;
      const rows = await claimJobs(ctx.db, { now: ctx.clock.now(), node: ctx.node, owner: o.owner, maxUsers: o.maxUsers, perUser: 1 });
      stats.rounds++;
      if (rows.length === 0) return;
      claimed += rows.length;
      stats.claimed += rows.length;
      metrics().dispatcherClaims.inc(rows.length);
      for (const job of rows) {
        // Listed from the claim on, so this process's reconcile never requeues a job that waits here.
        inflightStarts.hold(job.id, job.claimId!);
        waiting.push(job);
      }
      pump();
    }
    // Bounded: yield to the event loop, then go on if there is more.
    if (claimed >= maxClaims) wanted = true;
  };

  const loop: DispatchLoop = {
    wake() {
      if (stopped) return;
      wanted = true;
      if (draining) return;
      draining = (async () => {
        while (wanted && !stopped) {
          wanted = false;
          try {
            await drain();
          } catch (e) {
            log.error({ err: String(e) }, 'dispatch failed');
          }
        }
      })().finally(() => {
        draining = null;
      });
    },
    async idle() {
      for (;;) {
        if (draining) await draining;
        else if (running.size) await Promise.allSettled([...running]);
        else return;
      }
    },
    stats: () => ({ ...stats }),
    async stop() {
      stopped = true;
      slotFreed?.();
      // Jobs claimed but never started: their claims are released by the lease lapsing (or a
      // successor settling this instance's claims at once, worker/instance.ts).
      for (const j of waiting.splice(0)) inflightStarts.release(j.id);
      await loop.idle();
    },
  };
  return loop;
}
