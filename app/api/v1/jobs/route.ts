import { jobsToJson, listJobs, submitJob } from '@/server/domain/jobs';
import { api, BODY_LIMITS, json, queryObject, readJson } from '@/server/http';

export const dynamic = 'force-dynamic';

/** POST /api/v1/jobs — submit (user key: for itself; operator key: ?user=<id>). */
export const POST = api(async ({ req, ctx, actor }) => {
  const body = await readJson(req, { limit: BODY_LIMITS.submit });
  const userId = new URL(req.url).searchParams.get('user') ?? undefined;
  const job = await submitJob(ctx, actor, body, { userId });
  const [out] = await jobsToJson(ctx.db, [job]);
  return json(out, 201, { location: `/api/v1/jobs/${job.id}` });
});

/** GET /api/v1/jobs?status=&user=&limit=&cursor= — operators. */
export const GET = api(async ({ req, ctx, actor }) => {
  const r = await listJobs(ctx, actor, queryObject(req));
  return json({ jobs: await jobsToJson(ctx.db, r.jobs), nextCursor: r.nextCursor });
});
