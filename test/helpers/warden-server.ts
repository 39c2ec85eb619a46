import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type Database } from '../../server/db/client';
import { freePort } from '../../server/db/embedded';

/**
 * A real Warden for end-to-end tests: `next start` (built when missing or stale, as `npm start`
 * does) on its own embedded PostgreSQL and a free port, with the worker running inside it.
 *
 *   WARDEN_E2E_DIR   run `next start` from another checkout (default: this repo)
 *   E2E_REBUILD=1    rebuild even when the build looks current
 */
export const ROOT = path.resolve(process.env.WARDEN_E2E_DIR ?? path.join(__dirname, '../..'));
const REPO = path.resolve(__dirname, '../..');

/** Polls until fn returns something truthy (a condition, never a fixed sleep). */
export async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, everyMs = 250): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/**
 * Stops a server process started in its own process group (SIGTERM, then SIGKILL after 20 s),
 * then the embedded PostgreSQL it owned (its postmaster.pid under dataDir), and removes dataDir.
 */
export async function stopServer(child: ChildProcess, dataDir: string, pool: Database | null): Promise<void> {
  await pool?.close().catch(() => {});
  if (child.pid && child.exitCode == null) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    await until('the server to exit', async () => child.exitCode != null || child.signalCode != null, 20_000).catch(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    });
  }
  // The embedded PostgreSQL belonged to the server process; make sure it is gone too.
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'pg/postmaster.pid'), 'utf8').split('\n')[0]);
    if (pid > 0) process.kill(pid, 'SIGINT');
    await until('postgres to stop', async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    }, 15_000);
  } catch {
    /* not running */
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
}

/**
 * Removes every container on the local engine with this label (`key=value`; nothing if the engine
 * is gone), ten at a time: one `docker rm -f` of hundreds of running containers at once (the CLI
 * runs up to 50 in parallel) has hung dockerd 20.10 here (the benches remove hundreds with this).
 */
export function removeContainers(label: string): void {
  try {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=${label}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (let i = 0; i < ids.length; i += 10) execFileSync('docker', ['rm', '-f', ...ids.slice(i, i + 10)], { stdio: 'ignore' });
  } catch {
    /* engine gone */
  }
}

export interface Warden {
  base: string;
  dataDir: string;
  /** A pool on the embedded database the server started. */
  db: () => Database;
  /** Stops the server and its database, then removes every container of this Warden from the engine. */
  stop: () => Promise<void>;
}

/**
 * The same check `npm start` makes: build when there is no build or the sources are newer. Two
 * e2e files run in parallel workers: a lock directory keeps them from building (or one starting
 * from a half-written .next) at once; the second finds the build current and goes on.
 */
export async function ensureBuilt(): Promise<void> {
  const lock = path.join(os.tmpdir(), `warden-e2e-build-${crypto.createHash('sha1').update(ROOT).digest('hex').slice(0, 12)}.lock`);
  await until('the e2e build lock', async () => {
    try {
      fs.mkdirSync(lock);
      return true;
    } catch {
      // A lock left by a killed run: builds take minutes, not 20.
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 20 * 60_000) fs.rmSync(lock, { recursive: true, force: true });
      return false;
    }
  }, 1_200_000, 500);
  try {
    if (process.env.E2E_REBUILD === '1') fs.rmSync(path.join(ROOT, '.next/BUILD_ID'), { force: true });
    execFileSync(process.execPath, [path.join(ROOT, 'bin/prestart.mjs')], { cwd: ROOT, stdio: 'inherit', timeout: 900_000 });
    process.env.E2E_REBUILD = '0';
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** `next start` on a fresh embedded database (own WARDEN_DATA_DIR, mode 0755) and a free port. */
export async function startWarden(name: string, o: { admin: { email: string; password: string }; env?: Record<string, string> }): Promise<Warden> {
  const extraEnv = o.env ?? {};
  await ensureBuilt();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'warden-e2e-'));
  fs.chmodSync(dataDir, 0o755);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'TEST' && k !== 'NODE_ENV') env[k] = v;
  Object.assign(env, {
    PORT: String(port),
    NODE_ENV: 'production',
    WARDEN_DATA_DIR: dataDir,
    WARDEN_ADMIN_EMAIL: o.admin.email,
    WARDEN_ADMIN_PASSWORD: o.admin.password,
    WARDEN_NODE_ID: `e2e-${crypto.randomBytes(3).toString('hex')}`,
    LOG_LEVEL: 'warn',
    NEXT_TELEMETRY_DISABLED: '1',
    // Node capacity defaults to the engine's CPU count; the plans' cpus caps (1, 2, 4) would let a
    // 2-core test machine run one or two jobs at a time (tests about capacity set their own).
    WARDEN_NODE_CPU_OVERCOMMIT: '16',
    ...extraEnv,
  });
  delete env.DATABASE_URL;
  fs.mkdirSync(path.join(REPO, 'test-results'), { recursive: true });
  const log = fs.createWriteStream(path.join(REPO, `test-results/e2e-server-${name}.log`));
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, 'node_modules/next/dist/bin/next'), 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: ROOT,
    env: env as NodeJS.ProcessEnv,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  let pool: Database | null = null;
  const stop = async () => {
    // This Warden's containers go with it, whichever user ran them and whatever state the test
    // left them in: after the server is down, so it does not see them vanish and run those jobs
    // again; by its installation id, so another Warden's on the same engine are never touched.
    let installation: string | null = null;
    try {
      const [row] = await db().sql<{ value: string }[]>`select value #>> '{}' as value from settings where key = 'installation.id'`;
      installation = row?.value ?? null;
    } catch {
      /* it never got that far */
    }
    await stopServer(child, dataDir, pool);
    if (installation) removeContainers(`warden.installation=${installation}`);
  };
  try {
    await until('the server to answer /api/health', async () => {
      if (child.exitCode != null) throw new Error(`next start exited with ${child.exitCode}; see test-results/e2e-server-${name}.log`);
      const r = await fetch(`${base}/api/health`).catch(() => null);
      return r != null && r.status === 200;
    }, 120_000, 500);
  } catch (e) {
    await stop();
    throw e;
  }
  const db = () => {
    if (!pool) {
      const owner = JSON.parse(fs.readFileSync(path.join(dataDir, 'pg-owner.json'), 'utf8')) as { port: number };
      const pw = fs.readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
      pool = connect(`postgres://postgres:${encodeURIComponent(pw)}@127.0.0.1:${owner.port}/postgres`, { max: 2 });
    }
    return pool;
  };
  return { base, dataDir, db, stop };
}

