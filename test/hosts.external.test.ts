import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ctx } from '../server/context';
import type { EventSubscription } from '../server/docker/types';
import { killJob, submitJob } from '../server/domain/jobs';
import { onContainerEvent, reconcile } from '../server/worker/completion';
import { dispatchOnce } from '../server/worker/dispatcher';
import { dockerAvailable } from './helpers/docker';
import { OPERATOR } from './helpers/fixtures';
import { requireHostPrerequisites, startEngine, type Engine } from './helpers/hosts';
import { makeRig, TEST_IMAGE, waitFor, type Rig } from './helpers/sweepers';

/**
 * Containers stopped by someone other than Warden, with the real docker CLI against the real
 * engine: `docker rm -f`, `docker kill`, `docker stop` of a running job's container make the job
 * `lost` with a reason saying so, and it runs again as attempt 2. Warden's own kill still ends
 * `killed`; a job that exits by itself with 137 stays `failed`. Also when nobody watched: the
 * engine's event log tells reconcile who stopped it, and after an engine restart (a second dockerd
 * of our own) a job stopped by the engine's shutdown is lost too.
 */

describe.skipIf(!dockerAvailable())('containers stopped behind Warden\'s back (real Docker)', () => {
  let rig: Rig;
  let sub: EventSubscription | null = null;
  const handling = new Set<Promise<void>>();
  let engine: Engine | null = null;

  beforeAll(async () => {
    rig = await makeRig({ plan: { maxRetries: 3 } });
  });
  afterAll(async () => {
    sub?.close();
    await Promise.allSettled([...handling]);
    await engine?.close();
    await rig?.close();
  }, 120_000);

  const listen = (ctx: Ctx) => {
    sub?.close();
    sub = ctx.docker!.events((e) => {
      const p = onContainerEvent(ctx, ctx.docker!, e);
      handling.add(p);
      void p.finally(() => handling.delete(p));
    });
  };
  const cli = (...args: string[]) => execFileSync('docker', args, { stdio: 'ignore' });
  /** Submits and starts a job on `ctx`; waits until it runs and has said it started. */
  const running = async (ctx: Ctx, command = ['sh', '-c', 'echo started; sleep 300']) => {
    const j = await submitJob(ctx, rig.user.actor, { image: TEST_IMAGE, command, timeoutSeconds: 600, gracePeriodSeconds: 1 });
    await waitFor(async () => {
      await dispatchOnce(ctx);
      return (await rig.job(j.id)).status === 'running';
    }, { what: 'job running' });
    const row = await rig.job(j.id);
    await waitFor(async () => (await ctx.docker!.logsTail(row.containerId!)).includes('started'), { what: 'job output' });
    return row;
  };
  const runsAgain = (id: string, ctx: Ctx) =>
    waitFor(async () => {
      await dispatchOnce(ctx);
      const r = await rig.job(id);
      return r.status === 'running' && r.attempt === 2 ? r : null;
    }, { timeoutMs: 30_000, what: `job ${id} running again as attempt 2` });

  it.each([
    ['docker rm -f', (id: string) => cli('rm', '-f', id), 'SIGKILL'],
    ['docker kill', (id: string) => cli('kill', id), 'SIGKILL'],
    ['docker stop', (id: string) => cli('stop', '-t', '1', id), 'SIGTERM'],
  ])('%s of a running job: lost (saying so) → attempt 2 → running', async (_name, act, signal) => {
    listen(rig.ctx);
    const j = await running(rig.ctx);
    act(j.containerId!);
    await waitFor(async () => (await rig.job(j.id)).status !== 'running', { what: 'the job to notice' });
    const lost = await rig.job(j.id);
    expect(lost).toMatchObject({ status: 'queued', attempt: 2, containerId: null, exitCode: null });
    expect(lost.reason).toBe(`Lost (attempt 1 of 4): container ${j.containerId!.slice(0, 12)} was stopped by someone other than Warden (${signal}, exit ${signal === 'SIGKILL' ? 137 : 143}); retrying`);
    expect((await rig.audits(j.id)).map((a) => a.action)).toEqual(['job.submit', 'job.claim', 'container.start', 'container.external_kill', 'job.lost', 'job.retry']);
    const again = await runsAgain(j.id, rig.ctx);
    expect(again.containerId).not.toBe(j.containerId);
    expect((await rig.docker.inspect(again.containerId!))?.labels['warden.attempt']).toBe('2');
    await killJob(rig.ctx, OPERATOR, j.id, { force: true });
    await waitFor(async () => (await rig.job(j.id)).status === 'killed', { what: 'cleanup kill' });
  });

  it("Warden's own kill still ends killed; a job that exits 137 by itself still fails", async () => {
    listen(rig.ctx);
    const j = await running(rig.ctx);
    await killJob(rig.ctx, OPERATOR, j.id, { reason: 'ours' });
    await waitFor(async () => (await rig.job(j.id)).status === 'killed', { what: 'the kill' });
    expect((await rig.job(j.id)).attempt).toBe(1);
    const self = await running(rig.ctx, ['sh', '-c', 'echo started; sleep 1; exit 137']);
    await waitFor(async () => (await rig.job(self.id)).status === 'failed', { what: 'the exit' });
    expect(await rig.job(self.id)).toMatchObject({ status: 'failed', exitCode: 137, reason: 'Exited with code 137', attempt: 1 });
  });

  it("nobody watching: the engine's event log tells reconcile it was killed from outside", async () => {
    sub?.close();
    sub = null;
    const j = await running(rig.ctx);
    cli('kill', j.containerId!);
    await waitFor(async () => !(await rig.docker.inspect(j.containerId!))?.running, { what: 'the container to die' });
    expect((await rig.job(j.id)).status).toBe('running'); // nobody saw it
    expect(await reconcile(rig.ctx, rig.docker)).toMatchObject({ completed: 1 });
    const r = await rig.job(j.id);
    expect(r).toMatchObject({ status: 'queued', attempt: 2 });
    // The engine keeps only its last 256 events for a `since` query: with other tests making
    // containers on the same engine meanwhile, the kill can be gone from it, and then the exit
    // code alone (137, no signal Warden sent) says it was stopped from outside. Lost either way.
    const short = j.containerId!.slice(0, 12);
    expect([
      `Lost (attempt 1 of 4): container ${short} was stopped by someone other than Warden (SIGKILL, exit 137); retrying`,
      `Lost (attempt 1 of 4): container ${short} was stopped by SIGKILL (exit 137) that Warden did not send, while nobody watched; its engine has no record of it (restarted since, or the event aged out of its log); retrying`,
    ]).toContain(r.reason);
    // The same with an exit of its own: failed, as before.
    const self = await running(rig.ctx, ['sh', '-c', 'echo started; sleep 1; exit 143']);
    await waitFor(async () => !(await rig.docker.inspect(self.containerId!))?.running, { what: 'the exit' });
    await reconcile(rig.ctx, rig.docker);
    expect(await rig.job(self.id)).toMatchObject({ status: 'failed', exitCode: 143 });
    await runsAgain(j.id, rig.ctx);
    await killJob(rig.ctx, OPERATOR, j.id, { force: true });
    await waitFor(async () => {
      await reconcile(rig.ctx, rig.docker);
      return (await rig.job(j.id)).status === 'killed';
    }, { what: 'cleanup kill' });
  });

  it('an engine restart while nobody watched: its jobs are lost (the shutdown stopped them) and run again', async () => {
    requireHostPrerequisites();
    engine = await startEngine('ext');
    const ctx: Ctx = { ...rig.ctx, docker: engine.runtime, node: `${rig.node}-e2` };
    const plain = await running(ctx, ['sh', '-c', 'echo started; sleep 300']);
    const trapping = await running(ctx, ['sh', '-c', 'trap "exit 0" TERM; echo started; sleep 300 & wait']);
    await engine.stop();
    await engine.start();
    expect(await reconcile(ctx, engine.runtime)).toMatchObject({ completed: 2 });
    const p = await rig.job(plain.id);
    expect(p).toMatchObject({ status: 'queued', attempt: 2 });
    expect(p.reason).toMatch(/was stopped by SIGTERM \(exit 143\) that Warden did not send, while nobody watched; its engine has no record of it \(restarted since, or the event aged out of its log\); retrying$/);
    // A job that caught the engine's SIGTERM and exited 0 told us it finished: succeeded.
    expect(await rig.job(trapping.id)).toMatchObject({ status: 'succeeded', exitCode: 0 });
    await runsAgain(plain.id, { ...ctx, docker: engine.runtime });
    // With `docker stop` of the engine seen live, the kill is on record: covered above.
  }, 180_000);
});
