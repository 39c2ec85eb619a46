import { DbClock } from './clock';
import { config } from './config';
import type { Ctx } from './context';
import { getDatabase } from './db/client';
import { createRuntime } from './runtime';
import type { Runtime } from './runtime/types';
import { databaseNow, ensureInstallation } from './domain/installation';
import { nodeIdFromEngineId } from './domain/nodes';
import { ensureSeeded } from './seed';

const g = globalThis as unknown as { __wardenApp?: Promise<Ctx>; __wardenDocker?: Runtime };

/** The runtime (Docker or Kubernetes, WARDEN_RUNTIME) of this process (web side: health, live log tails). */
export function appDocker(): Runtime {
  if (!g.__wardenDocker) g.__wardenDocker = createRuntime(config());
  return g.__wardenDocker;
}

/** Placeholder node id until the engine has told us its ID: matches no job, so nothing is signalled from here. */
const UNRESOLVED_NODE = 'unresolved';

/**
 * The web process's context: shared pool, the database's clock, this installation, and this
 * node's id — WARDEN_NODE_ID, else the engine's ID, learnt on first contact (until then a kill
 * from the dashboard leaves the signal to the worker's next tick). Seeds on first use.
 */
export function getAppContext(): Promise<Ctx> {
  if (!g.__wardenApp) {
    g.__wardenApp = (async () => {
      const database = await getDatabase();
      const clock = await DbClock.start(() => databaseNow(database.db));
      const installation = await ensureInstallation(database.db);
      const docker = appDocker();
      let node = config().WARDEN_NODE_ID ?? null;
      let asking: Promise<void> | null = null;
      const learn = () => {
        if (node || asking) return;
        asking = docker
          .engineId()
          .then((id) => {
            node = nodeIdFromEngineId(id);
          })
          .catch(() => {})
          .finally(() => {
            asking = null;
          });
      };
      learn();
      await Promise.race([asking, new Promise((r) => setTimeout(r, 2_000))]);
      const ctx: Ctx = {
        db: database.db,
        clock,
        installation,
        docker,
        get node() {
          learn();
          return node ?? UNRESOLVED_NODE;
        },
      };
      await ensureSeeded(ctx);
      return ctx;
    })();
    g.__wardenApp.catch(() => {
      g.__wardenApp = undefined;
    });
  }
  return g.__wardenApp;
}
