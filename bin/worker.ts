/**
 * `npm run worker`: the worker alone (dispatcher, events, sweepers), no web server.
 * With the embedded database it connects to the one `npm start` started, or starts its own.
 */
import { config } from '../server/config';
import { log } from '../server/log';
import { bootDatabase } from '../server/db/client';
import { startWorker } from '../server/worker';
import { failStartup } from '../server/fail-startup';

async function main() {
  try {
    config();
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  let worker;
  try {
    worker = await startWorker();
  } catch (e) {
    failStartup(e);
  }
  const shutdown = async (sig: string) => {
    log.info({ sig }, 'worker shutting down');
    await worker.stop().catch(() => {});
    // Stop the embedded PostgreSQL if this process started it (no-op when shared or external).
    await (await bootDatabase()).stopEmbedded().catch(() => {});
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((e) => failStartup(e));
