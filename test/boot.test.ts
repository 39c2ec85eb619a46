import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../server/config';
import { startEmbeddedPostgres } from '../server/db/embedded';
import { waitFor } from './helpers/fixtures';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '..');
const TSX = path.join(ROOT, 'node_modules/.bin/tsx');

function tempDataDir(tag: string): string {
  // The postgres user must traverse every parent (mkdtemp makes 0700 dirs).
  const dir = path.join(os.tmpdir(), `warden-${tag}-${process.pid}-${Date.now()}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  return dir;
}
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('settings', () => {
  it.each([
    [{}, { PORT: 3000, WARDEN_WORKER: true, WARDEN_TIMEOUT_SWEEP_S: 1, WARDEN_TTL_SWEEP_S: 30, WARDEN_ORPHAN_SWEEP_S: 30, WARDEN_ORPHAN_GRACE_S: 300, WARDEN_HISTORY_DAYS: 30, WARDEN_DRY_RUN: false }],
    [{ PORT: '8080', WARDEN_WORKER: 'off', WARDEN_DRY_RUN: 'on' }, { PORT: 8080, WARDEN_WORKER: false, WARDEN_DRY_RUN: true }],
    [{ WARDEN_WORKER: 'true', WARDEN_TIMEOUT_SWEEP_S: '5' }, { WARDEN_WORKER: true, WARDEN_TIMEOUT_SWEEP_S: 5 }],
  ])('parses %j', (env, expected) => {
    expect(parseConfig(env)).toMatchObject(expected);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ WARDEN_WORKER: 'maybe' }, 'WARDEN_WORKER'],
    [{ WARDEN_TIMEOUT_SWEEP_S: '0' }, 'WARDEN_TIMEOUT_SWEEP_S'],
    [{ WARDEN_TTL_SWEEP_S: '1.5' }, 'WARDEN_TTL_SWEEP_S'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ WARDEN_NODE_ID: 'has space' }, 'WARDEN_NODE_ID'],
    [{ WARDEN_ADMIN_PASSWORD: 'short' }, 'WARDEN_ADMIN_PASSWORD'],
  ])('rejects %j naming %s', (env, name) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(name);
  });
});

describe('embedded PostgreSQL', () => {
  it('restarts cleanly after its owner is SIGKILLed, keeping the data', async () => {
    const dir = tempDataDir('crash');
    dirs.push(dir);
    // A child process owns the server, creates a table, then is killed with SIGKILL.
    const script = `
      import { startEmbeddedPostgres } from ${JSON.stringify(path.join(ROOT, 'server/db/embedded.ts'))};
      import postgres from 'postgres';
      const h = await startEmbeddedPostgres(${JSON.stringify(dir)});
      const sql = postgres(h.url, { max: 1, onnotice: () => {} });
      await sql\`create table if not exists survived (v int)\`;
      await sql\`insert into survived values (42)\`;
      await sql.end();
      console.log('READY');
      setInterval(() => {}, 1000);
    `;
    // `node --import tsx` keeps it one process, so SIGKILL hits the owner itself.
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    await waitFor(() => out.includes('READY'), { timeoutMs: 60_000, what: 'child embedded postgres' });
    const pid = Number(fs.readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    // The orphaned postmaster is still running now.
    expect(() => process.kill(pid, 0)).not.toThrow();

    const h = await startEmbeddedPostgres(dir);
    try {
      const sql = postgres(h.url, { max: 1, onnotice: () => {} });
      const rows = await sql`select v from survived`;
      await sql.end();
      expect(rows.map((r) => r.v)).toEqual([42]);
      const newPid = Number(fs.readFileSync(path.join(dir, 'pg', 'postmaster.pid'), 'utf8').split('\n')[0]);
      expect(newPid).not.toBe(pid);
      expect(() => process.kill(pid, 0)).toThrow();
    } finally {
      await h.stop();
    }
  }, 120_000);
});

describe('CLI', () => {
  const dir = tempDataDir('cli');
  dirs.push(dir);
  const env = { ...process.env, WARDEN_DATA_DIR: dir, DATABASE_URL: '', WARDEN_CLI: '1', LOG_LEVEL: 'warn' };
  const cli = (...args: string[]) => run(TSX, ['bin/warden.ts', ...args], { cwd: ROOT, env });
  const fail = async (...args: string[]) => {
    try {
      await cli(...args);
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, error: JSON.parse(err.stderr.trim().split('\n').pop()!) };
    }
    throw new Error('expected the CLI to fail');
  };

  it('creates users and operators, prints JSON, and refuses bad input', async () => {
    const u = JSON.parse((await cli('user', 'create', '--name', 'alice', '--plan', 'pro')).stdout);
    expect(u).toMatchObject({ name: 'alice', plan: 'pro' });
    expect(u.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(u.apiKey).toMatch(/^wd_u_/);

    const op = JSON.parse((await cli('operator', 'create', '--email', 'Ops@Example.com', '--role', 'operator')).stdout);
    expect(op).toMatchObject({ email: 'ops@example.com', role: 'operator' });
    expect(op.password.length).toBeGreaterThanOrEqual(12);

    const k = JSON.parse((await cli('operator', 'key', '--email', 'ops@example.com')).stdout);
    expect(k.apiKey).toMatch(/^wd_o_/);

    const dup = await fail('user', 'create', '--name', 'alice', '--plan', 'free');
    expect(dup.code).toBe(1);
    expect(dup.error.error.code).toBe('already_exists');
    const badPlan = await fail('user', 'create', '--name', 'bob', '--plan', 'nope');
    expect(badPlan.error.error).toMatchObject({ code: 'unknown_plan', field: 'plan' });
    const badRole = await fail('operator', 'create', '--email', 'x@example.com', '--role', 'root');
    expect(badRole.error.error.field).toBe('role');
    const usage = await fail('frobnicate');
    expect(usage.code).toBe(2);
    const unknownOp = await fail('operator', 'key', '--email', 'nobody@example.com');
    expect(unknownOp.error.error.code).toBe('not_found');
    expect(dup.stdout).toBe('');
  }, 120_000);
});
