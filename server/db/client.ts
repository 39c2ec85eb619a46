import path from 'node:path';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { config, StartupError } from '../config';
import { log } from '../log';
import { startEmbeddedPostgres } from './embedded';
import * as schema from './schema';

export type Db = PostgresJsDatabase<typeof schema>;
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** A database handle or a transaction: read/write helpers accept either. */
export type DbOrTx = Db | Tx;

export interface Database {
  db: Db;
  sql: postgres.Sql;
  url: string;
  close: () => Promise<void>;
}

export function connect(url: string, opts: { max?: number } = {}): Database {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    idle_timeout: 30,
    connect_timeout: 10,
    // Reconnect within half a second of the database coming back. postgres.js's default grows
    // as 3^attempt/100 s per failed try (2.4 s after five, 7 s after six), so a worker that
    // failed a few statements during a 2 s restart stayed idle for seconds afterwards while
    // deadlines passed (bench/chaos.ts).
    backoff: (attempt: number) => Math.min(0.05 * 2 ** attempt, 0.5),
    // A single statement never needs to wait longer than this; guards sweeper ticks.
    connection: { application_name: 'warden' },
  });
  const db = drizzle(sql, { schema });
  return { db, sql, url, close: () => sql.end({ timeout: 5 }) };
}

/** How long start-up waits for the database to answer before it gives up, naming the setting. */
export const DB_STARTUP_DEADLINE_MS = 10_000;

/** The URL without its password, for messages. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/** PostgreSQL's answer when it has no connection slot free (SQLSTATE 53300: max_connections, or a role's limit). */
export function isDatabaseFull(e: unknown): boolean {
  for (let x: unknown = e, i = 0; x && i < 4; x = (x as { cause?: unknown }).cause, i++) {
    if ((x as { code?: unknown }).code === '53300') return true;
  }
  return false;
}

/** The longest wait between two tries while PostgreSQL has no connection free. */
export const FULL_RETRY_MAX_MS = 30_000;

/**
 * Runs fn, and while PostgreSQL answers that it has no connection free (53300), waits and runs it
 * again (1 s, doubling to 30 s), saying each time, in words, why it waits and what would help. A
 * full database is the first limit a fleet meets (each worker holds WARDEN_WORKER_DB_POOL + 2
 * connections; docs/SCALING.md): a process started past it waits until connections are freed
 * instead of exiting with a message that blames DATABASE_URL. Any other error is thrown.
 */
export async function waitWhileDatabaseFull<T>(what: string, fn: () => Promise<T>, o: { firstDelayMs?: number } = {}): Promise<T> {
  for (let delay = o.firstDelayMs ?? 1_000; ; delay = Math.min(delay * 2, FULL_RETRY_MAX_MS)) {
    try {
      return await fn();
    } catch (e) {
      if (!isDatabaseFull(e)) throw e;
      log.warn(
        { err: (e as Error).message, retryInS: delay / 1000 },
        `PostgreSQL has no connection free for ${what} (${(e as Error).message}): its max_connections are all in use. ` +
          `Trying again in ${delay / 1000} s. A worker holds up to WARDEN_WORKER_DB_POOL + 2 connections (npm start 10 more for its web side): ` +
          'raise max_connections, lower WARDEN_WORKER_DB_POOL, or put a pooler in session mode in front (docs/SCALING.md).',
      );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/**
 * One `select 1` within a deadline. postgres.js would otherwise keep a start-up waiting on an
 * address that never answers (a firewalled host: minutes, connect_timeout notwithstanding), so
 * `npm start` would serve nothing and every request would hang. Throws a StartupError naming
 * `setting`. A database that answers but has no connection free is waited for
 * (waitWhileDatabaseFull), not reported as unreachable.
 */
export async function probeDatabase(url: string, setting: 'DATABASE_URL' | 'WARDEN_DATA_DIR', ms = DB_STARTUP_DEADLINE_MS): Promise<void> {
  await waitWhileDatabaseFull('start-up', () => probeOnce(url, setting, ms));
}

async function probeOnce(url: string, setting: 'DATABASE_URL' | 'WARDEN_DATA_DIR', ms: number): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: Math.ceil(ms / 1000) });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`select 1`,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
      }),
    ]);
  } catch (e) {
    if (isDatabaseFull(e)) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = [err.code, err.message].filter(Boolean).join(': ');
    throw new StartupError(
      setting === 'DATABASE_URL'
        ? `Cannot reach the database at DATABASE_URL (${describeDatabaseUrl(url)}): ${why}. Check DATABASE_URL (or unset it to use the embedded PostgreSQL).`
        : `The embedded PostgreSQL under WARDEN_DATA_DIR started but does not answer: ${why}.`,
      setting,
    );
  } finally {
    clearTimeout(timer);
    void sql.end({ timeout: 0 }).catch(() => {});
  }
}

/** Errors that mean the database went away (restart, network), not that a statement was wrong. */
const OUTAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT', '57P01', '57P02', '57P03']);

export function isDatabaseOutage(e: unknown): boolean {
  for (let x: unknown = e, i = 0; x && i < 4; x = (x as { cause?: unknown }).cause, i++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string' && OUTAGE_CODES.has(code)) return true;
  }
  return false;
}

/**
 * Runs fn, retrying while the database is unreachable (a restart takes seconds), up to maxMs.
 * For the few writes whose loss would leave work half-recorded (a started container not yet
 * written down): the side effect already happened, so waiting beats guessing later.
 */
export async function retryThroughOutage<T>(fn: () => Promise<T>, maxMs = 30_000): Promise<T> {
  const until = Date.now() + maxMs;
  for (let delay = 250; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await fn();
    } catch (e) {
      if (!isDatabaseOutage(e) || Date.now() + delay > until) throw e;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

export const MIGRATIONS_DIR = path.join(process.cwd(), 'drizzle');

/** Applies drizzle/ migrations under an advisory lock so replicas starting together don't race. */
export async function runMigrations(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(7301001)`;
    await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_DIR });
    await sql`select pg_advisory_unlock(7301001)`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

interface Boot {
  url: string;
  stopEmbedded: () => Promise<void>;
}

const g = globalThis as unknown as {
  __wardenBoot?: Promise<Boot>;
  __wardenDb?: Database;
};

/**
 * Resolves the database URL for this process: DATABASE_URL, or the embedded server under
 * WARDEN_DATA_DIR (started here, or shared with the Warden process that started it).
 * Migrations run once per process. Cached on globalThis so Next's hot reloads and its separate
 * bundles (instrumentation, route handlers) share one boot and one pool.
 */
export function bootDatabase(): Promise<Boot> {
  if (!g.__wardenBoot) {
    g.__wardenBoot = (async () => {
      const cfg = config();
      let url = cfg.DATABASE_URL;
      let stopEmbedded = async () => {};
      if (!url) {
        const h = await startEmbeddedPostgres(cfg.WARDEN_DATA_DIR);
        url = h.url;
        stopEmbedded = h.stop;
      }
      await probeDatabase(url, cfg.DATABASE_URL ? 'DATABASE_URL' : 'WARDEN_DATA_DIR');
      await waitWhileDatabaseFull('its migrations', () => runMigrations(url!));
      log.info({ embedded: !cfg.DATABASE_URL }, 'database ready');
      return { url, stopEmbedded };
    })();
    g.__wardenBoot.catch(() => {
      g.__wardenBoot = undefined;
    });
  }
  return g.__wardenBoot;
}

/** The process-wide pool (web requests and server actions). */
export async function getDatabase(): Promise<Database> {
  if (g.__wardenDb) return g.__wardenDb;
  const boot = await bootDatabase();
  if (!g.__wardenDb) g.__wardenDb = connect(boot.url, { max: 10 });
  return g.__wardenDb;
}
