import cron, { type ScheduledTask } from 'node-cron';

import { DbClock } from '../clock';
import { config } from '../config';
import type { Ctx } from '../context';
import { bootDatabase, connect, waitWhileDatabaseFull, type Database } from '../db/client';
import { loadRuntime } from '../runtime/load';
import type { Runtime, EventSubscription } from '../runtime/types';
import { databaseNow, ensureInstallation } from '../domain/installation';
import { enforceDrainDeadline, HEARTBEAT_EVERY_MS, nodeFacts, resolveNodeId, writeHeartbeat, type NodeFacts } from '../domain/nodes';
import { killJob } from '../domain/jobs';
import { log } from '../log';
import { startSweepers, type SweeperHandle } from '../sweepers';
import { onContainerEvent, reconcile } from './completion';
import { startDispatchLoop, type DispatchLoop } from './dispatch-loop';
import { holdInstanceLock, PROCESS_INSTANCE } from './instance';
import { renewStartLeases } from './start';
import { ensureSeeded } from '../seed';
import { DISPATCH_CHANNEL, dispatchSignal } from '../domain/dispatch-signal';
import { purgeWebhookHistory } from '../domain/webhooks';
import { startWebhookDelivery } from './webhooks';

/**
 * The worker: dispatcher (woken by submissions here and on other replicas and by freed slots,
 * with a 1 s backstop tick), Docker events → completion, reconcile (every 10 s and
 * after an engine reconnect), heartbeat (every 5 s, also renewing the leases of starts in flight),
 * webhook deliveries (every second, and at once after each send; history purged every 10 min)
 * and the sweepers. Runs inside `npm start` (from instrumentation.ts) or alone (`npm run worker`).
 * Keeps its own small pool. Time is the database's (DbClock); the node id is the engine's ID
 * unless WARDEN_NODE_ID says otherwise, so the loops start once the engine has answered (until
 * then the worker waits, logging why, and the web side keeps working).
 */
export interface Worker {
  /** Resolves with this worker's node id once its loops run (null: stopped before that). */
  ready: Promise<string | null>;
  stop(): Promise<void>;
}

const g = globalThis as unknown as { __wardenWorker?: Promise<Worker> };

export function startWorker(): Promise<Worker> {
  if (!g.__wardenWorker) g.__wardenWorker = doStart();
  return g.__wardenWorker;
}

async function doStart(): Promise<Worker> {
  const cfg = config();
  const boot = await bootDatabase();
  const database: Database = connect(boot.url, { max: cfg.WARDEN_WORKER_DB_POOL });
  // The probe found a free connection, but other processes may take the last ones before this
  // pool opens its first: wait for one, saying so (a fleet's first limit, docs/SCALING.md).
  const clock = await waitWhileDatabaseFull('this worker', () => DbClock.start(() => databaseNow(database.db)));
  if (Math.abs(clock.offset()) > 1000) log.warn({ offsetMs: clock.offset() }, 'this machine\'s clock differs from the database\'s; Warden uses the database\'s');
  const installation = await ensureInstallation(database.db);
  const docker: Runtime = await loadRuntime(cfg);
  await ensureSeeded({ db: database.db, clock, node: cfg.WARDEN_NODE_ID ?? 'unresolved', installation, docker: null });
  // Held for the life of the process: its claims are settled at once by a successor if it dies.
  const instanceLock = await waitWhileDatabaseFull("this worker's instance lock", () => holdInstanceLock(boot.url));

  let stopping = false;
  const inflight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    // Errors are handled by the caller; this branch only tracks completion.
    p.finally(() => inflight.delete(p)).catch(() => {});
    return p;
  };
  const tasks: ScheduledTask[] = [];
  let events: EventSubscription | null = null;
  let sweepers: SweeperHandle | null = null;
  let deliveries: ReturnType<typeof startWebhookDelivery> | null = null;
  let dispatch: DispatchLoop | null = null;
  const unsubscribe: (() => void)[] = [];

  const run = async (): Promise<string | null> => {
    const node = await resolveNodeId(docker, cfg.WARDEN_NODE_ID, {
      cancelled: () => stopping,
      onWait: (err) => log.warn({ err }, 'waiting for the Docker engine to learn this node\'s id (its engine ID; set WARDEN_NODE_ID to skip)'),
    });
    if (!node || stopping) return null;
    const ctx: Ctx = { db: database.db, clock, node, installation, docker };

    // Capacity and labels (WARDEN_NODE_*, defaults from `docker info`), learnt once the engine answers.
    let facts: NodeFacts | undefined;
    const heartbeat = async () => {
      const ok = await docker.ping();
      if (ok && !facts) facts = nodeFacts(cfg, await docker.engineInfo());
      await instanceLock.keep();
      await writeHeartbeat(ctx.db, { node: ctx.node, at: ctx.clock.now(), dockerOk: ok, dockerError: ok ? null : docker.lastError(), facts });
      await renewStartLeases(ctx);
      await enforceDrainDeadline(ctx, killJob);
    };
    await heartbeat().catch((e) => log.error({ err: String(e) }, 'heartbeat failed'));

    const every = (seconds: number, name: string, fn: () => Promise<unknown>) => {
      const expr = seconds < 60 ? `*/${seconds} * * * * *` : `0 */${Math.max(1, Math.round(seconds / 60))} * * * *`;
      const t = cron.schedule(
        expr,
        async () => {
          if (stopping) return;
          try {
            await track(fn());
          } catch (e) {
            log.error({ err: String(e), task: name }, 'worker task failed');
          }
        },
        { name, noOverlap: true },
      );
      tasks.push(t);
    };

    // The dispatcher drains when woken (dispatch-loop.ts): by a submission here, by one on
    // another replica (NOTIFY), by a freed slot, and by the backstop tick.
    dispatch = startDispatchLoop(ctx, docker, {
      owner: PROCESS_INSTANCE,
      concurrency: cfg.WARDEN_START_CONCURRENCY,
    });
    const wake = () => dispatch?.wake();
    unsubscribe.push(dispatchSignal.on(wake));
    const listening = await database.sql.listen(DISPATCH_CHANNEL, wake, wake).catch((e: unknown) => {
      log.warn({ err: String(e) }, `LISTEN ${DISPATCH_CHANNEL} failed: other replicas' submissions wait for the backstop tick`);
      return null;
    });
    if (listening) unsubscribe.push(() => void listening.unlisten().catch(() => {}));
    if (cfg.WARDEN_DISPATCH_TICK_S > 0) every(cfg.WARDEN_DISPATCH_TICK_S, 'dispatcher', async () => wake());
    wake();
    // Adopting a start (a crash left it half done) may hand the timeout sweeper a deadline that
    // passed already: tick it at once rather than on the next second.
    const reconcileAndKick = async () => {
      const r = await reconcile(ctx, docker);
      if (r.adopted > 0 || r.completed > 0) await sweepers?.kick('timeout');
      return r;
    };
    every(10, 'reconcile', reconcileAndKick);
    every(HEARTBEAT_EVERY_MS / 1000, 'heartbeat', heartbeat);
    deliveries = startWebhookDelivery(ctx, { allowPrivate: cfg.WARDEN_WEBHOOK_ALLOW_PRIVATE });
    every(1, 'webhooks', () => deliveries!.tick());
    every(600, 'webhook-history', () => purgeWebhookHistory(ctx.db, ctx.clock.now(), cfg.WARDEN_HISTORY_DAYS));

    events = docker.events(
      (e) => {
        if (stopping) return;
        void track(onContainerEvent(ctx, docker, e))
          // A container that ended freed its user's slot: the next queued job starts now.
          .then(() => e.action === 'die' && dispatch?.wake())
          .catch((err) => log.error({ err: String(err) }, 'event handling failed'));
      },
      () => {
        log.info('docker events reconnected; reconciling');
        void track(reconcileAndKick()).catch(() => {});
      },
    );
    sweepers = startSweepers(ctx, cfg);
    // Catch up on anything that ended while we were down. Starts of a previous process of this
    // node are not in flight here; their leases show whether another replica still makes them.
    void track(reconcileAndKick()).catch((e) => log.warn({ err: String(e) }, 'initial reconcile failed'));
    log.info({ node: ctx.node, installation, clockOffsetMs: clock.offset() }, 'worker started');
    return node;
  };
  const ready = run();
  ready.catch((e) => log.error({ err: String(e) }, 'worker failed to start'));

  return {
    ready,
    async stop() {
      if (stopping) return;
      stopping = true;
      await ready.catch(() => null);
      for (const t of tasks) await t.stop();
      for (const u of unsubscribe) u();
      await dispatch?.stop();
      await sweepers?.stop();
      await deliveries?.stop();
      events?.close();
      events = null;
      // Finish in-flight ticks; running containers are left to be found again on restart, and
      // image pulls in flight are abandoned (their jobs' leases lapse; a successor requeues them).
      await Promise.allSettled([...inflight]);
      clock.stop();
      await instanceLock.release();
      await database.close();
      g.__wardenWorker = undefined;
      log.info('worker stopped');
    },
  };
}
