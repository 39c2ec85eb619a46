import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventSubscription } from '../server/docker/types';
import { getJobLogs, killJob, submitJob } from '../server/domain/jobs';
import { onContainerEvent } from '../server/worker/completion';
import { dispatchOnce } from '../server/worker/dispatcher';
import { dockerAvailable } from './helpers/docker';
import { OPERATOR } from './helpers/fixtures';
import { makeRig, TEST_IMAGE, waitFor, type Rig } from './helpers/sweepers';

/**
 * Logs outlive their container (issue 23 §5), on the real engine: after `docker kill` of a job's
 * container the job is lost and its output is kept — read from the stopped container before
 * anything removes it — so GET /logs (getJobLogs, the route's one call) still answers it after
 * `docker rm`.
 */
describe.skipIf(!dockerAvailable())('logs of a lost job (real Docker)', () => {
  let rig: Rig;
  let sub: EventSubscription | null = null;
  const handling = new Set<Promise<void>>();
  const cli = (...args: string[]) => execFileSync('docker', args, { stdio: 'ignore' });

  beforeAll(async () => {
    rig = await makeRig({ plan: { maxRetries: 1 } });
    sub = rig.ctx.docker!.events((e) => {
      const p = onContainerEvent(rig.ctx, rig.ctx.docker!, e);
      handling.add(p);
      void p.finally(() => handling.delete(p));
    });
  });
  afterAll(async () => {
    sub?.close();
    await Promise.allSettled([...handling]);
    await rig?.close();
  }, 120_000);

  const running = async (maxRetries: number, marker: string) => {
    const j = await submitJob(rig.ctx, rig.user.actor, { image: TEST_IMAGE, command: ['sh', '-c', `echo ${marker}-out; echo ${marker}-err >&2; sleep 300`], timeoutSeconds: 600, gracePeriodSeconds: 1, maxRetries });
    await waitFor(async () => {
      await dispatchOnce(rig.ctx);
      return (await rig.job(j.id)).status === 'running';
    }, { what: 'job running' });
    const row = await rig.job(j.id);
    await waitFor(async () => (await rig.ctx.docker!.logsTail(row.containerId!)).includes(`${marker}-err`), { what: 'job output' });
    return row;
  };

  it('docker kill → lost (no retries left), and its output is still served after docker rm', async () => {
    const j = await running(0, 'final');
    cli('kill', j.containerId!);
    await waitFor(async () => (await rig.job(j.id)).status === 'lost', { what: 'the job to be lost', timeoutMs: 30_000 });
    const lost = await rig.job(j.id);
    expect(lost.logTail).toContain('final-out');
    cli('rm', '-f', j.containerId!);
    const text = await getJobLogs(rig.ctx, OPERATOR, j.id);
    expect(text).toContain('final-out');
    expect(text).toContain('final-err');
  });

  it('docker kill of an attempt that will be retried: the lost attempt\'s output stays readable while it waits', async () => {
    const j = await running(1, 'retried');
    cli('kill', j.containerId!);
    await waitFor(async () => (await rig.job(j.id)).status === 'queued', { what: 'the job to be requeued', timeoutMs: 30_000 });
    cli('rm', '-f', j.containerId!);
    expect(await getJobLogs(rig.ctx, OPERATOR, j.id)).toContain('retried-out');
    // Clean up: start attempt 2 and kill it.
    await waitFor(async () => {
      await dispatchOnce(rig.ctx);
      return (await rig.job(j.id)).status === 'running';
    }, { what: 'attempt 2 running' });
    await killJob(rig.ctx, OPERATOR, j.id, { force: true });
    await waitFor(async () => (await rig.job(j.id)).status === 'killed', { what: 'cleanup kill' });
  });
});
