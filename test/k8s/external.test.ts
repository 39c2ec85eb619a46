import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ctx } from '../../server/context';
import { createKubernetesRuntime } from '../../server/k8s/runtime';
import { sweep } from '../../server/sweepers';
import { kubeConfig, makeK8sRig, waitFor, type K8sRig } from '../helpers/k8s';
import { TEST_IMAGE } from '../helpers/sweepers';
import { onContainerEvent } from '../../server/worker/completion';
import { dispatchOnce } from '../../server/worker/dispatcher';

/**
 * What happens to Pods behind Warden's back, on the real Kubernetes test cluster: a Pod deleted
 * by someone else (lost, then retried), orphans of this installation removed and another
 * installation's left alone, an image that cannot be pulled, and a worker that dies between
 * SIGTERM and SIGKILL.
 */

const FINAL = ['succeeded', 'failed', 'timed_out', 'killed', 'lost', 'cancelled'];
const PLAIN = ['sh', '-c', 'echo started; sleep 300'];
const TRAP_TERM = ['sh', '-c', 'trap "echo got TERM" TERM; echo started; while :; do sleep 1 & wait; done'];
const GRACE = 300;

describe('Pods behind Warden\'s back (real cluster)', () => {
  let rig: K8sRig;
  const foreign: string[] = [];
  beforeAll(async () => {
    rig = await makeK8sRig({ plan: { maxRetries: 3, gracePeriodS: 120 } });
  });
  afterAll(async () => {
    for (const id of foreign) await rig.docker.remove(id);
    await rig?.close();
  });

  const final = (id: string, timeoutMs = 90_000) =>
    waitFor(async () => {
      const j = await rig.job(id);
      return FINAL.includes(j.status) ? j : null;
    }, { what: `job ${id} to end`, timeoutMs });

  it('a Pod deleted by someone else: the job is lost, saying so, and runs again as attempt 2', async () => {
    const j = await rig.start(PLAIN, { timeoutSeconds: 120, maxRetries: 1, waitFor: 'started' });
    await rig.core.deleteNamespacedPod({ name: j.containerId!, namespace: rig.namespace, gracePeriodSeconds: 1 });
    const lost = await waitFor(async () => {
      const r = await rig.job(j.id);
      return r.attempt === 2 ? r : null;
    }, { what: 'the job to be retried' });
    expect(lost).toMatchObject({ status: 'queued', attempt: 2, containerId: null });
    expect(lost.reason).toBe(`Lost (attempt 1 of 2): Pod ${j.containerId} was deleted by someone other than Warden; retrying`);
    expect((await rig.audits(j.id)).map((a) => a.action)).toEqual(expect.arrayContaining(['job.lost', 'job.retry']));
    // Attempt 2 runs in a Pod of its own.
    const again = await waitFor(async () => {
      await dispatchOnce(rig.ctx);
      const r = await rig.job(j.id);
      return r.status === 'running' ? r : null;
    }, { what: 'attempt 2 to run' });
    expect(again.containerId).toBe(`warden-${j.id}-2`);
    expect((await rig.pod(again.containerId!))?.metadata?.labels?.['warden.attempt']).toBe('2');
    await rig.docker.remove(again.containerId!);
    await final(j.id);
  });

  it('an orphan Pod of this installation is removed after the orphan grace; another installation\'s and an unlabelled one are never touched', async () => {
    const labels = (extra: Record<string, string> = {}) => ({
      'warden.managed': 'true',
      'warden.job': crypto.randomUUID(),
      'warden.attempt': '1',
      'warden.node': rig.node,
      'warden.installation': rig.ctx.installation,
      ...extra,
    });
    const mine = await rig.docker.run({ image: TEST_IMAGE, command: ['sleep', '300'], labels: labels() });
    const other = await rig.docker.run({ image: TEST_IMAGE, command: ['sleep', '300'], labels: labels({ 'warden.installation': crypto.randomUUID() }) });
    foreign.push(other);
    const plain = await rig.docker.run({ image: TEST_IMAGE, command: ['sleep', '300'], labels: {} });
    foreign.push(plain);
    const created = (await rig.pod(mine))!.metadata!.creationTimestamp!;
    const tick = () => sweep(rig.ctx, 'orphans', { settings: { orphanGraceS: GRACE } });

    rig.ctx.clock.set(new Date(created).getTime() + (GRACE - 1) * 1000);
    expect((await tick()).planned.filter((p) => p.containerId === mine)).toEqual([]);
    expect(await rig.pod(mine)).not.toBeNull();

    rig.ctx.clock.set(new Date(created).getTime() + GRACE * 1000 + 1000);
    const r = await tick();
    expect(r.planned.filter((p) => p.containerId === mine).map((p) => p.kind)).toEqual(['remove_container']);
    expect(r.planned.filter((p) => p.containerId === other || p.containerId === plain)).toEqual([]);
    expect(await rig.pod(mine)).toBeNull();
    expect(await rig.pod(other)).not.toBeNull();
    expect(await rig.pod(plain)).not.toBeNull();
  });

  it('an image that cannot be pulled: failed after the kubelet\'s bounded retries, naming the image', async () => {
    const j = await rig.start(PLAIN, { timeoutSeconds: 300, extra: { image: 'warden-test/does-not-exist:1' } });
    const row = await final(j.id, 180_000);
    expect(row.status).toBe('failed');
    expect(row.reason).toMatch(/^Image "warden-test\/does-not-exist:1" could not be pulled \((ErrImagePull|ImagePullBackOff)\)/);
    expect(row.reason!.length).toBeLessThanOrEqual(300);
  });

  it('a worker that dies between SIGTERM and SIGKILL: the next one finds the Pod terminating and finishes the escalation', async () => {
    const j = await rig.start(TRAP_TERM, { timeoutSeconds: 3, gracePeriodSeconds: 60, waitFor: 'started' });
    rig.ctx.clock.set(j.deadlineAt!);
    expect((await sweep(rig.ctx, 'timeout')).planned.map((p) => p.kind)).toEqual(['timeout', 'sigterm']);
    // The worker is SIGKILLed: its watch and everything it held in memory are gone.
    rig.unwatch();
    // A new worker: a fresh runtime (it never saw this Pod's delete) with its own watch.
    const rt = createKubernetesRuntime({ namespace: rig.namespace, keeperImage: TEST_IMAGE, kubeConfig: kubeConfig() });
    const ctx: Ctx = { ...rig.ctx, docker: rt };
    const sub = rt.events((e) => void onContainerEvent(ctx, rt, e).catch(() => {}));
    try {
      const pod = await rig.pod(j.containerId!);
      expect(pod?.metadata?.deletionTimestamp).toBeTruthy();
      expect((await rig.job(j.id)).status).toBe('terminating');
      // The grace (60 s of Warden's clock) passes: the new worker sends the SIGKILL (a delete with grace 0).
      rig.ctx.clock.set(j.deadlineAt!.getTime() + 60_000);
      expect((await sweep(ctx, 'timeout')).planned.map((p) => p.kind)).toEqual(['sigkill']);
      const row = await final(j.id);
      expect(row).toMatchObject({ status: 'timed_out', exitCode: -1, reason: 'Timeout: exceeded 3s (job request)' });
      expect((await rig.audits(j.id)).map((a) => a.action)).toEqual(expect.arrayContaining(['container.sigterm', 'container.sigkill', 'job.timed_out']));
      expect(await rig.pod(j.containerId!)).toBeNull();
    } finally {
      sub.close();
      rig.watch();
    }
  });
});
