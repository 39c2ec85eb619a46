/**
 * The whole product, as a user runs it, for the benchmarks: `node bin/server.mjs` (what
 * `npm start` serves, after the same `bin/prestart.mjs` build check) with its own embedded
 * PostgreSQL in a fresh WARDEN_DATA_DIR and WARDEN_WORKER=off, plus a separate `npm run worker`
 * on the same data directory (the worker connects to the database the server started). Jobs go
 * in through the HTTP API with real keys; the worker is the real process with its Docker events
 * stream, completions, webhook outbox, dispatcher and sweepers.
 *
 * The bench process only sets up (plans, users, keys through the API; one operator key through
 * the domain function, as `warden` would print it) and observes: the engine's own events, the
 * database's `warden_live` notifications (delivered on COMMIT), and the processes' RSS and CPU
 * time from /proc.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { systemClock } from '../server/clock';
import { connect, type Database } from '../server/db/client';
import { freePort } from '../server/db/embedded';
import { ensureInstallation } from '../server/domain/installation';
import { createOperatorKey } from '../server/domain/operators';
import { parseTopic } from '../server/dashboard/live-hub';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const ADMIN = { email: 'bench@warden.bench', password: 'bench-password-1234' };

export interface Product {
  base: string;
  dataDir: string;
  /** The worker's node id (WARDEN_NODE_ID), on every container label `warden.node`. */
  node: string;
  installation: string;
  adminKey: string;
  /** The server's PostgreSQL URL (for LISTEN and read-only checks). */
  dbUrl: string;
  db: Database;
  server: ChildProcess;
  worker: ChildProcess | null;
  /** An API call with the admin key (or `key`); throws on a non-2xx answer with the error body. */
  api<T = unknown>(method: string, route: string, body?: unknown, key?: string): Promise<T>;
  /** Starts (again) the `npm run worker` process; resolves when its node has a heartbeat. */
  startWorker(extraEnv?: Record<string, string>): Promise<ChildProcess>;
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_ENV' && k !== 'DATABASE_URL') env[k] = v;
  return { ...env, LOG_LEVEL: 'warn', NEXT_TELEMETRY_DISABLED: '1', ...extra } as unknown as NodeJS.ProcessEnv;
}

async function until<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 200): Promise<T> {
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

async function stopGroup(child: ChildProcess | null, timeoutMs = 20_000): Promise<void> {
  if (!child?.pid || child.exitCode != null || child.signalCode != null) return;
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  await until('the process to exit', async () => child.exitCode != null || child.signalCode != null, timeoutMs).catch(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
}

/**
 * Starts the product. `env` goes to both processes (capacity, sweep periods…); `workerEnv` to the
 * worker only (e.g. DOCKER_HOST). `worker: false` starts the web server alone.
 */
export async function startProduct(name: string, o: { env?: Record<string, string>; workerEnv?: Record<string, string>; worker?: boolean } = {}): Promise<Product> {
  const port = await freePort();
  execFileSync(process.execPath, [path.join(ROOT, 'bin/prestart.mjs')], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, PORT: String(port) } });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `warden-bench-${name}-`));
  fs.chmodSync(dataDir, 0o755);
  const node = `bench-${name}-${crypto.randomBytes(3).toString('hex')}`;
  const common = { WARDEN_DATA_DIR: dataDir, WARDEN_NODE_ID: node, WARDEN_ADMIN_EMAIL: ADMIN.email, WARDEN_ADMIN_PASSWORD: ADMIN.password, ...(o.env ?? {}) };
  const logDir = path.join(ROOT, 'test-results');
  fs.mkdirSync(logDir, { recursive: true });
  const spawnLogged = (cmd: string, args: string[], env: NodeJS.ProcessEnv, logName: string) => {
    const c = spawn(cmd, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = fs.createWriteStream(path.join(logDir, `bench-${name}-${logName}.log`));
    c.stdout!.pipe(log);
    c.stderr!.pipe(log);
    return c;
  };
  const server = spawnLogged(process.execPath, [path.join(ROOT, 'bin/server.mjs'), '-p', String(port), '-H', '127.0.0.1'], childEnv({ ...common, PORT: String(port), NODE_ENV: 'production', WARDEN_WORKER: 'off' }), 'server');
  const base = `http://127.0.0.1:${port}`;
  let worker: ChildProcess | null = null;
  let pool: Database | null = null;
  let dbUrl = '';
  const stopAll = async () => {
    await stopGroup(worker);
    await pool?.close().catch(() => {});
    await stopGroup(server);
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
  };
  try {
    await until('the server to answer /api/health', async () => {
      if (server.exitCode != null) throw new Error(`bin/server.mjs exited ${server.exitCode}: see test-results/bench-${name}-server.log`);
      const r = await fetch(`${base}/api/health`).catch(() => null);
      return r != null && r.status < 500;
    }, 180_000, 300);
    const owner = JSON.parse(fs.readFileSync(path.join(dataDir, 'pg-owner.json'), 'utf8')) as { port: number };
    const pw = fs.readFileSync(path.join(dataDir, 'pg-password'), 'utf8').trim();
    dbUrl = `postgres://postgres:${encodeURIComponent(pw)}@127.0.0.1:${owner.port}/postgres`;
    pool = connect(dbUrl, { max: 4 });
    const installation = await ensureInstallation(pool.db);
    const ctx = { db: pool.db, clock: systemClock, node: 'bench', installation, docker: null };
    const { apiKey: adminKey } = await createOperatorKey(ctx, { kind: 'system', name: 'cli' }, ADMIN.email);
    const api = async <T>(method: string, route: string, body?: unknown, key = adminKey): Promise<T> => {
      const r = await fetch(`${base}${route}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${route} → ${r.status} ${text.slice(0, 300)}`);
      return (text ? JSON.parse(text) : null) as T;
    };
    const startWorker = async (extraEnv: Record<string, string> = {}) => {
      worker = spawnLogged('npm', ['run', '-s', 'worker'], childEnv({ ...common, ...(o.workerEnv ?? {}), ...extraEnv }), 'worker');
      const w = worker;
      await until(`the worker (node ${node}) to send a heartbeat`, async () => {
        if (w.exitCode != null) throw new Error(`npm run worker exited ${w.exitCode}: see test-results/bench-${name}-worker.log`);
        const nodes = await api<{ nodes?: { id: string; heartbeatAt: string | null }[] } | { id: string }[]>('GET', '/api/v1/nodes');
        const list = Array.isArray(nodes) ? nodes : (nodes.nodes ?? []);
        return list.some((n) => n.id === node);
      }, 180_000, 300);
      return w;
    };
    const p: Product = {
      base,
      dataDir,
      node,
      installation,
      adminKey,
      dbUrl,
      db: pool,
      server,
      get worker() {
        return worker;
      },
      api,
      startWorker,
      stopWorker: async () => {
        await stopGroup(worker);
        worker = null;
      },
      stop: stopAll,
    };
    if (o.worker !== false) await startWorker();
    return p;
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** A plan through the API (PUT /api/v1/plans/:name) and `users` users on it, each with its key. */
export async function planAndUsers(p: Product, plan: string, limits: Record<string, unknown>, users: number): Promise<{ id: string; key: string }[]> {
  await p.api('PUT', `/api/v1/plans/${plan}`, limits);
  const out: { id: string; key: string }[] = [];
  for (let i = 0; i < users; i++) {
    const r = await p.api<{ id: string; apiKey: string }>('POST', '/api/v1/users', { name: `${plan}-${i}-${crypto.randomBytes(2).toString('hex')}`, plan });
    out.push({ id: r.id, key: r.apiKey });
  }
  return out;
}

/**
 * The job transitions as a client sees them after COMMIT: `LISTEN warden_live` on the product's
 * database (the triggers of drizzle/0011; NOTIFY is delivered only when the transaction commits),
 * each `job:<id>:<status>` stamped with this process's clock when it arrives.
 */
export async function listenTransitions(dbUrl: string): Promise<{ seen: Map<string, Map<string, number>>; close(): Promise<void> }> {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  const seen = new Map<string, Map<string, number>>();
  await sql.listen('warden_live', (payload) => {
    const at = Date.now();
    // `job:<id>:<status>:<owner>` since the owner joined the payload (drizzle/0012).
    const m = /^job:([0-9a-f-]{36}):(\w+)$/.exec(parseTopic(payload).topic);
    if (!m) return;
    const byStatus = seen.get(m[1]!) ?? new Map<string, number>();
    seen.set(m[1]!, byStatus);
    if (!byStatus.has(m[2]!)) byStatus.set(m[2]!, at);
  });
  return { seen, close: () => sql.end({ timeout: 5 }) };
}

/** Every process in the tree under pid (pid included). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      /* exited */
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** Resident set size of one process, bytes (0 when gone). */
export function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** user+system CPU time of the processes, seconds. */
export function cpuSecondsOf(pids: number[]): number {
  const hz = 100; // USER_HZ on Linux
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* exited */
    }
  }
  return ticks / hz;
}

/** The node process that runs the worker under `npm run worker` (npm → sh → node bin/worker.mjs). */
export function workerNodePid(worker: ChildProcess): number {
  const tree = processTree(worker.pid!);
  const withWorker = tree.filter((p) => {
    try {
      const cmd = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      return /bin\/worker\.(mjs|ts)/.test(cmd) && /(^|\/)node\0/.test(cmd);
    } catch {
      return false;
    }
  });
  return withWorker.at(-1) ?? worker.pid!;
}

/** The postgres processes of the embedded server in dataDir (postmaster and its children). */
export function postgresPids(dataDir: string): number[] {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'pg/postmaster.pid'), 'utf8').split('\n')[0]);
    return processTree(pid);
  } catch {
    return [];
  }
}
