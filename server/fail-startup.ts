import { StartupError } from './config';
import { log } from './log';

/**
 * Every start-up failure ends the process at once, non-zero, with one message that names the
 * setting to fix (exit 2: a setting is invalid; exit 1: what it points at does not work), rather
 * than leaving a server up that serves nothing and hangs every request. Its own module so the
 * worker (bin/worker.ts) uses it without importing the web app's context (server/boot.ts).
 */
export function failStartup(e: unknown): never {
  if (e instanceof StartupError) {
    console.error(`Warden cannot start: ${e.message}`);
  } else {
    console.error(`Warden cannot start: ${(e as Error)?.message ?? String(e)}`);
  }
  log.fatal({ err: String((e as Error)?.message ?? e), setting: e instanceof StartupError ? e.setting : undefined }, 'start-up failed');
  process.exit(1);
}
