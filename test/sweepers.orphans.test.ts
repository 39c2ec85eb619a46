import crypto from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobs, nodes } from '../server/db/schema';
import { removeOrphanContainer } from '../server/domain/orphans';
import { sweep } from '../server/sweepers';
import { listOrphans } from '../server/sweepers/orphans';
import { dispatchOnce } from '../server/worker/dispatcher';
import { writeHeartbeat } from '../server/domain/nodes';
import { dockerAvailable } from './helpers/docker';
import { OPERATOR, VIEWER } from './helpers/fixtures';
import { makeRig, TEST_IMAGE, waitFor, type Rig } from './helpers/sweepers';

/**
 * The orphan sweeper against the real engine: reaping labelled containers without a live job
 * (after the grace), never touching anything without Warden's labels or another node's, and
 * turning jobs whose container vanished into `lost` with the retry policy.
 */

const GRACE = 300;

describe.skipIf(!dockerAvailable())('orphan sweeper (real Docker)', () => {
  let rig: Rig;
  /** Containers created without this node's label: cleaned up by hand. */
  const foreign: string[] = [];

  beforeAll(async () => {
    rig = await makeRig();
  });
  afterAll(async () => {
    for (const id of foreign) await rig.docker.remove(id);
    for (const id of foreign) expect(await rig.docker.inspect(id)).toBeNull();
    await rig?.close();
  });

  const tick = () => sweep(rig.ctx, 'orphans', { settings: { orphanGraceS: GRACE } });
  const managed = (extra: Record<string, string> = {}) => ({
    'warden.managed': 'true',
    'warden.job': crypto.randomUUID(),
    'warden.attempt': '1',
    'warden.node': rig.node,
    'warden.installation': rig.ctx.installation,
    ...extra,
  });

  it('removes a labelled container of an unknown job after the grace, and only then', async () => {
    const labels = managed();
    const id = await rig.docker.run({ image: TEST_IMAGE, command: ['sleep', '300'], labels });
    const created = (await rig.docker.list({ 'warden.job': labels['warden.job'] }))[0]!.createdAt;

    rig.ctx.clock.set(created.getTime() + (GRACE - 1) * 1000);
    let r = await tick();
    expect(r.planned.filter((p) => p.containerId === id)).toEqual([]);
    const seen = await listOrphans(rig.ctx, VIEWER);
    const entry = seen.containers.find((c) => c.id === id)!;
    expect(entry).toMatchObject({ jobId: labels['warden.job'], attempt: '1', node: rig.node, reason: `job ${labels['warden.job']} does not exist` });
    expect(entry.removableAt).toBe(new Date(created.getTime() + GRACE * 1000).toISOString());
    expect(await rig.docker.inspect(id)).not.toBeNull();

    rig.ctx.clock.set(created.getTime() + GRACE * 1000);
    r = await tick();
    expect(r.planned.filter((p) => p.containerId === id).map((p) => p.kind)).toEqual(['remove_container']);
    expect(await rig.docker.inspect(id)).toBeNull();
    const [a] = await rig.db.query.auditEvents.findMany({ where: (e, { eq: q }) => q(e.targetId, id) });
    expect(a).toMatchObject({ actor: 'sweeper:orphan', action: 'container.remove', targetType: 'container', success: true, reason: `orphan: job ${labels['warden.job']} does not exist` });
  });

  it("never touches unlabelled containers, another installation's, another live node's, or a live job's own container", async () => {
    const plain = await rig.docker.run({ image: TEST_IMAGE, command: ['sleep', '300'], labels: {} });
    foreign.push(plain);
    const otherNode = await rig.docker.run({ image: TEST_IMAGE, command: ['sleep', '300'], labels: managed({ 'warden.node': `${rig.node}-other` }) });
    foreign.push(otherNode);
    // Same node id, same engine, another installation (another database): foreign.
    const otherInstall = await rig.docker.run({ image: TEST_IMAGE, command: ['sleep', '300'], labels: managed({ 'warden.installation': crypto.randomUUID() }) });
    foreign.push(otherInstall);
    const live = await rig.start(['sleep', '300'], { timeoutSeconds: 3600 });
    rig.ctx.clock.advance(10 * GRACE * 1000);
    // The other node is alive (its heartbeat is fresh), so its containers are its own business.
    await writeHeartbeat(rig.db, { node: `${rig.node}-other`, at: rig.ctx.clock.now(), dockerOk: true, dockerError: null });
    const r = await tick();
    expect(r.planned).toEqual([]);
    for (const id of [plain, otherNode, otherInstall, live.containerId!]) expect((await rig.docker.inspect(id))?.running).toBe(true);
    await expect(removeOrphanContainer(rig.ctx, OPERATOR, otherInstall)).rejects.toMatchObject({ status: 409, code: 'other_installation' });
    expect((await rig.job(live.id)).status).toBe('running');
    // Manual removal refuses the same three.
    await expect(removeOrphanContainer(rig.ctx, OPERATOR, plain)).rejects.toMatchObject({ status: 422, code: 'not_managed' });
    await expect(removeOrphanContainer(rig.ctx, OPERATOR, otherNode)).rejects.toMatchObject({ status: 409, code: 'other_node' });
    await expect(removeOrphanContainer(rig.ctx, OPERATOR, live.containerId!)).rejects.toMatchObject({ status: 409, code: 'not_orphaned' });
    await expect(removeOrphanContainer(rig.ctx, VIEWER, plain)).rejects.toMatchObject({ status: 403 });
    await rig.docker.remove(live.containerId!);
    // (the live job is now lost: handled by the next test's ticks)
  });

  it('containers of an earlier attempt and of cleaned-up jobs are orphans; an operator may remove one before the grace', async () => {
    const j = await rig.start(['sleep', '300'], { timeoutSeconds: 3600 });
    const old = await rig.docker.run({ image: TEST_IMAGE, command: ['sleep', '300'], labels: managed({ 'warden.job': j.id, 'warden.attempt': '0' }) });
    const report = await listOrphans(rig.ctx, VIEWER);
    expect(report.containers.find((c) => c.id === old)?.reason).toBe(`attempt 0 of job ${j.id}, which is on attempt 1`);
    await removeOrphanContainer(rig.ctx, OPERATOR, old);
    expect(await rig.docker.inspect(old)).toBeNull();
    const audit = await rig.db.query.auditEvents.findFirst({ where: (e, { eq: q }) => q(e.targetId, old) });
    expect(audit).toMatchObject({ actor: 'operator:op@test', action: 'container.remove', reason: `orphan: attempt 0 of job ${j.id}, which is on attempt 1` });

    // Final and cleaned: the container that TTL would have removed, if it is still around.
    await rig.db.update(jobs).set({ status: 'succeeded', finishedAt: rig.ctx.clock.now(), cleanedAt: rig.ctx.clock.now() }).where(eq(jobs.id, j.id));
    rig.ctx.clock.advance((GRACE + 1) * 1000);
    const r = await tick();
    expect(r.planned.filter((p) => p.containerId === j.containerId)).toMatchObject([{ kind: 'remove_container', detail: `job ${j.id} ended (succeeded) and was cleaned up` }]);
    expect(await rig.docker.inspect(j.containerId!)).toBeNull();
  });

  it("a running job's container removed behind Warden's back: lost, retried, finally lost", async () => {
    // Settle whatever the earlier tests left lost.
    await tick();
    const j = await rig.start(['sleep', '300'], { timeoutSeconds: 3600, maxRetries: 1 });
    await rig.docker.remove(j.containerId!);
    let r = await tick();
    expect(r.planned.filter((p) => p.jobId === j.id).map((p) => p.kind)).toEqual(['lost']);
    let row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'queued', attempt: 2, containerId: null, node: null, startedAt: null, deadlineAt: null });
    expect(row.reason).toMatch(/^Lost \(attempt 1 of 2\): container [0-9a-f]{12} was removed by someone other than Warden; retrying$/);
    expect((await rig.audits(j.id)).map((a) => a.action).slice(-2)).toEqual(['job.lost', 'job.retry']);

    // Attempt 2 starts in a new container (labelled attempt 2) and loses it too.
    await waitFor(async () => {
      await dispatchOnce(rig.ctx);
      return (await rig.job(j.id)).status === 'running';
    });
    row = await rig.job(j.id);
    expect(row.attempt).toBe(2);
    expect((await rig.docker.inspect(row.containerId!))?.labels['warden.attempt']).toBe('2');
    await rig.docker.remove(row.containerId!);
    r = await tick();
    row = await rig.job(j.id);
    expect(row).toMatchObject({ status: 'lost', attempt: 2, exitCode: null });
    expect(row.reason).toMatch(/^Lost: container [0-9a-f]{12} was removed by someone other than Warden \(attempt 2 of 2, no retries left\)$/);
    expect(row.cleanedAt).toBeNull(); // the TTL sweeper cleans up after it (volumes)
    expect(row.ttlExpiresAt).not.toBeNull();
    expect((await rig.audits(j.id)).map((a) => a.action)).toEqual([
      'job.submit', 'job.claim', 'container.start', 'job.lost', 'job.retry', 'job.claim', 'container.start', 'job.lost',
    ]);
  });

  it('declares jobs of a node with a stale heartbeat lost; a fresh heartbeat protects them', async () => {
    const now = rig.ctx.clock.now();
    await rig.db.insert(nodes).values([
      { id: `${rig.node}-dead`, heartbeatAt: new Date(now.getTime() - 120_000), startedAt: new Date(now.getTime() - 3600_000) },
      { id: `${rig.node}-alive`, heartbeatAt: new Date(now.getTime() - 5_000), startedAt: new Date(now.getTime() - 3600_000) },
    ]);
    const mk = (node: string, status: 'running' | 'terminating', maxRetries: number) => ({
      userId: rig.user.id,
      image: TEST_IMAGE,
      status,
      maxRetries,
      timeoutS: 600,
      timeoutSource: 'plan',
      gracePeriodS: 1,
      queuedAt: now,
      startedAt: new Date(now.getTime() - 60_000),
      deadlineAt: new Date(now.getTime() + 600_000),
      node,
      containerId: crypto.randomBytes(32).toString('hex'),
      ...(status === 'terminating' ? { terminateKind: 'kill', terminateReason: 'Killed by operator:op@test', terminateRequestedAt: now } : {}),
    });
    const [dead, deadKilled, alive] = await rig.db
      .insert(jobs)
      .values([mk(`${rig.node}-dead`, 'running', 2), mk(`${rig.node}-dead`, 'terminating', 2), mk(`${rig.node}-alive`, 'running', 2)])
      .returning();
    await tick();
    expect(await rig.job(dead!.id)).toMatchObject({ status: 'queued', attempt: 2, node: null });
    expect((await rig.audits(dead!.id, 'job.lost'))[0]!.reason).toMatch(new RegExp(`^node ${rig.node}-dead is unreachable \\(last heartbeat `));
    // Being killed when its node died: it ends killed, it is not retried.
    expect(await rig.job(deadKilled!.id)).toMatchObject({ status: 'killed', reason: 'Killed by operator:op@test' });
    expect((await rig.job(alive!.id)).status).toBe('running');
    await rig.db.delete(jobs).where(eq(jobs.id, alive!.id));
  });

  it('live children of ended or purged parents are stopped, naming the parent', async () => {
    const now = rig.ctx.clock.now();
    const base = { userId: rig.user.id, image: TEST_IMAGE, maxRetries: 0, timeoutS: 600, timeoutSource: 'plan', gracePeriodS: 1, queuedAt: now };
    const [parent] = await rig.db.insert(jobs).values({ ...base, status: 'failed', finishedAt: now }).returning();
    const gone = crypto.randomUUID();
    const live = { status: 'running' as const, node: `${rig.node}-x`, startedAt: now, deadlineAt: new Date(now.getTime() + 600_000), containerId: 'feed' };
    const [k1, k2, k3] = await rig.db
      .insert(jobs)
      .values([
        { ...base, ...live, parentId: parent!.id },
        { ...base, status: 'queued', parentId: parent!.id },
        { ...base, ...live, parentId: gone },
      ])
      .returning();
    const report = await listOrphans(rig.ctx, VIEWER);
    expect(report.orphanedChildren).toEqual(
      expect.arrayContaining([
        { jobId: k1!.id, parentId: parent!.id, parentStatus: 'failed' },
        { jobId: k3!.id, parentId: gone, parentStatus: 'missing' },
      ]),
    );
    // The node of these rows has no heartbeat either; fresh one so only (c) applies.
    await rig.db.insert(nodes).values({ id: `${rig.node}-x`, heartbeatAt: now, startedAt: now });
    await tick();
    expect(await rig.job(k1!.id)).toMatchObject({ status: 'terminating', terminateKind: 'parent', terminateReason: `Parent job ${parent!.id} ended (failed)` });
    expect(await rig.job(k2!.id)).toMatchObject({ status: 'cancelled', reason: `Parent job ${parent!.id} ended (failed)` });
    expect(await rig.job(k3!.id)).toMatchObject({ status: 'terminating', terminateKind: 'parent', terminateReason: `Parent job ${gone} no longer exists` });
    // Once: a second tick finds nothing more to do for them.
    const r = await tick();
    expect(r.planned.filter((p) => p.kind === 'stop_children')).toEqual([]);
    await rig.db.delete(jobs).where(eq(jobs.node, `${rig.node}-x`));
  });

  it('dry-run: reports the orphan and the lost job, changes nothing', async () => {
    const labels = managed();
    const id = await rig.docker.run({ image: TEST_IMAGE, command: ['sleep', '300'], labels });
    const j = await rig.start(['sleep', '300'], { timeoutSeconds: 3600, maxRetries: 1 });
    await rig.docker.remove(j.containerId!);
    rig.ctx.clock.advance((GRACE + 5) * 1000);
    const r = await sweep(rig.ctx, 'orphans', { dryRun: true, settings: { orphanGraceS: GRACE } });
    expect(r.planned).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: 'remove_container', containerId: id }),
        expect.objectContaining({ kind: 'lost', jobId: j.id }),
      ]),
    );
    expect((await rig.docker.inspect(id))?.running).toBe(true);
    expect(await rig.job(j.id)).toMatchObject({ status: 'running', attempt: 1 });
    expect(await rig.audits(j.id, 'job.lost')).toEqual([]);
    const report = await listOrphans(rig.ctx, VIEWER);
    expect(report.lostJobs.map((l) => l.jobId)).toContain(j.id);
    expect(report.dockerOk).toBe(true);
    await tick();
    expect(await rig.docker.inspect(id)).toBeNull();
    expect((await rig.job(j.id)).status).toBe('queued');
  });
});
