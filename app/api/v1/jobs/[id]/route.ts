import { getJob, jobsToJson } from '@/server/domain/jobs';
import { jobApi, json } from '@/server/http';

export const dynamic = 'force-dynamic';

/** The job; a queued one with waitCode, waitReason and queuePosition. */
export const GET = jobApi(async ({ ctx, actor, params }) => {
  const [out] = await jobsToJson(ctx.db, [await getJob(ctx, actor, params.id)]);
  return json(out);
});
