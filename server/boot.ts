import { getAppContext } from './app';
import { config } from './config';
import { failStartup } from './fail-startup';
import { log } from './log';

/**
 * What `npm start` does at start-up (called from instrumentation.ts): validate settings, boot the
 * database (embedded PostgreSQL when DATABASE_URL is unset), migrate, seed, and start the worker
 * in this process unless WARDEN_WORKER=off. A start-up failure ends the process (./fail-startup).
 */
export async function boot(): Promise<void> {
  let cfg;
  try {
    cfg = config();
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  try {
    await getAppContext();
  } catch (e) {
    failStartup(e);
  }
  if (!cfg.WARDEN_WORKER) {
    log.info('WARDEN_WORKER=off: web only, no worker in this process');
    return;
  }
  const { startWorker } = await import('./worker');
  let worker;
  try {
    worker = await startWorker();
  } catch (e) {
    failStartup(e);
  }
  const shutdown = async (sig: string) => {
    log.info({ sig }, 'shutting down');
    await worker.stop().catch(() => {});
    // Stop the embedded PostgreSQL we own (no-op with DATABASE_URL or a shared server).
    const { bootDatabase } = await import('./db/client');
    await (await bootDatabase()).stopEmbedded().catch(() => {});
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
