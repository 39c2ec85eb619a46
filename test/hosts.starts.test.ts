import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ctx } from '../server/context';
import { jobs, type Job } from '../server/db/schema';
import { containerLabels, containerName } from '../server/docker/labels';
import { createDockerRuntime } from '../server/docker/runtime';
import { ContainerNotStartedError, DockerUnavailableError, type DockerRuntime } from '../server/docker/types';
import { submitJob } from '../server/domain/jobs';
import { containerVerdict, jobRefs } from '../server/domain/orphans';
import { sweep } from '../server/sweepers';
import { reconcile } from '../server/worker/completion';
import { claimJobs } from '../server/worker/dispatcher';
import { startJob } from '../server/worker/start';
import { dockerAvailable } from './helpers/docker';
import { makeRig, TEST_IMAGE, waitFor, type Rig } from './helpers/sweepers';

/**
 * A start is owned by its claim, on the real engine and database: the `starting → running`
 * record needs this node and this claim token, so a slow start whose claim was lost (requeued and
 * claimed again elsewhere) removes its container instead of recording it; a leftover container of
 * the same job and attempt (409 name in use) is adopted when it is this claim's and replaced when
 * it is a lost one's; a container created but never started is started by reconcile, or removed
 * and the job requeued; the orphan sweeper removes a lost claim's container without a grace.
 */

const START = { pullTimeoutMs: 30_000 };

describe.skipIf(!dockerAvailable())('starts owned by their claim (real Docker)', () => {
  let rig: Rig;
  let b: Ctx;

  beforeAll(async () => {
    rig = await makeRig();
    b = { ...rig.ctx, node: `${rig.node}-b` };
  });
  afterAll(async () => {
    for (const c of await rig.docker.list({ 'warden.node': b.node })) await rig.docker.remove(c.id);
    await rig?.close();
  });

  const submit = () => submitJob(rig.ctx, rig.user.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 300'], timeoutSeconds: 600 });
  const claim = async (ctx: Ctx, id: string): Promise<Job> => {
    const got = await claimJobs(ctx.db, { now: ctx.clock.now(), node: ctx.node, perUser: 50 });
    const j = got.find((g) => g.id === id);
    expect(j, 'claimed').toBeTruthy();
    // Leave the rest for later tests.
    for (const o of got.filter((g) => g.id !== id)) await ctx.db.update(jobs).set({ status: 'queued', node: null, claimId: null }).where(eq(jobs.id, o.id));
    return j!;
  };
  const containersOf = (id: string) => rig.docker.list({ 'warden.job': id });

  it("a slow start whose claim was lost removes its container and records nothing; the new claim's start is recorded", async () => {
    const j = await submit();
    const onA = await claim(rig.ctx, j.id);
    // A stalls (its lease lapses); reconcile requeues the job, and node B claims it.
    expect(await reconcile(rig.ctx, rig.docker, { startingStaleMs: 0 })).toMatchObject({ requeued: 1 });
    const onB = await claim(b, j.id);
    expect(onB.claimId).not.toBe(onA.claimId);
    // A's start finally goes ahead: its container is created, then removed, never recorded.
    expect(await startJob(rig.ctx, rig.docker, onA, START)).toBe('gone');
    expect(await rig.job(j.id)).toMatchObject({ status: 'starting', node: b.node, claimId: onB.claimId, containerId: null });
    expect(await containersOf(j.id)).toEqual([]);
    const starts = await rig.audits(j.id, 'container.start');
    expect(starts.at(-1)).toMatchObject({ success: false, error: 'claim lost before the start was recorded' });
    expect((await rig.audits(j.id, 'container.remove')).at(-1)?.reason).toBe('its claim was lost before the start was recorded');
    // B's start is the one that counts.
    expect(await startJob(b, rig.docker, onB, START)).toBe('running');
    const row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'running', node: b.node });
    const cs = await containersOf(j.id);
    expect(cs.map((c) => c.id)).toEqual([row.containerId]);
    expect(cs[0]!.labels['warden.claim']).toBe(onB.claimId);
  });

  it('409 name in use: this claim\'s container is adopted (started if only created); a lost claim\'s is removed and replaced', async () => {
    // This claim's: created (not started) by an earlier try whose answer never came.
    const j1 = await submit();
    const c1 = await claim(rig.ctx, j1.id);
    const mine = execFileSync('docker', ['create', '--init', '--name', containerName(c1), ...labelArgs(containerLabels(c1, rig.ctx)), TEST_IMAGE, 'sleep', '300']).toString().trim();
    expect(await startJob(rig.ctx, rig.docker, c1, START)).toBe('running');
    expect(await rig.job(j1.id)).toMatchObject({ status: 'running', containerId: mine });
    expect((await rig.docker.inspect(mine))?.running).toBe(true);
    expect((await rig.audits(j1.id, 'job.adopt')).at(-1)?.reason).toBe('container of this claim already existed (name in use)');

    // A lost claim's: same job and attempt, another claim label, even running.
    const j2 = await submit();
    const c2 = await claim(rig.ctx, j2.id);
    const stale = await rig.docker.run({ name: containerName(c2), image: TEST_IMAGE, command: ['sleep', '300'], labels: containerLabels({ ...c2, claimId: crypto.randomUUID() }, rig.ctx) });
    expect(await startJob(rig.ctx, rig.docker, c2, START)).toBe('running');
    const row = await rig.job(j2.id);
    expect(row.containerId).not.toBe(stale);
    expect(await rig.docker.inspect(stale)).toBeNull();
    expect((await containersOf(j2.id)).map((c) => c.id)).toEqual([row.containerId]);
    expect((await rig.audits(j2.id, 'container.remove')).at(-1)?.reason).toBe('left by an earlier, lost claim of the same attempt (name in use)');
  });

  it('409 name in use: a never-started container of a claim whose start gave it back (requeued) is started and recorded, not made again', async () => {
    // The engine failed the first claim's start after creating its container (an engine restart):
    // that start requeued the job, and the container it could not remove is still there, created.
    const j = await submit();
    const first = await claim(rig.ctx, j.id);
    const left = execFileSync('docker', ['create', '--init', '--name', containerName(first), ...labelArgs(containerLabels(first, rig.ctx)), TEST_IMAGE, 'sleep', '300']).toString().trim();
    const restarting = runFailsUnreachable(rig.docker);
    expect(await startJob(rig.ctx, restarting, first, START)).toBe('requeued');
    expect((await rig.job(j.id)).status).toBe('queued');
    const second = await claim(rig.ctx, j.id);
    expect(second.claimId).not.toBe(first.claimId);
    expect(await startJob(rig.ctx, rig.docker, second, START)).toBe('running');
    // One container for the attempt: the one the first claim made, now running and recorded.
    expect(await rig.job(j.id)).toMatchObject({ status: 'running', containerId: left, claimId: second.claimId });
    expect((await containersOf(j.id)).map((c) => c.id)).toEqual([left]);
    expect((await rig.docker.inspect(left))?.running).toBe(true);
    expect((await rig.audits(j.id, 'job.adopt')).at(-1)?.reason).toBe('never-started container of an earlier claim of this attempt, which its start gave back (name in use)');
    // And the orphan sweeper leaves it alone: the job records it.
    expect(containerVerdict({ id: left, labels: (await rig.docker.inspect(left))!.labels }, await jobRefs(rig.db, [j.id]))).toBeNull();
  });

  it('409 name in use: a never-started leftover that will not start is replaced by a new container, and the job runs', async () => {
    const j = await submit();
    const first = await claim(rig.ctx, j.id);
    // Its network is gone: every start of this container fails (as one with a half-made task does).
    const net = `warden-test-${crypto.randomBytes(3).toString('hex')}`;
    execFileSync('docker', ['network', 'create', net], { stdio: 'ignore' });
    const broken = execFileSync('docker', ['create', '--init', '--name', containerName(first), '--network', net, ...labelArgs(containerLabels(first, rig.ctx)), TEST_IMAGE, 'sleep', '300']).toString().trim();
    execFileSync('docker', ['network', 'rm', net], { stdio: 'ignore' });
    const restarting = runFailsUnreachable(rig.docker);
    expect(await startJob(rig.ctx, restarting, first, START)).toBe('requeued');
    const second = await claim(rig.ctx, j.id);
    expect(await startJob(rig.ctx, rig.docker, second, START)).toBe('running');
    const row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'running', claimId: second.claimId });
    expect(row.containerId).not.toBe(broken);
    expect(await rig.docker.inspect(broken)).toBeNull();
    expect((await containersOf(j.id)).map((c) => c.id)).toEqual([row.containerId]);
    expect((await rig.audits(j.id, 'container.remove')).at(-1)?.reason).toBe('a never-started container of this attempt would not start; replaced');
  });

  it('the engine fails a start with a 5xx after creating the container: the container stays, the job is requeued, and the next claim starts that same container', async () => {
    // The real engine behind a socket proxy that answers every `start` with the 500 an engine
    // gives right after a restart; everything else reaches the engine untouched.
    const sock = path.join(os.tmpdir(), `warden-5xx-${crypto.randomBytes(4).toString('hex')}.sock`);
    let starts = 0;
    const proxy = http.createServer((req, res) => {
      if (req.method === 'POST' && /\/containers\/[^/]+\/start$/.test((req.url ?? '').split('?')[0]!)) {
        starts++;
        req.resume();
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ message: 'failed to update store for object type *libnetwork.endpoint: json: cannot unmarshal' }));
        return;
      }
      const up = http.request({ socketPath: '/var/run/docker.sock', path: req.url, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((ok) => proxy.listen(sock, ok));
    try {
      const failing = createDockerRuntime({ dockerHost: `unix://${sock}` });
      const j = await submit();
      const first = await claim(rig.ctx, j.id);
      const err = await failing.run({ name: containerName(first), image: TEST_IMAGE, command: ['sleep', '300'], labels: containerLabels(first, rig.ctx) }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ContainerNotStartedError);
      expect(starts).toBeGreaterThan(1); // retried on the same container before giving up
      const kept = (err as ContainerNotStartedError).containerId;
      expect((await rig.docker.inspect(kept))?.status).toBe('created');
      await rig.docker.remove(kept);

      // Through the start path: requeued, container kept (not an orphan while the attempt waits).
      expect(await startJob(rig.ctx, failing, first, START)).toBe('requeued');
      expect(await rig.job(j.id)).toMatchObject({ status: 'queued', waitCode: 'engine_error', containerId: null });
      const [left] = await containersOf(j.id);
      expect(left?.state).toBe('created');
      expect(containerVerdict(left!, await jobRefs(rig.db, [j.id]))).toBeNull();
      const second = await claim(rig.ctx, j.id);
      expect(containerVerdict(left!, await jobRefs(rig.db, [j.id]))).toBeNull();
      expect(await startJob(rig.ctx, rig.docker, second, START)).toBe('running');
      expect(await rig.job(j.id)).toMatchObject({ status: 'running', containerId: left!.id, claimId: second.claimId });
      expect((await containersOf(j.id)).map((c) => c.id)).toEqual([left!.id]);
      expect((await rig.docker.inspect(left!.id))?.running).toBe(true);
    } finally {
      await new Promise((ok) => proxy.close(ok));
      fs.rmSync(sock, { force: true });
    }
  }, 60_000);

  it('created but never started (the worker died in between): reconcile starts it, or removes it and requeues the job', async () => {
    const j = await submit();
    const c = await claim(rig.ctx, j.id);
    const created = execFileSync('docker', ['create', '--init', '--name', containerName(c), ...labelArgs(containerLabels(c, rig.ctx)), TEST_IMAGE, 'sleep', '300']).toString().trim();
    expect(await reconcile(rig.ctx, rig.docker, { startingStaleMs: 0 })).toMatchObject({ adopted: 1 });
    expect(await rig.job(j.id)).toMatchObject({ status: 'running', containerId: created });
    expect((await rig.docker.inspect(created))?.running).toBe(true);

    // One that cannot start (its network is gone): removed, and the job back in the queue.
    const k = await submit();
    const ck = await claim(rig.ctx, k.id);
    const net = `warden-test-${crypto.randomBytes(3).toString('hex')}`;
    execFileSync('docker', ['network', 'create', net], { stdio: 'ignore' });
    const dead = execFileSync('docker', ['create', '--name', containerName(ck), '--network', net, ...labelArgs(containerLabels(ck, rig.ctx)), TEST_IMAGE, 'true']).toString().trim();
    execFileSync('docker', ['network', 'rm', net], { stdio: 'ignore' });
    expect(await reconcile(rig.ctx, rig.docker, { startingStaleMs: 0 })).toMatchObject({ requeued: 1 });
    expect(await rig.job(k.id)).toMatchObject({ status: 'queued', node: null, claimId: null, containerId: null });
    expect(await rig.docker.inspect(dead)).toBeNull();
    expect((await rig.audits(k.id, 'container.remove')).at(-1)?.reason).toBe('created but never started, and would not start');
  });

  it("the orphan sweeper removes a lost claim's container at once, inside the grace", async () => {
    const j = await submit();
    const c = await claim(rig.ctx, j.id);
    // The claim is lost (the job requeued), then its stalled start creates the container anyway.
    expect(await reconcile(rig.ctx, rig.docker, { startingStaleMs: 0 })).toMatchObject({ requeued: 1 });
    const id = await rig.docker.run({ name: containerName(c), image: TEST_IMAGE, command: ['sleep', '300'], labels: containerLabels(c, rig.ctx) });
    const r = await sweep(rig.ctx, 'orphans', { settings: { orphanGraceS: 3600 } });
    expect(r.planned.filter((p) => p.containerId === id)).toMatchObject([{ kind: 'remove_container', detail: `made for claim ${c.claimId} of job ${j.id}, which was lost (never recorded)` }]);
    await waitFor(async () => (await rig.docker.inspect(id)) === null, { what: 'the removal' });
  });
});

/** The engine as a start sees it mid-restart: `run` fails as unreachable, everything else is the real engine. */
function runFailsUnreachable(docker: DockerRuntime): DockerRuntime {
  return new Proxy(docker, {
    get(t, p, r) {
      if (p === 'run') return () => Promise.reject(new DockerUnavailableError('engine restarting'));
      const v = Reflect.get(t, p, r) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
}

function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}
