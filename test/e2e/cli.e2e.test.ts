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
import { createWardenClient } from '../../client';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { startReceiver, type Receiver } from '../helpers/receiver';
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

  const cleanEnv = (env: Record<string, string>) => {
    const clean: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_ENV') clean[k] = v;
    return { ...clean, WARDEN_URL: warden!.base, WARDEN_API_KEY: userKey, ...env } as unknown as NodeJS.ProcessEnv;
  };
  /** `npm run -s warden -- jobs <args>` with the user's key and this server's URL. */
  const cli = (args: string[], env: Record<string, string> = {}): Promise<Run> => warden_(['jobs', ...args], env);
  /** `npm run -s warden -- <args>`. */
  const warden_ = (args: string[], env: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve, reject) => {
      const clean: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('VITEST') && k !== 'NODE_ENV') clean[k] = v;
      const child = spawn('npm', ['run', '-s', 'warden', '--', ...args], {
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
    // Webhook receivers in these tests listen on 127.0.0.1.
    warden = await startWarden('cli', { admin: ADMIN, env: { WARDEN_WEBHOOK_ALLOW_PRIVATE: 'on' } });
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
    // --timeout 300: a slow machine must not time the sleeper out before it is extended.
    const sub = await cli(['submit', '--image', TEST_IMAGE, '--name', 'cli-sleeper', '--timeout', '300', '--label', 'team=cli', '--env', 'GREETING=hello', '--', 'sh', '-c', 'echo "$GREETING"; sleep 300']);
    expect(sub.code, sub.stderr).toBe(0);
    const job = lastJson(sub.stdout);
    expect(job).toMatchObject({ status: 'queued', name: 'cli-sleeper', labels: { team: 'cli' } });

    const [got, list, tbl] = await Promise.all([cli(['get', job.id]), cli(['list']), cli(['list', '-o', 'table'])]);
    expect(got.code).toBe(0);
    expect(lastJson(got.stdout).id).toBe(job.id);
    expect(list.code).toBe(0);
    expect(lastJson(list.stdout).jobs.map((j: { id: string }) => j.id)).toContain(job.id);
    expect(tbl.code).toBe(0);
    expect(tbl.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS\s+EXIT\s+AGE\s+TIME LEFT\s+REASON$/);
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
    expect(lastJson(ext.stdout).timeoutSeconds).toBe(330);
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
    expect(lastJson(badKey.stderr)).toEqual({ error: { code: 'unknown_key', message: 'This API key is not valid: it may have been revoked' } });
    expect(unknown.code).toBe(2);
    expect(noImage.code).toBe(2);
    expect(noKey.code).toBe(2);
    expect(gone.code).toBe(3);
    expect(lastJson(gone.stderr)).toMatchObject({ error: { code: 'unreachable' } });
  }, SLOW);
  /**
   * The CLI run as `node bin/warden.mjs` in its own process group, so a test can press Ctrl-C
   * (SIGINT to the group, as a terminal does) and read what it printed so far.
   */
  const live = (args: string[]) => {
    const child = spawn(process.execPath, ['bin/warden.mjs', ...args], { cwd: REPO, env: cleanEnv({}), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out = { stdout: '', stderr: '', code: null as number | null, done: false };
    child.stdout.on('data', (c: Buffer) => (out.stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out.stderr += c.toString()));
    child.on('close', (code) => {
      out.code = code;
      out.done = true;
    });
    return { out, interrupt: () => process.kill(-child.pid!, 'SIGINT') };
  };

  it('submit --wait reports the id and each state change on stderr as they happen', async () => {
    const r = await cli(['submit', '--image', TEST_IMAGE, '--name', 'cli-talker', '--wait', '--', 'sh', '-c', 'sleep 2; echo done']);
    expect(r.code, r.stderr).toBe(0);
    const job = lastJson(r.stdout);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^warden: job ${job.id} (queued|starting|running)`));
    const states = lines.map((l) => /^warden: job \S+ (\w+)/.exec(l)?.[1]);
    expect(states).toContain('running');
    expect(states.at(-1)).toBe('succeeded');
    expect(lines.find((l) => / running/.test(l))).toMatch(/deadline \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+/);
  }, SLOW);

  it('--attach streams the output while waiting; Ctrl-C says how to reattach and exits 130, the job goes on', async () => {
    const done = await cli(['submit', '--image', TEST_IMAGE, '--attach', '--', 'sh', '-c', 'echo one; sleep 1; echo two']);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toBe('one\ntwo\n');
    expect(done.stderr).toMatch(/warden: job \S+ succeeded/);

    const run = live(['jobs', 'submit', '--image', TEST_IMAGE, '--attach', '--', 'sh', '-c', 'echo attached; sleep 300']);
    await until('the attached job to print', async () => run.out.stdout.includes('attached\n'), 120_000);
    const id = /warden: job (\S+)/.exec(run.out.stderr)![1]!;
    run.interrupt();
    await until('the CLI to exit', async () => run.out.done, 30_000);
    expect(run.out.code).toBe(130);
    expect(run.out.stderr).toContain(`Reattach: warden jobs logs ${id} --follow`);
    expect(await status(id)).toBe('running');
    expect((await api('POST', `/api/v1/jobs/${id}/kill`, { force: true })).status).toBe(200);
  }, SLOW);

  it('-o json|table|wide: table columns AGE and TIME LEFT, local times with the zone, no control characters in any cell', async () => {
    const evil = 'evil\u001b[31mred\u001b]0;title\u0007\u0008\u202eeman';
    const sub = await cli(['submit', '--image', TEST_IMAGE, '--name', evil, '--timeout', '300', '--', 'sleep', '300']);
    expect(sub.code, sub.stderr).toBe(0);
    const job = lastJson(sub.stdout);
    expect(job.name).toBe(evil); // stored as given; only the terminal view strips
    await until('the evil job to run', async () => (await status(job.id)) === 'running', 60_000);
    const [tbl, wide, json] = await Promise.all([cli(['list', '-o', 'table'], { TZ: 'Europe/Berlin' }), cli(['get', job.id, '-o', 'wide'], { TZ: 'Europe/Berlin' }), cli(['get', job.id, '-o', 'json'])]);
    for (const r of [tbl, wide]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    }
    const row = tbl.stdout.split('\n').find((l) => l.startsWith(job.id))!;
    expect(row).toMatch(/evil\[31mred\]0;titleeman\s+running\s+-\s+(\d+m)?\d+s\s+[1-5]m(\d+s)?(\s|$)/);
    expect(wide.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATUS\s+EXIT\s+AGE\s+TIME LEFT\s+TIMEOUT\s+CLASS\s+NODE\s+IMAGE\s+QUEUED\s+DEADLINE\s+REASON$/);
    expect(wide.stdout).toMatch(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (CET|CEST|GMT\+1|GMT\+2)/);
    expect(JSON.parse(json.stdout).name).toBe(evil);
    // Piped with no -o: JSON.
    expect(lastJson((await cli(['get', job.id])).stdout).id).toBe(job.id);
    // A bad enum value lists the valid ones; a bad format too.
    const [badStatus, badFormat] = await Promise.all([cli(['list', '--status', 'running,bogus']), cli(['list', '-o', 'yaml'])]);
    expect(badStatus.code).toBe(2);
    expect(lastJson(badStatus.stderr).error.message).toContain('unknown status bogus: use queued, starting, running, terminating, succeeded, failed, timed_out, killed, lost, cancelled');
    expect(badFormat.code).toBe(2);
    expect(lastJson(badFormat.stderr).error.message).toContain('unknown output format yaml: use json, table, wide');
    await api('POST', `/api/v1/jobs/${job.id}/kill`, { force: true });
  }, SLOW);

  it('list --watch prints the list again when it changes', async () => {
    const watch = live(['jobs', 'list', '--watch', '--status', 'running', '-o', 'json']);
    await until('the first page', async () => run1(watch.out.stdout) >= 1, 120_000);
    const before = run1(watch.out.stdout);
    const sub = lastJson((await cli(['submit', '--image', TEST_IMAGE, '--name', 'cli-watched', '--', 'sleep', '300'])).stdout);
    await until('a page with the new running job', async () => watch.out.stdout.trim().split('\n').some((l) => JSON.parse(l).jobs.some((j: { id: string }) => j.id === sub.id)), 120_000);
    expect(run1(watch.out.stdout)).toBeGreaterThan(before);
    watch.interrupt();
    await until('the watch to end', async () => watch.out.done, 30_000);
    await api('POST', `/api/v1/jobs/${sub.id}/kill`, { force: true });
  }, SLOW);
  const run1 = (s: string) => s.trim().split('\n').filter(Boolean).length;

  it('webhooks list, create, deliveries and delete', async () => {
    const rec: Receiver = await startReceiver();
    try {
      const made = await warden_(['webhooks', 'create', rec.url('/hook'), '--event', 'job.succeeded', '-o', 'json']);
      expect(made.code, made.stderr).toBe(0);
      const hook = lastJson(made.stdout);
      expect(hook).toMatchObject({ url: rec.url('/hook'), events: ['job.succeeded'] });
      expect(hook.secret).toMatch(/^whsec_/);
      const listed = await warden_(['webhooks', 'list', '-o', 'table']);
      expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+URL\s+EVENTS\s+USER$/);
      expect(listed.stdout).toContain(hook.id);
      const bad = await warden_(['webhooks', 'create', rec.url('/x'), '--event', 'job.exploded']);
      expect(bad.code).toBe(2);
      expect(lastJson(bad.stderr).error.message).toContain('unknown event job.exploded: use job.started');
      expect((await cli(['submit', '--image', TEST_IMAGE, '--wait', '--', 'true'])).code).toBe(0);
      await until('the delivery', async () => rec.received.length > 0, 60_000);
      const deliveries = await until('a delivered row', async () => {
        const r = await warden_(['webhooks', 'deliveries', hook.id, '-o', 'json']);
        const d = lastJson(r.stdout).deliveries;
        return d.length && d[0].status === 'delivered' ? d : null;
      }, 60_000);
      expect(deliveries[0]).toMatchObject({ event: 'job.succeeded', attempts: 1 });
      const tbl = await warden_(['webhooks', 'deliveries', hook.id, '-o', 'table']);
      expect(tbl.stdout).toMatch(/job\.succeeded\s+\S+\s+delivered\s+1\s+200/);
      const del = await warden_(['webhooks', 'delete', hook.id]);
      expect(del.code, del.stderr).toBe(0);
      expect(lastJson((await warden_(['webhooks', 'list'])).stdout).webhooks).toEqual([]);
    } finally {
      await rec.close();
    }
  }, SLOW);

  it('completion bash|zsh prints a script the shell accepts', async () => {
    const [bash, zsh, bad] = await Promise.all([warden_(['completion', 'bash']), warden_(['completion', 'zsh']), warden_(['completion', 'fish'])]);
    expect(bash.code).toBe(0);
    expect(bash.stdout).toContain('complete -F _warden warden');
    expect(bash.stdout).toContain('"jobs submit") opts="--image');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'warden-compl-')), 'warden.bash');
    fs.writeFileSync(file, bash.stdout);
    // Loads in bash and completes `warden jobs su` to `submit`.
    const out = execFileSync('bash', ['-c', `source ${file}; COMP_WORDS=(warden jobs su); COMP_CWORD=2; _warden; echo "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
    expect(out.trim()).toBe('submit');
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toMatch(/^#compdef warden/);
    expect(bad.code).toBe(2);
  }, SLOW);

  it('the typed client (client/) submits, waits for, extends and kills a job', async () => {
    const warden2 = createWardenClient({ baseUrl: warden!.base, key: userKey });
    const op = createWardenClient({ baseUrl: warden!.base, key: opKey });
    const sub = await warden2.POST('/api/v1/jobs', { body: { image: TEST_IMAGE, command: ['sleep', '300'], name: 'typed', timeoutSeconds: 120 } });
    expect(sub.response.status).toBe(201);
    const id = sub.data!.id;
    const running = await until('the typed job to run', async () => {
      const r = await warden2.GET('/api/v1/jobs/{id}', { params: { path: { id } } });
      return r.data?.status === 'running' ? r.data : null;
    }, 60_000);
    expect(running.deadlineAt).not.toBeNull();
    const ext = await op.POST('/api/v1/jobs/{id}/extend', { params: { path: { id } }, body: { seconds: 60, reason: 'typed client' } });
    expect(ext.error).toBeUndefined();
    expect(ext.data!.timeoutSeconds).toBe(180);
    expect(Date.parse(ext.data!.deadlineAt!)).toBe(Date.parse(running.deadlineAt!) + 60_000);
    // A refusal comes back typed as the API's error.
    const refused = await warden2.POST('/api/v1/jobs/{id}/extend', { params: { path: { id } }, body: { seconds: 100_000 } });
    expect(refused.response.status).toBe(422);
    expect(refused.error!.error.code).toBeTruthy();
    const kill = await warden2.POST('/api/v1/jobs/{id}/kill', { params: { path: { id } }, body: { force: true, reason: 'done' } });
    expect(kill.error).toBeUndefined();
    expect(['terminating', 'killed']).toContain(kill.data!.status);
    await until('the typed job to end killed', async () => (await warden2.GET('/api/v1/jobs/{id}', { params: { path: { id } } })).data?.status === 'killed', 60_000);
  }, SLOW);
});
