/**
 * Next.js start-up hook: boots the database (embedded PostgreSQL when DATABASE_URL is unset),
 * applies migrations, seeds, and starts the worker in this process unless WARDEN_WORKER=off.
 * Node-only modules are imported dynamically so the edge bundle never sees them.
 */
export async function register() {
  if (process.env.NEXT_RUNTIME !== 'nodejs') return;
  const { config } = await import('./server/config');
  const { log } = await import('./server/log');
  let cfg;
  try {
    cfg = config();
  } catch (e) {
    console.error(String((e as Error).message));
    process.exit(2);
  }
  try {
    const { getAppContext } = await import('./server/app');
    await getAppContext();
  } catch (e) {
    log.fatal({ err: String(e) }, 'database start-up failed');
    console.error(`Warden could not start its database: ${(e as Error).message}`);
    process.exit(1);
  }
  if (cfg.WARDEN_WORKER) {
    const { startWorker } = await import('./server/worker');
    const worker = await startWorker();
    const shutdown = async (sig: string) => {
      log.info({ sig }, 'shutting down');
      await worker.stop().catch(() => {});
      process.exit(0);
    };
    process.once('SIGTERM', () => void shutdown('SIGTERM'));
    process.once('SIGINT', () => void shutdown('SIGINT'));
  }
}
