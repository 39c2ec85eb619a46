import cron, { type ScheduledTask } from 'node-cron';

import { systemClock } from '../clock';
import { config } from '../config';
import type { Ctx } from '../context';
import { bootDatabase, connect, type Database } from '../db/client';
import { createDockerRuntime } from '../docker/runtime';
import type { DockerRuntime, EventSubscription } from '../docker/types';
import { HEARTBEAT_EVERY_MS, writeHeartbeat } from '../domain/nodes';
import { log } from '../log';
import { startSweepers, type SweeperHandle } from '../sweepers';
import { onContainerEvent, reconcile } from './completion';
import { dispatchOnce } from './dispatcher';
import { ensureSeeded } from '../seed';
import { purgeWebhookHistory } from '../domain/webhooks';
import { startWebhookDelivery } from './webhooks';

/**
 * The worker: dispatcher (every second), Docker events → completion, reconcile (every 10 s and
 * after an engine reconnect), heartbeat (every 5 s), webhook deliveries (every second, and at
 * once after each send; history purged every 10 min) and the sweepers. Runs inside `npm start`
 * (from instrumentation.ts) or alone (`npm run worker`). Keeps its own small pool.
 */
export interface Worker {
  ctx: Ctx;
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
  const database: Database = connect(boot.url, { max: 8 });
  const docker: DockerRuntime = createDockerRuntime({ dockerHost: cfg.DOCKER_HOST });
  const ctx: Ctx = { db: database.db, clock: systemClock, node: cfg.WARDEN_NODE_ID, docker };
  await ensureSeeded(ctx);

  let stopping = false;
  const inflight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inflight.add(p);
    // Errors are handled by the caller; this branch only tracks completion.
    p.finally(() => inflight.delete(p)).catch(() => {});
    return p;
  };

  const heartbeat = async () => {
    const ok = await docker.ping();
    await writeHeartbeat(ctx.db, { node: ctx.node, at: ctx.clock.now(), dockerOk: ok, dockerError: ok ? null : docker.lastError() });
  };
  await heartbeat().catch((e) => log.error({ err: String(e) }, 'heartbeat failed'));

  const tasks: ScheduledTask[] = [];
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

  every(1, 'dispatcher', () => dispatchOnce(ctx));
  every(10, 'reconcile', () => reconcile(ctx, docker));
  every(HEARTBEAT_EVERY_MS / 1000, 'heartbeat', heartbeat);
  const deliveries = startWebhookDelivery(ctx, { allowPrivate: cfg.WARDEN_WEBHOOK_ALLOW_PRIVATE });
  every(1, 'webhooks', () => deliveries.tick());
  every(600, 'webhook-history', () => purgeWebhookHistory(ctx.db, ctx.clock.now(), cfg.WARDEN_HISTORY_DAYS));

  let events: EventSubscription | null = docker.events(
    (e) => {
      if (stopping) return;
      void track(onContainerEvent(ctx, docker, e)).catch((err) => log.error({ err: String(err) }, 'event handling failed'));
    },
    () => {
      log.info('docker events reconnected; reconciling');
      void track(reconcile(ctx, docker)).catch(() => {});
    },
  );
  const sweepers: SweeperHandle = startSweepers(ctx, cfg);
  // Catch up on anything that ended while we were down.
  void track(reconcile(ctx, docker, { startingStaleMs: 0 })).catch((e) => log.warn({ err: String(e) }, 'initial reconcile failed'));
  log.info({ node: ctx.node }, 'worker started');

  return {
    ctx,
    async stop() {
      if (stopping) return;
      stopping = true;
      for (const t of tasks) await t.stop();
      await sweepers.stop();
      await deliveries.stop();
      events?.close();
      events = null;
      // Finish in-flight claims/starts; running containers are left to be found again on restart.
      await Promise.allSettled([...inflight]);
      await database.close();
      g.__wardenWorker = undefined;
      log.info('worker stopped');
    },
  };
}
