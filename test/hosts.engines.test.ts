import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDockerRuntime } from '../server/docker/runtime';
import { auditEvents, jobs, nodes, type Job } from '../server/db/schema';
import { submitJob } from '../server/domain/jobs';
import { createTestDatabase } from './helpers/db';
import { dockerAvailable, TEST_IMAGE } from './helpers/docker';
import { makeCtx, makeUser, waitFor } from './helpers/fixtures';
import { removeInstallationContainers, requireHostPrerequisites, spawnWorker, startEngine, type Engine, type WorkerProc } from './helpers/hosts';

/**
 * Two Docker hosts on one machine — the system engine and a second dockerd of our own — and one
 * worker process per engine, sharing one real PostgreSQL. Node ids come from the engines (no
 * WARDEN_NODE_ID). One host dies (its worker SIGKILLed, its engine stopped): its jobs run again
 * on the other. A worker restarted under another host name on the same engine is the same node;
 * a stale node's containers on an engine are adopted by the live worker there.
 */

describe.skipIf(!dockerAvailable())('failing hosts on two real Docker engines', () => {
  let engine: Engine;
  let tdb: Awaited<ReturnType<typeof createTestDatabase>>;
  let ctx: Awaited<ReturnType<typeof makeCtx>>;
  const system = createDockerRuntime();
  let systemId: string;
  const workers: WorkerProc[] = [];

  beforeAll(async () => {
    requireHostPrerequisites();
    engine = await startEngine('eng');
    tdb = await createTestDatabase();
    ctx = await makeCtx(tdb.db);
    systemId = await system.engineId();
    expect(engine.id).not.toBe(systemId);
  }, 180_000);

  afterAll(async () => {
    for (const w of workers) await w.stop('SIGKILL');
    // Leak check: this installation's containers on both engines are removed, and none are left.
    if (ctx) {
      await removeInstallationContainers(system, ctx.installation);
      expect(await system.list({ 'warden.installation': ctx.installation })).toEqual([]);
    }
    await engine?.close();
    await tdb?.drop();
  }, 120_000);

  const start = (o: Omit<Parameters<typeof spawnWorker>[0], 'databaseUrl'>) => {
    const w = spawnWorker({ databaseUrl: tdb.url, ...o });
    workers.push(w);
    return w;
  };
  const rows = (ids: string[]) => tdb.db.select().from(jobs).where(inArray(jobs.id, ids));
  const row = async (id: string) => (await rows([id]))[0]!;
  const containersOf = async (id: string) => [
    ...(await system.list({ 'warden.job': id })),
    ...(engine.isUp() ? await engine.runtime.list({ 'warden.job': id }) : []),
  ];

  it('jobs spread over both engines, one container each; when a host dies its jobs run again on the other within 150 s', async () => {
    const users = await Promise.all([0, 1, 2, 3].map((i) => makeUser(ctx, { name: `eng-u${i}`, plan: { name: 'hosts', maxConcurrentJobs: 10, maxRetries: 3, monthlyQuotaS: null, network: 'none' } })));
    const a = start({});
    const b = start({ dockerHost: engine.host });
    // Both up (each has written its heartbeat) before anything is submitted.
    await waitFor(async () => (await tdb.db.select({ id: nodes.id }).from(nodes)).length === 2, { timeoutMs: 90_000, what: `both workers up (${a.text()} ${b.text()})` });
    // A submission wakes every worker at once (NOTIFY) and the first to lock its user claims it,
    // so one fast worker can take everything. To give each host work for sure, one worker is
    // paused (SIGSTOP, a few seconds: well inside the node staleness) while the other takes half.
    const ids: string[] = [];
    const half = async (paused: WorkerProc, other: WorkerProc) => {
      paused.proc.kill('SIGSTOP');
      try {
        const mine: string[] = [];
        for (const u of users) mine.push((await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'echo up; sleep 600'], timeoutSeconds: 900 })).id);
        await waitFor(async () => (await rows(mine)).every((j) => j.status === 'running'), { timeoutMs: 90_000, what: `half the jobs running (worker said: ${other.text()})` });
        ids.push(...mine);
      } finally {
        paused.proc.kill('SIGCONT');
      }
    };
    await half(b, a);
    await half(a, b);
    const running = await rows(ids);

    // Node ids are the engines' own IDs; both hosts got work.
    const byNode = new Map<string, Job[]>();
    for (const j of running) byNode.set(j.node!, [...(byNode.get(j.node!) ?? []), j]);
    expect(new Set(byNode.keys())).toEqual(new Set([systemId, engine.id]));
    expect(new Set((await tdb.db.select({ id: nodes.id }).from(nodes)).map((n) => n.id))).toEqual(new Set([systemId, engine.id]));
    // Each job has exactly one container, on the engine of its node, labelled with this installation.
    for (const j of running) {
      const cs = await containersOf(j.id);
      expect(cs.map((c) => c.id)).toEqual([j.containerId]);
      expect(cs[0]!.labels).toMatchObject({ 'warden.node': j.node, 'warden.installation': ctx.installation, 'warden.attempt': '1', 'warden.claim': j.claimId });
      const onEngine = j.node === engine.id ? engine.runtime : system;
      expect(await onEngine.inspect(j.containerId!)).toMatchObject({ running: true });
    }

    // The second host dies: its worker is SIGKILLed and its engine stopped.
    const lostOnB = byNode.get(engine.id)!.map((j) => j.id);
    const keptOnA = byNode.get(systemId)!;
    const t0 = Date.now();
    await b.stop('SIGKILL');
    await engine.stop();
    const again = await waitFor(async () => {
      const r = await rows(lostOnB);
      return r.every((j) => j.status === 'running' && j.node === systemId) ? r : null;
    }, { timeoutMs: 150_000, intervalMs: 500, what: 'the dead host\'s jobs running again on the other' });
    const failoverS = (Date.now() - t0) / 1000;
    console.log(`failover: the dead host's ${lostOnB.length} jobs ran again on the other after ${failoverS.toFixed(1)} s`);
    for (const j of again) {
      expect(j.attempt).toBe(2);
      expect(j.reason).toMatch(new RegExp(`^Lost \\(attempt 1 of 4\\): node ${engine.id} is unreachable \\(last heartbeat .*\\); retrying$`));
      expect((await system.list({ 'warden.job': j.id })).map((c) => c.id)).toEqual([j.containerId]);
    }
    // The survivor's own jobs were not disturbed.
    for (const k of keptOnA) expect(await row(k.id)).toMatchObject({ status: 'running', attempt: 1, containerId: k.containerId, node: systemId });
    await a.stop();
    await engine.start();
  }, 360_000);

  it("a worker restarted under another host name on the same engine is the same node; a stale node's jobs there are adopted", async () => {
    const u = await makeUser(ctx, { name: 'eng-renamed', plan: { name: 'hosts' } });
    // An old-style worker with its own name (WARDEN_NODE_ID) starts a job, then dies.
    const old = start({ dockerHost: engine.host, nodeId: 'old-name', hostname: 'warden-one' });
    const z = await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 600'], timeoutSeconds: 80, gracePeriodSeconds: 1 });
    await waitFor(async () => (await row(z.id)).status === 'running', { timeoutMs: 60_000, what: `job on old-name (${old.text()})` });
    await old.stop('SIGKILL');
    // A worker with the default node id (the engine's) starts two jobs, then dies too.
    const first = start({ dockerHost: engine.host, hostname: 'warden-one' });
    const x = await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 600'], timeoutSeconds: 25, gracePeriodSeconds: 1 });
    const y = await submitJob(ctx, u.actor, { image: TEST_IMAGE, command: ['sh', '-c', 'sleep 4; echo done'], timeoutSeconds: 120 });
    await waitFor(async () => (await rows([x.id, y.id])).every((j) => j.status === 'running'), { timeoutMs: 60_000, what: `jobs on the engine's node (${first.text()})` });
    const xr = await row(x.id);
    expect(xr.node).toBe(engine.id);
    await first.stop('SIGKILL');

    // Back under another host name: same engine, so the same node. It finds its containers: the
    // job that ended meanwhile is completed, the other is timed out at its deadline, and the
    // stale node's job on this engine is adopted and timed out at its own.
    const renamed = start({ dockerHost: engine.host, hostname: 'warden-renamed' });
    const done = await waitFor(async () => {
      const r = await rows([x.id, y.id, z.id]);
      return r.every((j) => j.status === 'timed_out' || j.status === 'succeeded') ? r : null;
    }, { timeoutMs: 180_000, intervalMs: 500, what: `jobs finished by the renamed worker (${renamed.text()})` });
    const [rx, ry, rz] = [x.id, y.id, z.id].map((id) => done.find((j) => j.id === id)!);
    expect(rx).toMatchObject({ status: 'timed_out', attempt: 1, node: engine.id, containerId: xr.containerId });
    expect(rx!.reason).toBe('Timeout: exceeded 25s (job request)');
    expect(ry).toMatchObject({ status: 'succeeded', attempt: 1, node: engine.id, logTail: 'done\n' });
    expect(rz).toMatchObject({ status: 'timed_out', attempt: 1, node: engine.id });
    const adopt = await tdb.db.select().from(auditEvents).where(and(eq(auditEvents.targetId, z.id), eq(auditEvents.action, 'job.adopt')));
    expect(adopt).toHaveLength(1);
    expect(adopt[0]!.details).toMatchObject({ fromNode: 'old-name', toNode: engine.id });
    // Exactly one node row per engine-or-name ever used; the host name never became a node.
    expect(new Set((await tdb.db.select({ id: nodes.id }).from(nodes)).map((n) => n.id))).toEqual(new Set([systemId, engine.id, 'old-name']));
    await renamed.stop();
  }, 300_000);
});
