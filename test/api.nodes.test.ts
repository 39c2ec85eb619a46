import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditEvents, nodes, plans } from '../server/db/schema';
import { writeHeartbeat } from '../server/domain/nodes';
import { runNodesCli } from '../bin/nodes-cli';
import { call, counts, expectError, setupApi, type ApiHarness, type Handler } from './helpers/api';

/**
 * The nodes routes through the real handlers on a real PostgreSQL: who may read and act, bad input
 * in the one error shape (changing nothing), drain → drained (nothing on it) → resume, audited
 * with the reason; a class's nodeSelector; a job no live node could hold refused at submit.
 */

let h: ApiHarness;
let listRoute: { GET: Handler };
let drainRoute: { POST: Handler };
let resumeRoute: { POST: Handler };
let jobsRoute: { POST: Handler };
let usersRoute: { POST: Handler };
let classRoute: { PUT: Handler };

const A = 'AAAA:BBBB:CCCC:fleet-api-a';
const B = 'fleet-api-b';
const list = (key: string | null) => call(listRoute.GET, 'GET', '/api/v1/nodes', { key });
const drain = (key: string | null, id: string, body: unknown) => call(drainRoute.POST, 'POST', `/api/v1/nodes/${id}/drain`, { key, body, params: { id } });
const resume = (key: string | null, id: string, body?: unknown) => call(resumeRoute.POST, 'POST', `/api/v1/nodes/${id}/resume`, { key, body, params: { id } });

beforeAll(async () => {
  h = await setupApi();
  listRoute = (await import('../app/api/v1/nodes/route')) as unknown as typeof listRoute;
  drainRoute = (await import('../app/api/v1/nodes/[id]/drain/route')) as unknown as typeof drainRoute;
  resumeRoute = (await import('../app/api/v1/nodes/[id]/resume/route')) as unknown as typeof resumeRoute;
  jobsRoute = (await import('../app/api/v1/jobs/route')) as unknown as typeof jobsRoute;
  usersRoute = (await import('../app/api/v1/users/route')) as unknown as typeof usersRoute;
  classRoute = (await import('../app/api/v1/classes/[name]/route')) as unknown as typeof classRoute;
  const at = h.ctx.clock.now();
  await writeHeartbeat(h.db, { node: A, at, dockerOk: true, dockerError: null, facts: { name: 'web-1 aaaabb', cpus: 8, memoryMb: 16384, maxJobs: 10, labels: { zone: 'a' } } });
  await writeHeartbeat(h.db, { node: B, at, dockerOk: true, dockerError: null, facts: { name: 'web-2 fleeta', cpus: 4, memoryMb: 8192, maxJobs: null, labels: { gpu: 'true' } } });
});

afterAll(async () => {
  await h?.close();
});

describe('GET /api/v1/nodes', () => {
  it('a viewer reads every node: id, name, state, heartbeat, capacity, allocated, running', async () => {
    const r = await list(h.viewer);
    expect(r.status).toBe(200);
    const a = r.json.nodes.find((n: { id: string }) => n.id === A);
    expect(a).toMatchObject({
      id: A,
      name: 'web-1 aaaabb',
      state: 'active',
      dockerOk: true,
      labels: { zone: 'a' },
      capacity: { cpus: 8, memoryMb: 16384, maxJobs: 10 },
      allocated: { cpus: 0, memoryMb: 0, jobs: 0 },
      running: 0,
      drain: null,
    });
    expect(typeof a.heartbeatAt).toBe('string');
    // Docker has no cluster of its own to list (test/k8s/dashboard.e2e.test.ts shows Kubernetes').
    expect(r.json.cluster).toBeNull();
  });
  it('needs an operator key: a user key and no key are refused', async () => {
    const u = await call(usersRoute.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: `n-${crypto.randomBytes(4).toString('hex')}`, plan: 'free' } });
    expectError(await list(u.json.apiKey), 403, 'forbidden');
    expect((await list(null)).status).toBe(401);
  });
});

describe('POST /api/v1/nodes/:id/drain and /resume', () => {
  it('bad input and the wrong role are refused in the one error shape, and change nothing', async () => {
    const before = await counts(h.db);
    const row = async () => (await h.db.select().from(nodes).where(eq(nodes.id, A)))[0]!;
    const state = (await row()).state;
    expectError(await drain(h.viewer, A, { reason: 'x' }), 403, 'forbidden');
    expectError(await drain(h.operator, A, {}), 422, 'validation_failed', 'reason');
    expectError(await drain(h.operator, A, { reason: '   ' }), 422, 'validation_failed', 'reason');
    expectError(await drain(h.operator, A, { reason: 'x', deadlineSeconds: -1 }), 422, 'validation_failed', 'deadlineSeconds');
    expectError(await drain(h.operator, A, { reason: 'x', deadlineSeconds: 'soon' }), 422, 'validation_failed', 'deadlineSeconds');
    expect((await drain(h.operator, A, { reason: 'x', deadline: 5 })).status).toBe(422);
    expectError(await drain(h.operator, 'no-such-node', { reason: 'x' }), 404, 'not_found');
    expectError(await resume(h.operator, A), 409, 'not_draining');
    expect(await counts(h.db)).toEqual(before);
    expect((await row()).state).toBe(state);
  });

  it('an operator drains a node (drained at once: nothing runs there), resumes it; both audited with the reason', async () => {
    const d = await drain(h.operator, A, { reason: 'disk replacement', deadlineSeconds: 600 });
    expect(d.status).toBe(200);
    expect(d.json).toMatchObject({ id: A, state: 'drained', drain: { reason: 'disk replacement', by: 'operator:operator@test.local' } });
    expect(Date.parse(d.json.drain.deadlineAt) - Date.parse(d.json.heartbeatAt)).toBeGreaterThanOrEqual(599_000);
    expect((await list(h.viewer)).json.nodes.find((n: { id: string }) => n.id === A).state).toBe('drained');
    const r = await resume(h.operator, A, { reason: 'disk replaced' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ state: 'active', drain: null });
    const trail = await h.db.select().from(auditEvents).where(eq(auditEvents.targetId, A));
    expect(trail.map((e) => [e.action, e.reason, e.targetType])).toEqual([
      ['node.drain', 'disk replacement', 'node'],
      ['node.resume', 'disk replaced', 'node'],
    ]);
  });
});

describe('placement at submit and class nodeSelector', () => {
  it('a job no live node could ever hold is refused with 422 saying why; one that fits is queued', async () => {
    await h.db.insert(plans).values({ name: 'huge', cpus: 16, memoryMb: 1024 });
    const u = await call(usersRoute.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: `n-${crypto.randomBytes(4).toString('hex')}`, plan: 'huge' } });
    const before = await counts(h.db);
    const r = await call(jobsRoute.POST, 'POST', '/api/v1/jobs', { key: u.json.apiKey, body: { image: 'busybox:1.36' } });
    expectError(r, 422, 'no_node_fits');
    expect(r.json.error.message).toBe(
      "Job cannot run on any node: it asks for 16 CPUs and 1 GiB and the biggest of 2 live nodes has 8 CPUs and 16 GiB: it could never start (lower the plan's cpus or memoryMb, or add a bigger node)",
    );
    expect(await counts(h.db)).toEqual(before);
    const ok = await call(jobsRoute.POST, 'POST', '/api/v1/jobs', { key: (await call(usersRoute.POST, 'POST', '/api/v1/users', { key: h.admin, body: { name: `n-${crypto.randomBytes(4).toString('hex')}`, plan: 'free' } })).json.apiKey, body: { image: 'busybox:1.36' } });
    expect(ok.status).toBe(201);
  });

  it('PUT /api/v1/classes/:name takes a nodeSelector, checks it, and returns it', async () => {
    const put = (body: unknown) => call(classRoute.PUT, 'PUT', '/api/v1/classes/gpu', { key: h.admin, body, params: { name: 'gpu' } });
    expectError(await put({ defaultTimeoutSeconds: 60, nodeSelector: { gpu: true } }), 422, 'validation_failed', 'nodeSelector.gpu');
    expectError(await put({ defaultTimeoutSeconds: 60, nodeSelector: { 'bad key!': 'x' } }), 422, 'validation_failed');
    expectError(await put({ defaultTimeoutSeconds: 60, nodeSelector: 'gpu=true' }), 422, 'validation_failed', 'nodeSelector');
    const r = await put({ defaultTimeoutSeconds: 60, nodeSelector: { gpu: 'true' } });
    expect(r.status).toBe(201);
    expect(r.json.nodeSelector).toEqual({ gpu: 'true' });
  });
});

describe('warden nodes list|drain|resume (bin/nodes-cli.ts, through the typed client, against the real handlers)', () => {
  /** fetch answered in-process by the route handlers (the CLI's own HTTP code runs unchanged). */
  const fetchImpl = async (req: Request) => {
    const url = new URL(req.url);
    const m = url.pathname.match(/^\/api\/v1\/nodes(?:\/([^/]+)\/(drain|resume))?$/);
    if (!m) return new Response('not found', { status: 404 });
    const handler = !m[1] ? listRoute.GET : m[2] === 'drain' ? drainRoute.POST : resumeRoute.POST;
    const params: Record<string, string> = m[1] ? { id: decodeURIComponent(m[1]) } : {};
    return handler(req, { params: Promise.resolve(params) });
  };
  const cli = async (key: string | undefined, ...argv: string[]) => cliOn(false, key, ...argv);
  /** tty: stdout is a terminal (the default format is then a table). */
  const cliOn = async (tty: boolean, key: string | undefined, ...argv: string[]) => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const code = await runNodesCli(argv, { fetchImpl, tty, env: (key ? { WARDEN_API_KEY: key, WARDEN_URL: 'http://warden.test' } : {}) as NodeJS.ProcessEnv, out: { stdout: (s) => stdout.push(s), stderr: (s) => stderr.push(s) } });
    return { code, stdout: stdout.join('\n'), stderr: stderr.join('\n') };
  };

  it('list prints JSON (or a table with -o table); drain and resume print the node; errors exit 1 (server) or 2 (usage)', async () => {
    const l = await cli(h.viewer, 'list');
    expect(l.code).toBe(0);
    expect(JSON.parse(l.stdout).nodes.map((n: { id: string }) => n.id).sort()).toEqual([A, B].sort());
    const t = await cli(h.viewer, 'list', '-o', 'table');
    expect(t.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATE\s+RUNNING\s+CPUS\s+MEMORY\s+JOBS\s+LABELS\s+DRAIN$/);
    expect(t.stdout).toMatch(/web-2 fleeta\s+active\s+0\s+0\/4\s+0M\/8192M\s+0\/∞\s+gpu=true/);

    const d = await cli(h.operator, 'drain', B, '--reason', 'rack move', '--deadline', '120');
    expect(d.code).toBe(0);
    expect(JSON.parse(d.stdout)).toMatchObject({ id: B, state: 'drained', drain: { reason: 'rack move' } });
    const r = await cli(h.operator, 'resume', B, '--reason', 'moved');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: B, state: 'active' });

    const denied = await cli(h.viewer, 'drain', B, '--reason', 'x');
    expect(denied.code).toBe(1);
    expect(JSON.parse(denied.stderr).error.code).toBe('forbidden');
    expect((await cli(h.operator, 'resume', B)).code).toBe(1);
    for (const bad of [['drain', B], ['drain', '--reason', 'x'], ['drain', B, '--reason', 'x', '--deadline', 'soon'], ['frobnicate'], ['list', '-o', 'yaml']]) {
      const u = await cli(h.operator, ...bad);
      expect(u.code, bad.join(' ')).toBe(2);
      expect(JSON.parse(u.stderr).error.code).toBe('usage');
    }
    expect((await cli(undefined, 'list')).code).toBe(2);
    expect((await h.db.select().from(nodes).where(eq(nodes.id, B)))[0]!.state).toBe('active');
  });

  it('-o json|table|wide as `jobs`: a table on a terminal, JSON when piped; wide adds heartbeat, docker, version; no control characters in a cell', async () => {
    const onTty = await cliOn(true, h.viewer, 'list');
    expect(onTty.code, onTty.stderr).toBe(0);
    expect(onTty.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATE\s+RUNNING\s+CPUS\s+MEMORY\s+JOBS\s+LABELS\s+DRAIN$/);
    expect(JSON.parse((await cliOn(false, h.viewer, 'list')).stdout).nodes).toHaveLength(2);
    expect(JSON.parse((await cliOn(true, h.viewer, 'list', '-o', 'json')).stdout).nodes).toHaveLength(2);
    const wide = await cliOn(false, h.viewer, 'list', '-o', 'wide');
    expect(wide.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+STATE\s+RUNNING\s+CPUS\s+MEMORY\s+JOBS\s+LABELS\s+DRAIN\s+HEARTBEAT\s+DOCKER\s+VERSION\s+STARTED$/);
    expect(wide.stdout).toMatch(/\d+s ago|\d+m(\d+s)? ago|\dh/);
    // A drain reason is an operator's text: the table strips escapes, bidi overrides and backspaces.
    const evil = 'rack\u001b[31m move\u0007\u202e\u0008!';
    const d = await cliOn(true, h.operator, 'drain', B, '--reason', evil, '--deadline', '600');
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(d.stdout).toContain('rack[31m move!');
    expect(d.stdout).toMatch(/deadline \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+/);
    const listed = await cliOn(true, h.viewer, 'list', '-o', 'wide');
    expect(listed.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(JSON.parse((await cli(h.viewer, 'list')).stdout).nodes.find((n: { id: string }) => n.id === B).drain.reason).toBe(evil);
    expect((await cli(h.operator, 'resume', B)).code).toBe(0);
  });
});
