import { getJob, jobsToJson } from '@/server/domain/jobs';
import { api, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** The job; a queued one with waitCode, waitReason and queuePosition. */
export const GET = api<{ id: string }>(async ({ ctx, actor, params }) => {
  const [out] = await jobsToJson(ctx.db, [await getJob(ctx, actor, params.id)]);
  return json(out);
});
