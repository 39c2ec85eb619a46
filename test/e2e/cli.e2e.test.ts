import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../server/db/embedded';
import { createWardenClient } from '../../client';
import { dockerAvailable, TEST_IMAGE } from '../helpers/docker';
import { startReceiver, type Receiver } from '../helpers/receiver';
import { startWarden, until, type Warden } from '../helpers/warden-server';
import { operatorKey } from '../helpers/e2e';

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
    opKey = await operatorKey(warden, ADMIN.email);
    // A plan with a short grace, so a timed-out job ends a second after SIGTERM.
    expect((await api('PUT', '/api/v1/plans/cli', { network: 'none', defaultTimeoutSeconds: 60, maxTimeoutSeconds: 600, gracePeriodSeconds: 1, warnBeforeSeconds: 0, maxConcurrentJobs: 10 })).status).toBe(201);
    const u = await api('POST', '/api/v1/users', { name: `cli-${crypto.randomBytes(3).toString('hex')}`, plan: 'cli' });
    expect(u.status).toBe(201);
    userKey = u.body.apiKey;
  }, 900_000);

  afterAll(async () => {
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

  it('ids: a unique prefix of 8 (or 6) characters works for get and cancel; an ambiguous one is 409 ambiguous_id listing the matches, a too short one 422 id_too_short, both exit 1', async () => {
    // A plan that starts nothing: the jobs stay queued, so their ids can be set to collide on purpose.
    expect((await api('PUT', '/api/v1/plans/cli-held', { network: 'none', maxConcurrentJobs: 0, defaultTimeoutSeconds: 60 })).status).toBe(201);
    const held = await api('POST', '/api/v1/users', { name: `cli-held-${crypto.randomBytes(3).toString('hex')}`, plan: 'cli-held' });
    expect(held.status).toBe(201);
    const key = held.body.apiKey as string;
    const submit = async (name: string) => (await api('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['true'], name }, key)).body.id as string;
    const prefix = crypto.randomBytes(4).toString('hex');
    const twins = [`${prefix}-0000-4000-8000-000000000001`, `${prefix}-0000-4000-8000-000000000002`];
    for (const [i, id] of twins.entries()) await warden!.db().sql`UPDATE jobs SET id = ${id} WHERE id = ${await submit(`twin-${i}`)}`;
    const single = await submit('single');
    const as = { WARDEN_API_KEY: key };
    const [byEight, bySix, ambiguous, short, cancelled] = await Promise.all([
      cli(['get', single.slice(0, 8)], as),
      cli(['get', single.slice(0, 6)], as),
      cli(['get', prefix], as),
      cli(['get', prefix.slice(0, 5)], as),
      cli(['cancel', prefix, '-o', 'json'], as),
    ]);
    expect(byEight.code, byEight.stderr).toBe(0);
    expect(lastJson(byEight.stdout)).toMatchObject({ id: single, name: 'single' });
    expect(bySix.code, bySix.stderr).toBe(0);
    expect(lastJson(bySix.stdout).id).toBe(single);
    expect(ambiguous.code).toBe(1);
    const amb = lastJson(ambiguous.stderr).error;
    expect(amb.code).toBe('ambiguous_id');
    expect(amb.message).toContain(twins[0]);
    expect(amb.message).toContain(twins[1]);
    expect(short.code).toBe(1);
    expect(lastJson(short.stderr).error).toMatchObject({ code: 'id_too_short', field: 'id' });
    expect(cancelled.code).toBe(1);
    expect(lastJson(cancelled.stderr).error.code).toBe('ambiguous_id');
    // Nothing was cancelled by the ambiguous prefix; the full id of one twin picks it.
    expect(await status(twins[0]!)).toBe('queued');
    const one = await cli(['cancel', twins[0]!, '-o', 'json'], as);
    expect(one.code, one.stderr).toBe(0);
    expect(lastJson(one.stdout)).toMatchObject({ id: twins[0], status: 'cancelled' });
    expect(await status(twins[1]!)).toBe('queued');
    await api('POST', `/api/v1/jobs/${twins[1]}/cancel`, {});
    await api('POST', `/api/v1/jobs/${single}/cancel`, {});
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
  const live = (args: string[], env: Record<string, string> = {}) => {
    const child = spawn(process.execPath, ['bin/warden.mjs', ...args], { cwd: REPO, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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

  /**
   * A proxy in front of the server that counts what the CLI asks: list reads, event streams, and
   * the event batches it forwards (counted before the CLI can see them).
   */
  const countingProxy = async () => {
    // unprompted: list reads with no event forwarded since the read before (what polling does).
    const seen = { lists: 0, streams: 0, frames: [] as string[][], unprompted: 0 };
    let credit = 0;
    const target = new URL(warden!.base);
    const server = http.createServer((req, res) => {
      const p = (req.url ?? '').split('?')[0];
      const events = p === '/api/v1/events';
      if (req.method === 'GET' && p === '/api/v1/jobs') {
        seen.lists++;
        if (credit === 0) seen.unprompted++;
        credit = 0;
      }
      if (events) seen.streams++;
      const up = http.request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (!events) return void ur.pipe(res);
        let buf = '';
        ur.on('data', (c: Buffer) => {
          buf += c.toString();
          for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = /^data: (.*)$/m.exec(frame);
            if (data) credit++;
            if (data && !/^event:/m.test(frame)) seen.frames.push(JSON.parse(data[1]!) as string[]);
          }
          res.write(c);
        });
        ur.on('end', () => res.end());
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
      res.on('close', () => up.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
  };

  it("list --watch redraws on the server's event stream, not by polling: one stream, a list read per pushed batch and none without one; a user key hears only its own jobs", async () => {
    // Another user's job changes too while we watch: none of it may reach this user's stream.
    const other = await api('POST', '/api/v1/users', { name: `cli-other-${crypto.randomBytes(3).toString('hex')}`, plan: 'cli' });
    expect(other.status).toBe(201);
    const proxy = await countingProxy();
    const watch = live(['jobs', 'list', '--watch', '-o', 'json'], { WARDEN_URL: proxy.url });
    try {
      await until('the first page', async () => run1(watch.out.stdout) >= 1, 120_000);
      expect(proxy.seen.streams).toBe(1);
      const theirs = (await api('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '300'] }, other.body.apiKey)).body;
      const mine = (await api('POST', '/api/v1/jobs', { image: TEST_IMAGE, command: ['sleep', '300'], name: 'cli-watched' }, userKey)).body;
      const shows = (id: string, want: (s: string) => boolean) => async () =>
        watch.out.stdout.trim().split('\n').some((l) => (JSON.parse(l) as { jobs: { id: string; status: string }[] }).jobs.some((j) => j.id === id && want(j.status)));
      await until('a page with my job running', shows(mine.id, (s) => s === 'running'), 120_000);
      // A quiet stretch (nothing changes while a few commands run): a watch that polled would read here.
      for (let i = 0; i < 3; i++) expect((await cli(['get', mine.id])).code).toBe(0);
      expect((await api('POST', `/api/v1/jobs/${mine.id}/kill`, { force: true }, userKey)).status).toBe(200);
      await until('a page with my job killed', shows(mine.id, (s) => s === 'killed'), 120_000);
      await until('their job to run', async () => (await status(theirs.id)) === 'running', 60_000);
      expect(await status(theirs.id)).toBe('running');
      // Pushed, not polled: the one stream stayed open; every list read answered the hello or a batch.
      expect(proxy.seen.streams).toBe(1);
      expect(proxy.seen.lists).toBeGreaterThanOrEqual(3);
      expect(proxy.seen.unprompted).toBe(0);
      expect(proxy.seen.lists).toBeLessThanOrEqual(1 + proxy.seen.frames.length);
      // Each printed page differs from the one before it (printed on change only).
      const lines = watch.out.stdout.trim().split('\n');
      for (let i = 1; i < lines.length; i++) expect(lines[i]).not.toBe(lines[i - 1]);
      // Only this user's jobs: `jobs` and job:<id>:<status> of jobs its key may read.
      const topics = proxy.seen.frames.flat();
      expect(topics).toContain(`job:${mine.id}:running`);
      expect(topics.join(' ')).not.toContain(theirs.id);
      for (const t of topics) expect(t).toMatch(/^(jobs|job:[0-9a-f-]{36}:[a-z_]+)$/);
      const ids = [...new Set(topics.filter((t) => t.startsWith('job:')).map((t) => t.split(':')[1]!))];
      for (const id of ids) expect((await api('GET', `/api/v1/jobs/${id}`, undefined, userKey)).status).toBe(200);
      await api('POST', `/api/v1/jobs/${theirs.id}/kill`, { force: true });
    } finally {
      watch.interrupt();
      await until('the watch to end', async () => watch.out.done, 30_000);
      await proxy.close();
    }
    expect(watch.out.code).toBe(0);
  }, SLOW);

  it('GET /api/v1/events: a key is needed; a user key may hold 4 streams, the fifth is 429 with Retry-After', async () => {
    expect((await fetch(`${warden!.base}/api/v1/events`)).status).toBe(401);
    const u = await api('POST', '/api/v1/users', { name: `cli-streams-${crypto.randomBytes(3).toString('hex')}`, plan: 'cli' });
    expect(u.status).toBe(201);
    const userKey = u.body.apiKey as string;
    const acs = Array.from({ length: 4 }, () => new AbortController());
    try {
      for (const ac of acs) {
        const r = await fetch(`${warden!.base}/api/v1/events`, { headers: { authorization: `Bearer ${userKey}` }, signal: ac.signal });
        expect(r.status).toBe(200);
        expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
        const first = new TextDecoder().decode((await r.body!.getReader().read()).value);
        expect(first).toContain('event: hello');
      }
      const fifth = await fetch(`${warden!.base}/api/v1/events`, { headers: { authorization: `Bearer ${userKey}` } });
      expect(fifth.status).toBe(429);
      expect(fifth.headers.get('retry-after')).toBe('30');
      expect((await fifth.json()).error.code).toBe('too_many_streams');
    } finally {
      for (const ac of acs) ac.abort();
    }
    // Closed streams give their slots back.
    await until('a stream slot to be free again', async () => {
      const ac = new AbortController();
      const r = await fetch(`${warden!.base}/api/v1/events`, { headers: { authorization: `Bearer ${userKey}` }, signal: ac.signal });
      ac.abort();
      return r.status === 200;
    }, 30_000);
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
