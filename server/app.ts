import { systemClock } from './clock';
import { config } from './config';
import type { Ctx } from './context';
import { getDatabase } from './db/client';
import { createDockerRuntime } from './docker/runtime';
import type { DockerRuntime } from './docker/types';
import { ensureSeeded } from './seed';

const g = globalThis as unknown as { __wardenApp?: Promise<Ctx>; __wardenDocker?: DockerRuntime };

/** The docker runtime of this process (web side: health, live log tails). */
export function appDocker(): DockerRuntime {
  if (!g.__wardenDocker) g.__wardenDocker = createDockerRuntime({ dockerHost: config().DOCKER_HOST });
  return g.__wardenDocker;
}

/** The web process's context: shared pool, system clock, this node's id. Seeds on first use. */
export function getAppContext(): Promise<Ctx> {
  if (!g.__wardenApp) {
    g.__wardenApp = (async () => {
      const database = await getDatabase();
      const ctx: Ctx = { db: database.db, clock: systemClock, node: config().WARDEN_NODE_ID, docker: appDocker() };
      await ensureSeeded(ctx);
      return ctx;
    })();
    g.__wardenApp.catch(() => {
      g.__wardenApp = undefined;
    });
  }
  return g.__wardenApp;
}
