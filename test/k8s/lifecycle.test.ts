import { Readable } from 'node:stream';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { eq, inArray } from 'drizzle-orm';
import { extract } from 'tar-stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { jobs, type Job } from '../../server/db/schema';
import { extendJob, jobsToJson, killJob, submitJob } from '../../server/domain/jobs';
import { readResults } from '../../server/domain/results';
import { BACKSTOP_MARGIN_S } from '../../server/k8s/pod';
import { sweep } from '../../server/sweepers';
import { dispatchOnce } from '../../server/worker/dispatcher';
import { OPERATOR } from '../helpers/fixtures';
import { makeK8sRig, waitFor, type K8sRig } from '../helpers/k8s';
import { TEST_IMAGE } from '../helpers/sweepers';

/**
 * A job's life on the real Kubernetes test cluster (scripts/k8s-test-cluster.sh): the plan's
 * concurrency limit, timeout TERM → grace → KILL, kill, extend, TTL per final state, and results
 * kept past a timeout. Warden's clock is a fake the test moves; Pods run in real time and the
 * tests wait for them on conditions (a Pod starts in ~2 s, a graceful delete takes ~7 s here).
 */

const FINAL = ['succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled'];
// A trapped TERM: `sleep & wait` so the trap runs at once; the loop keeps it alive until KILL.
const TRAP_TERM = ['sh', '-c', 'trap "echo got TERM" TERM; echo started; while :; do sleep 1 & wait; done'];
const PLAIN = ['sh', '-c', 'echo started; sleep 300'];

describe('job lifecycle on Kubernetes (real cluster)', () => {
  let rig: K8sRig;
  beforeAll(async () => {
    rig = await makeK8sRig({ plan: { maxConcurrentJobs: 2, ttlSucceededS: 60, ttlFailedS: 120, maxTimeoutS: 600 } });
  });
  afterAll(async () => {
    await rig?.close();
  });
  // A test that failed half-way leaves no live job behind to hold the plan's two slots.
  afterEach(async () => {
    const live = await rig.db.select().from(jobs).where(inArray(jobs.status, ['queued', 'starting', 'running', 'terminating']));
    for (const j of live) await end(j);
  });

  const tick = () => sweep(rig.ctx, 'timeout');
  const final = (id: string, timeoutMs = 90_000) =>
    waitFor(async () => {
      const j = await rig.job(id);
      return FINAL.includes(j.status) ? j : null;
    }, { what: `job ${id} to end`, timeoutMs });
  const actions = async (id: string) => (await rig.audits(id)).map((a) => a.action);
  const end = async (j: Job) => {
    if (FINAL.includes((await rig.job(j.id)).status)) return;
    await killJob(rig.ctx, OPERATOR, j.id, { force: true, reason: 'test cleanup' });
    await tick();
    await final(j.id);
  };

  it('the plan\'s concurrency limit holds: a third job waits until a Pod ends', async () => {
    const a = await rig.start(PLAIN, { timeoutSeconds: 60, waitFor: 'started' });
    const b = await rig.start(PLAIN, { timeoutSeconds: 60, waitFor: 'started' });
    const c = await submitJob(rig.ctx, rig.user.actor, { image: TEST_IMAGE, command: PLAIN, timeoutSeconds: 60, gracePeriodSeconds: 1 });
    await dispatchOnce(rig.ctx);
    // The wait follows from the user's slots when the job is read (domain/queue.ts describeWait).
    expect((await jobsToJson(rig.db, [await rig.job(c.id)]))[0]).toMatchObject({ status: 'queued', waitCode: 'user_limit' });
    const pods = await rig.docker.list({ 'warden.node': rig.node });
    expect(pods.map((p) => `${p.id}:${p.state}`).sort()).toEqual([`${a.containerId}:running`, `${b.containerId}:running`].sort());
    await end(a);
    const started = await waitFor(async () => {
      await dispatchOnce(rig.ctx);
      const r = await rig.job(c.id);
      return r.status === 'running' ? r : null;
    }, { what: 'the third job to start' });
    expect((await rig.pod(started.containerId!))?.metadata?.labels?.['warden.job']).toBe(c.id);
    await end(b);
    await end(started);
  });

  it('the cluster\'s nodes, read-only, with allocatable and Warden\'s live Pods on each', async () => {
    const j = await rig.start(PLAIN, { timeoutSeconds: 60, waitFor: 'started' });
    const nodes = await rig.docker.clusterNodes!();
    const on = (await rig.pod(j.containerId!))!.spec!.nodeName;
    expect(nodes.map((n) => n.name)).toContain(on);
    const n = nodes.find((x) => x.name === on)!;
    expect(n).toMatchObject({ ready: true, unschedulable: false, wardenPods: 1 });
    expect(n.allocatableCpus).toBeGreaterThan(0);
    expect(n.allocatableMemoryMb).toBeGreaterThan(0);
    await end(j);
  });

  it('timeout: TERM (a delete with the job\'s grace), the trapped TERM runs, KILL after the grace; timed_out with exit −1 and the reason', async () => {
    const j = await rig.start(TRAP_TERM, { timeoutSeconds: 3, gracePeriodSeconds: 2, waitFor: 'started' });
    const pod = await rig.pod(j.containerId!);
    // The Pod Warden made: fenced, never restarted, the backstop past the plan's cap.
    expect(pod?.spec).toMatchObject({ restartPolicy: 'Never', terminationGracePeriodSeconds: 2, automountServiceAccountToken: false, activeDeadlineSeconds: 600 + 2 + BACKSTOP_MARGIN_S });
    expect(pod?.spec?.containers[0]?.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    rig.ctx.clock.set(j.deadlineAt!);
    expect((await tick()).planned.map((p) => p.kind)).toEqual(['timeout', 'sigterm']);
    const terminating = await rig.pod(j.containerId!);
    expect(terminating?.metadata?.deletionGracePeriodSeconds).toBe(2);
    const row = await final(j.id);
    expect(row).toMatchObject({ status: 'timed_out', exitCode: -1, reason: 'Timeout: exceeded 3s (job request)' });
    expect(row.logTail).toMatch(/started\s+got TERM/);
    // The kubelet's KILL after the grace: the container's own exit code was 137.
    const [fin] = await rig.audits(j.id, 'job.timed_out');
    expect(fin!.details).toMatchObject({ containerExitCode: 137 });
    expect(await actions(j.id)).toEqual(expect.arrayContaining(['job.timeout', 'container.sigterm', 'job.timed_out']));
  });

  it('kill: SIGTERM ends a plain job (the pause process is PID 1, so the job dies of TERM); a forced kill is a delete with grace 0', async () => {
    const j = await rig.start(PLAIN, { timeoutSeconds: 60, gracePeriodSeconds: 5, waitFor: 'started' });
    await killJob(rig.ctx, OPERATOR, j.id, { reason: 'operator said so' });
    await tick();
    const row = await final(j.id);
    expect(row).toMatchObject({ status: 'killed', reason: 'Killed by operator:op@test: operator said so', exitCode: 143 });

    const f = await rig.start(TRAP_TERM, { timeoutSeconds: 60, gracePeriodSeconds: 30, waitFor: 'started' });
    await killJob(rig.ctx, OPERATOR, f.id, { force: true, reason: 'now' });
    await tick();
    // Grace 0: the Pod object is gone at once (the kubelet kills what is left).
    await waitFor(async () => (await rig.pod(f.containerId!)) === null, { what: 'the Pod to be gone' });
    expect(await final(f.id)).toMatchObject({ status: 'killed', reason: 'Killed by operator:op@test: now' });
    const [sigkill] = await rig.audits(f.id, 'container.sigkill');
    expect(sigkill).toMatchObject({ success: true });
  });

  it('extend: the deadline moves; the backstop (activeDeadlineSeconds, which may only be lowered) already covers the plan\'s cap', async () => {
    const j = await rig.start(PLAIN, { timeoutSeconds: 5, waitFor: 'started' });
    const ext = await extendJob(rig.ctx, OPERATOR, j.id, { seconds: 300 });
    expect(ext.deadlineAt!.getTime()).toBe(j.deadlineAt!.getTime() + 300_000);
    const pod = await rig.pod(j.containerId!);
    const allowed = (ext.deadlineAt!.getTime() - ext.startedAt!.getTime()) / 1000;
    expect(pod!.spec!.activeDeadlineSeconds!).toBeGreaterThanOrEqual(allowed + ext.gracePeriodS);
    // Why the backstop cannot follow an extend: the API only lets a live Pod's
    // activeDeadlineSeconds go down (1.20 as today; kubernetes#69009). Raising it is refused.
    const raise = rig.core.patchNamespacedPod(
      { name: j.containerId!, namespace: rig.namespace, body: [{ op: 'replace', path: '/spec/activeDeadlineSeconds', value: pod!.spec!.activeDeadlineSeconds! + 60 }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    await expect(raise).rejects.toMatchObject({ code: 422 });
    // The old deadline passes: nothing happens.
    rig.ctx.clock.set(j.deadlineAt!.getTime() + 1000);
    expect((await tick()).planned).toEqual([]);
    expect((await rig.job(j.id)).status).toBe('running');
    await end(j);
  });

  it('idle timeout: a job that printed nothing for idleTimeoutSeconds is stopped (TERM, grace) and ends timed_out with the idle reason', async () => {
    const j = await rig.start(PLAIN, { timeoutSeconds: 120, gracePeriodSeconds: 1, waitFor: 'started', extra: { idleTimeoutSeconds: 2 } });
    // Its last line as the kubelet stamped it (the Pod log API with timestamps).
    const last = (await rig.docker.lastOutputAt(j.containerId!))!.at!;
    expect(last.getTime()).toBeGreaterThanOrEqual(j.startedAt!.getTime() - 5_000);
    rig.ctx.clock.set(Math.max(last.getTime(), j.idleDeadlineAt!.getTime()) + 2_500);
    const r = await tick();
    expect(r.planned.filter((p) => p.jobId === j.id).map((p) => p.kind)).toEqual(['idle_check']);
    expect(await rig.job(j.id)).toMatchObject({ status: 'terminating', terminateReason: 'Idle: no output for 2s' });
    expect((await rig.pod(j.containerId!))?.metadata?.deletionGracePeriodSeconds).toBe(1);
    const row = await final(j.id);
    expect(row).toMatchObject({ status: 'timed_out', exitCode: -1, reason: 'Idle: no output for 2s' });
    expect(await actions(j.id)).toEqual(expect.arrayContaining(['job.idle_timeout', 'container.sigterm', 'job.timed_out']));
  });

  it('TTL per final state: a succeeded job\'s Pod goes after ttlSucceeded, a failed one\'s only after ttlFailed', async () => {
    const ok = await rig.start(['sh', '-c', 'echo started; sleep 1'], { waitFor: 'started' });
    const bad = await rig.start(['sh', '-c', 'echo started; sleep 1; exit 3'], { waitFor: 'started' });
    const okRow = await final(ok.id);
    const badRow = await final(bad.id);
    expect(okRow).toMatchObject({ status: 'succeeded', exitCode: 0 });
    expect(badRow).toMatchObject({ status: 'failed', exitCode: 3, reason: 'Exited with code 3' });
    expect(okRow.ttlExpiresAt!.getTime() - okRow.finishedAt!.getTime()).toBe(60_000);
    expect(badRow.ttlExpiresAt!.getTime() - badRow.finishedAt!.getTime()).toBe(120_000);
    rig.ctx.clock.set(Math.max(okRow.ttlExpiresAt!.getTime(), badRow.finishedAt!.getTime() + 60_000));
    await sweep(rig.ctx, 'ttl');
    expect(await rig.pod(ok.containerId!)).toBeNull();
    expect(await rig.pod(bad.containerId!)).not.toBeNull();
    rig.ctx.clock.set(badRow.ttlExpiresAt!);
    await sweep(rig.ctx, 'ttl');
    expect(await rig.pod(bad.containerId!)).toBeNull();
    expect((await rig.db.select().from(jobs).where(eq(jobs.id, bad.id)))[0]!.cleanedAt).not.toBeNull();
  });

  it('results past a timeout: files written before the deadline are kept though the job ignored TERM (emptyDir + keeper)', async () => {
    const j = await rig.start(['sh', '-c', 'echo alpha > /out/a.txt && trap "" TERM && echo started && while :; do sleep 1; done'], {
      timeoutSeconds: 3,
      gracePeriodSeconds: 2,
      waitFor: 'started',
      extra: { resultsPath: '/out' },
    });
    rig.ctx.clock.set(j.deadlineAt!);
    await tick();
    const row = await final(j.id);
    expect(row).toMatchObject({ status: 'timed_out', resultsPath: '/out' });
    const r = await readResults(rig.db, j.id);
    expect(r).not.toBeNull();
    const files = new Map<string, string>();
    const ex = extract();
    Readable.from([Buffer.from(r!.tar)]).pipe(ex);
    for await (const e of ex) {
      const parts: Buffer[] = [];
      for await (const c of e) parts.push(c as Buffer);
      files.set(e.header.name, Buffer.concat(parts).toString());
    }
    expect(files.get('out/a.txt')).toBe('alpha\n');
  });
});
