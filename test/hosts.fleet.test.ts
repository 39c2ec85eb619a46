import { inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../server/clock';
import { auditEvents, jobs, nodes, type Job } from '../server/db/schema';
import type { Actor } from '../server/domain/actor';
import { putClass } from '../server/domain/classes';
import { cancelJob, killJob, submitJob } from '../server/domain/jobs';
import { drainNode, listNodeDetails, resumeNode } from '../server/domain/nodes';
import { createTestDatabase } from './helpers/db';
import { dockerAvailable, TEST_IMAGE } from './helpers/docker';
import { makeCtx, makeUser, waitFor } from './helpers/fixtures';
import { requireHostPrerequisites, spawnWorker, startEngines, type Engine, type WorkerProc } from './helpers/hosts';

/**
 * A fleet of three real Docker engines (dockerds of our own under /tmp/fleet-*), one worker process
 * each (`bin/worker.ts`, what `npm run worker` runs), one real PostgreSQL. Each node: 8 CPUs
 * (WARDEN_NODE_CPUS), at most 6 jobs (WARDEN_NODE_MAX_JOBS: so 6/6/0 would pass capacity, and only spread makes 2 to 6); the third is labelled gpu=true.
 * Jobs submitted at once spread over the nodes; none starts past a node's capacity, and the one
 * that fits nowhere says why; drain stops new work and survives a worker restart; a deadline
 * kills what still runs; resume takes work again; a class's nodeSelector picks the node.
 */

const operator: Actor = { kind: 'operator', id: '00000000-0000-0000-0000-000000000001', email: 'ops@fleet.test', role: 'operator' };

describe.skipIf(!dockerAvailable())('a fleet of three real Docker engines', () => {
  let engines: Engine[] = [];
  let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
  let ctx: Awaited<ReturnType<typeof makeCtx>>;
  const workers: (WorkerProc | null)[] = [null, null, null];
  const nodeOf: string[] = [];

  const spawn = (i: number) =>
    (workers[i] = spawnWorker({
      databaseUrl: tdb.url,
      dockerHost: engines[i]!.host,
      env: { WARDEN_NODE_CPUS: '8', WARDEN_NODE_CPU_OVERCOMMIT: '1', WARDEN_NODE_MAX_JOBS: '6', ...(i === 2 ? { WARDEN_NODE_LABELS: 'gpu=true,zone=b' } : {}) },
    }));

  beforeAll(async () => {
    requireHostPrerequisites();
    engines = await startEngines(3, { prefix: 'fleet' });
    tdb = await createTestDatabase();
    ctx = await makeCtx(tdb.db, { clock: systemClock });
    for (let i = 0; i < 3; i++) spawn(i);
    for (const e of engines) nodeOf.push(e.id);
    await waitFor(async () => (await tdb.db.select().from(nodes)).filter((n) => n.cpus != null).length === 3, {
      timeoutMs: 120_000,
      what: `three workers up with their capacity (${workers.map((w) => w!.text()).join(' | ')})`,
    });
  }, 300_000);

  afterAll(async () => {
    for (const w of workers) await w?.stop('SIGKILL');
    for (const e of engines) await e.close();
    await tdb?.drop();
  }, 180_000);

  const rows = (ids: string[]) => tdb.db.select().from(jobs).where(inArray(jobs.id, ids));
  const plan = { name: 'fleet', maxConcurrentJobs: 40, maxQueuedJobs: 100, maxRetries: 0, monthlyQuotaS: null, network: 'none', cpus: 1, memoryMb: 64, gracePeriodS: 2 };
  const sleeper = { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 600'], timeoutSeconds: 900 };
  const countBy = (js: Job[]) => nodeOf.map((n) => js.filter((j) => j.node === n).length);
  const onEngine = async (i: number) => (await engines[i]!.runtime.list({ 'warden.installation': ctx.installation })).filter((c) => c.state === 'running').length;

  it('capacity and labels are recorded; a class nodeSelector sends jobs to the labelled node, or says no node matches', async () => {
    const ns = await listNodeDetails(ctx, operator);
    expect(ns.map((n) => n.id).sort()).toEqual([...nodeOf].sort());
    for (const n of ns) {
      expect(n).toMatchObject({ state: 'active', capacity: { cpus: 8, maxJobs: 6 }, running: 0 });
      expect(n.capacity.memoryMb).toBeGreaterThan(0);
      expect(n.name).toMatch(/ [a-z0-9]{6}$/);
    }
    expect(ns.find((n) => n.id === nodeOf[2])!.labels).toEqual({ gpu: 'true', zone: 'b' });

    const u = await makeUser(ctx, { name: 'fleet-labels', plan });
    await putClass(ctx, { ...operator, role: 'admin' } as Actor, 'gpu', { defaultTimeoutSeconds: 900, nodeSelector: { gpu: 'true' } });
    await putClass(ctx, { ...operator, role: 'admin' } as Actor, 'mars', { defaultTimeoutSeconds: 900, nodeSelector: { zone: 'mars' } });
    const gpuJobs = await Promise.all([0, 1, 2].map(() => submitJob(ctx, u.actor, { ...sleeper, class: 'gpu' })));
    const mars = await submitJob(ctx, u.actor, { ...sleeper, class: 'mars' });
    const ran = await waitFor(async () => {
      const r = await rows(gpuJobs.map((j) => j.id));
      return r.every((j) => j.status === 'running') ? r : null;
    }, { timeoutMs: 120_000, what: 'the gpu jobs running' });
    expect(ran.map((j) => j.node)).toEqual([nodeOf[2], nodeOf[2], nodeOf[2]]);
    const waiting = await waitFor(async () => {
      const [m] = await rows([mars.id]);
      return m!.waitCode === 'no_matching_node' ? m : null;
    }, { timeoutMs: 60_000, what: 'the mars job to say no node matches' });
    expect(waiting.status).toBe('queued');
    expect(waiting.waitReason).toBe('Waiting: no live node has the labels zone=mars (nodeSelector of class mars; 3 live nodes)');
    await cancelJob(ctx, u.actor, mars.id);
    for (const j of gpuJobs) await killJob(ctx, operator, j.id, { force: true });
    await waitFor(async () => (await rows(gpuJobs.map((j) => j.id))).every((j) => j.status === 'killed'), { timeoutMs: 60_000, what: 'gpu jobs killed' });
  }, 300_000);

  let spread: Job[] = [];
  let extra: Job[] = [];

  it('12 jobs submitted at once spread over the three nodes (2 to 6 each); past capacity, a job waits with no_capacity and says why', async () => {
    const u = await makeUser(ctx, { name: 'fleet-spread', plan });
    const subs = await Promise.all(Array.from({ length: 12 }, () => submitJob(ctx, u.actor, sleeper)));
    spread = await waitFor(async () => {
      const r = await rows(subs.map((j) => j.id));
      return r.every((j) => j.status === 'running') ? r : null;
    }, { timeoutMs: 180_000, intervalMs: 250, what: `12 jobs running (${workers.map((w) => w!.text()).join(' | ')})` });
    const counts = countBy(spread);
    console.log(`spread of 12 jobs over 3 nodes: ${counts.join(' / ')}`);
    for (const c of counts) {
      expect(c).toBeGreaterThanOrEqual(2);
      expect(c).toBeLessThanOrEqual(6);
    }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(12);
    // Each container runs on the engine of its node.
    for (let i = 0; i < 3; i++) expect(await onEngine(i)).toBe(counts[i]);

    // 18 slots in all (6 per node): 7 more jobs, 6 start, the last waits and says why.
    const more: Job[] = [];
    for (let i = 0; i < 7; i++) more.push(await submitJob(ctx, u.actor, sleeper));
    const settled = await waitFor(async () => {
      const r = await rows(more.map((j) => j.id));
      const running = r.filter((j) => j.status === 'running').length;
      const waiting = r.find((j) => j.status === 'queued' && j.waitCode === 'no_capacity');
      return running === 6 && waiting ? r : null;
    }, { timeoutMs: 120_000, intervalMs: 250, what: '6 more running and 1 waiting for capacity' });
    extra = settled;
    const w = settled.find((j) => j.status === 'queued')!;
    expect(w.waitReason).toBe('Waiting: no node has 1 CPU and 64 MiB free: 3 nodes, all full');
    expect(countBy([...spread, ...settled.filter((j) => j.status === 'running')])).toEqual([6, 6, 6]);
    for (let i = 0; i < 3; i++) expect(await onEngine(i)).toBe(6);

    // A job bigger than any node (16 CPUs; nodes have 8) is refused at once, saying why.
    const big = await makeUser(ctx, { name: 'fleet-big', plan: { ...plan, name: 'fleet-big', cpus: 16 } });
    await expect(submitJob(ctx, big.actor, sleeper)).rejects.toMatchObject({
      status: 422,
      code: 'no_node_fits',
      message: expect.stringContaining('it asks for 16 CPUs and 64 MiB and the biggest of 3 live nodes has 8 CPUs'),
    });
  }, 400_000);

  it('drain: no new work, running jobs run on, the state survives a worker restart; a deadline kills what still runs; resume takes work again', async () => {
    const all = await rows([...spread, ...extra].map((j) => j.id));
    const running = all.filter((j) => j.status === 'running');
    const waiting = all.find((j) => j.status === 'queued')!;
    const a = nodeOf[0]!;
    const onA = running.filter((j) => j.node === a);
    expect(onA.length).toBe(6);

    const drained = await drainNode(ctx, operator, a, { reason: 'kernel upgrade' });
    expect(drained).toMatchObject({ state: 'draining', running: 6, drain: { reason: 'kernel upgrade', by: 'operator:ops@fleet.test', deadlineAt: null } });
    // A slot frees on A and on B: the waiting job goes to B, never to the draining A.
    await killJob(ctx, operator, onA[0]!.id, { force: true });
    const onB = running.find((j) => j.node === nodeOf[1])!;
    await killJob(ctx, operator, onB.id, { force: true });
    const started = await waitFor(async () => {
      const [r] = await rows([waiting.id]);
      return r!.status === 'running' ? r : null;
    }, { timeoutMs: 120_000, what: 'the waiting job started on another node' });
    expect(started.node).toBe(nodeOf[1]);
    // The other jobs on A run on.
    for (const j of await rows(onA.slice(1).map((x) => x.id))) expect(j.status).toBe('running');

    // Restarted, A's worker keeps the drain (it is the node row's, not the process's).
    await workers[0]!.stop();
    spawn(0);
    await waitFor(async () => {
      const [n] = await tdb.db.select().from(nodes).where(inArray(nodes.id, [a]));
      return n!.heartbeatAt.getTime() > Date.now() - 4_000 && (await listNodeDetails(ctx, operator)).find((x) => x.id === a)!.dockerOk;
    }, { timeoutMs: 90_000, what: 'A\'s worker back' });
    const u = await makeUser(ctx, { name: 'fleet-after', plan });
    const next = await submitJob(ctx, u.actor, sleeper);
    // Room only on A (B and C are full again): the job waits, A takes nothing.
    const held = await waitFor(async () => {
      const [r] = await rows([next.id]);
      return r!.waitCode === 'no_capacity' ? r : null;
    }, { timeoutMs: 60_000, what: 'the new job held while A drains' });
    expect(held.waitReason).toMatch(/^Waiting: no node has 1 CPU and 64 MiB free: 2 nodes, all full \(1 more node draining or not answering\)$/);
    expect((await listNodeDetails(ctx, operator)).find((x) => x.id === a)).toMatchObject({ state: 'draining', running: 5 });

    // A deadline of 0 s: A's jobs get the kill escalation at once; A shows drained.
    await drainNode(ctx, operator, a, { reason: 'kernel upgrade, now', deadlineSeconds: 0 });
    const killed = await waitFor(async () => {
      const r = await rows(onA.slice(1).map((x) => x.id));
      return r.every((j) => j.status === 'killed') ? r : null;
    }, { timeoutMs: 120_000, what: 'A\'s jobs killed at the drain deadline' });
    expect(killed[0]!.reason).toMatch(/drained and its deadline passed \(kernel upgrade, now\)/);
    await waitFor(async () => (await listNodeDetails(ctx, operator)).find((x) => x.id === a)!.state === 'drained', { timeoutMs: 30_000, what: 'A drained' });
    expect(await onEngine(0)).toBe(0);
    const [r] = await rows([next.id]);
    expect(r!.status).toBe('queued');

    // Resumed, A takes the waiting job.
    await resumeNode(ctx, operator, a, { reason: 'upgraded' });
    const placed = await waitFor(async () => {
      const [x] = await rows([next.id]);
      return x!.status === 'running' ? x : null;
    }, { timeoutMs: 60_000, what: 'the held job running after resume' });
    expect(placed.node).toBe(a);
    const trail = await tdb.db.select().from(auditEvents).where(inArray(auditEvents.action, ['node.drain', 'node.resume'])).orderBy(auditEvents.id);
    expect(trail.map((e) => [e.action, e.actor, e.reason])).toEqual([
      ['node.drain', 'operator:ops@fleet.test', 'kernel upgrade'],
      ['node.drain', 'operator:ops@fleet.test', 'kernel upgrade, now'],
      ['node.resume', 'operator:ops@fleet.test', 'upgraded'],
    ]);
  }, 400_000);
});
