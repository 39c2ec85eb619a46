import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/clock';
import { freePort } from '../../server/db/embedded';
import { ensureInstallation } from '../../server/domain/installation';
import { createOperatorKey } from '../../server/domain/operators';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { startWarden, until, type Warden } from '../helpers/warden-server';

/**
 * The user CLI (`npm run warden -- jobs …`) driving a real server: `next start` with its worker
 * on a fresh embedded database and the real Docker engine. Every command runs as a script would
 * run it — a child process with WARDEN_URL and WARDEN_API_KEY — and is judged by its exit code
 * and its output.
 */

const REPO = path.resolve(__dirname, '../..');
const ADMIN = { email: 'admin@cli-e2e.test', password: 'admin-pass-cli-1' };
const hasDocker = dockerAvailable();
if (!hasDocker) console.warn('\n!!! No Docker engine: CLI e2e tests are SKIPPED (set REQUIRE_DOCKER=1 to fail instead)\n');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!hasDocker)('the jobs CLI against a real server', () => {
  let warden: Warden | null = null;
  let opKey = '';
  let userKey = '';
  let userId = '';

  /** `npm run -s warden -- jobs <args>` with the user's key and this server's URL. */
  const cli = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve, reject) => {
      const clean: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_ENV') clean[k] = v;
      const child = spawn('npm', ['run', '-s', 'warden', '--', 'jobs', ...args], {
        cwd: REPO,
        env: { ...clean, WARDEN_URL: warden!.base, WARDEN_API_KEY: userKey, ...env } as unknown as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  const lastJson = (s: string) => JSON.parse(s.trim().split('\n').pop()!);
  const api = async (method: string, p: string, body?: unknown, key = opKey) => {
    const r = await fetch(`${warden!.base}${p}`, { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, body: await r.json() };
  };
  const status = async (id: string) => (await api('GET', `/api/v1/jobs/${id}`)).body.status as string;

  beforeAll(async () => {
    warden = await startWarden('cli', { admin: ADMIN });
    opKey = (await createOperatorKey({ db: warden.db().db, clock: systemClock, node: 'e2e', installation: await ensureInstallation(warden.db().db), docker: null }, { kind: 'system', name: 'cli' }, ADMIN.email)).apiKey;
    // A plan with a short grace, so a timed-out job ends a second after SIGTERM.
    expect((await api('PUT', '/api/v1/plans/cli', { defaultTimeoutSeconds: 60, maxTimeoutSeconds: 600, gracePeriodSeconds: 1, warnBeforeSeconds: 0, maxConcurrentJobs: 10 })).status).toBe(201);
    const u = await api('POST', '/api/v1/users', { name: `cli-${crypto.randomBytes(3).toString('hex')}`, plan: 'cli' });
    expect(u.status).toBe(201);
    userKey = u.body.apiKey;
    userId = u.body.id;
  }, 900_000);

  afterAll(async () => {
    if (userId) {
      try {
        const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=warden.user=${userId}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
        if (ids.length) execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore' });
      } catch {
        /* engine gone */
      }
    }
    await warden?.stop();
  }, 120_000);

  // Each command is a fresh `npm run` process (seconds each on a busy 2-core machine): generous timeouts.
  const SLOW = 300_000;

  it("submit --wait exits with the job's exit code: 0, 3, and 124 when it times out", async () => {
    const [ok, three, late] = await Promise.all([
      cli(['submit', '--image', TEST_IMAGE, '--name', 'cli-ok', '--wait', '--', 'sh', '-c', 'echo hi']),
      cli(['submit', '--image', TEST_IMAGE, '--wait', '--', 'sh', '-c', 'echo failing; exit 3']),
      cli(['submit', '--image', TEST_IMAGE, '--timeout', '2', '--wait', '--', 'sleep', '60']),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(lastJson(ok.stdout)).toMatchObject({ status: 'succeeded', exitCode: 0, name: 'cli-ok' });
    expect(three.code, three.stderr).toBe(3);
    expect(lastJson(three.stdout)).toMatchObject({ status: 'failed', exitCode: 3 });
    expect(late.code, late.stderr).toBe(124);
    expect(lastJson(late.stdout)).toMatchObject({ status: 'timed_out', exitCode: -1, reason: 'Timeout: exceeded 2s (job request)' });
  }, SLOW);

  it('submit, get, list (JSON and --table), logs --follow, extend, kill and cancel', async () => {
    const sub = await cli(['submit', '--image', TEST_IMAGE, '--name', 'cli-sleeper', '--label', 'team=cli', '--env', 'GREETING=hello', '--', 'sh', '-c', 'echo "$GREETING"; sleep 300']);
    expect(sub.code, sub.stderr).toBe(0);
    const job = lastJson(sub.stdout);
    expect(job).toMatchObject({ status: 'queued', name: 'cli-sleeper', labels: { team: 'cli' } });

    const [got, list, tbl] = await Promise.all([cli(['get', job.id]), cli(['list']), cli(['list', '--table'])]);
    expect(got.code).toBe(0);
    expect(lastJson(got.stdout).id).toBe(job.id);
    expect(list.code).toBe(0);
    expect(lastJson(list.stdout).jobs.map((j: { id: string }) => j.id)).toContain(job.id);
    expect(tbl.code).toBe(0);
    expect(tbl.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS\s+EXIT\s+TIMEOUT\s+CLASS\s+QUEUED\s+REASON$/);
    expect(tbl.stdout).toMatch(new RegExp(`${job.id}\\s+cli-sleeper\\s+\\w+`));

    // Follow a job that prints three lines and exits: the command ends when the container does.
    const chatty = lastJson((await cli(['submit', '--image', TEST_IMAGE, '--', 'sh', '-c', 'for i in 1 2 3; do echo line $i; sleep 0.5; done'])).stdout);
    const follow = await cli(['logs', chatty.id, '--follow']);
    expect(follow.code, follow.stderr).toBe(0);
    expect(follow.stdout).toBe('line 1\nline 2\nline 3\n');

    await until('the sleeper to run', async () => (await status(job.id)) === 'running', 60_000);
    const logs = await cli(['logs', job.id]);
    expect(logs.stdout).toContain('hello');
    // Extending is an operator's call here (an operator key through the same CLI).
    const ext = await cli(['extend', job.id, '--seconds', '30', '--reason', 'cli test', '--key', opKey]);
    expect(ext.code, ext.stderr).toBe(0);
    expect(lastJson(ext.stdout).timeoutSeconds).toBe(90);
    const kill = await cli(['kill', job.id, '--force', '--reason', 'done with it']);
    expect(kill.code, kill.stderr).toBe(0);
    expect(['terminating', 'killed']).toContain(lastJson(kill.stdout).status);
    await until('the sleeper to end killed', async () => (await status(job.id)) === 'killed', 60_000);

    const other = lastJson((await cli(['submit', '--image', TEST_IMAGE, '--', 'sleep', '300'])).stdout);
    await until('the second sleeper to run', async () => (await status(other.id)) === 'running', 60_000);
    const cancel = await cli(['cancel', other.id, '--table']);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toMatch(new RegExp(`${other.id}\\s+-\\s+(terminating|killed)`));
  }, SLOW);

  it('results: the tar of what the job left under --results-path', async () => {
    const run = await cli(['submit', '--image', TEST_IMAGE, '--results-path', '/out', '--wait', '--', 'sh', '-c', 'mkdir -p /out && echo from-the-job > /out/report.txt']);
    expect(run.code, run.stderr).toBe(0);
    const job = lastJson(run.stdout);
    expect(job.resultsBytes).toBeGreaterThan(0);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-cli-')), 'results.tar');
    const r = await cli(['results', job.id, '--output', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ output: file, truncated: false });
    const files = new Map<string, string>();
    const ex = extract();
    Readable.from([fs.readFileSync(file)]).pipe(ex);
    for await (const e of ex) {
      let body = '';
      for await (const c of e) body += (c as Buffer).toString();
      files.set(e.header.name, body);
    }
    expect(files.get('out/report.txt')).toBe('from-the-job\n');
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }, SLOW);

  it('exit codes for scripts: 1 refused (error JSON on stderr), 2 usage, 3 no server', async () => {
    const missing = await cli(['get', crypto.randomUUID()]);
    expect(missing.code).toBe(1);
    expect(lastJson(missing.stderr)).toMatchObject({ error: { code: 'not_found' } });
    const badTimeout = await cli(['submit', '--image', TEST_IMAGE, '--timeout', '100000']);
    expect(badTimeout.code).toBe(1);
    expect(lastJson(badTimeout.stderr).error.message).toMatch(/exceeds the maximum of 600s allowed by plan cli/);
    const port = await freePort();
    const [badKey, unknown, noImage, noKey, gone] = await Promise.all([
      cli(['list'], { WARDEN_API_KEY: 'wdn_not-a-key' }),
      cli(['frobnicate']),
      cli(['submit']),
      cli(['list'], { WARDEN_API_KEY: '' }),
      cli(['list'], { WARDEN_URL: `http://127.0.0.1:${port}` }),
    ]);
    expect(badKey.code).toBe(1);
    expect(unknown.code).toBe(2);
    expect(noImage.code).toBe(2);
    expect(noKey.code).toBe(2);
    expect(gone.code).toBe(3);
    expect(lastJson(gone.stderr)).toMatchObject({ error: { code: 'unreachable' } });
  }, SLOW);
});
