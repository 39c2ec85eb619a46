import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suspendJobTimeout } from '../server/domain/jobs';
import { sweep } from '../server/sweepers';
import { reconcile } from '../server/worker/completion';
import { dockerAvailable } from './helpers/docker';
import { ADMIN } from './helpers/fixtures';
import { makeRig, waitFor, waitStopped, type Rig } from './helpers/sweepers';

/**
 * Idle timeouts against real PostgreSQL and the real Docker engine: a job that prints nothing
 * for its idle timeout is stopped with the timeout escalation (final `timed_out`, reason
 * "Idle: no output for 2s"); a chatty one beside it keeps running. The containers run in real
 * time and their output carries the engine's timestamps. The fake clock is set just past both
 * idle deadlines as the engine's stamps place them — not to the wall clock — once the chatty
 * job's newest line is inside its window at that moment (a condition on its output), so however
 * late this process or the engine gets there on a busy box, the quiet one's last line is outside
 * its window and the chatty one's inside.
 */

describe.skipIf(!dockerAvailable())('idle timeout (real Docker)', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await makeRig();
  });
  afterAll(async () => {
    await rig?.close();
  });
  const tick = () => sweep(rig.ctx, 'timeout');

  it('stops the job that went quiet at its idle timeout and leaves the chatty one running', async () => {
    const quiet = await rig.start(['sh', '-c', 'echo started; sleep 300'], { timeoutSeconds: 120, gracePeriodSeconds: 2, waitFor: 'started', extra: { idleTimeoutSeconds: 2 } });
    const chatty = await rig.start(['sh', '-c', 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done'], { timeoutSeconds: 120, waitFor: 'tick 1', extra: { idleTimeoutSeconds: 2 } });
    expect(quiet.idleDeadlineAt!.getTime()).toBe(quiet.startedAt!.getTime() + 2000);

    // Before the idle deadline nothing is probed.
    rig.ctx.clock.set(quiet.idleDeadlineAt!.getTime() - 1);
    expect((await tick()).planned.filter((p) => p.kind === 'idle_check' && p.jobId === quiet.id)).toEqual([]);

    // The moment the sweep is told it is: 500 ms past both idle deadlines, counted from the quiet
    // job's last line as the engine stamped it (on a busy box "started" can come well after the
    // row's startedAt).
    const quietLast = (await rig.docker.lastOutputAt(quiet.containerId!))!.at!.getTime();
    const at = Math.max(quietLast + 2000, chatty.idleDeadlineAt!.getTime()) + 500;
    // The chatty one keeps printing: wait until its newest line is well inside its idle window at
    // that moment (and over 2 s into its run). Newer lines only move it further in.
    await waitFor(async () => {
      const last = (await rig.docker.lastOutputAt(chatty.containerId!))?.at?.getTime() ?? 0;
      return last > at - 1500 && last > chatty.startedAt!.getTime() + 2000;
    }, { what: 'the chatty job to print inside its idle window', timeoutMs: 60_000 });
    rig.ctx.clock.set(at);
    const r = await tick();
    const mine = r.planned.filter((p) => p.jobId === quiet.id || p.jobId === chatty.id).map((p) => `${p.jobId === quiet.id ? 'quiet' : 'chatty'}:${p.kind}`);
    expect(mine.sort()).toEqual(['chatty:idle_check', 'quiet:idle_check']);
    expect(r.byKind).toMatchObject({ idle_timeout: 1, idle_probe: 1, sigterm: 1 });

    // The quiet one: terminating with the idle reason, SIGTERM sent; ends timed_out once it stopped.
    let q = await rig.job(quiet.id);
    expect(q).toMatchObject({ status: 'terminating', terminateKind: 'timeout', terminateReason: 'Idle: no output for 2s' });
    expect(q.sigtermAt).not.toBeNull();
    // Its audit row says what the stored row said when it moved.
    const [moved] = await rig.audits(quiet.id, 'job.idle_timeout');
    expect(moved!.details).toEqual({
      from: 'running',
      to: 'terminating',
      idleTimeoutSeconds: 2,
      lastOutputAt: q.lastOutputAt?.toISOString() ?? null,
      deadlineAt: q.deadlineAt!.toISOString(),
      latenessSeconds: (rig.ctx.clock.now().getTime() - q.deadlineAt!.getTime()) / 1000,
    });
    await waitStopped(rig.docker, quiet.containerId!);
    await reconcile(rig.ctx, rig.docker);
    q = await rig.job(quiet.id);
    expect(q).toMatchObject({ status: 'timed_out', exitCode: -1, reason: 'Idle: no output for 2s' });
    expect((await rig.audits(quiet.id)).map((a) => a.action)).toEqual(['job.submit', 'job.claim', 'container.start', 'job.idle_timeout', 'container.sigterm', 'job.timed_out']);

    // The chatty one: still running, its newest output recorded and the idle deadline moved past it.
    const c = await rig.job(chatty.id);
    expect(c.status).toBe('running');
    expect((await rig.docker.inspect(chatty.containerId!))?.running).toBe(true);
    expect(c.lastOutputAt!.getTime()).toBeGreaterThan(chatty.startedAt!.getTime() + 2000);
    expect(c.idleDeadlineAt!.getTime()).toBe(c.lastOutputAt!.getTime() + 2000);
    expect(c.idleDeadlineAt!.getTime()).toBeGreaterThan(rig.ctx.clock.now().getTime());
    // One probe per idle period: the next tick does not ask the engine again.
    expect((await tick()).planned.filter((p) => p.jobId === chatty.id)).toEqual([]);
    expect(await rig.audits(chatty.id, 'job.idle_timeout')).toEqual([]);
  });

  it("a suspended timeout suspends the idle timeout too; a job without one is never probed", async () => {
    const none = await rig.start(['sh', '-c', 'echo started; sleep 300'], { timeoutSeconds: 120, waitFor: 'started' });
    const held = await rig.start(['sh', '-c', 'echo started; sleep 300'], { timeoutSeconds: 120, waitFor: 'started', extra: { idleTimeoutSeconds: 1 } });
    expect(none.idleDeadlineAt).toBeNull();
    await suspendJobTimeout(rig.ctx, ADMIN, held.id, true, 'debugging');
    rig.ctx.clock.set(Date.now() + 60_000);
    expect((await tick()).planned.filter((p) => p.jobId === none.id || p.jobId === held.id)).toEqual([]);
    expect((await rig.job(none.id)).status).toBe('running');
    expect((await rig.job(held.id)).status).toBe('running');
  });
});
