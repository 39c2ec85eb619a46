'use server';

import { z } from 'zod';
import { cancelJob, extendJob, killJob, suspendJobTimeout } from '../domain/jobs';
import { action, formBool, formNumber, jobId } from './action';

const reason = z.string().trim().max(500, 'reason must be at most 500 characters').optional();

/** Kill a running job (SIGTERM, grace, SIGKILL; `force` skips the grace). A queued job is cancelled. */
export const killJobAction = action(z.object({ id: jobId, reason, force: formBool.optional() }), 'operator', async (i, { ctx, actor }) => {
  const job = await killJob(ctx, actor, i.id, { reason: i.reason || undefined, force: i.force ?? false });
  return {
    message: job.status === 'cancelled' ? 'Job cancelled' : i.force ? 'Kill requested (force): the container is being stopped now' : 'Kill requested: the job is terminating',
    data: { status: job.status },
  };
});

/** Add seconds to a running job's deadline (admins may pass the cap with a reason). */
export const extendJobAction = action(
  z.object({ id: jobId, seconds: formNumber('seconds'), reason, overrideCap: formBool.optional() }),
  'operator',
  async (i, { ctx, actor }) => {
    const job = await extendJob(ctx, actor, i.id, { seconds: i.seconds, reason: i.reason || undefined, ...(i.overrideCap ? { overrideCap: true } : {}) });
    return { message: `Deadline extended by ${i.seconds}s`, data: { deadlineAt: job.deadlineAt?.toISOString() ?? null, timeoutSeconds: job.timeoutS } };
  },
);

/** Cancel a queued job (a running one is killed by its owner's rules). */
export const cancelJobAction = action(z.object({ id: jobId }), 'operator', async (i, { ctx, actor }) => {
  const job = await cancelJob(ctx, actor, i.id);
  return { message: job.status === 'cancelled' ? 'Job cancelled' : 'Kill requested: the job is terminating', data: { status: job.status } };
});

/** Admin: suspend or resume a job's timeout (debugging). Audited with the reason. */
export const suspendTimeoutAction = action(z.object({ id: jobId, suspended: formBool, reason }), 'admin', async (i, { ctx, actor }) => {
  await suspendJobTimeout(ctx, actor, i.id, i.suspended, i.reason || undefined);
  return { message: i.suspended ? 'Timeout suspended: the job will not be stopped at its deadline' : 'Timeout resumed' };
});
